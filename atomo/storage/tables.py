"""DDL of model (projection) tables: columns, indexes and checks, derived from the schema.

Every function takes ``dialect`` ("sqlite", the default, or "postgres"). On PostgreSQL (issue 21): text columns are
``text COLLATE "C"`` (binary order, as SQLite's), numbers ``numeric``, booleans ``bigint`` 0/1 (the same values
and filters as SQLite), index columns ``NULLS FIRST`` (SQLite's order, so ``ORDER BY x NULLS FIRST`` walks
them); a check is a ``CHECK`` constraint named like SQLite's trigger pair; the catalog reads come from
``information_schema``/``pg_catalog`` in the current schema, and each index carries its Atomo DDL as its
comment, so the boot migration compares what it wrote, not PostgreSQL's re-spelling of it.
"""

from __future__ import annotations

import json
import re
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


# SQLite's storage types on PostgreSQL at SQLite's sizes (PostgreSQL's integer is 32-bit, its real 4 bytes): user
# columns, custom projection tables, and (with text in binary order and numeric) the model tables
PG_SIZED_TYPES = {"INTEGER": "bigint", "REAL": "double precision", "BLOB": "bytea"}
PG_COLUMN_TYPES = {**PG_SIZED_TYPES, "TEXT": 'text COLLATE "C"', "NUMERIC": "numeric"}


def column_type(sql_type: str, dialect: str = "sqlite") -> str:
    return PG_COLUMN_TYPES.get(sql_type, sql_type) if dialect == "postgres" else sql_type


def column_sql(field: Field, *, strict: bool = True, dialect: str = "sqlite") -> str:
    """Column definition. ``strict=False`` drops NOT NULL (rebuild shadows replay intermediate states)."""
    parts = [q(field.column), column_type(field.sql_type, dialect)]
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


def _system_column(sql: str, dialect: str) -> str:
    if dialect != "postgres":
        return sql
    return sql.replace(" TEXT", " " + PG_COLUMN_TYPES["TEXT"]).replace(" INTEGER", " bigint")


def create_table_sql(model: Model, *, name: str | None = None, strict: bool = True,
                     kept: list[tuple[str, str]] | None = None, dialect: str = "sqlite") -> str:
    cols = [_system_column('"id" TEXT PRIMARY KEY', dialect)]
    cols += [column_sql(f, strict=strict, dialect=dialect) for f in model.data_fields]
    cols += [_system_column(v if strict else v.replace(" NOT NULL", ""), dialect) for v in SYSTEM_COLUMN_SQL.values()]
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


def index_sql(model: Model, index: CompositeIndex, *, dialect: str = "sqlite", table: str | None = None) -> str:
    unique = "UNIQUE " if index.unique else ""
    nulls = " NULLS FIRST" if dialect == "postgres" else ""
    cols = ", ".join(q(c) + nulls for c in index.columns)
    where = f" WHERE {index.where}" if index.where else ""
    return f"CREATE {unique}INDEX {q(index.name)} ON {q(table or model.table)} ({cols}){where}"


def index_statements(model: Model, index: CompositeIndex, *, dialect: str = "sqlite",
                     table: str | None = None) -> list[str]:
    """The index, and on PostgreSQL its DDL as its comment (``schema_objects`` reads it back)."""
    sql = index_sql(model, index, dialect=dialect, table=table)
    if dialect != "postgres":
        return [sql]
    return [sql, f"COMMENT ON INDEX {q(index.name)} IS " + sql_literal(index_sql(model, index, dialect=dialect))]


def check_trigger_names(check: Check, dialect: str = "sqlite") -> tuple[str, ...]:
    """The objects that enforce ``check``: SQLite's insert and update triggers, PostgreSQL's one constraint."""
    if dialect == "postgres":
        return (check.name,)
    return check.name + "_insert", check.name + "_update"


def check_trigger_sql(model: Model, check: Check, *, dialect: str = "sqlite", table: str | None = None) -> list[str]:
    """AFTER triggers that evaluate the check on the written row; a NULL result passes. On PostgreSQL a
    ``CHECK`` constraint of the check's name (the same rule: a NULL result passes)."""
    t = q(table or model.table)
    if dialect == "postgres":
        return [f"ALTER TABLE {t} ADD CONSTRAINT {q(check.name)} CHECK ({check.expr})"]
    body = (f"WHEN EXISTS (SELECT 1 FROM {t} WHERE rowid = NEW.rowid AND NOT ({check.expr})) "
            f"BEGIN SELECT RAISE(ABORT, 'check {check.name} failed'); END")
    ins, upd = check_trigger_names(check)
    return [f"CREATE TRIGGER {q(ins)} AFTER INSERT ON {t} {body}",
            f"CREATE TRIGGER {q(upd)} AFTER UPDATE ON {t} {body}"]


