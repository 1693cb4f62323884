"""Routes of the realtime tier: ``/realtime/ws``, ``GET /realtime/health``, ``POST /realtime/token``.

Handshake order (refusals are HTTP responses before the upgrade): per-IP connection cap (429) ->
``encoding`` (400) -> credential: ``Authorization: Bearer`` header, else ``?token=`` (a login JWT or
a realtime token); none -> anonymous ``anon:<uuid4>`` with ``ATOMO_REALTIME_ALLOW_ANON``, else 401.
The general rate limiter in front of the app counts the handshake once. After the upgrade: a
``welcome`` frame, then one client frame at a time; no input closes the socket except frames over
1 MiB (1009). With ``ATOMO_ENABLE_REALTIME=false`` nothing is mounted (404): ``atomo.app`` builds no
hub and asks for no routes.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, asgi, get, post
from litestar.handlers import BaseRouteHandler

from atomo.auth.principal import ANONYMOUS, Caller
from atomo.auth.secret import resolve_jwt_secret
from atomo.cluster.shared_table import SharedConnectionCap
from atomo.errors import AtomoError, UnauthenticatedError
from atomo.http.errors import HttpError
from atomo.http.request_context import is_json_content_type, parse_json
from atomo.realtime.access import ChannelAccess
from atomo.realtime.cluster import attach as attach_cluster
from atomo.realtime.connection import Connection, Throttle
from atomo.realtime.handshake import ConnectionCap, deny, header, not_websocket, query_params, quiet_denials
from atomo.realtime.hub import RealtimeHub
from atomo.realtime.liveness import LiveSockets
from atomo.realtime.mesh import MeshLink
from atomo.realtime.protocol import BadFrame, error_frame, frame, parse_frame
from atomo.realtime.tokens import RealtimeTokens, principal_for_token, requested_ttl

if TYPE_CHECKING:
    from atomo.http.services import Services
    from atomo.schema.model import ChannelRule

log = logging.getLogger("atomo.realtime")
HARD_FRAME_LIMIT = 1 << 20
AUTH_REQUIRED = "realtime auth required: pass ?token=<jwt>"
AUTH_FAILED = "realtime auth failed: invalid or expired token"
_BEARER = [(b"www-authenticate", b"Bearer")]


def _frame_size(message: dict[str, Any]) -> int:
    text = message.get("text")
    if text is not None:
        return len(text) if text.isascii() else len(text.encode("utf-8"))
    return len(message.get("bytes") or b"")


def connection_cap(services: Services) -> ConnectionCap | SharedConnectionCap:
    """Open connections per client IP: counted in this process when it serves alone, else in the table
    the workers of ``atomo serve --workers N`` share (one count per worker, summed)."""
    limit, member, table = services.settings.realtime_max_conn_per_ip, services.runtime.member, services.shared_table
    if member is None or table is None:
        return ConnectionCap(limit)
    return SharedConnectionCap(table, member.index, limit)


class RealtimeEndpoint:
    def __init__(self, services: Services, live: LiveSockets, hub: RealtimeHub) -> None:
        self.services = services
        self.live = live
        self.hub = hub
        self.cap = connection_cap(services)
        self._tokens: RealtimeTokens | None = None

    def tokens(self) -> RealtimeTokens:
        if self._tokens is None:
            services = self.services
            secret = resolve_jwt_secret(services.settings, services.db.path.parent)   # as start_services
            self._tokens = RealtimeTokens(secret)
        return self._tokens

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await not_websocket(scope, send, "/realtime/ws")
            return
        if (await receive())["type"] != "websocket.connect":
            return
        ip = self.services.client_address(scope)
        if not self.cap.acquire(ip):
            self.hub.stats.rate_limited += 1
            await deny(scope, send, 429, "RATE_LIMITED", "too many realtime connections from this address")
            return
        try:
            conn = await self.handshake(scope, send, ip)
            if conn is not None:
                await self.serve(conn, receive)
        finally:
            self.cap.release(ip)

    async def handshake(self, scope: Any, send: Any, ip: str) -> Connection | None:
        s, services = self.services.settings, self.services
        params = query_params(scope)
        encoding = params.get("encoding") or "json"
        if encoding not in ("json", "msgpack"):
            await deny(scope, send, 400, "VALIDATION_ERROR", "encoding must be json or msgpack")
            return None
        authorization = header(scope, b"authorization")
        token = authorization.strip().partition(" ")[2].strip() if authorization else params.get("token") or None
        if authorization is not None and authorization.strip().partition(" ")[0].lower() != "bearer":
            token = ""
        if token is None:
            if not s.realtime_allow_anon:
                await deny(scope, send, 401, "UNAUTHENTICATED", AUTH_REQUIRED, _BEARER)
                return None
            principal, pid = ANONYMOUS, f"anon:{uuid.uuid4()}"
        else:
            try:
                principal = await principal_for_token(token, services.auth, self.tokens(), services.db)
            except AtomoError:
                await deny(scope, send, 401, "UNAUTHENTICATED", AUTH_FAILED, _BEARER)
                return None
            pid = principal.user_id or ""
        await send({"type": "websocket.accept"})
        return Connection(send, principal=principal, pid=pid, ip=ip, encoding=encoding,
                          queue_limit=s.realtime_outbound_queue, stats=self.hub.stats,
                          joins=Throttle(s.realtime_join_burst, s.realtime_join_per_sec),
                          publishes=Throttle(s.realtime_publish_burst, s.realtime_publish_per_sec))

    async def serve(self, conn: Connection, receive: Any) -> None:
        hub, live = self.hub, self.live
        hub.attach(conn)
        live.add(conn)
        conn.push(frame("welcome", principal=conn.pid, encoding=conn.encoding))
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.disconnect":
                    return
                if kind == "websocket.receive" and not conn.closed:
                    if not await self.on_message(conn, message):
                        return
        finally:
            hub.detach(conn)
            live.discard(conn)
            await conn.stop()

    async def on_message(self, conn: Connection, message: dict[str, Any]) -> bool:
        """Handle one client frame; False when the socket was closed (frame over 1 MiB)."""
        size = _frame_size(message)
        if size > HARD_FRAME_LIMIT:
            await conn.close(1009, "frame too large")
            return False
        limit = self.services.settings.realtime_max_frame_bytes
        if size > limit:
            conn.push(error_frame("FRAME_TOO_LARGE", f"frame of {size} bytes is larger than {limit} bytes"))
            return True
        try:
            request = parse_frame(message, conn.encoding)
            await self.hub.handle(conn, request)
        except BadFrame as exc:
            conn.push(error_frame("BAD_FRAME", f"bad frame: {exc.reason}", ref=exc.ref))
        except Exception:
            log.exception("realtime frame handling failed")
            conn.push(error_frame("INTERNAL_ERROR", "internal error"))
        return True


def realtime_hub(services: Services) -> RealtimeHub:
    """The hub of one server: the channel rules of the schema being served, records read through its
    data service (``atomo dev`` may swap both). ``publish(channel, payload, sender)`` is for jobs."""
    s, current = services.settings, services.current

    def rules() -> tuple[ChannelRule, ...]:
        return current.schema.channels

    async def records(model: str, record_id: str, caller: Caller) -> dict[str, Any] | None:
        return await current.data.record(model, record_id, caller=caller)

    hub = RealtimeHub(ChannelAccess(rules, records), policy=s.realtime_coordinator_policy,
                      max_subscriptions=s.realtime_max_subscriptions)
    if services.runtime.member is not None:      # one of the workers of `atomo serve --workers N`
        attach_cluster(hub, services.runtime.bus)
    elif s.postgres_url:                         # one of the instances on one PostgreSQL (started by the app)
        hub.peers = MeshLink(hub, services.runtime.bus)
    return hub


HEALTH = "realtime.health"
MAXED_STATS = frozenset({"active_channels", "active_sessions"})   # one channel may have members on every worker


def group_stats(per_worker: list[dict[str, int]]) -> dict[str, int]:
    """``/realtime/health`` stats of a group: counts summed over the workers, channels and sessions the largest."""
    total: dict[str, int] = {}
    for stats in per_worker:
        for key, value in stats.items():
            total[key] = max(total.get(key, 0), value) if key in MAXED_STATS else total.get(key, 0) + value
    return total


def realtime_handlers(services: Services, live: LiveSockets, hub: RealtimeHub) -> list[BaseRouteHandler]:
    """``/realtime/ws``, ``/realtime/health`` and ``POST /realtime/token`` on ``hub``."""
    quiet_denials()
    endpoint = RealtimeEndpoint(services, live, hub)

    bus = services.runtime.bus
    bus.answer(HEALTH, lambda _: hub.health()["stats"])

    @get("/realtime/health", name="realtime-health")
    async def health() -> Response[Any]:
        body = hub.health()
        if bus.clustered:                # the whole server, and this worker's own figures
            local = body["stats"]
            body["stats"] = group_stats([local, *await bus.ask(HEALTH)])
            body["worker"] = {"index": bus.index, "stats": local}
        return Response(body, media_type="application/json")

    @post("/realtime/token", status_code=200, name="realtime-token")
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        principal = await services.auth.principal(request.headers.get("authorization"))
        if not principal.authenticated:
            raise UnauthenticatedError("authentication required")
        raw = await request.body()
        body = None
        if raw.strip():
            if not is_json_content_type(request.headers.get("content-type")):
                raise HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "expected Content-Type: application/json")
            body = parse_json(raw)
        return Response(endpoint.tokens().issue(principal, requested_ttl(body)), media_type="application/json")

    websocket = asgi("/realtime/ws", copy_scope=False, name="realtime-ws")(endpoint)
    return [websocket, health, token]
