"""The embedded library API: ``async with Atomo(project=".") as app: ...`` (events chapter §9)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from atomo.auth.authenticator import TokenAuthenticator
from atomo.auth.principal import SYSTEM_CALLER, Caller, Principal
from atomo.auth.scope import caller_for
from atomo.auth.secret import resolve_jwt_secret
from atomo.auth.tokens import TokenService
from atomo.clock import CLOCK, Clock
from atomo.config import Settings, is_memory, load_settings
from atomo.data.custom_events import custom_events_unit
from atomo.errors import UnauthenticatedError
from atomo.hooks.loader import load_hooks, project_hooks_dir
from atomo.project import Project, resolve_project
from atomo.runtime import Runtime
from atomo.schema import parse_schema
from atomo.storage.events import NewEvent, StoredEvent, read_all, read_stream
from atomo.storage.events import stream_version as _stream_version
from atomo.storage.projections import RebuildReport, rebuild


class DataHandle:
    """The data operations for one caller (the system principal on ``app``, a user on ``app.as_user``)."""

    def __init__(self, runtime: Runtime, caller: Caller) -> None:
        self._rt = runtime
        self._caller = caller

    def _c(self, actor: str | None, origin: str | None) -> Caller:
        if actor is None and origin is None:
            return self._caller
        return Caller(self._caller.principal, self._caller.tenant, actor if actor is not None else self._caller.actor,
                      origin if origin is not None else self._caller.origin)

    async def create(self, model: str, data: dict[str, Any], *, actor: str | None = None,
                     origin: str | None = None) -> dict[str, Any]:
        return await self._rt.data.create(model, data, caller=self._c(actor, origin))

    async def record(self, model: str, id: str) -> dict[str, Any] | None:
        return await self._rt.data.record(model, id, caller=self._caller)

    async def records(self, model: str, *, where: Any = None, order_by: Any = None, limit: int | None = None,
                      offset: int | None = None) -> list[dict[str, Any]]:
        return await self._rt.data.records(model, where=where, order_by=order_by, limit=limit, offset=offset,
                                           caller=self._caller)

    async def paginated_records(self, model: str, *, where: Any = None, order_by: Any = None, limit: int = 20,
                                offset: int = 0) -> dict[str, Any]:
        return await self._rt.data.paginated_records(model, where=where, order_by=order_by, limit=limit,
                                                     offset=offset, caller=self._caller)

    async def deleted_records(self, model: str, *, where: Any = None, order_by: Any = None, limit: int = 20,
                              offset: int = 0) -> dict[str, Any]:
        return await self._rt.data.deleted_records(model, where=where, order_by=order_by, limit=limit,
                                                   offset=offset, caller=self._caller)

    async def count(self, model: str, *, where: Any = None) -> int:
        return await self._rt.data.count(model, where=where, caller=self._caller)

    async def update(self, model: str, *, id: str | None = None, where: Any = None, data: dict[str, Any],
                     expected_version: int | None = None, actor: str | None = None,
                     origin: str | None = None) -> dict[str, Any]:
        return await self._rt.data.update(model, id=id, where=where, data=data, expected_version=expected_version,
                                          caller=self._c(actor, origin))

    async def update_many(self, model: str, items: list[dict[str, Any]], *, actor: str | None = None,
                          origin: str | None = None) -> list[dict[str, Any]]:
        items = [{**i, "expectedVersion": i.get("expectedVersion", i.get("expected_version"))} for i in items]
        return await self._rt.data.update_many(model, items, caller=self._c(actor, origin))

    async def delete(self, model: str, *, id: str | None = None, where: Any = None,
                     expected_version: int | None = None, actor: str | None = None, origin: str | None = None) -> int:
        return await self._rt.data.delete(model, id=id, where=where, expected_version=expected_version,
                                          caller=self._c(actor, origin))

    async def restore(self, model: str, *, id: str | None = None, where: Any = None, actor: str | None = None,
                      origin: str | None = None) -> int:
        return await self._rt.data.restore(model, id=id, where=where, caller=self._c(actor, origin))

    async def hard_delete(self, model: str, *, id: str | None = None, where: Any = None, actor: str | None = None,
                          origin: str | None = None) -> int:
        return await self._rt.data.hard_delete(model, id=id, where=where, caller=self._c(actor, origin))

    async def history(self, model: str, id: str) -> list[StoredEvent]:
        return await self._rt.data.history(model, id, caller=self._caller)

    # -- block operations (content chapter §3): each returns {block, index, version, record} ----------
    async def insert_block(self, model: str, id: str, field: str, block: dict[str, Any], *,
                           position: int | None = None, after: str | None = None, expected_version: int | None = None,
                           actor: str | None = None, origin: str | None = None) -> dict[str, Any]:
        return await self._rt.data.block_op(model, id, field, "insert", block=block, position=position, after=after,
                                            expected_version=expected_version, caller=self._c(actor, origin))

    async def update_block(self, model: str, id: str, field: str, block_id: str, patch: dict[str, Any], *,
                           expected_version: int | None = None, expected_rev: int | None = None,
                           actor: str | None = None, origin: str | None = None) -> dict[str, Any]:
        return await self._rt.data.block_op(model, id, field, "update", block_id=block_id, block=patch,
                                            expected_rev=expected_rev, expected_version=expected_version,
                                            caller=self._c(actor, origin))

    async def move_block(self, model: str, id: str, field: str, block_id: str, *, position: int | None = None,
                         after: str | None = None, expected_version: int | None = None, actor: str | None = None,
                         origin: str | None = None) -> dict[str, Any]:
        return await self._rt.data.block_op(model, id, field, "move", block_id=block_id, position=position, after=after,
                                            expected_version=expected_version, caller=self._c(actor, origin))

    async def remove_block(self, model: str, id: str, field: str, block_id: str, *, expected_version: int | None = None,
                           expected_rev: int | None = None, actor: str | None = None,
                           origin: str | None = None) -> dict[str, Any]:
        return await self._rt.data.block_op(model, id, field, "remove", block_id=block_id, expected_rev=expected_rev,
                                            expected_version=expected_version, caller=self._c(actor, origin))

    async def apply_block_ops(self, model: str, id: str, field: str, ops: list[dict[str, Any]], *,
                              expected_version: int | None = None, actor: str | None = None,
                              origin: str | None = None) -> dict[str, Any]:
        """Several operations ``{"op": "insert"|"update"|"move"|"remove", "blockId", "block", "position",
        "after", "expectedRev"}`` in one transaction: ``{changes: [{block, index}], version, record}``."""
        return await self._rt.data.block_ops(model, id, field, ops, expected_version=expected_version,
                                             caller=self._c(actor, origin))

    async def render_blocks(self, model: str, id: str, field: str, format: str = "markdown") -> str:
        return await self._rt.data.render_blocks(model, id, field, format, caller=self._caller)


class EventsAPI:
    """``app.events``: append to any stream, read, and subscribe."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def append(self, stream: str, events: list[NewEvent], *, expected_version: int | None = None,
                     actor: str | None = None, tenant_id: str | None = None,
                     origin: str | None = None) -> list[StoredEvent]:
        unit = custom_events_unit(self._rt.schema, self._rt.appender, stream, events, expected_version=expected_version,
                                  actor=actor, tenant_id=tenant_id, origin=origin)
        return await self._rt.db.write(unit)  # type: ignore[union-attr]

    async def read_stream(self, stream: str, *, from_version: int = 1, limit: int | None = None) -> list[StoredEvent]:
        return await self._rt.db.read(lambda c: read_stream(c, stream, from_version=from_version, limit=limit))  # type: ignore[union-attr]

    async def read_all(self, *, after: int = 0, limit: int = 100, model: str | None = None) -> list[StoredEvent]:
        return await self._rt.db.read(lambda c: read_all(c, after=after, limit=limit, model=model))  # type: ignore[union-attr]

    def subscribe(self, *, after: int | None = None, model: str | None = None,
                  stream: str | None = None) -> contextlib.AbstractAsyncContextManager[AsyncIterator[StoredEvent]]:
        return self._rt.feed.subscribe(after, model=model, stream=stream)

    async def last_position(self) -> int:
        from atomo.storage.events import last_position
        return await self._rt.db.read(last_position)  # type: ignore[union-attr]

    async def stream_version(self, stream: str) -> int:
        return await self._rt.db.read(lambda c: _stream_version(c, stream))  # type: ignore[union-attr]


