"""The services of one running server, complete when they exist: ``start_services(settings, project)``.

Boot order: registration policy and the client address (settings only: an invalid role is exit 3
before any file is touched) -> runtime (schema, data file, migrations, feed, jobs) -> limiters (in memory,
or in the table the workers of ``atomo serve --workers N`` share: ``limiters``) -> admin seeding -> JWT
secret -> token, authentication and login services -> GraphQL engine. If any step fails, what was
started is closed again. ``atomo serve`` and ``atomo dev`` start the services before they listen (so
boot failures get their exit codes), build the app from them (``atomo.app.create_app``) and close
them after the server stopped.

Every route factory takes ``Services``; nothing on it is optional except what a server may run
without (``request_buckets``: the general limiter is off at ``RATE_LIMIT_RPS=0``). What changes at
run time lives behind two small objects: ``CurrentSchema`` (the schema, data service and GraphQL
engine, replaced together by ``atomo dev``) and ``ServerState`` (shutting down).

This module is the bottom of the HTTP layer: it imports the runtime and the GraphQL engine, and
``realtime``, ``subscriptions`` and ``atomo.app`` import it (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atomo.auth.login import LoginService
from atomo.auth.registration import RegistrationPolicy, registration_policy
from atomo.auth.secret import resolve_jwt_secret
from atomo.auth.seeding import AdminSeed, seed_admin
from atomo.auth.tokens import TokenService
from atomo.config import Settings
from atomo.hooks.loader import load_project_hooks, show_hook_logs
from atomo.hooks.registry import HookSet
from atomo.http.idempotency import IdempotentMutations
from atomo.http.pg_limits import PgLimits
from atomo.http.ratelimit import Buckets, ClientAddress, LoginLimiter, TokenBuckets
from atomo.http.request_context import Authenticator
from atomo.runtime import Runtime
from atomo.storage.idempotency import IdempotencyStore

if TYPE_CHECKING:
    from atomo.cluster.member import Member
    from atomo.cluster.shared_table import SharedTable
    from atomo.data.service import DataService
    from atomo.graphql.engine import GraphQLEngine
    from atomo.jobs import Jobs
    from atomo.project import Project
    from atomo.schema import Schema
    from atomo.storage.database import Database


class CurrentSchema:
    """The schema being served, with its data service and GraphQL engine.

    ``atomo dev`` replaces the three at once (``swap``): nothing is awaited there, so a request sees
    either the old or the new ones. The runtime follows (its ``schema`` and ``data``, the jobs
    dispatcher on the new writer), then the listeners run (open ``/graphql/ws`` sockets close with 1012).
    """

    def __init__(self, runtime: Runtime, schema: Schema, engine: GraphQLEngine) -> None:
        self._runtime = runtime
        self.schema = schema
        self.data: DataService = runtime.data
        self.engine = engine
        self.listeners: list[Callable[[], None]] = []

    def swap(self, schema: Schema, data: DataService, engine: GraphQLEngine) -> None:
        runtime = self._runtime
        self.schema, self.data, self.engine = schema, data, engine
        runtime.schema, runtime.data = schema, data
        runtime.jobs.attach(data.writer)
        for listener in list(self.listeners):
            listener()


@dataclass
class ServerState:
    """What the server is doing: set by the signal handler and the app's lifespan, read by readiness
    (``/ready`` answers 503) and by open WebSockets (told ``server_closing``, 1001)."""

    shutting_down: bool = False


@dataclass(frozen=True)
class Services:
    """The services of one running server, shared by every route."""

    settings: Settings
    runtime: Runtime
    db: Database
    current: CurrentSchema
    tokens: TokenService
    auth: Authenticator
    logins: LoginService
    login_limiter: LoginLimiter
    registration: RegistrationPolicy
    admin: AdminSeed
    # the client address of a request (trusted proxies, X-Forwarded-For): every per-IP limit uses it
    client_address: ClientAddress
    # the general limiter's per-IP buckets (HTTP requests and /graphql/ws operations); None when it is off
    request_buckets: Buckets | None
    # mutations sent with Idempotency-Key (atomo.http.idempotency)
    idempotency: IdempotentMutations
    state: ServerState = field(default_factory=ServerState)
    # the limits shared by the workers of `atomo serve --workers N` (None: this process serves alone)
    shared_table: SharedTable | None = None
    # the limits shared by the instances on one PostgreSQL (None on SQLite)
    pg_limits: PgLimits | None = None

    @property
    def jobs(self) -> Jobs:
        return self.runtime.jobs

    async def close(self) -> None:
        """Shut down: readiness turns 503, then the runtime closes (writer drained, WAL checkpointed)."""
        self.state.shutting_down = True
        if self.pg_limits is not None:
            await self.pg_limits.close()
        await self.runtime.close()


async def build_engine(settings: Settings, schema: Schema, jobs: Jobs, hooks: HookSet | None = None) -> GraphQLEngine:
    """The GraphQL engine for a schema, with ``enqueueJob``, the block mutations and ``renderBlocks``, and the
    custom fields of the project's hooks (at start, and by ``atomo dev`` on reload)."""
    from atomo.graphql.content import content_extension
    from atomo.graphql.custom_fields import custom_fields_extension
    from atomo.graphql.engine import GraphQLEngine  # tartiflette: loaded when a server starts
    from atomo.graphql.jobs import jobs_extension
    from atomo.graphql.streams import streams_extension
    from atomo.graphql.typed_resolvers import typed_extension
    # the parts and order of atomo.graphql.served.served_sdl, what `atomo codegen` writes (tests/graphql/test_served_sdl.py)
    extensions = [jobs_extension(jobs), content_extension(), streams_extension(), typed_extension(schema)]
    extensions.append(custom_fields_extension(hooks or HookSet(), extensions))   # checked against the others
    return await GraphQLEngine.build(schema, settings, extensions=extensions)


