"""File migrations (schema chapter §12): `migrations/*.sql`, applied in filename order, each in its own
``BEGIN IMMEDIATE`` transaction, tracked in ``_atomo_migrations`` by name and checksum.

The checksum is the SHA-256 hex of the file with CRLF turned into LF. Before anything runs, every
recorded file still on disk is hashed again (the checksum rule); one mismatch stops everything.
Files may not contain ``BEGIN``, ``COMMIT``/``END``, ``ROLLBACK`` or ``VACUUM`` statements, and a file
that still holds the ``-- atomo:edit-required`` marker of ``migrate --generate`` is refused.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from atomo.errors import MigrationError
from atomo.storage.database import is_driver_error
from atomo.storage.platform import create_platform_tables
from atomo.storage.records import now_iso

if TYPE_CHECKING:
    from atomo.project import Project
    from atomo.schema.model import Schema
    from atomo.storage.database import Database

EDIT_REQUIRED = "-- atomo:edit-required"
FORBIDDEN = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "VACUUM"})
_WRITE = re.compile(r"^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"
                    r"(?:\"((?:[^\"]|\"\")+)\"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][A-Za-z0-9_$]*))", re.IGNORECASE)


def checksum(data: bytes) -> str:
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


@dataclass(frozen=True)
class MigrationFile:
    name: str
    path: Path
    text: str
    checksum: str

    @classmethod
    def read(cls, path: Path) -> MigrationFile:
        data = path.read_bytes()
        try:
            text = data.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError:
            raise MigrationError(f"migration {path.name} is not valid UTF-8") from None
        return cls(path.name, path, text, checksum(data))

    @property
    def statements(self) -> list[str]:
        return split_statements(self.text)


@dataclass
class Applied:
    name: str
    ms: int
    statements: int


@dataclass
class FilePlan:
    pending: list[MigrationFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def migrations_dir(project: Project) -> Path | None:
    """The project's `migrations/` folder (None for the bundled sample: its files are never applied)."""
    return None if project.is_sample else project.dir / "migrations"


def list_files(folder: Path | None) -> list[MigrationFile]:
    if folder is None or not folder.is_dir():
        return []
    return [MigrationFile.read(p) for p in sorted(folder.glob("*.sql")) if p.is_file()]


def split_statements(text: str) -> list[str]:
    """Complete SQL statements of a file, in order (trigger bodies stay whole); comments-only parts are dropped."""
    statements: list[str] = []
    buffer = ""
    for line in text.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if _strip_comments(buffer).strip().rstrip(";").strip():
                statements.append(buffer.strip())
            buffer = ""
    if _strip_comments(buffer).strip():
        statements.append(buffer.strip())   # an unterminated last statement still runs (and may fail)
    return statements


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", sql)


def first_keyword(statement: str) -> str:
    words = _strip_comments(statement).split()
    return words[0].rstrip(";").upper() if words else ""


def check_file(file: MigrationFile) -> None:
    """Refuse transaction control and unedited generated files (exit 5)."""
    if any(line.strip() == EDIT_REQUIRED for line in file.text.splitlines()):
        raise MigrationError(f"migration {file.name} still contains '{EDIT_REQUIRED}': edit the commented steps, "
                             "then remove that line")
    for statement in file.statements:
        keyword = first_keyword(statement)
        if keyword in FORBIDDEN:
            raise MigrationError(f"migration {file.name} contains {keyword}: each file already runs in its own "
                                 "transaction; remove BEGIN, COMMIT, ROLLBACK and VACUUM statements")


def written_tables(file: MigrationFile, tables: Iterable[str]) -> list[str]:
    """Model tables whose rows the file writes (those rows bypass the event log)."""
    wanted = {t.lower(): t for t in tables}
    hits: list[str] = []
    for statement in file.statements:
        match = _WRITE.match(_strip_comments(statement))
        if match:
            name = next(g for g in match.groups() if g is not None).replace('""', '"')
            if name.lower() in wanted and wanted[name.lower()] not in hits:
                hits.append(wanted[name.lower()])
    return hits


