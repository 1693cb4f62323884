"""The fixtures of the pytest plugin (see ``atomo.testing``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atomo.testing.loop import LoopThread, Proxy
from atomo.testing.server import EphemeralServer, TestUser


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("atomo")
    group.addoption("--atomo-project", action="store", default=None, metavar="PATH",
                    help="the Atomo project of the atomo_* fixtures (default: a schema.ts in the rootdir, else "
                         "the bundled sample)")
    parser.addini("atomo_project", "the Atomo project of the atomo_* fixtures", default=None)


@pytest.fixture(scope="session")
def atomo_project(pytestconfig: pytest.Config) -> Path | None:
    """The project folder, or None for the bundled sample."""
    chosen = pytestconfig.getoption("atomo_project") or pytestconfig.getini("atomo_project")
    if chosen:
        path = Path(str(chosen))
        path = path if path.is_absolute() else Path(pytestconfig.rootpath) / path
        if not (path / "schema.ts").is_file() and not path.is_file():
            raise pytest.UsageError(f"--atomo-project: no schema.ts in {path}")
        return path.resolve()
    root = Path(pytestconfig.rootpath)
    return root.resolve() if (root / "schema.ts").is_file() else None


def _is_async(request: pytest.FixtureRequest) -> bool:
    function = getattr(request, "function", None)
    return function is not None and inspect.iscoroutinefunction(function)


# -- the library ---------------------------------------------------------------------------------
class SessionApp:
    """One ``Atomo`` on an in-memory data file, booted, seeded and snapshotted on its own loop."""

    def __init__(self, project: Path | None) -> None:
        self.loop = LoopThread()
        self.app: Any = None
        try:
            self.app = self.loop.run(self._open(project))
        except BaseException:
            self.loop.close()
            raise

    @staticmethod
    async def _open(project: Path | None) -> Any:
        from atomo.config import load_settings
        from atomo.library import Atomo
        app = Atomo(project, data_file=":memory:", settings=load_settings({}))
        await app.start()
        project_ = app.runtime.project            # the bundled sample is seeded by the runtime itself
        if not project_.is_sample and project_.seed_file is not None:
            await app.runtime.seed_file(project_.seed_file)
        await app.snapshot()
        return app

    def reset(self) -> None:
        self.loop.run(self.app.reset())

    def close(self) -> None:
        try:
            if self.app is not None:
                self.loop.run(self.app.close())
        finally:
            self.loop.close()


@pytest.fixture(scope="session")
def atomo_session_app(atomo_project: Path | None) -> Iterator[SessionApp]:
    session = SessionApp(atomo_project)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def atomo_app(atomo_session_app: SessionApp, request: pytest.FixtureRequest) -> Any:
    """The library API, reset to boot + seed: results in a sync test, awaitables in an async one."""
    atomo_session_app.reset()
    return Proxy(atomo_session_app.app, atomo_session_app.loop, blocking=not _is_async(request))


# -- the server ----------------------------------------------------------------------------------
class AtomoServer:
    """What a test sees of the session's ephemeral server."""

    def __init__(self, server: EphemeralServer) -> None:
        self._server = server
        self.url = server.url
        self.admin_token = server.admin_token
        self._tokens: dict[tuple[str, str | None], str] = {}

    @property
    def graphql_url(self) -> str:
        return self.url + "/graphql"

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http"):] + "/graphql/ws"

    def user(self, role: str = "viewer", tenant: str | None = None, email: str | None = None) -> TestUser:
        return self._server.user(role, tenant, email)

    def token_for(self, role: str = "admin", tenant: str | None = None) -> str:
        """An access token of a user with ``role`` (one user per role and tenant per test)."""
        if role == "admin" and tenant is None:
            return self.admin_token
        key = (role, tenant)
        if key not in self._tokens:
            self._tokens[key] = self._server.user(role, tenant).token
        return self._tokens[key]

    def _auth(self, as_: str | TestUser | None) -> dict[str, str]:
        if as_ is None:
            token = self.admin_token
        elif isinstance(as_, TestUser):
            token = as_.token
        elif as_ == "anonymous":
            return {}
        elif "." in as_:                      # a JWT
            token = as_
        else:
            token = self.token_for(as_)
        return {"authorization": f"Bearer {token}"}

    def gql(self, query: str, variables: dict[str, Any] | None = None, *, as_: str | TestUser | None = None,
            operation_name: str | None = None) -> dict[str, Any]:
        """POST /graphql; the response body. ``as_``: a role name, a token, a ``TestUser``, "anonymous"
        or None (the admin)."""
        assert self._server.client is not None
        reply = self._server.client.post("/graphql", json=_body(query, variables, operation_name),
                                         headers=self._auth(as_))
        return dict(reply.json())

    async def agql(self, query: str, variables: dict[str, Any] | None = None, *, as_: str | TestUser | None = None,
                   operation_name: str | None = None) -> dict[str, Any]:
        """``gql`` for async tests."""
        headers = self._auth(as_)
        async with httpx.AsyncClient(base_url=self.url, timeout=30.0) as client:
            reply = await client.post("/graphql", json=_body(query, variables, operation_name), headers=headers)
        return dict(reply.json())

    def reset(self) -> dict[str, Any]:
        self._tokens.clear()
        return self._server.reset()


def _body(query: str, variables: dict[str, Any] | None, operation_name: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    return body


@pytest.fixture(scope="session")
def atomo_server_process(atomo_project: Path | None) -> Iterator[EphemeralServer]:
    server = EphemeralServer(atomo_project).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def atomo_server(atomo_server_process: EphemeralServer) -> AtomoServer:
    """The session's real server, reset to boot + seed before the test."""
    server = AtomoServer(atomo_server_process)
    server.reset()
    return server


@pytest.fixture
def atomo_user(atomo_server: AtomoServer) -> Callable[..., TestUser]:
    """``atomo_user(role="sales", tenant=None, email=None)``: a new user of the server with a token."""
    return atomo_server.user


@pytest.fixture
def atomo_clock() -> Iterator[Any]:
    """The process clock frozen at the current time for the test: ``atomo_clock.advance(seconds)`` moves
    token expiry, sessions, job leases, backoff and rate-limit windows of ``atomo_app`` without sleeping.
    (``atomo_server`` runs in its own process: its clock is the real one.)"""
    from atomo.clock import CLOCK
    with CLOCK.frozen() as frozen:
        yield frozen
