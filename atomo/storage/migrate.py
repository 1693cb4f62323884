"""Boot migration: bring the model tables in line with the schema, additively and idempotently.

``plan_boot_migration`` computes the statements (used by boot, ``migrate --dry-run`` and
``migrate --generate``); ``apply_boot_migration`` runs them in the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from atomo.errors import MigrationError
from atomo.schema.model import Model, Schema
from atomo.storage.platform import create_platform_tables
from atomo.storage.tables import (
    check_trigger_names,
    check_trigger_sql,
    column_sql,
    create_table_sql,
    dialect_of,
    drop_check_sql,
    index_sql,
    index_statements,
    q,
    schema_objects,
    table_columns,
    table_exists,
    wanted_indexes,
)

_ALLOWED_USER_COLUMN_TYPES = {"TEXT", "INTEGER", "REAL", "NUMERIC", "BLOB"}


@dataclass
class Plan:
    statements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)       # human summary lines ("Deal +1 field (priority)")
    warnings: list[str] = field(default_factory=list)
    # (index of the statement it guards, sql that must return no row, error message)
    checks: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.statements


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0])


def _plan_new_table(model: Model, plan: Plan, dialect: str) -> None:
    plan.statements.append(create_table_sql(model, dialect=dialect))
    for index in wanted_indexes(model):
        plan.statements += index_statements(model, index, dialect=dialect)
    for check in model.checks:
        plan.statements += check_trigger_sql(model, check, dialect=dialect)
    plan.notes.append(f"{model.name}: created table {model.table}")


def _plan_columns(conn: sqlite3.Connection, model: Model, plan: Plan, dialect: str) -> bool:
    """Add missing columns. Returns True when the table must be recreated (empty table, new required field)."""
    have = {c.name: c for c in table_columns(conn, model.table)}
    added = []
    for f in model.data_fields:
        if f.column in have:
            continue
        if f.required and not f.has_default:
            rows = _count(conn, model.table)
            if rows:
                raise MigrationError(
                    f"cannot add required field {model.name}.{f.name}: table \"{model.table}\" has {rows} rows and "
                    f"the field has no default.\n  Make it optional ({f.name}?: ...), give it a default "
                    f"(// @default(...) or .default(...)),\n  or add and backfill it in a file migration: "
                    f"atomo migrate --generate --name add_{model.table}_{f.column}")
            return True
        plan.statements.append(f"ALTER TABLE {q(model.table)} ADD COLUMN {column_sql(f, dialect=dialect)}")
        added.append(f.name)
    if added:
        plan.notes.append(f"{model.name} +{len(added)} field{'s' if len(added) > 1 else ''} ({', '.join(added)})")
    declared = {f.column for f in model.data_fields} | {"id", "created_at", "updated_at", "deleted_at",
                                                         "tenant_id", "_version"}
    for column in have:
        if column not in declared:
            plan.warnings.append(f"column {model.table}.{column} is no longer in the schema; kept")
    return False


def _plan_indexes_and_checks(conn: sqlite3.Connection, model: Model, plan: Plan, dialect: str) -> None:
    existing = schema_objects(conn, model.table, "index")
    wanted = {i.name: i for i in wanted_indexes(model)}
    for name, sql in existing.items():
        if not name.startswith(("uq_", "idx_")):
            continue
        want = wanted.get(name)
        if want is None or _norm(sql) != _norm(index_sql(model, want, dialect=dialect)):
            plan.statements.append(f"DROP INDEX {q(name)}")
            if want is None:
                plan.notes.append(f"{model.name}: dropped index {name}")
    for name, index in wanted.items():
        if name in existing and _norm(existing[name]) == _norm(index_sql(model, index, dialect=dialect)):
            continue
        if index.unique:
            cols = ", ".join(q(c) for c in index.columns)
            where = f" WHERE {index.where}" if index.where else ""
            plan.checks.append((len(plan.statements),
                f"SELECT {cols} FROM {q(model.table)}{where} GROUP BY {cols} HAVING count(*) > 1 LIMIT 5",
                f"cannot create unique index {name}: duplicate values in {model.table}"))
        plan.statements += index_statements(model, index, dialect=dialect)
    triggers = schema_objects(conn, model.table, "trigger")
    wanted_triggers = {}
    for check in model.checks:
        for name, sql in zip(check_trigger_names(check, dialect), check_trigger_sql(model, check, dialect=dialect),
                             strict=True):
            wanted_triggers[name] = (check, sql)
    for name in triggers:
        if name.startswith("chk_") and name not in wanted_triggers:
            plan.statements.append(drop_check_sql(model.table, name, dialect))
    for name, (check, sql) in wanted_triggers.items():
        if name not in triggers:
            plan.checks.append((len(plan.statements), f"SELECT id FROM {q(model.table)} WHERE NOT ({check.expr}) LIMIT 5",
                                f"cannot add check {check.name}: existing rows of {model.table} violate it"))
            plan.statements.append(sql)


def _norm(sql: str) -> str:
    return " ".join(sql.replace('"', "").split()).lower()


def plan_boot_migration(conn: sqlite3.Connection, schema: Schema) -> Plan:
    plan = Plan()
    dialect = dialect_of(conn)
    for model in schema.models:
        if not table_exists(conn, model.table):
            _plan_new_table(model, plan, dialect)
            continue
        if _plan_columns(conn, model, plan, dialect):
            plan.statements.append(f"DROP TABLE {q(model.table)}")
            _plan_new_table(model, plan, dialect)
            continue
        _plan_indexes_and_checks(conn, model, plan, dialect)
    return plan


def apply_boot_migration(conn: sqlite3.Connection, schema: Schema, *, event_encoding: str = "json") -> Plan:
    """Create platform tables, then apply the additive plan. Runs inside the caller's transaction.
    ``event_encoding`` types a new event log's payload columns on PostgreSQL."""
    for column, sql_type in schema.user_columns.items():
        if sql_type.upper() not in _ALLOWED_USER_COLUMN_TYPES:
            raise MigrationError(f"builtins.users.columns.{column}: unsupported type {sql_type!r}")
    create_platform_tables(conn, {k: v.upper() for k, v in schema.user_columns.items()},
                           event_encoding=event_encoding)
    plan = plan_boot_migration(conn, schema)
    guards: dict[int, list[tuple[str, str]]] = {}
    for index, sql, message in plan.checks:
        guards.setdefault(index, []).append((sql, message))
    for index, statement in enumerate(plan.statements):
        for sql, message in guards.get(index, []):
            rows = conn.execute(sql).fetchall()
            if rows:
                sample = ", ".join(str(tuple(r)) if len(r) > 1 else repr(r[0]) for r in rows)
                raise MigrationError(f"{message}: {sample}")
        conn.execute(statement)
    return plan
