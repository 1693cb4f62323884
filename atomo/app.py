"""The HTTP application: which surfaces are mounted on one server's ``Services``, and how they are joined.

``create_app(services)`` returns the Litestar app. The services are started before (and closed after)
by the caller: ``atomo serve`` and ``atomo dev`` start them before listening, so boot failures get
their exit codes (``atomo.http.services.start_services``). Mounted: ``/health``, ``/ready``,
``/version``, ``/meta/schema``, ``/auth/*``, ``/graphql`` (+ GraphiQL), ``/graphql/ws``,
``/realtime/*``, the jobs routes and, with ``atomo serve --ephemeral`` only, ``POST /__test__/reset``.
The realtime hub and the jobs subsystem are joined here: job status frames go out on ``job:<id>``, and
who may subscribe there is who may read the job.

This module is the top of the serving stack: it imports ``http``, ``realtime`` and ``subscriptions``,
and only ``server``, ``devserver`` and the CLI import it (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.plugins import PluginProtocol
from litestar.plugins.core import MsgspecDIPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from litestar.utils import normalize_path

from atomo.auth.principal import Principal
from atomo.auth.scope import caller_for
from atomo.errors import AtomoError
from atomo.http.admin_ui import admin_handlers
from atomo.http.auth_routes import auth_handlers
from atomo.http.ephemeral import ephemeral_handlers
from atomo.http.exception_handlers import exception_handlers
from atomo.http.graphiql import FAVICON, STATIC_DIR, favicon_handler
from atomo.http.graphql_route import GraphQLEndpoint, graphql_handler
from atomo.http.health import health_handlers
from atomo.http.jobs.routes import jobs_handlers
from atomo.http.meta import meta_handlers
from atomo.http.metrics import UNMATCHED, Metrics, metrics_handlers
from atomo.http.ratelimit import RateLimitMiddleware
from atomo.http.security import RequestObserver, SecurityMiddleware
from atomo.http.services import Services
from atomo.http.users_routes import users_handlers
from atomo.jobs import Jobs
from atomo.jobs.service import can_read
from atomo.realtime.hub import RealtimeHub
from atomo.realtime.liveness import LiveSockets
from atomo.realtime.mesh import MeshLink
from atomo.realtime.plugin import realtime_handlers, realtime_hub
from atomo.subscriptions.endpoint import subscription_handlers

JOB_SENDER = "system:jobs"


class AtomoLitestar(Litestar):
    """Litestar without the plugins it adds whenever pydantic or attrs happens to be installed: Atomo's
    routes take no such models, and importing them cost 60 ms and 5 MiB at every start (issue 13)."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        return [*plugins, MsgspecDIPlugin()]


def create_app(services: Services) -> Litestar:
    settings = services.settings

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        mesh = hub.peers if hub is not None and isinstance(hub.peers, MeshLink) else None
        if mesh is not None:                # instances on one PostgreSQL: presence heartbeats while serving
            mesh.start()
        try:
            yield
        finally:
            services.state.shutting_down = True
            if mesh is not None:
                await mesh.close()

    live = LiveSockets(services)            # open WebSockets of /graphql/ws and /realtime/ws (sessions, shutdown)
    hub = realtime_hub(services) if settings.enable_realtime else None
    routed: list[Litestar] = []
    metrics = Metrics(services, route_of=lambda scope: route_template(routed[0], scope), hub=hub,
                      subscriptions=lambda: subscriptions_active(live))
    graphql = GraphQLEndpoint(services, metrics.graphql)
    handlers: list[ControllerRouterHandler] = [*health_handlers(services), *metrics_handlers(metrics),
                                               *meta_handlers(services), *auth_handlers(services),
                                               *users_handlers(services, live.recheck_user),
                                               graphql_handler(graphql), *subscription_handlers(services, live)]
    if hub is not None:
        handlers += realtime_handlers(services, live, hub)
        publish_jobs(services.jobs, hub)
    handlers += jobs_handlers(services)
    if settings.ephemeral:                  # atomo serve --ephemeral: POST /__test__/reset (else 404)
        handlers += ephemeral_handlers(services)
    if STATIC_DIR.is_dir():
        handlers.append(create_static_files_router("/graphql/static", directories=[STATIC_DIR], name="graphiql"))
    if FAVICON.is_file():
        handlers.append(favicon_handler())
    handlers += admin_handlers(settings)    # the admin UI on /_/ (issue 19)
    app = AtomoLitestar(route_handlers=handlers, lifespan=[lifespan], exception_handlers=exception_handlers(),
                   openapi_config=None, logging_config=None, debug=False)
    app.state.atomo = services
    routed.append(app)
    app.asgi_handler = graphql_first(app.asgi_handler, graphql)
    wrap_asgi(app, services, metrics)
    app.asgi_handler = live.watch_logout(app.asgi_handler)
    return app


