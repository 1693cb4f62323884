"""Open WebSockets of both tiers and the life of their login sessions (auth chapter §5.4, realtime §1).

A socket stays open past its JWT's ``exp`` but not past its login session: every
``RECHECK_SECS`` the sessions of all open sockets are checked in one read (session live, user
active); a socket whose session ended is told ``session_ended`` (it closes with 4403), one whose
user row changed (role, tenant binding) gets the new principal. ``watch_logout`` wraps the ASGI app
so that a successful ``POST /auth/logout`` re-checks that user's sockets at once. While sockets are
open the registry also watches ``ServerState.shutting_down`` and tells them ``server_closing`` (1001)
before the server drops connections. A reset of the data (``Runtime.reset``, ``POST /__test__/reset``)
closes every open socket with 1012: their cursors, channels and principals belong to the state before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from atomo.auth.principal import Principal
from atomo.auth.sessions import principal_for_session
from atomo.http.request_context import bearer_token

if TYPE_CHECKING:
    from atomo.http.services import Services

log = logging.getLogger("atomo.realtime")
RECHECK_SECS = 60.0
SHUTDOWN_POLL_SECS = 0.05
LOGOUT_PATH = "/auth/logout"


class LiveSocket(Protocol):
    principal: Principal

    def session_ended(self) -> None: ...

    def principal_changed(self, principal: Principal) -> None: ...

    def server_closing(self) -> None: ...

    def close_soon(self, code: int, reason: str) -> None: ...


class LiveSockets:
    """The registry; one per application, shared by ``/graphql/ws`` and ``/realtime/ws``."""

    def __init__(self, services: Services, *, recheck_secs: float = RECHECK_SECS) -> None:
        self.services = services
        self.recheck_secs = recheck_secs
        self.sockets: set[LiveSocket] = set()
        self._task: asyncio.Task[None] | None = None
        self._checks: set[asyncio.Task[None]] = set()
        self._closing = False
        services.runtime.reset_listeners.append(self.data_reset)

    def data_reset(self) -> None:
        """The database was restored: every open socket closes with 1012 (the client reconnects)."""
        for sock in list(self.sockets):
            try:
                sock.close_soon(1012, "server state reset")
            except Exception:
                log.exception("closing a socket at reset failed")

    def add(self, sock: LiveSocket) -> None:
        self.sockets.add(sock)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="atomo-live-sockets")
            self._chain_signals()

    def _chain_signals(self) -> None:
        """Close with 1001 as soon as SIGTERM/SIGINT arrives: the server drops its connections (with
        1012) on its next tick, which may come before the ``shutting_down`` poll notices."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if getattr(previous, "atomo_live_sockets", None) is self or not callable(previous):
                continue

            def on_signal(signum: int, frame: Any, previous: Any = previous) -> None:
                self.close_all()
                previous(signum, frame)
            on_signal.atomo_live_sockets = self  # type: ignore[attr-defined]
            signal.signal(sig, on_signal)

    def discard(self, sock: LiveSocket) -> None:
        self.sockets.discard(sock)

    def __len__(self) -> int:
        return len(self.sockets)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = loop.time() + self.recheck_secs
        while self.sockets:
            await asyncio.sleep(SHUTDOWN_POLL_SECS)
            if self.services.state.shutting_down:
                self.close_all()
                return
            if loop.time() >= next_check:
                next_check = loop.time() + self.recheck_secs
                try:
                    await self.recheck(list(self.sockets))
                except Exception:
                    log.exception("session re-check of open sockets failed")

    def close_all(self) -> None:
        """Server shutting down: every open socket is told (it closes with 1001)."""
        if self._closing:
            return
        self._closing = True
        for sock in list(self.sockets):
            try:
                sock.server_closing()
            except Exception:
                log.exception("closing a socket at shutdown failed")

    async def recheck(self, sockets: list[LiveSocket]) -> None:
        """One read for all distinct (session, user) pairs; then tell the sockets."""
        keys = {(s.principal.session_id, s.principal.user_id) for s in sockets
                if s.principal.user_id is not None and s.principal.session_id is not None}
        if not keys or self.services.state.shutting_down:     # the data file may be closing
            return
        now = datetime.now(UTC).isoformat(timespec="microseconds")

        def read(conn: Any) -> dict[tuple[str, str], Principal | None]:
            return {(sid, uid): principal_for_session(conn, sid, uid, now) for sid, uid in keys}
        found = await self.services.db.read(read)
        for sock in sockets:
            p = sock.principal
            if p.user_id is None or p.session_id is None or sock not in self.sockets:
                continue
            current = found.get((p.session_id, p.user_id))
            if current is None:
                sock.session_ended()
            elif current != p:
                sock.principal_changed(current)

    def recheck_user(self, user_id: str) -> None:
        """Re-check the sockets of one user now (after a logout on this server)."""
        mine = [s for s in self.sockets if s.principal.user_id == user_id]
        if not mine:
            return
        task = asyncio.get_running_loop().create_task(self.recheck(mine))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    def watch_logout(self, app: Any) -> Any:
        """An ASGI wrapper: after ``POST /auth/logout`` answered 200, re-check that user's sockets."""
        registry = self

        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or scope["path"] != LOGOUT_PATH or not registry.sockets:
                await app(scope, receive, send)
                return
            status = 0

            async def observe(message: Any) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await app(scope, receive, observe)
            if status == 200:
                user_id = registry._user_of(scope)
                if user_id is not None:
                    registry.recheck_user(user_id)
        return wrapped

    def _user_of(self, scope: Any) -> str | None:
        tokens = self.services.tokens
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                with contextlib.suppress(Exception):
                    return tokens.verify(bearer_token(value.decode("latin-1"))).sub
        return None
