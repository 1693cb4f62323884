"""DDL of model (projection) tables: columns, indexes and check triggers, derived from the schema."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from atomo.schema.model import Check, CompositeIndex, Field, Model


def q(identifier: str) -> str:
    """Double-quote an identifier that comes from the parsed schema (never from user input)."""
    return '"' + identifier.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A constant for a DEFAULT clause, from a schema literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if not isinstance(value, str):
        value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "'" + value.replace("'", "''") + "'"


def column_default(field: Field) -> Any:
    """The stored default of a field (already in column form), or None when it has none."""
    if field.has_default:
        default = field.default
        if field.is_json:
            return json.dumps(default, separators=(",", ":"), ensure_ascii=False)
        if field.kind == "boolean":
            return 1 if default else 0
        return default
    if field.kind in ("array", "blocks"):
        return "[]"
    return None


def column_sql(field: Field, *, strict: bool = True) -> str:
    """Column definition. ``strict=False`` drops NOT NULL (rebuild shadows replay intermediate states)."""
    parts = [q(field.column), field.sql_type]
    default = column_default(field)
    if strict and (field.required or field.has_default):
        parts.append("NOT NULL")
    if default is not None:
        parts.append("DEFAULT " + sql_literal(default))
    return " ".join(parts)


SYSTEM_COLUMN_SQL = {
    "created_at": '"created_at" TEXT NOT NULL',
    "updated_at": '"updated_at" TEXT NOT NULL',
    "deleted_at": '"deleted_at" TEXT',
    "tenant_id": '"tenant_id" TEXT',
    "_version": '"_version" INTEGER NOT NULL DEFAULT 1',
}


def create_table_sql(model: Model, *, name: str | None = None, strict: bool = True,
                     kept: list[tuple[str, str]] | None = None) -> str:
    cols = ['"id" TEXT PRIMARY KEY']
    cols += [column_sql(f, strict=strict) for f in model.data_fields]
    cols += [v if strict else v.replace(" NOT NULL", "") for v in SYSTEM_COLUMN_SQL.values()]
    cols += [f"{q(c)} {t}".rstrip() for c, t in (kept or [])]
    return f"CREATE TABLE {q(name or model.table)} (\n  " + ",\n  ".join(cols) + "\n)"


def always_indexes(model: Model) -> list[CompositeIndex]:
    t = model.table
    return [CompositeIndex(f"idx_{t}_tenant_id", ("tenant_id",), False),
            CompositeIndex(f"idx_{t}_deleted_at", ("deleted_at",), False),
            # the default order (createdAt, id): pages of the default listing read in index order
            CompositeIndex(f"idx_{t}_created_at", ("created_at", "id"), False)]


def wanted_indexes(model: Model) -> list[CompositeIndex]:
    seen: dict[str, CompositeIndex] = {}
    for index in [*always_indexes(model), *model.indexes]:
        seen.setdefault(index.name, index)
    return list(seen.values())


def index_sql(model: Model, index: CompositeIndex) -> str:
    unique = "UNIQUE " if index.unique else ""
    cols = ", ".join(q(c) for c in index.columns)
    where = f" WHERE {index.where}" if index.where else ""
    return f"CREATE {unique}INDEX {q(index.name)} ON {q(model.table)} ({cols}){where}"


def check_trigger_names(check: Check) -> tuple[str, str]:
    return check.name + "_insert", check.name + "_update"


def check_trigger_sql(model: Model, check: Check) -> list[str]:
    """AFTER triggers that evaluate the check on the written row; a NULL result passes."""
    t = q(model.table)
    body = (f"WHEN EXISTS (SELECT 1 FROM {t} WHERE rowid = NEW.rowid AND NOT ({check.expr})) "
            f"BEGIN SELECT RAISE(ABORT, 'check {check.name} failed'); END")
    ins, upd = check_trigger_names(check)
    return [f"CREATE TRIGGER {q(ins)} AFTER INSERT ON {t} {body}",
            f"CREATE TRIGGER {q(upd)} AFTER UPDATE ON {t} {body}"]


def table_exists(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    notnull: bool
    default: Any


def table_columns(conn: sqlite3.Connection, table: str) -> list[ColumnInfo]:
    return [ColumnInfo(r[1], r[2], bool(r[3]), r[4]) for r in conn.execute(f"PRAGMA table_info({q(table)})")]


def schema_objects(conn: sqlite3.Connection, table: str, kind: str) -> dict[str, str]:
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL",
                        (kind, table))
    return {r[0]: r[1] for r in rows}
