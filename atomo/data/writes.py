"""Write units: synchronous functions that run on the writer connection inside a transaction.

Each one changes projection rows and appends one event per changed row, so rows and events commit
together. They raise Atomo errors (validation, not found, conflict, permission); the writer rolls
back that unit's savepoint and hands the error to its caller alone.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from atomo.auth.principal import Caller
from atomo.auth.rbac import Access
from atomo.content.blocks import MAX_FIELD_CHARS
from atomo.content.ops import BlockOp, apply_event, at_op, block_list, decide, index_of
from atomo.data.validation import normalize_input
from atomo.errors import AtomoError, ConflictError, PermissionDeniedError, ValidationError
from atomo.schema.model import Model, Schema
from atomo.storage.database import is_driver_error
from atomo.storage.events import EventAppender, StoredEvent, stream_version, uuid7
from atomo.storage.idempotency import claim_in_transaction
from atomo.storage.records import codec_for, dump_json, fetch_records
from atomo.storage.tables import q

_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_CHECK = re.compile(r"check (chk_\w+) failed")
_PG_KEY = re.compile(r"Key \((.+?)\)=")     # PostgreSQL's unique_violation detail: Key (a, b)=(1, 2) already exists.


def is_constraint_error(exc: BaseException) -> bool:
    """A write the database refused for its data: a constraint (SQLite ``IntegrityError``, PostgreSQL class 23),
    or text PostgreSQL cannot store (a NUL character: refused by psycopg before it is sent)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    if isinstance(exc, sqlite3.Error) or not is_driver_error(exc):
        return False
    return str(getattr(exc, "sqlstate", None) or "").startswith("23") or "NUL (0x00)" in str(exc)


@dataclass
class WriteResult:
    """What a unit returns: its answer for the caller, and the events it appended."""

    value: Any
    events: list[StoredEvent]
    images: list[dict[str, Any]] | None = None   # the record after each event, when the events do not carry it


def integrity_error(model: Model, exc: BaseException) -> ValidationError:
    """Translate a constraint failure of a model table (``is_constraint_error``) into the documented validation
    error."""
    text = str(exc)
    diag = getattr(exc, "diag", None)
    if diag is not None:                          # PostgreSQL: the constraint by name, the key from the detail
        if "NUL (0x00)" in text:
            return ValidationError.single(None, "text cannot hold the NUL character (U+0000) on PostgreSQL", "type")
        constraint = diag.constraint_name or ""
        if constraint.startswith("chk_"):
            return ValidationError.single(None, f"check {constraint} failed", "check")
        key = _PG_KEY.search(diag.message_detail or "") if getattr(exc, "sqlstate", None) == "23505" else None
        columns = key.group(1).replace('"', "") if key else None
    else:
        m = _CHECK.search(text)
        if m:
            return ValidationError.single(None, f"check {m.group(1)} failed", "check")
        m = _UNIQUE.search(text)
        columns = m.group(1) if m else None
    if columns:
        codec = codec_for(model)
        keys = []
        for part in columns.split(","):
            column = part.strip().split(".")[-1]
            col = codec.by_name.get(column)
            keys.append(col.key if col else column)
        if len(keys) == 1:
            return ValidationError.single(keys[0], f"{keys[0]} must be unique", "unique")
        joined = ", ".join(keys)
        return ValidationError.single(joined, f"{joined} must be unique together", "unique")
    return ValidationError.single(None, "the write breaks a database constraint", "constraint")


def check_version(model: Model, current: dict[str, Any], expected_version: int | None) -> None:
    """``CONFLICT`` unless ``expected_version`` is None or the record's ``_version``."""
    if expected_version is not None and current["_version"] != expected_version:
        raise ConflictError(f"{model.name} {current['id']} is at version {current['_version']}, "
                            f"not {expected_version}", current_version=current["_version"],
                            expected_version=expected_version)


@lru_cache(maxsize=512)
def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {q(table)} ({', '.join(q(c) for c in columns)}) VALUES ({', '.join('?' * len(columns))})"