class ProjectionsAPI:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def rebuild(self, models: list[str] | None = None, *, check: bool = False,
                      progress: Callable[[str, int, int], None] | None = None) -> RebuildReport:
        """Rebuild (``check``: compare) the model tables and the tables of the hooks' custom projections
        (``@projection``); ``models``: model names and projection table names to rebuild (default: all)."""
        rt = self._rt
        assert rt.db is not None and rt.schema is not None

        def run() -> RebuildReport:
            conn = rt.db.connect(query_only=False)  # type: ignore[union-attr]
            try:
                return rebuild(conn, rt.schema, models, check=check, progress=progress,  # type: ignore[arg-type]
                               custom=rt.projector.projections if rt.projector is not None else ())
            finally:
                conn.close()
        return await asyncio.to_thread(run)


class Atomo(DataHandle):
    """An Atomo project opened in-process. Use ``async with Atomo(project=".") as app``.

    The project's ``hooks/*.py`` are loaded (``atomo.hooks``; with ``schema_text``, only when ``project`` is
    given); ``hooks=[module, function, HookSet, ...]`` adds more. Every write of ``app`` runs them.

    ``data_file=":memory:"`` keeps the data for the life of ``app`` only (a private file on tmpfs, removed by
    ``close()``). For test suites, ``await app.snapshot()`` remembers the current state and ``await
    app.reset()`` goes back to it (a few milliseconds): records, events and the log position, users,
    sessions, jobs, with subscriptions open at that moment ended. With ``:memory:`` data a snapshot is taken
    at ``start()`` (cheap: the file holds only what the boot wrote), so ``reset()`` without ``snapshot()``
    goes back to the state right after opening; with a data file, ``reset()`` needs a ``snapshot()`` first
    (a copy of a large file in memory is never made unasked)."""

    def __init__(self, project: str | Path | None = None, *, schema: str | Path | None = None,
                 schema_text: str | None = None, data_file: str | Path | None = None,
                 settings: Settings | None = None, hooks: Iterable[Any] = ()) -> None:
        settings = settings or load_settings()
        if data_file is not None:
            settings = settings.with_(data_file=str(data_file))
        parsed = None
        if schema_text is not None:
            base = Path(project or ".").resolve()
            parsed = parse_schema(schema_text, "schema.ts")
            resolved = Project(base, base / "schema.ts", settings.resolved_data_file(base), False, None)
        else:
            resolved = resolve_project(settings, project_dir=project, schema=str(schema) if schema else None)
        folder = project_hooks_dir(resolved) if schema_text is None or project is not None else None
        runtime = Runtime(settings, resolved, schema=parsed, hooks=load_hooks(folder, hooks))
        super().__init__(runtime, SYSTEM_CALLER)
        self.runtime = runtime
        self.events = EventsAPI(runtime)
        self.projections = ProjectionsAPI(runtime)
        self._tokens: TokenService | None = None
        self._auth: TokenAuthenticator | None = None

    @property
    def schema(self) -> Any:
        return self.runtime.schema

    @property
    def users(self) -> Any:
        return self.runtime.users

    @property
    def clock(self) -> Clock:
        """The process clock (``atomo.clock.CLOCK``): ``with app.clock.frozen(at=...) as clock: clock.advance(secs)``
        stops token, session, cache, job and rate-limit time for the whole process until the block ends."""
        return CLOCK

    @property
    def tokens(self) -> TokenService:
        """The access tokens of the project: the server's signing key (``JWT_SECRET``, or the one generated in
        the data folder) and ``JWT_TTL``. What ``as_user(token)`` verifies with."""
        if self._tokens is None:
            settings = self.runtime.settings
            db = self.runtime.db      # its path is the file in use (for :memory:, the private tmpfs folder's)
            if db is None and is_memory(self.runtime.project.data_file):
                raise RuntimeError("the app is not started (use `async with Atomo(...) as app`)")
            secret = resolve_jwt_secret(settings, (db.path if db is not None else self.runtime.project.data_file).parent)
            self._tokens = TokenService(secret, ttl_secs=settings.jwt_ttl_secs)
        return self._tokens

    def _authenticator(self) -> TokenAuthenticator:
        """The token verification of the HTTP layer (principal cache, auth epoch), for ``as_user(token)``."""
        db = self.runtime.db
        if db is None:
            raise RuntimeError("the app is not started (use `async with Atomo(...) as app`)")
        auth = self._auth
        if auth is None or auth.db is not db:
            auth = self._auth = TokenAuthenticator(db, self.tokens, epoch_check_secs=0)   # revocations at once
            self.runtime.users.changed.append(lambda user_id: auth.cache.forget(user_id=user_id))
        return auth

    async def start(self) -> Atomo:
        await self.runtime.start()
        if self.runtime.db is not None and self.runtime.db.memory:
            try:
                await self.runtime.snapshot()
            except BaseException:
                await self.runtime.close()
                raise
        return self

    async def snapshot(self) -> None:
        """Remember the data as it is now (every committed write); ``reset()`` goes back to it."""
        await self.runtime.snapshot()

    async def reset(self) -> int:
        """Go back to the last ``snapshot()`` (with ``:memory:`` data: to the state after ``start()`` if none was
        taken since); returns the event log's last position. Subscriptions open now end."""
        position = await self.runtime.reset()
        if self._auth is not None:          # as_user(token): principals cached before the reset are gone
            self._auth.cache.clear()
        return position

    async def close(self) -> None:
        await self.runtime.close()

    async def __aenter__(self) -> Atomo:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def as_user(self, who: str, tenant: str | None = None, *, role: str | None = None) -> UserHandle:
        """A handle with the data methods of ``app`` that runs them as a user: ``who`` is a user id, an email
        (any case, as login) or a login access token (verified as the HTTP layer does: signature, ``exp``, a
        live session of an active user). The user's role (``role=`` overrides it), row rules and tenancy
        apply exactly as in GraphQL: ``tenant`` is what ``X-Tenant-ID`` would be. An unknown or inactive
        user, or an invalid, expired or revoked token, is ``UnauthenticatedError`` on the first call."""
        return UserHandle(self, who, tenant, role)


