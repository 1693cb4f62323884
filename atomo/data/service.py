"""The data service: every model operation of the GraphQL API, for any caller.

Order of work for a write: resolve the model -> access decision -> normalise input (on the event
loop) -> one write unit on the single writer (row checks, rows, events, in one transaction) ->
the caller's answer after COMMIT. Reads go to reader connections.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from atomo.auth.principal import SYSTEM_CALLER, Caller
from atomo.auth.rbac import Access, decide
from atomo.content.ops import BlockOp, block_op, parse_ops
from atomo.content.render import render_html, render_markdown
from atomo.data.hooks import HookRunner
from atomo.data.query import DEFAULT_MAX_TERMS, MAX_LIST_VALUES, check_page, compile_order_by, compile_where
from atomo.data.validation import normalize_input
from atomo.data.writes import RecordWriter, WriteResult
from atomo.errors import (
    AtomoError,
    ConflictError,
    LimitExceededError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    ValidationError,
)
from atomo.hooks.registry import HookSet
from atomo.schema.model import Model, Schema
from atomo.schema.suggest import hinted
from atomo.storage.database import Database
from atomo.storage.events import EventAppender, StoredEvent, read_all, read_stream
from atomo.storage.record_images import images_along
from atomo.storage.records import codec_for, fetch_records, now_iso
from atomo.storage.tables import q

INLINE_READ_LIMIT = 100
INLINE_RENDER_BLOCKS = 200      # larger documents render on a thread
RENDERERS = {"markdown": render_markdown, "html": render_html}
MAX_EVENTS_LIMIT = 1000


def _capped(limit: int | None, max_rows: int | None) -> int | None:
    """The SQL LIMIT for a read of ``limit`` rows under a cap of ``max_rows``: one more than the cap
    when the read could pass it, so ``_within`` can tell."""
    if max_rows is None or (limit is not None and limit <= max_rows):
        return limit
    return max_rows + 1


def _within(rows: list[Any], max_rows: int | None) -> list[Any]:
    if max_rows is not None and len(rows) > max_rows:
        raise LimitExceededError(f"the result has more than {max_rows} rows", {"maxRows": max_rows})
    return rows


def unknown_model(name: Any, schema: Schema) -> ValidationError:
    """`model 'X' does not exist`, then the closest model names, or the models there are (at most 10)."""
    names = sorted(m.name for m in schema.models)
    message, found = hinted(f"model '{name}' does not exist", str(name), names, "available models")
    detail: dict[str, Any] = {"field": "model", "message": message, "code": "unknown_model"}
    if found:
        detail["suggestions"] = found
    return ValidationError(message, [detail])


def _one_target(id: Any, where: Any) -> None:
    if (id is None) == (where is None):
        raise ValidationError.single("id", "give exactly one of id and where", "invalid_target")
    if where is not None and (not isinstance(where, dict) or not where):
        raise ValidationError.single("where", "where must be a non-empty object on mutations", "invalid_filter")
    if id is not None and (not isinstance(id, str) or not id):
        raise ValidationError.single("id", "id must be a non-empty string", "type")


class DataService:
    def __init__(self, schema: Schema, db: Database, *, appender: EventAppender, default_access: str = "authenticated",
                 max_page_size: int = 1000, max_filter_terms: int = DEFAULT_MAX_TERMS,
                 hooks: HookSet | None = None) -> None:
        self.schema = schema
        self.db = db
        self.writer = RecordWriter(schema, appender)
        self.default_access = default_access
        self.max_page_size = max_page_size
        self.max_filter_terms = max_filter_terms
        self.hooks = HookRunner(hooks if hooks is not None else HookSet(), self)   # atomo.hooks, data/hooks.py
        self.dialect: str = getattr(db, "dialect", "sqlite")       # "postgres" on a PgDatabase (issue 21)

    # -- shared pieces -----------------------------------------------------------------------
    def model(self, name: Any) -> Model:
        model = self.schema.model(name) if isinstance(name, str) else None
        if model is None:
            raise unknown_model(name, self.schema)
        return model

    def access(self, model: Model, operation: str, caller: Caller) -> Access:
        p = caller.principal
        return decide(model, operation, user_id=p.user_id, role=p.role, tenant=caller.tenant, system=p.system,
                      default_rule=self.default_access)

    def _visible(self, model: Model, operation: str, caller: Caller) -> Access | None:
        """Read access of a caller for matching rows in writes; None when nothing is readable."""
        try:
            return self.access(model, "read", caller)
        except AtomoError:
            return None

    def scope_sql(self, caller: Caller, access: Access | None, params: list[Any], *, deleted: bool | None) -> list[str]:
        parts = []
        if deleted is False:
            # SQLite: unary + keeps the planner off idx_deleted_at (nearly every row is live), so the
            # default order can walk idx_<table>_created_at and stop after one page (PostgreSQL has no + on text)
            parts.append('"deleted_at" IS NULL' if self.dialect == "postgres" else '+"deleted_at" IS NULL')
        elif deleted is True:
            parts.append('"deleted_at" IS NOT NULL')
        if caller.scoped:
            if caller.tenant is None:
                parts.append('"tenant_id" IS NULL')
            else:
                parts.append('"tenant_id" = ?')
                params.append(caller.tenant)
        if access is None:
            parts.append("FALSE")
        else:
            row = access.sql(params)
            if row:
                parts.append(row)
        return parts

    def _filter(self, model: Model, caller: Caller, access: Access | None, where: Any, *,
                deleted: bool | None) -> tuple[str, list[Any]]:
        params: list[Any] = []
        parts = self.scope_sql(caller, access, params, deleted=deleted)
        if where is not None:
            parts.append(compile_where(model, where, params, max_terms=self.max_filter_terms, dialect=self.dialect))
        return " AND ".join(parts) if parts else "TRUE", params

    # -- reads -------------------------------------------------------------------------------
    async def records(self, model_name: str, *, where: Any = None, order_by: Any = None, limit: int | None = None,
                      offset: int | None = None, caller: Caller = SYSTEM_CALLER,
                      max_rows: int | None = None) -> list[dict[str, Any]]:
        """``max_rows``: more matching rows raise ``LimitExceededError`` (at most one more is read)."""
        model = self.model(model_name)
        access = self.access(model, "read", caller)
        limit, offset = check_page(limit, offset, max_page_size=self.max_page_size, default_limit=None)
        fetch = _capped(limit, max_rows)
        sql_where, params = self._filter(model, caller, access, where, deleted=False)
        order = compile_order_by(model, order_by, dialect=self.dialect)
        sql = f"SELECT * FROM {q(model.table)} WHERE {sql_where} ORDER BY {order}"
        if fetch is not None or offset:
            sql += " LIMIT ? OFFSET ?"        # no limit: -1 on SQLite, NULL on PostgreSQL
            params += [(None if self.dialect == "postgres" else -1) if fetch is None else fetch, offset]
        codec = codec_for(model)

        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return fetch_records(conn, codec, sql, params)
        return _within(await self.db.read(run, inline=fetch is not None and fetch <= INLINE_READ_LIMIT,
                                          one_statement=True), max_rows)

    async def record(self, model_name: str, id: str, *, caller: Caller = SYSTEM_CALLER) -> dict[str, Any] | None:
        model = self.model(model_name)
        access = self.access(model, "read", caller)
        sql_where, params = self._filter(model, caller, access, None, deleted=False)
        sql = f"SELECT * FROM {q(model.table)} WHERE id = ? AND {sql_where}"
        codec = codec_for(model)

        def run(conn: sqlite3.Connection) -> dict[str, Any] | None:
            found = fetch_records(conn, codec, sql, [id, *params])
            return found[0] if found else None
        return await self.db.read(run, inline=True, one_statement=True)

    async def related_records(self, model_name: str, key: str, values: list[Any], *, where: Any = None,
                              order_by: Any = None, limit: int | None = None, offset: int | None = None,
                              caller: Caller = SYSTEM_CALLER, max_rows: int | None = None) -> list[dict[str, Any]]:
        """The records whose ``key`` is one of ``values`` (a has-many relation of a page of parents), in
        one query: ``where``, ``orderBy``, ``limit`` and ``offset`` apply per value (a window over each
        group), in group order. At most ``MAX_LIST_VALUES`` values; ``max_rows`` bounds the whole."""
        model = self.model(model_name)
        access = self.access(model, "read", caller)
        limit, offset = check_page(limit, offset, max_page_size=self.max_page_size, default_limit=None)
        column = codec_for(model).by_name.get(key)
        if column is None or not values:
            return []
        if len(values) > MAX_LIST_VALUES:
            raise ValidationError.single(key, f"more than {MAX_LIST_VALUES} parents in one relation load",
                                         "invalid_limit")
        sql_where, params = self._filter(model, caller, access, where, deleted=False)
        group = q(column.column)
        order = compile_order_by(model, order_by, dialect=self.dialect)
        inner = (f"SELECT *, row_number() OVER (PARTITION BY {group} ORDER BY {order}) AS _atomo_rank "
                 f"FROM {q(model.table)} WHERE {group} IN ({', '.join('?' * len(values))}) AND {sql_where}")
        sql = f"SELECT * FROM ({inner}) AS _atomo_ranked WHERE _atomo_rank > ?"
        all_params = [*values, *params, offset]
        if limit is not None:
            sql += " AND _atomo_rank <= ?"
            all_params.append(offset + limit)
        sql += f" ORDER BY {group}, _atomo_rank"
        fetch = _capped(None, max_rows)
        if fetch is not None:
            sql += " LIMIT ?"
            all_params.append(fetch)
        codec = codec_for(model)

        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return fetch_records(conn, codec, sql, all_params)
        return _within(await self.db.read(run, one_statement=True), max_rows)

    async def count(self, model_name: str, *, where: Any = None, caller: Caller = SYSTEM_CALLER) -> int:
        model = self.model(model_name)
        access = self.access(model, "read", caller)
        sql_where, params = self._filter(model, caller, access, where, deleted=False)
        sql = f"SELECT count(*) FROM {q(model.table)} WHERE {sql_where}"
        return await self.db.read(lambda conn: int(conn.execute(sql, params).fetchone()[0]), one_statement=True)

    async def paginated_records(self, model_name: str, *, where: Any = None, order_by: Any = None, limit: int = 20,
                                offset: int = 0, caller: Caller = SYSTEM_CALLER,
                                deleted: bool = False, max_rows: int | None = None) -> dict[str, Any]:
        model = self.model(model_name)
        access = self.access(model, "read", caller)
        limit, offset = check_page(limit, offset, max_page_size=self.max_page_size, default_limit=20)
        assert limit is not None
        sql_where, params = self._filter(model, caller, access, where, deleted=deleted)
        order = compile_order_by(model, order_by, dialect=self.dialect)
        page_sql = f"SELECT * FROM {q(model.table)} WHERE {sql_where} ORDER BY {order} LIMIT ? OFFSET ?"
        count_sql = f"SELECT count(*) FROM {q(model.table)} WHERE {sql_where}"
        codec = codec_for(model)
        fetch = _capped(limit, max_rows)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            rows = _within(fetch_records(conn, codec, page_sql, [*params, fetch, offset]), max_rows)
            total = int(conn.execute(count_sql, params).fetchone()[0])
            return {"data": rows, "pageInfo": {"totalCount": total, "hasNextPage": offset + limit < total,
                                               "hasPreviousPage": offset > 0, "pageSize": limit, "offset": offset}}
        return await self.db.read(run)

    async def deleted_records(self, model_name: str, *, where: Any = None, order_by: Any = None, limit: int = 20,
                              offset: int = 0, caller: Caller = SYSTEM_CALLER,
                              max_rows: int | None = None) -> dict[str, Any]:
        return await self.paginated_records(model_name, where=where, order_by=order_by, limit=limit, offset=offset,
                                            caller=caller, deleted=True, max_rows=max_rows)

    async def history(self, model_name: str, id: str, *, caller: Caller = SYSTEM_CALLER) -> list[StoredEvent]:
        """The record's events the caller may read: each one is checked on its own image (the
        after-image, the before-image for delete-type events) and tenant, as ``modelChanges`` does, so a
        reused id never shows the events of an earlier record the caller could not read."""
        model = self.model(model_name)
        access = self.access(model, "read", caller)
        stream = f"{model.name}/{id}"

        return await self.db.read(lambda conn: readable_history(read_stream(conn, stream), caller, access))

    async def events(self, *, after: int = 0, limit: int = 100, model: str | None = None,
                     caller: Caller = SYSTEM_CALLER) -> list[StoredEvent]:
        if type(limit) is not int or not 0 <= limit <= MAX_EVENTS_LIMIT:
            raise ValidationError.single("limit", f"limit must be between 0 and {MAX_EVENTS_LIMIT}", "invalid_limit")
        if type(after) is not int or after < 0:
            raise ValidationError.single("after", "after must be at least 0", "invalid_limit")
        p = caller.principal
        if model is None:
            if not p.system and (p.role or "") != "admin":
                if not p.authenticated:
                    raise UnauthenticatedError("Authentication required for 'read' on events")
                raise PermissionDeniedError("Access denied for 'read' on 'events'", {"model": None, "action": "read"})
        else:
            m = self.model(model)
            if not self.access(m, "read", caller).unrestricted:
                raise PermissionDeniedError.for_action(m.name, "read")
        tenant, untenanted = (caller.tenant, caller.tenant is None) if caller.scoped else (None, False)
        return await self.db.read(lambda conn: read_all(conn, after=after, limit=limit, model=model, tenant_id=tenant,
                                                        untenanted=untenanted))

    # -- writes ------------------------------------------------------------------------------
    async def _write(self, fn: Any, model: Model, operation: str, caller: Caller) -> Any:
        """Queue the unit; after COMMIT, schedule the after-hooks of ``operation`` on its events."""
        result: WriteResult = await self.db.write(fn)
        if self.hooks.has_after(model.name, operation):
            self.hooks.after(model.name, operation, result.events, caller, result.images)
        return result.value

    async def create(self, model_name: str, data: Any, *, caller: Caller = SYSTEM_CALLER) -> dict[str, Any]:
        model = self.model(model_name)
        access = self.access(model, "create", caller)
        hooks = self.hooks
        if hooks.has_before(model.name, "create"):
            data = await hooks.before(model.name, "create", data, caller)
        now = now_iso()
        values = normalize_input(model, data, mode="create", now=now)
        writer = self.writer
        return await self._write(lambda conn: writer.create(conn, model, values, caller, now, access),  # type: ignore[no-any-return]
                                 model, "create", caller)

    async def update(self, model_name: str, *, id: str | None = None, where: Any = None, data: Any,
                     expected_version: int | None = None, caller: Caller = SYSTEM_CALLER) -> dict[str, Any]:
        model = self.model(model_name)
        _one_target(id, where)
        if expected_version is not None and id is None:
            raise ValidationError.single("expectedVersion", "expectedVersion needs id", "invalid_target")
        if not isinstance(data, dict):
            raise ValidationError.single(None, "data must be an object", "type")
        access = self.access(model, "update", caller)
        hooks = self.hooks
        if hooks.has_before(model.name, "update"):
            data = await hooks.before(model.name, "update", data, caller, id=id, where=where)
        read = self._visible(model, "update", caller)
        sql_where, params = self._filter(model, caller, read, where if id is None else {"id": id}, deleted=False)
        writer = self.writer

        def unit(conn: sqlite3.Connection) -> WriteResult:
            now = now_iso()
            rows = writer.select_rows(conn, model, sql_where, params)
            if id is not None:
                if not rows:
                    raise NotFoundError(f"{model.name} {id} not found", {"model": model.name, "id": id})
                if not access.allows(rows[0]):
                    raise PermissionDeniedError.for_action(model.name, "update")
            events: list[StoredEvent] = []
            first: dict[str, Any] | None = None
            for row in rows:
                if not access.allows(row):
                    continue
                done = writer.update_one(conn, model, row, data, caller, now, access, expected_version)
                events += done.events
                first = first or done.value
            return WriteResult(first or {}, events)
        return await self._write(unit, model, "update", caller)  # type: ignore[no-any-return]

    async def update_many(self, model_name: str, items: Any = None, *, updates: Any = None,
                          caller: Caller = SYSTEM_CALLER) -> list[dict[str, Any]]:
        model = self.model(model_name)
        if (items is None) == (updates is None):
            raise ValidationError.single("items", "give exactly one of items and updates", "invalid_target")
        entries = items if items is not None else updates
        if not isinstance(entries, list):
            raise ValidationError.single("items", "items must be a list", "type")
        ids = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not isinstance(entry.get("data"), dict):
                raise ValidationError.single(f"items[{i}]", f"items[{i}] must be {{id, data, expectedVersion?}}", "type")
            ids.append(entry["id"])
        if len(set(ids)) != len(ids):
            raise ValidationError.single("items", "duplicate ids in items", "duplicate")
        access = self.access(model, "update", caller)
        hooks = self.hooks
        if hooks.has_before(model.name, "update"):
            entries = [{**entry, "data": await hooks.before(model.name, "update", entry["data"], caller, id=entry["id"])}
                       for entry in entries]
        read = self._visible(model, "update", caller)
        sql_where, params = self._filter(model, caller, read, None, deleted=False)
        writer = self.writer

        def unit(conn: sqlite3.Connection) -> WriteResult:
            now = now_iso()
            out, events = [], []
            for entry in entries:
                rows = writer.select_rows(conn, model, f"id = ? AND {sql_where}", [entry["id"], *params])
                if not rows:
                    raise NotFoundError(f"{model.name} {entry['id']} not found", {"model": model.name, "id": entry["id"]})
                if not access.allows(rows[0]):
                    raise PermissionDeniedError.for_action(model.name, "update")
                done = writer.update_one(conn, model, rows[0], entry["data"], caller, now, access,
                                         entry.get("expectedVersion", entry.get("expected_version")))
                out.append(done.value)
                events += done.events
            return WriteResult(out, events)
        return await self._write(unit, model, "update", caller)  # type: ignore[no-any-return]

    # -- block operations (content chapter §3) ------------------------------------------------
    def blocks_field(self, model: Model, field: Any) -> str:
        """The record key of ``model``'s Blocks field ``field`` (either spelling), else VALIDATION_ERROR."""
        column = codec_for(model).by_name.get(field) if isinstance(field, str) else None
        if column is None or column.kind != "blocks":
            names = ", ".join(f.key for f in model.data_fields if f.kind == "blocks") or "none"
            raise ValidationError.single("field", f"{field!r} is not a Blocks field of {model.name} "
                                                  f"(Blocks fields: {names})", "invalid_field")
        return column.key

    async def block_ops(self, model_name: str, id: str, field: str, ops: Any, *, expected_version: int | None = None,
                        caller: Caller = SYSTEM_CALLER) -> dict[str, Any]:
        """``applyBlockOps``: several block operations on one field, applied in order in one transaction
        (one event each); ``{"changes": [{block, index}], "version", "record"}``."""
        model = self.model(model_name)
        access = self.access(model, "update", caller)
        key = self.blocks_field(model, field)
        return await self._block_write(model, id, key, parse_ops(key, ops), expected_version, caller, access,
                                       batch=True)

    async def block_op(self, model_name: str, id: str, field: str, op: str, *, expected_version: int | None = None,
                       caller: Caller = SYSTEM_CALLER, **args: Any) -> dict[str, Any]:
        """One of ``insertBlock``/``updateBlock``/``moveBlock``/``removeBlock`` (``op``; ``args``: block_id,
        block, position, after, expected_rev): ``{"block", "index", "version", "record"}``."""
        model = self.model(model_name)
        access = self.access(model, "update", caller)
        key = self.blocks_field(model, field)
        done = await self._block_write(model, id, key, [block_op(op, key, **args)], expected_version, caller, access,
                                       batch=False)
        return {**done["changes"][0], "version": done["version"], "record": done["record"]}

    async def _block_write(self, model: Model, id: Any, key: str, ops: list[BlockOp], expected_version: Any,
                           caller: Caller, access: Access, *, batch: bool) -> dict[str, Any]:
        if not isinstance(id, str) or not id:
            raise ValidationError.single("id", "id must be a non-empty string", "type")
        if expected_version is not None and type(expected_version) is not int:
            raise ValidationError.single("expectedVersion", "expectedVersion must be an integer", "type")
        if self.hooks.has_before(model.name, "update"):     # a before-update hook may refuse any change of the row
            await self.hooks.before(model.name, "update", {}, caller, id=id, field=key)
        read = self._visible(model, "update", caller)
        sql_where, params = self._filter(model, caller, read, {"id": id}, deleted=False)
        writer = self.writer

        def unit(conn: sqlite3.Connection) -> WriteResult:
            rows = writer.select_rows(conn, model, sql_where, params)
            if not rows:
                raise NotFoundError(f"{model.name} {id} not found", {"model": model.name, "id": id})
            if not access.allows(rows[0]):
                raise PermissionDeniedError.for_action(model.name, "update")
            return writer.block_ops(conn, model, rows[0], key, ops, caller, now_iso(), access, expected_version,
                                    batch=batch)
        return await self._write(unit, model, "update", caller)  # type: ignore[no-any-return]

    async def render_blocks(self, model_name: str, id: str, field: str, format: str = "markdown", *,
                            caller: Caller = SYSTEM_CALLER) -> str:
        """``renderBlocks`` (content chapter §6): a Blocks field of a record the caller may read, as
        Markdown or HTML. Large documents render on a worker thread, off the event loop."""
        model = self.model(model_name)
        key = self.blocks_field(model, field)
        render = RENDERERS.get(format) if isinstance(format, str) else None
        if render is None:
            raise ValidationError.single("format", f"format must be one of {', '.join(RENDERERS)}", "invalid_format")
        record = await self.record(model.name, id, caller=caller)
        if record is None:
            raise NotFoundError(f"{model.name} {id} not found", {"model": model.name, "id": id})
        blocks = record.get(key)
        if isinstance(blocks, list) and len(blocks) > INLINE_RENDER_BLOCKS:
            return await asyncio.to_thread(render, blocks)
        return render(blocks)

    async def _lifecycle(self, model_name: str, operation: str, id: str | None, where: Any,
                         expected_version: int | None, caller: Caller, deleted: bool | None) -> int:
        model = self.model(model_name)
        _one_target(id, where)
        if expected_version is not None and id is None:
            raise ValidationError.single("expectedVersion", "expectedVersion needs id", "invalid_target")
        access = self.access(model, operation, caller)
        if self.hooks.has_before(model.name, operation):
            await self.hooks.before(model.name, operation, {"id": id, "where": where}, caller, id=id, where=where)
        read = self._visible(model, operation, caller)
        sql_where, params = self._filter(model, caller, read, where if id is None else {"id": id}, deleted=deleted)
        writer = self.writer
        op = {"delete": writer.soft_delete, "restore": writer.restore, "hardDelete": writer.hard_delete}[operation]

        def unit(conn: sqlite3.Connection) -> WriteResult:
            now = now_iso()
            rows = writer.select_rows(conn, model, sql_where, params)
            if id is not None and rows:
                if not access.allows(rows[0]):
                    raise PermissionDeniedError.for_action(model.name, "delete")
                current = rows[0]["_version"]
                if expected_version is not None and current != expected_version:
                    raise ConflictError(f"{model.name} {id} is at version {current}, not {expected_version}",
                                        current_version=current, expected_version=expected_version)
            events = [op(conn, model, row, caller, now) for row in rows if access.allows(row)]
            return WriteResult(len(events), events)
        return await self._write(unit, model, operation, caller)  # type: ignore[no-any-return]

    async def delete(self, model_name: str, *, id: str | None = None, where: Any = None,
                     expected_version: int | None = None, caller: Caller = SYSTEM_CALLER) -> int:
        return await self._lifecycle(model_name, "delete", id, where, expected_version, caller, deleted=False)

    async def restore(self, model_name: str, *, id: str | None = None, where: Any = None,
                      caller: Caller = SYSTEM_CALLER) -> int:
        return await self._lifecycle(model_name, "restore", id, where, None, caller, deleted=True)

    async def hard_delete(self, model_name: str, *, id: str | None = None, where: Any = None,
                          caller: Caller = SYSTEM_CALLER) -> int:
        return await self._lifecycle(model_name, "hardDelete", id, where, None, caller, deleted=None)


BEFORE_IMAGE_TYPES = frozenset({"Deleted", "Restored", "HardDeleted"})


def readable_history(events: list[StoredEvent], caller: Caller, access: Access) -> list[StoredEvent]:
    """The events of one record stream the caller may read: each is checked on its own image (the
    record after it, the record before it for delete-type events; block events on the record folded
    from the log) and tenant."""
    out = []
    before: dict[str, Any] | None = None
    for event, after in images_along(events):
        image = after
        if event.type in BEFORE_IMAGE_TYPES:
            image = event.previous_data if isinstance(event.previous_data, dict) else before
        before = after
        if caller.sees_tenant(event.tenant_id) and (access.unrestricted or (image is not None and access.allows(image))):
            out.append(event)
    return out
