"""End-to-end fixtures: `python -m atomo --project <tmp> serve --port <free port>` as a subprocess.

The shared ``server`` is session-scoped (tests use fresh ids so they do not interfere); tests that
stop and restart a server use ``start_server`` and get their own data folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "E2e-admin-pass-42"
_DROPPED_PREFIXES = ("ATOMO_", "ADMIN_", "JWT_", "DATABASE_", "GRAPHQL_", "RATE_LIMIT", "LOGIN_RATE", "PASSWORD_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(**extra: str) -> dict[str, str]:
    """The process environment without Atomo settings, plus the test's own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_DROPPED_PREFIXES) and k not in ("HOST", "PORT", "LOG_LEVEL", "LOG_FORMAT")}
    env.update({"ADMIN_PASSWORD": ADMIN_PASSWORD, "RATE_LIMIT_RPS": "0", "LOGIN_RATE_LIMIT_ATTEMPTS": "100000",
                "LOGIN_RATE_LIMIT_IP_ATTEMPTS": "100000", "LOGIN_RATE_LIMIT_ACCOUNT_ATTEMPTS": "100000",
                "ATOMO_NO_PROGRESS": "1", "ATOMO_SHUTDOWN_GRACE_SECS": "5",
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    env.update(extra)
    return env


_POSTGRES: dict[str, Any] = {}


def postgres_schema_for(project: Path) -> str:
    """``ATOMO_TEST_BACKEND=postgres``: the servers of these tests run on PostgreSQL, one schema per project folder
    (a server started again on its folder finds its data), on one server for the test run."""
    from tests.conftest import new_postgres_schema
    if "server" not in _POSTGRES:
        import atexit

        from atomo.testing.postgres import TemporaryPostgres
        server = _POSTGRES["server"] = TemporaryPostgres().start()
        atexit.register(server.stop)
    key = str(project.resolve())
    if key not in _POSTGRES:
        _POSTGRES[key] = new_postgres_schema(_POSTGRES["server"], project.name)
    return str(_POSTGRES[key])


def atomo_command(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "atomo", "--project", str(project), *args]


class ServerProcess:
    """One `atomo serve` subprocess with its stdout/stderr captured in files of the project folder."""

    def __init__(self, project: Path, port: int | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.project = project
        self.args = args                 # more `atomo serve` options (e.g. --workers 2)
        self.port = port or free_port()
        self.env = env or server_env()
        if os.environ.get("ATOMO_TEST_BACKEND") == "postgres" and "DATABASE_URL" not in self.env:
            self.env = {**self.env, "DATABASE_URL": postgres_schema_for(project)}
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._err: IO[bytes] | None = None
        self.runs = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout(self) -> str:
        return (self.project / f"serve-{self.runs}.out").read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return (self.project / f"serve-{self.runs}.err").read_text(encoding="utf-8", errors="replace")

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.runs += 1
        self._out = open(self.project / f"serve-{self.runs}.out", "wb")  # closed in stop()
        self._err = open(self.project / f"serve-{self.runs}.err", "wb")
        self.proc = subprocess.Popen(atomo_command(self.project, "serve", "--port", str(self.port), *self.args),
                                     cwd=self.project, env=self.env, stdout=self._out, stderr=self._err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._close_files()
                raise RuntimeError(f"atomo serve exited with {self.proc.returncode}:\n{self.stderr}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"atomo serve did not answer /health within {timeout} s:\n{self.stderr}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the process and wait; returns its exit code (killed after ``timeout``)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close_files()
        return proc.returncode

    def _close_files(self) -> None:
        for f in (self._out, self._err):
            if f is not None:
                f.close()
        self._out = self._err = None


def login(base_url: str, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
    """POST /auth/login and return the access token (fails the test on anything but 200)."""
    response = httpx.post(base_url + "/auth/login", json={"email": email, "password": password}, timeout=30.0)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def gql_post(base_url: str, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return httpx.post(base_url + "/graphql", json=body, headers=all_headers, timeout=30.0)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("e2e-shared")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def base_url(server: ServerProcess) -> str:
    return server.base_url


@pytest.fixture(scope="session")
def admin_token(base_url: str) -> str:
    return login(base_url)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers of one's own (same folder on every call unless ``project`` is given)."""
    started: list[ServerProcess] = []

    def start(project: Path | None = None, env: dict[str, str] | None = None, port: int | None = None,
              args: tuple[str, ...] = ()) -> ServerProcess:
        folder = project or tmp_path / "project"
        folder.mkdir(parents=True, exist_ok=True)
        process = ServerProcess(folder, port, env, args)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