def is_access_token(text: str) -> bool:
    """Whether ``as_user``'s argument is a JWT (``eyJ...`` with three parts) rather than an id or email."""
    return text.startswith("eyJ") and text.count(".") == 2


class UserHandle(DataHandle):
    """Data operations as a user: the user's role, row rules and tenancy apply as in GraphQL.

    An id or email is looked up once, on the first call. A token is verified on every call, like one HTTP
    request each (through the principal cache), so it stops working when it expires or its session ends."""

    def __init__(self, app: Atomo, who: str, tenant: str | None, role: str | None) -> None:
        super().__init__(app.runtime, SYSTEM_CALLER)
        if not isinstance(who, str) or not who.strip():
            raise TypeError("as_user() takes a user id, an email or an access token")
        self._app = app
        self._who, self._tenant, self._role = who.strip(), tenant, role
        self._token = self._who if is_access_token(self._who) else None
        self._ready = False

    async def _resolve(self) -> None:
        if self._token is not None:
            principal = await self._app._authenticator().principal_for_token(self._token)
        elif self._ready:
            return
        else:
            user = await self._rt.users.get(self._who)     # by id, else by email (lower-cased, as login)
            if user is None:
                raise UnauthenticatedError(f"as_user: no user with id or email {self._who!r}")
            if not user.is_active:
                raise UnauthenticatedError(f"as_user: user {user.email} is inactive")
            principal = Principal(user_id=user.id, email=user.email, role=user.role.lower(),
                                  tenant_binding=user.tenant_id)
        if self._role is not None:
            principal = replace(principal, role=self._role.lower())
        self._caller = caller_for(principal, self._tenant, field="tenant")
        self._ready = True

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name in _DATA_METHODS:
            async def call(*args: Any, **kwargs: Any) -> Any:
                await self._resolve()
                return await attr(*args, **kwargs)
            return call
        return attr


_DATA_METHODS = frozenset({"create", "record", "records", "paginated_records", "deleted_records", "count", "update",
                           "update_many", "delete", "restore", "hard_delete", "history", "insert_block",
                           "update_block", "move_block", "remove_block", "apply_block_ops", "render_blocks"})