def graphql_first(app: Any, graphql: GraphQLEndpoint) -> Any:
    """HTTP requests to ``/graphql`` go straight to their endpoint (it answers every error itself); the
    rest through Litestar's exception middleware and router. Still inside the security and rate-limit
    wrappers, so the path of most requests skips two layers and nothing else changes."""
    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/graphql":
            await graphql(scope, receive, send)
        else:
            await app(scope, receive, send)
    return dispatch


def publish_jobs(jobs: Jobs, hub: RealtimeHub) -> None:
    """Job status and progress frames go out on ``job:<id>``; who may subscribe there is who may read the job
    (the rule of ``GET /jobs/{id}``, tenant scope included)."""
    jobs.queue.publish = lambda channel, payload: hub.publish(channel, payload, JOB_SENDER)

    async def may_read(principal: Principal, job_id: str) -> bool:
        row = await jobs.queue.find(job_id)
        return row is not None and can_read(row, caller_for(principal, None))
    hub.access.job_reader = may_read


def worker_token_exempt(jobs: Jobs) -> Callable[[Any], Awaitable[bool]]:
    """Requests carrying a valid worker token are not rate limited (auth chapter §9.1)."""
    async def exempt(scope: Any) -> bool:
        token = next((v for k, v in scope.get("headers", ()) if k == b"x-worker-token"), None)
        if token is None:
            return False
        try:
            await jobs.workers.authenticate(token.decode("latin-1"))
        except AtomoError:
            return False
        return True
    return exempt


def route_template(app: Litestar, scope: Any) -> str:
    """The route template of a request the router did not see (refused by a wrapper: 413, 429, a preflight)
    or could not route (404, 405): looked up in the router's bounded cache, else ``unmatched``."""
    path = normalize_path(scope["path"])
    for method in (scope["method"], "GET"):
        try:
            return str(app.asgi_router.handle_routing(path=path, method=method)[4])
        except Exception:
            continue
    return UNMATCHED


def subscriptions_active(live: LiveSockets) -> int:
    """Operations running on open ``/graphql/ws`` connections (the realtime sockets have none)."""
    return sum(len(getattr(getattr(sock, "operations", None), "tasks", ())) for sock in list(live.sockets))


def wrap_asgi(app: Litestar, services: Services, metrics: Metrics | None = None) -> None:
    """Outermost first: security headers/CORS/request id/body limits -> rate limiter -> Litestar.

    Plain ASGI wrappers around Litestar's handler (not route middleware), so unknown routes, 405s
    and every error response pass through them too.
    """
    handler: Any = app.asgi_handler
    if services.request_buckets is not None:
        handler = limiter = RateLimitMiddleware(handler, services.request_buckets, services.client_address,
                                                exempt=worker_token_exempt(services.jobs))
        if metrics is not None:
            metrics.rate_limiter = limiter
    observe = (RequestObserver(metrics.http.observe, metrics.http.route, services.client_address)
               if metrics is not None else None)
    app.asgi_handler = SecurityMiddleware(handler, services.settings, services.client_address, observe=observe)
