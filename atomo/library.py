"""The embedded library API: ``async with Atomo(project=".") as app: ...`` (events chapter §9)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from atomo.auth.principal import SYSTEM_CALLER, Caller, Principal
from atomo.config import Settings, load_settings
from atomo.data.custom_events import custom_events_unit
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
        rt = self._rt
        assert rt.db is not None and rt.schema is not None

        def run() -> RebuildReport:
            conn = rt.db.connect(query_only=False)  # type: ignore[union-attr]
            try:
                return rebuild(conn, rt.schema, models, check=check, progress=progress)  # type: ignore[arg-type]
            finally:
                conn.close()
        return await asyncio.to_thread(run)


class Atomo(DataHandle):
    """An Atomo project opened in-process. Use ``async with Atomo(project=".") as app``.

    The project's ``hooks/*.py`` are loaded (``atomo.hooks``; with ``schema_text``, only when ``project`` is
    given); ``hooks=[module, function, HookSet, ...]`` adds more. Every write of ``app`` runs them."""

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

    @property
    def schema(self) -> Any:
        return self.runtime.schema

    @property
    def users(self) -> Any:
        return self.runtime.users

    async def start(self) -> Atomo:
        await self.runtime.start()
        return self

    async def close(self) -> None:
        await self.runtime.close()

    async def __aenter__(self) -> Atomo:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def as_user(self, user_id: str, tenant: str | None = None, *, role: str | None = None) -> UserHandle:
        return UserHandle(self.runtime, user_id, tenant, role)


class UserHandle(DataHandle):
    """Data operations as a user: the user's role, row rules and tenancy apply as in GraphQL."""

    def __init__(self, runtime: Runtime, user_id: str, tenant: str | None, role: str | None) -> None:
        super().__init__(runtime, SYSTEM_CALLER)
        self._user_id, self._tenant, self._role = user_id, tenant, role
        self._ready = False

    async def _resolve(self) -> None:
        if self._ready:
            return
        user = await self._rt.users.get(self._user_id)
        if user is None or not user.is_active:
            from atomo.errors import UnauthenticatedError
            raise UnauthenticatedError("invalid or inactive user")
        tenant = self._tenant
        if user.tenant_id is not None:
            if tenant is not None and tenant != user.tenant_id:
                from atomo.errors import PermissionDeniedError
                raise PermissionDeniedError("tenant does not match the user's tenant")
            tenant = user.tenant_id
        principal = Principal(user.id, user.email, self._role or user.role, user.tenant_id)
        self._caller = Caller(principal, tenant)
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
                           "update_many", "delete", "restore", "hard_delete", "history"})
