"""Atomo as a benchmark peer: ``python -m atomo --project <empty temp dir> serve`` on loopback.

An empty project folder serves the bundled CRM sample (seeded with 6 contacts) with its data file in
``<dir>/.atomo/atomo.db``. The admin is seeded from ADMIN_PASSWORD; rate limits are switched off
(RATE_LIMIT_RPS=0, a high LOGIN_RATE_LIMIT_ATTEMPTS) so the benchmark measures the request path.
Requests are authenticated GraphQL POSTs with the login token as a Bearer header.

``AtomoPgPeer`` is Atomo over PostgreSQL: one or more such processes (each in its own empty project folder,
on its own port) with the same ``DATABASE_URL`` (one schema of a PostgreSQL server) and the same
``JWT_SECRET``, so a token issued by one instance is valid on the others. The first instance is started
alone (it creates the tables and seeds the sample), then the others one after another.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from benchutil import contact_rows, free_port, run_bounded, wait_for_health
from loadgen import MARKER, Request

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "bench-admin-password-1"
REPO = Path(__file__).resolve().parent.parent

CREATE_QUERY = 'mutation Create($data: JSON!) { create(model: "Contact", data: $data) }'
READ_QUERY = '{ records(model: "Contact", where: {lastName: {startsWith: "L"}}, limit: 20) }'
# one fixed HS256 key (64 hex chars) for every instance of a PostgreSQL peer
JWT_SECRET = hashlib.sha256(b"atomo-http-bench").hexdigest()


class AtomoPeer:
    name = "atomo"

    def __init__(self, src: Path | None = None, workers: str = "1", env: dict[str, str] | None = None,
                 name: str | None = None) -> None:
        """``src``: the source tree to run (default: this repository, i.e. the installed package); ``workers``:
        ``atomo serve --workers`` (the peer is named ``atomo`` for one process, ``atomo-w<workers>`` else);
        ``env``: extra environment of the server (e.g. DATABASE_URL); ``name``: overrides the name."""
        self.src = (src or REPO).resolve()
        self.workers = workers
        self.extra_env = dict(env or {})
        self.name = name or ("atomo" if workers == "1" else f"atomo-w{workers}")
        self._tmp = tempfile.TemporaryDirectory(prefix="atomo-http-bench-")
        self.dir = Path(self._tmp.name)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.version = "?"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> float:
        """Start the server; seconds from spawn to the first 200 on /health."""
        env = dict(os.environ, ADMIN_EMAIL=ADMIN_EMAIL, ADMIN_PASSWORD=ADMIN_PASSWORD, RATE_LIMIT_RPS="0",
                   LOGIN_RATE_LIMIT_ATTEMPTS="100000", **self.extra_env)
        if self.src != REPO:  # `-m` puts the cwd first on sys.path, ahead of the editable install
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.src), env.get("PYTHONPATH")]))
        log = open(self.dir / "server.log", "ab")  # a file, never a pipe: a full pipe would stall the server
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "atomo", "--project", str(self.dir), "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", self.workers], cwd=self.src, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return wait_for_health(self.base_url + "/health", self.proc, started)

    def login(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            reply = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            reply.raise_for_status()
            self.token = reply.json()["token"]
            version = client.get("/version")
            if version.status_code == 200:
                body = version.json()
                self.version = str(body.get("version", body)) if isinstance(body, dict) else str(body)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.dir / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def code_version(self) -> str:
        """git revision of the source tree, with "+dirty" when it has uncommitted changes."""
        def describe(where: Path) -> str:
            return subprocess.run(["git", "-C", str(where), "describe", "--always", "--dirty=+dirty"],
                                  capture_output=True, text=True, check=False).stdout.strip()
        if self.src == REPO:
            return describe(REPO) or "unknown (not a git checkout)"
        return describe(self.src) or f"snapshot {self.src} (the repository is at {describe(REPO) or '?'})"

    # ------------------------------------------------------------------------------ requests

    def _headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}

    def create_request(self) -> Request:
        data = {"firstName": "Bench", "lastName": "Mark", "email": f"bench-{MARKER}@example.com",
                "phone": "+1 555 0100", "tags": ["bench", "load"]}
        body = json.dumps({"query": CREATE_QUERY, "variables": {"data": data}})
        return Request("POST", "/graphql", self._headers(), body, unique=True)

    def read_request(self) -> Request:
        return Request("POST", "/graphql", self._headers(), json.dumps({"query": READ_QUERY}))

    def prefill(self, rows: int, concurrency: int = 16) -> None:
        async def main() -> None:
            async with httpx.AsyncClient(base_url=self.base_url, headers=self._headers(), timeout=60) as client:
                async def one(row: dict[str, object]) -> None:
                    reply = await client.post("/graphql", json={"query": CREATE_QUERY, "variables": {"data": row}})
                    if reply.status_code != 200 or "errors" in reply.json():
                        raise RuntimeError(f"prefill create failed: {reply.status_code} {reply.text[:300]}")
                await run_bounded([functools.partial(one, row) for row in contact_rows(rows)], concurrency)
        asyncio.run(main())

    def count(self) -> int:
        with httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=60) as client:
            reply = client.post("/graphql", json={"query": '{ count(model: "Contact") }'})
            return int(reply.json()["data"]["count"])

    def sample_read(self) -> int:
        """Rows returned by the benchmarked read (to show it does the same work as the peer's)."""
        with httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=60) as client:
            return len(client.post("/graphql", json={"query": READ_QUERY}).json()["data"]["records"])