def drop_check_sql(table: str, name: str, dialect: str = "sqlite") -> str:
    if dialect == "postgres":
        return f"ALTER TABLE {q(table)} DROP CONSTRAINT {q(name)}"
    return f"DROP TRIGGER {q(name)}"


_SQLITE_TYPE_WORDS = re.compile(r"\b(INTEGER|REAL|BLOB)\b", re.IGNORECASE)


def portable_ddl(statement: str, dialect: str) -> str:
    """A custom projection's ``CREATE TABLE`` (SQLite types) for ``dialect``: on PostgreSQL ``INTEGER`` is ``bigint``,
    ``REAL`` ``double precision`` and ``BLOB`` ``bytea``, SQLite's sizes (PostgreSQL's ``integer`` is 32-bit and its
    ``real`` 4 bytes). Other statements, and SQLite, unchanged."""
    if dialect != "postgres" or not statement.lstrip()[:6].upper() == "CREATE" or "TABLE" not in statement.upper()[:40]:
        return statement
    return _SQLITE_TYPE_WORDS.sub(lambda m: PG_SIZED_TYPES[m.group(1).upper()], statement)


def live_table(conn: Any, name: str) -> str:
    """``name`` qualified by the schema of the live tables (SQLite ``main``, PostgreSQL the current schema)."""
    if dialect_of(conn) == "postgres":
        return q(conn.execute("SELECT current_schema()").fetchone()[0]) + "." + q(name)
    return "main." + q(name)


def temp_table(conn: Any, name: str) -> str:
    """The qualified name of the TEMP table ``name`` (SQLite's ``temp`` schema, PostgreSQL's ``pg_temp``)."""
    return ("pg_temp." if dialect_of(conn) == "postgres" else "temp.") + q(name)


def temp_columns(conn: Any, name: str) -> list[str]:
    """The column names of the TEMP table ``name``."""
    if dialect_of(conn) == "postgres":
        return [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = (SELECT nspname FROM pg_namespace"
            " WHERE oid = pg_my_temp_schema()) AND table_name = ? ORDER BY ordinal_position", (name,))]
    return [r[1] for r in conn.execute(f"PRAGMA temp.table_info({q(name)})")]


def dialect_of(conn: Any) -> str:
    """"postgres" for a ``PgConnection`` (``atomo.storage.pg_database``), else "sqlite"."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else getattr(conn, "dialect", "sqlite")


def table_exists(conn: sqlite3.Connection, table: str) -> bool:
    if dialect_of(conn) == "postgres":
        return conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema()"
                            " AND table_name = ?", (table,)).fetchone() is not None
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is not None


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    notnull: bool
    default: Any


def table_columns(conn: sqlite3.Connection, table: str) -> list[ColumnInfo]:
    if dialect_of(conn) == "postgres":
        rows = conn.execute("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns"
                            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
                            (table,))
        return [ColumnInfo(r[0], r[1], r[2] == "NO", r[3]) for r in rows]
    return [ColumnInfo(r[1], r[2], bool(r[3]), r[4]) for r in conn.execute(f"PRAGMA table_info({q(table)})")]


def schema_objects(conn: sqlite3.Connection, table: str, kind: str) -> dict[str, str]:
    """Name -> DDL of the table's indexes (``kind`` "index") or checks ("trigger"; on PostgreSQL its CHECK
    constraints, with their definition)."""
    if dialect_of(conn) == "postgres":
        here = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
        if kind == "index":
            sql = ("SELECT c.relname, coalesce(obj_description(c.oid, 'pg_class'), pg_get_indexdef(c.oid))"
                   " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
                   " WHERE t.relnamespace = " + here + " AND t.relname = ? AND NOT i.indisprimary")
        else:
            sql = ("SELECT k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_class t"
                   " ON t.oid = k.conrelid WHERE t.relnamespace = " + here + " AND t.relname = ?"
                   " AND k.contype = 'c'")
        return {r[0]: r[1] for r in conn.execute(sql, (table,))}
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL",
                        (kind, table))
    return {r[0]: r[1] for r in rows}