async def start_services(settings: Settings, project: Project, member: Member | None = None) -> Services:
    """Boot the services in the order of the module docstring; close what was started on failure."""
    registration = registration_policy(settings)      # refuses admin or an invalid role (exit 3)
    client_address = ClientAddress(settings)
    hooks = load_project_hooks(project)                 # hooks/*.py: an import error is a ConfigError naming the file
    show_hook_logs(settings.log_level)
    runtime = await Runtime(settings, project, hooks=hooks, member=member).start()
    pg_limits = None
    try:
        pg_limits = PgLimits(settings.postgres_url) if settings.postgres_url else None
        login_limiter, buckets, shared_table = limiters(settings, member, pg_limits)
        if pg_limits is not None:
            await pg_limits.start()
        db, schema = runtime.db, runtime.schema
        assert db is not None and schema is not None    # a started runtime has both
        admin = await seed_admin(db, settings)
        # the data file's folder (db.path: for :memory:, the private tmpfs folder, removed with the data)
        tokens = TokenService(resolve_jwt_secret(settings, db.path.parent), ttl_secs=settings.jwt_ttl_secs)
        auth = Authenticator(db, tokens)
        runtime.users.changed.append(lambda user_id: auth.cache.forget(user_id=user_id))
        runtime.reset_listeners.append(auth.reset)
        logins = LoginService(db, tokens, session_ttl_secs=settings.session_ttl_secs)
        engine = await build_engine(settings, schema, runtime.jobs, hooks)
    except BaseException:
        if pg_limits is not None:
            await pg_limits.close()
        await runtime.close()
        raise
    return Services(settings=settings, runtime=runtime, db=db, current=CurrentSchema(runtime, schema, engine),
                    tokens=tokens, auth=auth, logins=logins, login_limiter=login_limiter, registration=registration,
                    admin=admin, client_address=client_address, request_buckets=buckets,
                    idempotency=IdempotentMutations(IdempotencyStore(db, settings.idempotency_ttl_secs)),
                    shared_table=shared_table, pg_limits=pg_limits)


def limiters(settings: Settings, member: Member | None, pg_limits: PgLimits | None = None,
             ) -> tuple[LoginLimiter, Buckets | None, SharedTable | None]:
    """The login limiter, the general limiter's buckets (None at ``RATE_LIMIT_RPS=0``) and the shared
    table: in this process's memory when it serves alone (no table), else in the table of its group
    (``member.table_path``, created by the supervisor), or kept in step through PostgreSQL by ``pg_limits``
    (instances on one database), so each limit holds for the server as a whole."""
    rps, window = settings.rate_limit_rps, settings.rate_limit_window_secs
    if pg_limits is not None:
        requests = pg_limits.buckets("requests", rps, window) if rps > 0 else None
        return LoginLimiter.from_settings(settings, buckets=pg_limits.buckets), requests, None
    if member is None:
        return LoginLimiter.from_settings(settings), TokenBuckets(rps, window) if rps > 0 else None, None
    from atomo.cluster.shared_table import SharedTable, SharedTokenBuckets
    table = SharedTable.open(member.table_path)

    def shared(kind: str, capacity: int, window_secs: float) -> SharedTokenBuckets:
        return SharedTokenBuckets(table, kind, capacity, window_secs)
    requests = shared("requests", rps, window) if rps > 0 else None
    return LoginLimiter.from_settings(settings, buckets=shared), requests, table
