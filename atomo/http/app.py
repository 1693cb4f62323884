"""The HTTP application: which subsystems are mounted, and the services they share.

``create_app(settings, runtime=None)`` returns the Litestar app. Its lifespan starts what is not
given: the runtime (schema, data file, migrations), admin seeding, the JWT secret, the token and
login services and the GraphQL engine. ``atomo serve`` starts an ``AppContext`` itself before
listening (so boot failures get their exit codes) and passes it in.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.static_files import create_static_files_router

from atomo.auth.login import LoginService
from atomo.auth.registration import RegistrationPolicy, registration_policy
from atomo.auth.secret import resolve_jwt_secret
from atomo.auth.seeding import AdminSeed, seed_admin
from atomo.auth.tokens import TokenService
from atomo.config import Settings
from atomo.errors import AtomoError
from atomo.graphql.subscriptions import subscription_handlers
from atomo.http.auth_routes import auth_handlers
from atomo.http.errors import exception_handlers
from atomo.http.graphiql import FAVICON, favicon_handler
from atomo.http.graphql_route import graphql_handler
from atomo.http.health import health_handlers
from atomo.http.meta import meta_handlers
from atomo.http.ratelimit import ClientAddress, LoginLimiter, RateLimitMiddleware, TokenBuckets
from atomo.http.request_context import Authenticator
from atomo.http.security import SecurityMiddleware
from atomo.jobs.graphql import jobs_extension
from atomo.jobs.routes import jobs_handlers
from atomo.project import Project, resolve_project
from atomo.realtime.liveness import LiveSockets
from atomo.realtime.plugin import realtime_handlers
from atomo.runtime import Runtime

log = logging.getLogger("atomo.http")
STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"


@dataclass
class AppContext:
    """The services of one running server, shared by every route."""

    settings: Settings
    runtime: Runtime | None = None
    tokens: TokenService | None = None
    auth: Authenticator | None = None
    logins: LoginService | None = None
    login_limiter: LoginLimiter | None = None
    registration: RegistrationPolicy | None = None
    engine: Any = None
    admin: AdminSeed | None = None
    realtime: Any = None               # the realtime hub: publish(channel, payload, sender) for jobs
    shutting_down: bool = False
    owns_runtime: bool = False
    swap_listeners: list[Callable[[], None]] = field(default_factory=list)
    request_buckets: TokenBuckets | None = None   # the general limiter's per-IP buckets (also /graphql/ws operations)
    # the client address of a request (trusted proxies, X-Forwarded-For): every per-IP limit uses it
    client_address: ClientAddress = field(init=False)

    def __post_init__(self) -> None:
        self.client_address = ClientAddress(self.settings)

    @property
    def started(self) -> bool:
        return self.engine is not None

    async def start(self, project: Project | None = None) -> AppContext:
        """Boot order: runtime (schema, file, migrations) -> admin seeding -> secret -> services -> engine."""
        s = self.settings
        self.registration = registration_policy(s)   # refuses admin or an invalid role (exit 3)
        self.login_limiter = LoginLimiter.from_settings(s)
        if self.runtime is None:
            project = project or resolve_project(s)
            self.runtime = await Runtime(s, project).start()
            self.owns_runtime = True
        runtime = self.runtime
        assert runtime.db is not None
        try:
            self.admin = await seed_admin(runtime.db, s)
            secret = resolve_jwt_secret(s, runtime.project.data_file.parent)
            self.tokens = TokenService(secret, ttl_secs=s.jwt_ttl_secs)
            self.auth = Authenticator(runtime.db, self.tokens)
            auth = self.auth
            runtime.users.changed.append(lambda user_id: auth.cache.forget(user_id=user_id))
            self.logins = LoginService(runtime.db, self.tokens, session_ttl_secs=s.session_ttl_secs)
            self.engine = await self.build_engine(runtime.schema)
        except BaseException:
            await self.close()
            raise
        return self

    async def build_engine(self, schema: Any) -> Any:
        """The GraphQL engine for a schema (at start, and by `atomo dev` on reload)."""
        from atomo.graphql.engine import GraphQLEngine
        return await GraphQLEngine.build(schema, self.settings,
                                         extensions=[jobs_extension(lambda: self.runtime.jobs)])  # type: ignore[union-attr]

    def swap(self, schema: Any, data: Any, engine: Any) -> None:
        """`atomo dev`: serve a new schema on the same data file. Nothing is awaited here, so a request sees
        either the old or the new services; listeners (e.g. open WebSockets, closed with 1012) run after."""
        assert self.runtime is not None
        self.runtime.schema, self.runtime.data, self.engine = schema, data, engine
        for listener in list(self.swap_listeners):
            listener()

    async def close(self) -> None:
        self.shutting_down = True
        if self.owns_runtime and self.runtime is not None:
            await self.runtime.close()


def create_app(settings: Settings, runtime: Runtime | None = None, *, context: AppContext | None = None) -> Litestar:
    ctx = context or AppContext(settings, runtime)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        started_here = not ctx.started
        if started_here:
            await ctx.start()
        try:
            yield
        finally:
            ctx.shutting_down = True
            if started_here:
                await ctx.close()

    live = LiveSockets(ctx)            # open WebSockets of /graphql/ws and /realtime/ws (sessions, shutdown)
    handlers: list[Any] = [*health_handlers(ctx), *meta_handlers(ctx), *auth_handlers(ctx), graphql_handler(ctx),
                           *subscription_handlers(ctx, live), *realtime_handlers(ctx, live), *jobs_handlers(ctx)]
    if STATIC_DIR.is_dir():
        handlers.append(create_static_files_router("/graphql/static", directories=[STATIC_DIR], name="graphiql"))
    if FAVICON.is_file():
        handlers.append(favicon_handler())
    app = Litestar(route_handlers=handlers, lifespan=[lifespan], exception_handlers=exception_handlers(),
                   openapi_config=None, logging_config=None, debug=False)
    app.state.atomo = ctx
    wrap_asgi(app, settings, ctx)
    app.asgi_handler = live.watch_logout(app.asgi_handler)
    return app


def worker_token_exempt(ctx: AppContext) -> Callable[[Any], Awaitable[bool]]:
    """Requests carrying a valid worker token are not rate limited (auth chapter §9.1)."""
    async def exempt(scope: Any) -> bool:
        token = next((v for k, v in scope.get("headers", ()) if k == b"x-worker-token"), None)
        if token is None or ctx.runtime is None or getattr(ctx.runtime, "jobs", None) is None:
            return False
        try:
            await ctx.runtime.jobs.workers.authenticate(token.decode("latin-1"))
        except AtomoError:
            return False
        return True
    return exempt


def wrap_asgi(app: Litestar, settings: Settings, ctx: AppContext | None = None) -> None:
    """Outermost first: security headers/CORS/request id/body limits -> rate limiter -> Litestar.

    Plain ASGI wrappers around Litestar's handler (not route middleware), so unknown routes, 405s
    and every error response pass through them too.
    """
    handler: Any = app.asgi_handler
    client_address = ctx.client_address if ctx is not None else ClientAddress(settings)
    if settings.rate_limit_rps > 0:
        buckets = TokenBuckets(settings.rate_limit_rps, settings.rate_limit_window_secs)
        if ctx is not None:
            ctx.request_buckets = buckets
        handler = RateLimitMiddleware(handler, buckets, client_address,
                                      exempt=worker_token_exempt(ctx) if ctx is not None else None)
    app.asgi_handler = SecurityMiddleware(handler, settings, client_address)
