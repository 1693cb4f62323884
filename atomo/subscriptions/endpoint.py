"""``/graphql/ws`` (graphql chapter §10): GraphQL over WebSocket, both sub-protocols.

Handshake: the client must offer ``graphql-transport-ws`` or ``graphql-ws`` (else accepted and
closed with 4406). ``connection_init`` within 10 s (4408), once (4429); its payload carries the token
(``authorization``/``Authorization``/``token``, ``Bearer `` optional; none = anonymous) and the tenant
(``tenant``/``tenantId``, X-Tenant-ID rules); a bad token or tenant mismatch closes with 4403.
Operations before the ack close with 4401, a reused id with 4409, malformed messages with 4400.
Queries and mutations run once (``next`` + ``complete``); subscriptions are ``modelChanges``
and ``streamEvents`` streams. Access problems are ``error`` messages for that id; the socket stays open. Open sockets
are registered with ``LiveSockets``: a login session that ends closes them with 4403, shutdown with
1001, and an ``atomo dev`` schema swap or a data reset (``Runtime.reset``) with 1012.

Limits per socket: every ``subscribe``/``start`` takes a token from the client address's bucket of
the general limiter (``RATE_LIMITED``), at most ``GRAPHQL_WS_MAX_OPERATIONS`` operations run at once
(``LIMIT_EXCEEDED``); both are ``error`` messages for that id. Messages out go through a bounded
``Outbox``; a client that takes none for ``GRAPHQL_WS_SLOW_CONSUMER_SECS`` is closed with 4408.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from litestar import asgi
from litestar.handlers import BaseRouteHandler

from atomo.auth.principal import ANONYMOUS, Caller, Principal
from atomo.auth.scope import caller_for
from atomo.errors import AtomoError, ValidationError
from atomo.realtime.handshake import not_websocket
from atomo.realtime.liveness import LiveSockets
from atomo.subscriptions import protocol as wp
from atomo.subscriptions.operations import Operations
from atomo.subscriptions.outbox import Outbox

if TYPE_CHECKING:
    from atomo.http.services import Services
    from atomo.subscriptions.model_changes import EventViews

log = logging.getLogger("atomo.graphql")   # the logger name predates the package
INIT_TIMEOUT_SECS = 10.0
KEEP_ALIVE_SECS = 15.0
SLOW_CONSUMER = (4408, "slow consumer")


def _credentials(payload: dict[str, Any]) -> tuple[str | None, Any]:
    token = next((payload[k] for k in ("authorization", "Authorization", "token") if payload.get(k)), None)
    tenant = payload.get("tenant", payload.get("tenantId"))
    return token, tenant


class GraphQLSocket:
    """One connection: its protocol, caller and operations."""

    def __init__(self, endpoint: SubscriptionEndpoint, send: Any, protocol: str, address: str = "unknown") -> None:
        self.endpoint = endpoint
        self.services = endpoint.services
        self.protocol = protocol
        self.address = address               # the client address (per-IP request bucket)
        self.principal: Principal = ANONYMOUS
        self.tenant_request: str | None = None
        self.caller = Caller(principal=ANONYMOUS)
        self.acked = False
        self.initialised = False
        self._closed = False
        self.operations = Operations(self)
        self.outbox = Outbox(send, stall_secs=self.services.settings.graphql_ws_slow_consumer_secs,
                             on_stall=self._stalled)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def closed(self) -> bool:
        """Closing or closed (by the server, or the client went away)."""
        return self._closed or self.outbox.gone

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_text(wp.encode(message))

    async def send_text(self, text: str) -> None:
        """Queue a message, waiting while the outbox is full (ignored once closing)."""
        await self.outbox.put(text)

    async def close(self, code: int, reason: str = "") -> None:
        """Stop the operations, then send the close frame after what is queued (and wait for it)."""
        self.close_soon(code, reason)
        await self.outbox.flushed()

    def close_soon(self, code: int, reason: str, *, discard: bool = False) -> None:
        if self.closed:
            return
        self._closed = True
        self.operations.cancel_all()
        self.outbox.close(code, reason, discard=discard)

    def _stalled(self) -> None:
        """The client has taken nothing for GRAPHQL_WS_SLOW_CONSUMER_SECS: drop what waits and close."""
        log.info("/graphql/ws %s: slow consumer (%d messages waiting), closing", self.address, self.outbox.queued)
        self.close_soon(*SLOW_CONSUMER, discard=True)

    def disconnected(self) -> None:
        self._closed = True
        self.operations.cancel_all()
        self.outbox.stop()

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
            caller = caller_for(principal, self.tenant_request, field="tenant")
        except AtomoError:
            self.close_soon(4403, "Forbidden: tenant mismatch")
            return
        self.principal = principal
        self.caller = caller
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
            operation = wp.operation(message.payload)
            refusal = self.operations.refusal()
            if refusal is not None:
                await self.send(wp.error_message(self.protocol, message.id, [refusal]))
            else:
                self.operations.start(message.id, operation)
        elif kind in ("complete", "stop"):
            stopped = self.operations.stop(message.key)
            if kind == "stop" and stopped is not None:   # legacy protocol: `stop` is answered with `complete`
                await self.send(wp.complete_message(stopped))
        elif kind == "connection_terminate":
            raise wp.Closing(1000, "terminated")

    async def init(self, payload: dict[str, Any]) -> None:
        if self.initialised:
            raise wp.Closing(4429, "Too many initialisation requests")
        self.initialised = True
        token, tenant = _credentials(payload)
        try:
            if tenant is not None and not isinstance(tenant, str):
                raise ValidationError.single("tenant", "tenant must be a string", "type")
            if token is not None and not isinstance(token, str):
                raise ValidationError.single("authorization", "the token must be a string", "type")
            header = None if token is None else (token if token.lower().startswith("bearer ") else "Bearer " + token)
            principal = await self.services.auth.principal(header)
            self.caller = caller_for(principal, tenant, field="tenant")
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
            await self.send({"type": "ka"})


class SubscriptionEndpoint:
    def __init__(self, services: Services, live: LiveSockets) -> None:
        self.services = services
        self.live = live
        self.sockets: set[GraphQLSocket] = set()
        self.views: EventViews | None = None
        services.current.listeners.append(self.schema_swapped)
        services.runtime.reset_listeners.append(self.schema_swapped)   # a data reset: views and cursors are stale

    def event_views(self) -> EventViews:
        if self.views is None:
            from atomo.subscriptions.model_changes import EventViews, image_reader  # tartiflette: loaded lazily
            self.views = EventViews(image_reader(self.services.db))
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
        services = self.services
        address = services.client_address(scope) if services.request_buckets is not None else "unknown"
        sock = GraphQLSocket(self, send, protocol, address)
        self.sockets.add(sock)
        try:
            await self.serve(sock, receive)
            if sock.closed:
                await sock.outbox.flushed()     # a close frame waiting for the client goes out first
        finally:
            self.sockets.discard(sock)
            self.live.discard(sock)
            sock.disconnected()
            for task in list(sock._tasks):      # keep-alive, error messages
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


def subscription_handlers(services: Services, live: LiveSockets) -> list[BaseRouteHandler]:
    if not services.settings.enable_subscriptions:
        return []
    endpoint = SubscriptionEndpoint(services, live)
    return [asgi("/graphql/ws", copy_scope=False, name="graphql-ws")(endpoint)]
