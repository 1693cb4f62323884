"""`atomo migrate --generate` (schema chapter §12): diff the schema against the snapshot, write a file.

The snapshot (`migrations/schema.snapshot.json`) holds the DDL of every model table, index and
trigger as the schema at the last generated file would create them. Diffing loads it into an
in-memory database and asks the boot-migration planner what it would run there, so a generated
file holds exactly the boot migration's statements. Steps the boot migration refuses (a required
field without default on an existing table) become commented recipes plus ``-- atomo:edit-required``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from atomo.errors import MigrationError
from atomo.schema.model import Schema
from atomo.storage.file_migrations import EDIT_REQUIRED, MigrationFile, record_applied
from atomo.storage.migrate import plan_boot_migration
from atomo.storage.platform import create_platform_tables
from atomo.storage.tables import column_sql, q, table_columns, table_exists

SNAPSHOT = "schema.snapshot.json"
_KIND_ORDER = {"table": 0, "index": 1, "trigger": 2}


@dataclass
class Generated:
    statements: list[str] = field(default_factory=list)
    recipes: list[str] = field(default_factory=list)      # comment lines of refused steps
    optional: list[str] = field(default_factory=list)     # commented suggestions (drop a removed column)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.statements or self.recipes or self.optional)


def migration_name(name: str | None) -> str:
    reduced = re.sub(r"[^a-z0-9_]+", "_", (name or "").lower()).strip("_")
    return re.sub(r"_+", "_", reduced) or "auto_generated"


def next_stamp(folder: Path, now: datetime | None = None) -> str:
    """UTC YYYYMMDDHHMMSS, later than every existing file's prefix (two runs in one second stay ordered)."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    prefixes = [p.name[:14] for p in folder.glob("*.sql") if p.name[:14].isdigit()]
    latest = max(prefixes, default="")
    stamp = moment.strftime("%Y%m%d%H%M%S")
    while stamp <= latest:
        moment += timedelta(seconds=1)
        stamp = moment.strftime("%Y%m%d%H%M%S")
    return stamp


def dump_objects(conn: sqlite3.Connection, tables: set[str]) -> list[dict[str, str]]:
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    objects = [{"type": r[0], "name": r[1], "table": r[2], "sql": r[3]} for r in rows if r[2] in tables]
    return sorted(objects, key=lambda o: (o["table"], _KIND_ORDER.get(o["type"], 9), o["name"]))


def load_snapshot(folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    path = folder / SNAPSHOT
    if path.is_file():
        try:
            objects = json.loads(path.read_text(encoding="utf-8"))["objects"]
            for obj in objects:
                conn.execute(obj["sql"])
        except (ValueError, KeyError, TypeError, sqlite3.Error) as exc:
            conn.close()
            raise MigrationError(f"migrations/{SNAPSHOT} cannot be read ({exc}); restore it or delete it to diff "
                                 "against an empty schema") from None
    return conn


def snapshot_text(schema: Schema) -> str:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in plan_boot_migration(conn, schema).statements:
            conn.execute(statement)
        objects = dump_objects(conn, {m.table for m in schema.models})
    finally:
        conn.close()
    return json.dumps({"format": 1, "objects": objects}, indent=2, ensure_ascii=False) + "\n"


def diff(folder: Path, schema: Schema) -> Generated:
    conn = load_snapshot(folder)
    out = Generated()
    try:
        for model in schema.models:
            if not table_exists(conn, model.table):
                continue
            have = {c.name for c in table_columns(conn, model.table)}
            for f in model.data_fields:
                if f.column in have or not (f.required and not f.has_default):
                    continue
                out.recipes += [
                    f"-- {model.name}.{f.name} is required and has no default: the boot migration cannot add it to a",
                    f"-- table that has rows. Add it, backfill it, then remove the '{EDIT_REQUIRED}' line:",
                    f"-- ALTER TABLE {q(model.table)} ADD COLUMN {column_sql(f, strict=False)};",
                    f"-- UPDATE {q(model.table)} SET {q(f.column)} = <value> WHERE {q(f.column)} IS NULL;",
                ]
                conn.execute(f"ALTER TABLE {q(model.table)} ADD COLUMN {column_sql(f, strict=False)}")
                out.notes.append(f"{model.name}.{f.name}: needs a backfill")
            declared = {f.column for f in model.data_fields} | {"id", "created_at", "updated_at", "deleted_at",
                                                                 "tenant_id", "_version"}
            for column in sorted(have - declared):
                out.optional.append(f"-- {model.name}: column {model.table}.{column} is no longer in the schema and is "
                                    f"kept; to drop its data, uncomment:\n-- ALTER TABLE {q(model.table)} "
                                    f"DROP COLUMN {q(column)};")
        plan = plan_boot_migration(conn, schema)
        out.statements = plan.statements
        out.notes = plan.notes + out.notes
    finally:
        conn.close()
    return out


def render(generated: Generated, name: str) -> str:
    lines = [f"-- {name}: generated by `atomo migrate --generate`. Applied once, in its own transaction.", ""]
    lines += [statement.rstrip(";") + ";\n" for statement in generated.statements]
    if generated.optional:
        lines += [*generated.optional, ""]
    if generated.recipes:
        lines += [*generated.recipes, EDIT_REQUIRED, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def record_if_present(data_file: Path, schema: Schema, file: MigrationFile) -> bool:
    """Record the file as applied in the local database when that database already matches the schema."""
    if not data_file.is_file():
        return False
    conn = sqlite3.connect(data_file, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables_missing = not all(table_exists(conn, m.table) for m in schema.models)
            if tables_missing or plan_boot_migration(conn, schema).statements:
                conn.execute("ROLLBACK")
                return False
        except MigrationError:
            conn.execute("ROLLBACK")
            return False
        create_platform_tables(conn)
        record_applied(conn, file)
        conn.execute("COMMIT")
        return True
    finally:
        conn.close()


@dataclass
class GenerateResult:
    path: Path | None
    statements: int
    edit_required: bool
    recorded: bool


def generate(folder: Path, schema: Schema, name: str | None, data_file: Path | None) -> GenerateResult:
    generated = diff(folder, schema)
    if generated.empty:
        return GenerateResult(None, 0, False, False)
    folder.mkdir(parents=True, exist_ok=True)
    filename = f"{next_stamp(folder)}_{migration_name(name)}.sql"
    path = folder / filename
    path.write_text(render(generated, filename), encoding="utf-8")
    (folder / SNAPSHOT).write_text(snapshot_text(schema), encoding="utf-8")
    recorded = False
    if data_file is not None and not generated.recipes:
        recorded = record_if_present(data_file, schema, MigrationFile.read(path))
    return GenerateResult(path, len(generated.statements), bool(generated.recipes), recorded)
