"""The HTTP application: which subsystems are mounted, and the services they share.

``create_app(settings, runtime=None)`` returns the Litestar app. Its lifespan starts what is not
given: the runtime (schema, data file, migrations), admin seeding, the JWT secret, the token and
login services and the GraphQL engine. ``atomo serve`` starts an ``AppContext`` itself before
listening (so boot failures get their exit codes) and passes it in.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.static_files import create_static_files_router

from atomo.auth.login import LoginService
from atomo.auth.secret import resolve_jwt_secret
from atomo.auth.seeding import AdminSeed, seed_admin
from atomo.auth.tokens import TokenService
from atomo.config import Settings
from atomo.http.auth_routes import auth_handlers
from atomo.http.errors import exception_handlers
from atomo.http.graphql_route import graphql_handler
from atomo.http.health import health_handlers
from atomo.http.request_context import Authenticator, request_id_hook
from atomo.project import Project, resolve_project
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
    engine: Any = None
    admin: AdminSeed | None = None
    shutting_down: bool = False
    owns_runtime: bool = False

    @property
    def started(self) -> bool:
        return self.engine is not None

    async def start(self, project: Project | None = None) -> AppContext:
        """Boot order: runtime (schema, file, migrations) -> admin seeding -> secret -> services -> engine."""
        s = self.settings
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
            self.logins = LoginService(runtime.db, self.tokens, session_ttl_secs=s.session_ttl_secs)
            from atomo.graphql.engine import GraphQLEngine
            self.engine = await GraphQLEngine.build(runtime.schema, s)
        except BaseException:
            await self.close()
            raise
        return self

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

    handlers: list[Any] = [*health_handlers(ctx), *auth_handlers(ctx), graphql_handler(ctx)]
    if STATIC_DIR.is_dir():
        handlers.append(create_static_files_router("/graphql/static", directories=[STATIC_DIR], name="graphiql"))
    app = Litestar(route_handlers=handlers, lifespan=[lifespan], exception_handlers=exception_handlers(),
                   before_send=[request_id_hook], openapi_config=None, logging_config=None, debug=False)
    app.state.atomo = ctx
    return app