class RecordWriter:
    """Row + event changes for one schema. Stateless apart from the schema and the event encoding."""

    def __init__(self, schema: Schema, appender: EventAppender) -> None:
        self.schema = schema
        self.appender = appender
        # Called inside the write transaction for every model event (e.g. the action dispatcher
        # inserting jobs): whatever a hook writes commits or rolls back with the event itself. The last
        # argument is the record after a block event (its event carries only the operation), else None.
        self.event_hooks: list[EventHook] = []
        self._referencing: dict[str, list[tuple[Model, str, str]]] = {}
        for m in schema.models:
            for rel in m.belongs_to:
                f = m.field(rel.foreign_key)
                if f is not None:
                    self._referencing.setdefault(rel.model, []).append((m, f.column, f.key))

    # -- helpers ---------------------------------------------------------------------------
    def check_references(self, conn: sqlite3.Connection, model: Model, values: dict[str, Any]) -> None:
        problems = []
        for rel in model.belongs_to:
            f = model.field(rel.foreign_key)
            target = self.schema.model(rel.model)
            if f is None or target is None:
                continue
            value = values.get(f.key)
            if value is None:
                continue
            if conn.execute(f"SELECT 1 FROM {q(target.table)} WHERE id = ?", (value,)).fetchone() is None:
                problems.append({"field": f.key, "code": "exists",
                                 "message": f"{f.key} must reference an existing {target.name}"})
        if problems:
            raise ValidationError(details=problems)

    def _event(self, conn: sqlite3.Connection, model: Model, record_id: str, version: int, type_: str,
               data: Any, previous: Any, caller: Caller, tenant: str | None, now: str,
               image: dict[str, Any] | None = None) -> StoredEvent:
        event = self.appender.append(conn, f"{model.name}/{record_id}", version, type_, data, previous,
                                     actor=caller.event_actor, tenant_id=tenant, origin=caller.origin,
                                     recorded_at=now, model=model.name, record_id=record_id)
        if caller.idempotency is not None:
            claim_in_transaction(conn, caller.idempotency, event.position)
        for hook in self.event_hooks:
            hook(conn, model, event, caller, image)
        return event

    # -- create ----------------------------------------------------------------------------
    def create(self, conn: sqlite3.Connection, model: Model, values: dict[str, Any], caller: Caller,
               now: str, access: Access) -> WriteResult:
        """``values``: normalised input keyed by record key (defaults applied)."""
        codec = codec_for(model)
        supplied = values.get("id")
        record_id = supplied if supplied else uuid7()
        version = stream_version(conn, f"{model.name}/{record_id}") + 1 if supplied else 1
        row = dict(values)
        row["id"] = record_id
        row.setdefault("createdAt", now)
        row.setdefault("updatedAt", now)
        row["tenantId"] = caller.tenant
        row["_version"] = version
        for key in access.stamp_keys:   # owner(f) of the create rule, also when a role let the caller in
            if row.get(key) is None:
                row[key] = access.user_id
        columns = codec.column_values(row)
        record = codec.record(columns)
        if not access.allows(record):
            raise PermissionDeniedError.for_action(model.name, "create")
        self.check_references(conn, model, record)
        try:
            conn.execute(insert_sql(model.table, tuple(columns)), tuple(columns.values()))
        except Exception as exc:
            if not is_constraint_error(exc):
                raise
            raise integrity_error(model, exc) from None
        event = self._event(conn, model, record_id, version, "Created", record, None, caller, caller.tenant, now)
        return WriteResult(record, [event])

    # -- row selection -----------------------------------------------------------------------
    def select_rows(self, conn: sqlite3.Connection, model: Model, where_sql: str, params: list[Any],
                    order: str = '"created_at" ASC, "id" ASC') -> list[dict[str, Any]]:
        codec = codec_for(model)
        sql = f"SELECT * FROM {q(model.table)} WHERE {where_sql} ORDER BY {order}"
        return fetch_records(conn, codec, sql, params)

    # -- update ------------------------------------------------------------------------------
    def update_one(self, conn: sqlite3.Connection, model: Model, current: dict[str, Any], patch: Any,
                   caller: Caller, now: str, access: Access, expected_version: int | None) -> WriteResult:
        check_version(model, current, expected_version)
        values = normalize_input(model, patch, mode="update", current=current, now=now)
        after = dict(current)
        after.update(values)
        changed = [k for k in values if values[k] != current.get(k)]
        if not changed:
            return WriteResult(current, [])
        if not access.allows(after):
            raise PermissionDeniedError.for_action(model.name, "update")
        after["updatedAt"] = now
        after["_version"] = current["_version"] + 1
        for f in model.fields:   # builder .autoUpdate() fields move with every update
            if f.auto_update and not f.is_system_timestamp and f.key not in values:
                after[f.key] = now
                changed.append(f.key)
        codec = codec_for(model)
        self.check_references(conn, model, {k: after[k] for k in changed})
        cols = codec.column_values({k: after[k] for k in [*changed, "updatedAt", "_version"]})
        assignments = ", ".join(f"{q(c)} = ?" for c in cols)
        try:
            conn.execute(f"UPDATE {q(model.table)} SET {assignments} WHERE id = ?", (*cols.values(), current["id"]))
        except Exception as exc:
            if not is_constraint_error(exc):
                raise
            raise integrity_error(model, exc) from None
        after = codec.record(codec.column_values(after))
        event = self._event(conn, model, current["id"], after["_version"], "Updated", after, current, caller,
                            current["tenantId"], now)
        return WriteResult(after, [event])

    # -- block operations (content chapter §3) ---------------------------------------------------
    def block_ops(self, conn: sqlite3.Connection, model: Model, current: dict[str, Any], key: str,
                  ops: list[BlockOp], caller: Caller, now: str, access: Access, expected_version: int | None,
                  *, batch: bool) -> WriteResult:
        """Apply ``ops`` one after the other to the Blocks field ``key`` of ``current`` (the row at commit
        time): one event per operation that changes something, each with the record's next ``_version``.
        The value is ``{"changes": [{block, index}], "version", "record"}``; ``images`` the record after
        each event. With ``batch``, an error names the operation (``opIndex``) and undoes the whole call."""
        check_version(model, current, expected_version)
        blocks = block_list(current.get(key))
        record, events, images, changes = current, [], [], []
        grew: int | None = None          # the last operation that could make the field larger
        for n, op in enumerate(ops):
            try:
                decided = decide(key, blocks, op, now)
            except AtomoError as exc:
                raise (at_op(exc, n) if batch else exc) from None
            if decided is None:          # nothing changes: the block as it is, no event
                i = index_of(blocks, op.block_id or "")
                changes.append({"block": blocks[i], "index": i})
                continue
            index = apply_event(blocks, decided.type, decided.data, now)
            version = record["_version"] + 1
            record = {**record, key: list(blocks), "updatedAt": now, "_version": version}
            if not access.allows(record):
                raise PermissionDeniedError.for_action(model.name, "update")
            if decided.type in ("BlockInserted", "BlockUpdated"):
                grew = n
            events.append(self._event(conn, model, current["id"], version, decided.type, decided.data,
                                      decided.previous, caller, current["tenantId"], now, record))
            images.append(record)
            changes.append({"block": blocks[index] if index is not None else None, "index": index})
        if events:                       # the row is written once, with the field after the last operation
            text = dump_json(blocks)
            if grew is not None and len(text) > MAX_FIELD_CHARS:
                error = ValidationError.single(key, f"{key} would exceed {MAX_FIELD_CHARS} characters of JSON",
                                               "max_length")
                raise (at_op(error, grew) if batch else error)
            column = codec_for(model).by_key[key].column
            conn.execute(f"UPDATE {q(model.table)} SET {q(column)} = ?, updated_at = ?, _version = ? WHERE id = ?",
                         (text, now, record["_version"], current["id"]))
        return WriteResult({"changes": changes, "version": record["_version"], "record": record}, events, images)

    # -- lifecycle: delete / restore / hard delete ----------------------------------------------
    def soft_delete(self, conn: sqlite3.Connection, model: Model, current: dict[str, Any], caller: Caller,
                    now: str) -> StoredEvent:
        version = current["_version"] + 1
        conn.execute(f"UPDATE {q(model.table)} SET deleted_at = ?, _version = ? WHERE id = ?",
                     (now, version, current["id"]))
        return self._event(conn, model, current["id"], version, "Deleted", {"id": current["id"], "deletedAt": now},
                           current, caller, current["tenantId"], now)

    def restore(self, conn: sqlite3.Connection, model: Model, current: dict[str, Any], caller: Caller,
                now: str) -> StoredEvent:
        version = current["_version"] + 1
        conn.execute(f"UPDATE {q(model.table)} SET deleted_at = NULL, _version = ? WHERE id = ?",
                     (version, current["id"]))
        return self._event(conn, model, current["id"], version, "Restored", {"id": current["id"]}, current, caller,
                           current["tenantId"], now)

    def hard_delete(self, conn: sqlite3.Connection, model: Model, current: dict[str, Any], caller: Caller,
                    now: str) -> StoredEvent:
        referenced = []
        for other, column, key in self._referencing.get(model.name, []):
            sql = f"SELECT 1 FROM {q(other.table)} WHERE {q(column)} = ? LIMIT 1"
            if conn.execute(sql, (current["id"],)).fetchone() is not None:
                referenced.append(f"{other.name}.{key}")
        if referenced:
            raise ConflictError(f"{model.name} {current['id']} is still referenced by {', '.join(referenced)}",
                                {"referencedBy": referenced})
        conn.execute(f"DELETE FROM {q(model.table)} WHERE id = ?", (current["id"],))
        return self._event(conn, model, current["id"], current["_version"] + 1, "HardDeleted", {"id": current["id"]},
                           current, caller, current["tenantId"], now)


EventHook = Callable[[sqlite3.Connection, Model, StoredEvent, Caller, "dict[str, Any] | None"], None]
LifecycleOp = Callable[[sqlite3.Connection, Model, dict[str, Any], Caller, str], StoredEvent]
