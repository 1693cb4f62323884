"""``/graphql/ws`` (graphql chapter §10): GraphQL over WebSocket, both sub-protocols.

Handshake: the client must offer ``graphql-transport-ws`` or ``graphql-ws`` (else accepted and
closed with 4406). ``connection_init`` within 10 s (4408), once (4429); its payload carries the token
(``authorization``/``Authorization``/``token``, ``Bearer `` optional; none = anonymous) and the tenant
(``tenant``/``tenantId``, X-Tenant-ID rules); a bad token or tenant mismatch closes with 4403.
Operations before the ack close with 4401, a reused id with 4409, malformed messages with 4400.
Queries and mutations run once (``next`` + ``complete``); subscriptions are ``modelChanges``
streams. Access problems are ``error`` messages for that id; the socket stays open. Open sockets
are registered with ``LiveSockets``: a login session that ends closes them with 4403, shutdown with
1001, and an ``atomo dev`` schema swap with 1012.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from litestar import asgi
from litestar.handlers import BaseRouteHandler

from atomo.auth.principal import ANONYMOUS, Caller, Principal
from atomo.errors import AtomoError, ValidationError
from atomo.graphql import ws_protocol as wp
from atomo.graphql.ws_operations import Operations
from atomo.http.request_context import effective_tenant
from atomo.realtime.handshake import not_websocket
from atomo.realtime.liveness import LiveSockets

if TYPE_CHECKING:
    from atomo.graphql.model_changes import EventViews
    from atomo.http.app import AppContext

log = logging.getLogger("atomo.graphql")
INIT_TIMEOUT_SECS = 10.0
KEEP_ALIVE_SECS = 15.0


def _credentials(payload: dict[str, Any]) -> tuple[str | None, Any]:
    token = next((payload[k] for k in ("authorization", "Authorization", "token") if payload.get(k)), None)
    tenant = payload.get("tenant", payload.get("tenantId"))
    return token, tenant


class GraphQLSocket:
    """One connection: its protocol, caller and operations."""

    def __init__(self, endpoint: SubscriptionEndpoint, send: Any, protocol: str) -> None:
        self.endpoint = endpoint
        self.ctx = endpoint.ctx
        self._send = send
        self.protocol = protocol
        self.principal: Principal = ANONYMOUS
        self.tenant_request: str | None = None
        self.caller = Caller(principal=ANONYMOUS)
        self.acked = False
        self.initialised = False
        self.closed = False
        self.operations = Operations(self)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(wp.encode(message))

    async def send_text(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self._send({"type": "websocket.send", "text": text})
        except Exception:          # the client went away: the receive loop ends the connection
            self.closed = True

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self.operations.cancel_all()
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def close_soon(self, code: int, reason: str) -> None:
        if not self.closed:
            self.spawn(self.close(code, reason))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- LiveSocket ----------------------------------------------------------------------------------
    def session_ended(self) -> None:
        self.close_soon(4403, "Forbidden: login session ended")

    def principal_changed(self, principal: Principal) -> None:
        try:
            tenant = effective_tenant(principal, self.tenant_request)
        except AtomoError:
            self.close_soon(4403, "Forbidden: tenant mismatch")
            return
        self.principal = principal
        self.caller = Caller(principal=principal, tenant=tenant)
        self.operations.caller_changed(self.caller)

    def server_closing(self) -> None:
        self.close_soon(1001, "server shutting down")

    # -- messages ------------------------------------------------------------------------------------
    async def handle(self, message: wp.Message) -> None:
        kind = message.type
        if kind == "connection_init":
            await self.init(message.payload or {})
        elif kind == "ping":
            await self.send({"type": "pong"} if message.payload is None else {"type": "pong",
                                                                                "payload": message.payload})
        elif kind == "pong":
            return
        elif kind in ("subscribe", "start"):
            if not self.acked:
                raise wp.Closing(4401, "Unauthorized")
            if self.operations.active(message.key):
                raise wp.Closing(4409, f"Subscriber for {message.key[:60]} already exists")
            self.operations.start(message.id, wp.operation(message.payload))
        elif kind in ("complete", "stop"):
            self.operations.stop(message.key, notify=kind == "stop")
        elif kind == "connection_terminate":
            raise wp.Closing(1000, "terminated")

    async def init(self, payload: dict[str, Any]) -> None:
        if self.initialised:
            raise wp.Closing(4429, "Too many initialisation requests")
        self.initialised = True
        ctx = self.ctx
        token, tenant = _credentials(payload)
        try:
            if tenant is not None and not isinstance(tenant, str):
                raise ValidationError.single("tenant", "tenant must be a string", "type")
            if token is not None and not isinstance(token, str):
                raise ValidationError.single("authorization", "the token must be a string", "type")
            if ctx.auth is None:
                raise AtomoError("the server is starting")
            header = None if token is None else (token if token.lower().startswith("bearer ") else "Bearer " + token)
            principal = await ctx.auth.principal(header)
            self.caller = Caller(principal=principal, tenant=effective_tenant(principal, tenant))
        except AtomoError as exc:
            if self.protocol == wp.LEGACY:
                await self.send({"type": "connection_error", "payload": {"message": exc.message}})
            raise wp.Closing(4403, "Forbidden") from None
        self.principal, self.tenant_request = self.caller.principal, tenant
        self.acked = True
        await self.send({"type": "connection_ack"})
        if self.protocol == wp.LEGACY:
            await self.send({"type": "ka"})
            self.spawn(self.keep_alive())

    async def keep_alive(self) -> None:
        while not self.closed:
            await asyncio.sleep(KEEP_ALIVE_SECS)
            with contextlib.suppress(Exception):
                await self.send({"type": "ka"})


class SubscriptionEndpoint:
    def __init__(self, ctx: AppContext, live: LiveSockets) -> None:
        self.ctx = ctx
        self.live = live
        self.sockets: set[GraphQLSocket] = set()
        self.views: EventViews | None = None
        ctx.swap_listeners.append(self.schema_swapped)

    def event_views(self) -> EventViews:
        if self.views is None:
            from atomo.graphql.model_changes import EventViews, row_reader  # tartiflette: loaded lazily
            assert self.ctx.runtime is not None
            self.views = EventViews(row_reader(self.ctx.runtime.db))
        return self.views

    def schema_swapped(self) -> None:
        self.views = None
        for sock in list(self.sockets):
            sock.close_soon(1012, "server restarting")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await not_websocket(scope, send, "/graphql/ws")
            return
        if (await receive())["type"] != "websocket.connect":
            return
        protocol = wp.choose(scope.get("subprotocols") or [])
        if protocol is None:
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 4406, "reason": "Subprotocol not acceptable"})
            return
        await send({"type": "websocket.accept", "subprotocol": protocol})
        sock = GraphQLSocket(self, send, protocol)
        self.sockets.add(sock)
        try:
            await self.serve(sock, receive)
        finally:
            self.sockets.discard(sock)
            self.live.discard(sock)
            sock.closed = True
            sock.operations.cancel_all()
            for task in list(sock._tasks):      # keep-alive, pending closes
                if task is not asyncio.current_task():
                    task.cancel()

    async def serve(self, sock: GraphQLSocket, receive: Any) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + INIT_TIMEOUT_SECS
        while True:
            try:
                if sock.initialised:
                    message = await receive()
                else:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                await sock.close(4408, "Connection initialisation timeout")
                return
            kind = message["type"]
            if kind == "websocket.disconnect" or sock.closed:
                return
            if kind != "websocket.receive":
                continue
            try:
                await sock.handle(wp.parse(message, sock.protocol))
            except wp.Closing as exc:
                await sock.close(exc.code, exc.reason)
            except Exception:
                log.exception("/graphql/ws message handling failed")
                await sock.close(4500, "Internal server error")
            if sock.closed:
                return
            if sock.acked and sock not in self.live.sockets:
                self.live.add(sock)


def subscription_handlers(ctx: AppContext, live: LiveSockets) -> list[BaseRouteHandler]:
    if not ctx.settings.enable_subscriptions:
        return []
    endpoint = SubscriptionEndpoint(ctx, live)
    return [asgi("/graphql/ws", copy_scope=False, name="graphql-ws")(endpoint)]