def recorded(conn: sqlite3.Connection) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute("SELECT name, checksum FROM _atomo_migrations ORDER BY name")}


def plan_files(conn: sqlite3.Connection, files: list[MigrationFile], model_tables: Iterable[str] = ()) -> FilePlan:
    """The checksum rule, then the pending files (each checked). Needs the platform tables."""
    done = recorded(conn)
    on_disk = {f.name: f for f in files}
    plan = FilePlan()
    for name, digest in done.items():
        file = on_disk.get(name)
        if file is None:
            plan.warnings.append(f"migration {name} was applied but is no longer in migrations/")
        elif file.checksum != digest:
            raise MigrationError(f"migration {name} changed after it was applied; restore it and put the change "
                                 "in a new file")
    plan.pending = [f for f in files if f.name not in done]
    tables = list(model_tables)
    for file in plan.pending:
        check_file(file)
        for table in written_tables(file, tables):
            plan.warnings.append(f"migration {file.name} writes rows of {table}: they bypass the event log and a "
                                 "projections rebuild will not reproduce them")
    return plan


def apply_file(conn: sqlite3.Connection, file: MigrationFile) -> Applied:
    """Run one file's statements and record it, inside the caller's transaction."""
    start = time.perf_counter()
    statements = file.statements
    for index, statement in enumerate(statements, 1):
        try:
            conn.execute(statement)
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            raise MigrationError(f"migration {file.name} failed at statement {index}: {exc}; it was rolled back"
                                 ) from None
    ms = round((time.perf_counter() - start) * 1000)
    conn.execute("INSERT INTO _atomo_migrations (name, checksum, applied_at, duration_ms) VALUES (?, ?, ?, ?)",
                 (file.name, file.checksum, now_iso(), ms))
    return Applied(file.name, ms, len(statements))


def record_applied(conn: sqlite3.Connection, file: MigrationFile) -> None:
    conn.execute("INSERT OR IGNORE INTO _atomo_migrations (name, checksum, applied_at, duration_ms) "
                 "VALUES (?, ?, ?, 0)", (file.name, file.checksum, now_iso()))


async def apply_pending(db: Database, folder: Path | None, schema: Schema | None = None, *,
                        on_start: Callable[[FilePlan], None] | None = None,
                        on_applied: Callable[[Applied], None] | None = None,
                        event_encoding: str = "json") -> list[Applied]:
    """Verify checksums and apply every pending file, each as its own exclusive write unit.

    A failing file is rolled back (MigrationError, exit 5); earlier files stay applied.
    """
    files = list_files(folder)
    tables = [m.table for m in schema.models] if schema is not None else []
    user_columns = {k: v.upper() for k, v in schema.user_columns.items()} if schema is not None else {}

    def prepare(conn: sqlite3.Connection) -> FilePlan:
        create_platform_tables(conn, user_columns, event_encoding=event_encoding)
        return plan_files(conn, files, tables)

    plan: FilePlan = await db.write(prepare, exclusive=True)
    if on_start is not None:
        on_start(plan)
    applied: list[Applied] = []
    for file in plan.pending:
        done: Applied = await db.write(lambda c, f=file: apply_file(c, f), exclusive=True)  # type: ignore[misc]
        applied.append(done)
        if on_applied is not None:
            on_applied(done)
    return applied


async def apply_project_files(db: Database, project: Project, schema: Schema | None, *,
                              event_encoding: str = "json") -> list[Applied]:
    """What every start does before the boot migration (warnings go to the log)."""
    import logging
    log = logging.getLogger("atomo.migrate")

    def warn(plan: FilePlan) -> None:
        for warning in plan.warnings:
            log.warning(warning)

    def applied(done: Applied) -> None:
        log.info("applied %s in %d ms", done.name, done.ms)

    return await apply_pending(db, migrations_dir(project), schema, on_start=warn, on_applied=applied,
                               event_encoding=event_encoding)