class AtomoPgPeer:
    """Atomo on PostgreSQL: ``instances`` ``atomo serve`` processes over one schema (``url`` names it)."""

    backend = "postgres"

    def __init__(self, url: str, instances: int = 1, src: Path | None = None,
                 db_pid: Callable[[], int | None] | None = None) -> None:
        """``db_pid``: gives the PostgreSQL server's (postmaster's) pid, for the CPU accounting."""
        self.name = "atomo-pg" if instances == 1 else f"atomo-pg-x{instances}"
        self.url = url
        env = {"DATABASE_URL": url, "JWT_SECRET": JWT_SECRET}
        self.instances = [AtomoPeer(src, "1", env=env, name=f"{self.name}#{i + 1}") for i in range(instances)]
        self.base_urls = [peer.base_url for peer in self.instances]
        self.base_url = self.base_urls[0]
        self.version = "?"
        self.instance_start_s: list[float] = []
        self._db_pid = db_pid

    @property
    def pid(self) -> int:
        return self.instances[0].pid

    @property
    def pids(self) -> list[int]:
        return [peer.pid for peer in self.instances]

    @property
    def db_pid(self) -> int | None:
        return self._db_pid() if self._db_pid else None

    def start(self) -> float:
        """Start the first instance (creates the tables, seeds), then the others one by one; seconds from
        spawning the first to its first 200 on /health (each instance's own time: ``instance_start_s``)."""
        self.instance_start_s = [round(peer.start(), 3) for peer in self.instances]
        return self.instance_start_s[0]

    def login(self) -> None:
        """Log in on the first instance; the token must work on every other (the shared JWT_SECRET)."""
        first = self.instances[0]
        first.login()
        self.version = first.version
        for peer in self.instances[1:]:
            peer.token = first.token
            with httpx.Client(base_url=peer.base_url, headers=peer._headers(), timeout=30) as client:
                reply = client.post("/graphql", json={"query": '{ count(model: "Contact") }'})
                if reply.status_code != 200 or "errors" in reply.json():
                    raise RuntimeError(f"{peer.name} refused the token of {first.name}: {reply.status_code} "
                                       f"{reply.text[:300]}")

    def stop(self) -> None:
        for peer in reversed(self.instances):
            peer.stop()

    def close(self) -> None:
        for peer in reversed(self.instances):
            peer.close()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(f"[{peer.name}]\n{peer.log_tail(lines)}" for peer in self.instances)

    def code_version(self) -> str:
        return self.instances[0].code_version()

    def create_request(self) -> Request:
        return self.instances[0].create_request()

    def read_request(self) -> Request:
        return self.instances[0].read_request()

    def prefill(self, rows: int, concurrency: int = 16) -> None:
        self.instances[0].prefill(rows, concurrency)

    def count(self) -> int:
        return self.instances[0].count()

    def sample_read(self) -> int:
        return self.instances[0].sample_read()
