"""Projection rebuild: recompute every model table from the event log (events chapter §6).

Runs on a connection of its own (the CLI's, or a thread of the library's) so the live writer keeps
serving until the final swap: shadows are TEMP tables, filled from a read snapshot; the swap takes
the write lock, replays what was appended meanwhile, and replaces the live table in one transaction.

Custom projections (``@projection`` of the project's hooks, ``atomo.hooks.projections``; passed in as
``custom``, anything with the ``CustomProjection`` shape) are rebuilt the same way: their ``schema`` creates
a TEMP table of the same name (which hides the live one on that connection, so the projection function
writes into it unchanged), the function replays every event of the matching streams, and the swap drops
the live table, recreates it from ``schema`` and copies the rows. With ``check`` the rows of both tables
are compared as sorted tuples.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from atomo.schema.model import Model, Schema, snake_case
from atomo.storage.events import EVENT_COLUMNS, StoredEvent, read_all, row_to_event
from atomo.storage.pg_log import begin_write
from atomo.storage.record_images import BLOCK_EVENT_TYPES, apply_block_event
from atomo.storage.records import codec_for, from_column
from atomo.storage.tables import (
    check_trigger_sql,
    create_table_sql,
    dialect_of,
    index_statements,
    live_table,
    portable_ddl,
    q,
    table_columns,
    table_exists,
    temp_columns,
    temp_table,
    wanted_indexes,
)

Progress = Callable[[int, int], None]   # (events replayed, events to replay) over every chosen model
BATCH = 2000


class CustomProjection(Protocol):
    """A custom projection as the rebuild sees it (``atomo.hooks.registry.ProjectionHook``)."""

    @property
    def table(self) -> str: ...
    @property
    def statements(self) -> tuple[str, ...]: ...      # CREATE TABLE <table> (...), CREATE INDEX ... ON <table>
    @property
    def prefix(self) -> str: ...                      # every stream it matches starts with it
    def matches(self, stream: str) -> bool: ...
    def apply(self, conn: sqlite3.Connection, event: StoredEvent) -> None: ...


@dataclass
class ModelReport:
    model: str                     # the model's name, or a custom projection's table
    rows: int = 0                  # rows of the rebuilt table
    events: int = 0
    seconds: float = 0.0
    live_rows: int | None = None   # with ``check``: rows of the live table
    projection: bool = False       # a custom projection's table


@dataclass
class RebuildReport:
    models: list[ModelReport] = field(default_factory=list)
    skipped_events: int = 0
    differences: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        return sum(m.events for m in self.models)


class _Shadow:
    """A TEMP copy of one model table's columns (no NOT NULL, no unique, no checks)."""

    def __init__(self, conn: sqlite3.Connection, model: Model) -> None:
        self.conn = conn
        self.model = model
        self.codec = codec_for(model)
        self.columns = table_columns(conn, model.table)
        self.names = {c.name for c in self.columns}
        self.postgres = dialect_of(conn) == "postgres"
        self.name = f"_atomo_shadow_{model.table}"
        self.temp = temp_table(conn, self.name)
        cols = ", ".join(f"{q(c.name)} {c.type}" + (f" DEFAULT {c.default}" if c.default is not None else "")
                         + (" PRIMARY KEY" if c.name == "id" else "") for c in self.columns)
        conn.execute(f"DROP TABLE IF EXISTS {self.temp}")
        conn.execute(f"CREATE TEMP TABLE {q(self.name)} ({cols})")

    def _columns_of(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            col = self.codec.by_name.get(key)
            if col is not None and col.column in self.names:
                out[col.column] = self.codec.column_values({key: value})[col.column]
            elif snake_case(key) in self.names:  # a column the schema no longer declares
                out[snake_case(key)] = json.dumps(value) if isinstance(value, (dict, list)) else value
        return out

    def apply(self, event: StoredEvent) -> None:
        t, rid, version = self.temp, event.record_id, event.stream_version
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == "Created":
            cols = self._columns_of(data)
            cols["id"], cols["_version"] = rid, version
            names = ", ".join(q(c) for c in cols)
            replace = "OR REPLACE "
            if self.postgres:                   # no INSERT OR REPLACE: the row goes, then the new one comes
                self.conn.execute(f"DELETE FROM {t} WHERE id = ?", (rid,))
                replace = ""
            self.conn.execute(f"INSERT {replace}INTO {t} ({names}) VALUES ({', '.join('?' * len(cols))})",
                              tuple(cols.values()))
            return
        if event.type == "HardDeleted":
            self.conn.execute(f"DELETE FROM {t} WHERE id = ?", (rid,))
            return
        if event.type == "Updated":
            cols = self._columns_of({k: v for k, v in data.items() if k != "id"})
        elif event.type == "Deleted":
            cols = {"deleted_at": data.get("deletedAt", event.recorded_at_text)}
        elif event.type == "Restored":
            cols = {"deleted_at": None}
        elif event.type in BLOCK_EVENT_TYPES:
            cols = self._block_columns(event)
        else:  # custom events: the record's version moves
            cols = {}
        cols["_version"] = version
        sets = ", ".join(f"{q(c)} = ?" for c in cols)
        self.conn.execute(f"UPDATE {t} SET {sets} WHERE id = ?", (*cols.values(), rid))

    def _block_columns(self, event: StoredEvent) -> dict[str, Any]:
        """The Blocks column and ``updated_at`` after a block event, with the writer's own fold."""
        field = event.data.get("field") if isinstance(event.data, dict) else None
        col = self.codec.by_name.get(field) if isinstance(field, str) else None
        if col is None or col.field is None or col.column not in self.names:
            return {}
        row = self.conn.execute(f"SELECT {q(col.column)} FROM {self.temp} WHERE id = ?",
                                (event.record_id,)).fetchone()
        if row is None:
            return {}
        record = {col.key: from_column(col.field, row[0])}
        apply_block_event(record, event)
        return self._columns_of({col.key: record[col.key], "updatedAt": record["updatedAt"]})

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        cur = self.conn.execute(f"SELECT * FROM {table} ORDER BY id")
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur}


class _Tally:
    """Events replayed for the chosen models against the number known to exist (it grows in the catch-up)."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done = 0
        self.total = total
        self.progress = progress

    def step(self) -> None:
        self.done += 1
        if self.done > self.total:
            self.total = self.done
        if self.progress is not None:
            self.progress(self.done, self.total)


def _replay(conn: sqlite3.Connection, shadows: dict[str, _Shadow], after: int, before: int | None,
            report: RebuildReport, counts: dict[str, ModelReport], tally: _Tally, known: set[str]) -> int:
    position = after
    if not shadows:
        return position
    while True:
        events = read_all(conn, after=position, limit=BATCH, before=before)
        for event in events:
            position = event.position
            if event.model is None or event.record_id is None:
                continue
            shadow = shadows.get(event.model)
            if shadow is None:
                if event.model not in known:      # a model no longer in the schema (not merely one not chosen)
                    report.skipped_events += 1
                continue
            shadow.apply(event)
            counts[event.model].events += 1
            tally.step()
        if len(events) < BATCH:
            return position


def same_value(a: Any, b: Any) -> bool:
    """Equal column values; JSON texts that differ only in formatting (a float's exponent written ``1e+16`` by
    an older version, ``1e16`` now) hold the same value."""
    if a == b:
        return True
    if not (isinstance(a, str) and isinstance(b, str) and a[:1] in "[{" and b[:1] in "[{"):
        return False
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def _compare(shadow: _Shadow, limit: int) -> list[str]:
    live = shadow.rows(q(shadow.model.table))
    rebuilt = shadow.rows(shadow.temp)
    diffs = []
    for rid in sorted(set(live) | set(rebuilt)):
        a, b = live.get(rid), rebuilt.get(rid)
        if a is None or b is None:
            diffs.append(f"{shadow.model.name} {rid}: {'missing live' if a is None else 'missing rebuilt'}")
            continue
        for column in a:
            if not same_value(a[column], b.get(column)):
                diffs.append(f"{shadow.model.name} {rid}: {column} live={a[column]!r} rebuilt={b.get(column)!r}")
        if len(diffs) >= limit:
            break
    return diffs[:limit]


def _swap(conn: sqlite3.Connection, shadow: _Shadow) -> None:
    model = shadow.model
    declared = {f.column for f in model.data_fields} | {"id", "created_at", "updated_at", "deleted_at",
                                                         "tenant_id", "_version"}
    kept = [(c.name, c.type) for c in shadow.columns if c.name not in declared]
    new = f"_atomo_new_{model.table}"
    dialect = dialect_of(conn)
    conn.execute(f"DROP TABLE IF EXISTS {q(new)}")
    conn.execute(create_table_sql(model, name=new, kept=kept, dialect=dialect))
    names = ", ".join(q(c.name) for c in shadow.columns)
    conn.execute(f"INSERT INTO {q(new)} ({names}) SELECT {names} FROM {shadow.temp}")
    conn.execute(f"DROP TABLE {q(model.table)}")
    conn.execute(f"ALTER TABLE {q(new)} RENAME TO {q(model.table)}")
    if dialect == "postgres":       # the primary key's index keeps the name it was made with: give it the table's
        conn.execute(f"ALTER INDEX {q(new + '_pkey')} RENAME TO {q(model.table + '_pkey')}")
    for index in wanted_indexes(model):
        for sql in index_statements(model, index, dialect=dialect):
            conn.execute(sql)
    for check in model.checks:
        for sql in check_trigger_sql(model, check, dialect=dialect):
            conn.execute(sql)


# -- custom projections ----------------------------------------------------------------------------
_CREATE_TABLE = re.compile(r"\s*CREATE\s+TABLE\s+", re.IGNORECASE)


class _CustomShadow:
    """A TEMP table named like the live projection table (so it hides it on this connection: SQLite and PostgreSQL
    both look in the temporary schema first), made by its schema."""

    def __init__(self, conn: sqlite3.Connection, custom: CustomProjection) -> None:
        self.conn = conn
        self.custom = custom
        self.table = custom.table
        self.saved = f"_atomo_shadow_p_{custom.table}"     # where the shadow goes before the live table is recreated
        self.dialect = dialect_of(conn)
        conn.execute(f"DROP TABLE IF EXISTS {temp_table(conn, self.table)}")
        conn.execute(f"DROP TABLE IF EXISTS {temp_table(conn, self.saved)}")
        for statement in custom.statements:
            if _CREATE_TABLE.match(statement):
                statement = _CREATE_TABLE.sub("CREATE TEMP TABLE ", statement, count=1)
            conn.execute(portable_ddl(statement, self.dialect))   # an index on the (TEMP) table of that name: temp too

    def set_aside(self) -> None:
        """Rename the shadow so that unqualified names reach the live table again."""
        self.conn.execute(f"ALTER TABLE {temp_table(self.conn, self.table)} RENAME TO {q(self.saved)}")

    def drop(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {temp_table(self.conn, self.table)}")
        self.conn.execute(f"DROP TABLE IF EXISTS {temp_table(self.conn, self.saved)}")

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return sorted((tuple(r) for r in self.conn.execute(f"SELECT * FROM {table}")), key=_row_key)

    def compare(self, limit: int) -> list[str]:
        live = Counter(self.rows(live_table(self.conn, self.table)))
        rebuilt = Counter(self.rows(temp_table(self.conn, self.saved)))
        diffs = [f"{self.table} {row!r}: missing rebuilt" for row in (live - rebuilt).elements()]
        diffs += [f"{self.table} {row!r}: missing live" for row in (rebuilt - live).elements()]
        return sorted(diffs)[:max(limit, 0)]

    def swap(self) -> None:
        conn = self.conn
        columns = temp_columns(conn, self.saved)
        live = live_table(conn, self.table)
        conn.execute(f"DROP TABLE IF EXISTS {live}")
        for statement in self.custom.statements:
            conn.execute(portable_ddl(statement, self.dialect))
        names = ", ".join(q(c) for c in columns)
        conn.execute(f"INSERT INTO {live} ({names}) SELECT {names} FROM {temp_table(conn, self.saved)}")


_TYPE_RANK = {type(None): 0, int: 1, float: 1, str: 2, bytes: 3}


def _row_key(row: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """Sort key of a row whose columns may mix NULL, numbers, text and blobs (SQLite's order of types)."""
    return tuple((0, 0) if v is None else (_TYPE_RANK.get(type(v), 4), v if type(v) in _TYPE_RANK else repr(v))
                 for v in row)


def _replay_custom(conn: sqlite3.Connection, shadows: list[_CustomShadow], after: int, before: int | None,
                   counts: dict[str, ModelReport], tally: _Tally) -> None:
    if not shadows:
        return
    where, params = _prefix_filter(shadows)
    position = after
    while True:
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ?" + (" AND position <= ?" if before is not None else "")
        rows = conn.execute(sql + f" AND ({where}) ORDER BY position LIMIT {BATCH}",
                            [position, *([before] if before is not None else []), *params]).fetchall()
        for row in rows:
            event = row_to_event(row)
            position = event.position
            for shadow in shadows:
                if shadow.custom.matches(event.stream):
                    shadow.custom.apply(conn, event)
                    counts[shadow.table.lower()].events += 1
            tally.step()
        if len(rows) < BATCH:
            return


def _prefix_filter(shadows: list[_CustomShadow]) -> tuple[str, list[Any]]:
    prefixes = sorted({s.custom.prefix for s in shadows})
    if "" in prefixes:
        return "TRUE", []
    return " OR ".join("substr(stream, 1, ?) = ?" for _ in prefixes), [v for p in prefixes for v in (len(p), p)]


def _count_custom(conn: sqlite3.Connection, shadows: list[_CustomShadow], before: int) -> int:
    if not shadows:
        return 0
    where, params = _prefix_filter(shadows)
    return int(conn.execute(f"SELECT count(*) FROM events WHERE position <= ? AND ({where})",
                            [before, *params]).fetchone()[0])


def rebuild(conn: sqlite3.Connection, schema: Schema, models: list[str] | None = None, *, check: bool = False,
            progress: Progress | None = None, diff_limit: int = 20,
            custom: Sequence[CustomProjection] = ()) -> RebuildReport:
    """Rebuild (or, with ``check``, compare) the model tables and the tables of the ``custom`` projections on
    ``conn``, a read-write connection. ``models``: the model names and projection tables to rebuild (all)."""
    start = time.perf_counter()
    report = RebuildReport()
    chosen = [m for m in schema.models if (models is None or m.name in models) and table_exists(conn, m.table)]
    wanted = None if models is None else {n.lower() for n in models}
    projections = [p for p in custom if wanted is None or p.table.lower() in wanted]
    known = {m.name for m in schema.models}
    shadows = {m.name: _Shadow(conn, m) for m in chosen}
    counts = {m.name: ModelReport(m.name) for m in chosen}
    custom_counts = {p.table.lower(): ModelReport(p.table, projection=True) for p in projections}
    custom_shadows: list[_CustomShadow] = []
    try:
        for p in projections:
            custom_shadows.append(_CustomShadow(conn, p))
        postgres = dialect_of(conn) == "postgres"
        # steps 1-3 from one read snapshot (TEMP tables are writable inside it)
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if postgres else "BEGIN")
        snapshot = int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])
        marks = ",".join("?" * len(chosen))
        total = conn.execute(f"SELECT count(*) FROM events WHERE model IN ({marks}) AND record_id IS NOT NULL"
                             " AND position <= ?", [m.name for m in chosen] + [snapshot]).fetchone()[0]
        tally = _Tally(int(total) + _count_custom(conn, custom_shadows, snapshot), progress)
        try:
            _replay(conn, shadows, 0, snapshot, report, counts, tally, known)
            _replay_custom(conn, custom_shadows, 0, snapshot, custom_counts, tally)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        # step 4: the writer is ours; catch up, then swap or compare
        if postgres:
            begin_write(conn)
        else:
            conn.execute("BEGIN IMMEDIATE")
        try:
            _replay(conn, shadows, snapshot, None, report, counts, tally, known)
            _replay_custom(conn, custom_shadows, snapshot, None, custom_counts, tally)
            for name, shadow in shadows.items():
                counts[name].rows = int(conn.execute(f"SELECT count(*) FROM {shadow.temp}").fetchone()[0])
                if check:
                    counts[name].live_rows = int(conn.execute(f"SELECT count(*) FROM {q(shadow.model.table)}").fetchone()[0])
                    report.differences += _compare(shadow, diff_limit - len(report.differences))
                else:
                    _swap(conn, shadow)
            for c in custom_shadows:
                c.set_aside()
                report_of = custom_counts[c.table.lower()]
                report_of.rows = int(conn.execute(f"SELECT count(*) FROM {temp_table(conn, c.saved)}").fetchone()[0])
                if check:
                    live = table_exists(conn, c.table)
                    report_of.live_rows = int(conn.execute(f"SELECT count(*) FROM {live_table(conn, c.table)}"
                                                           ).fetchone()[0]) \
                        if live else 0
                    report.differences += c.compare(diff_limit - len(report.differences)) if live else \
                        [f"{c.table}: missing live table"][:max(diff_limit - len(report.differences), 0)]
                else:
                    c.swap()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        for shadow in shadows.values():
            conn.execute(f"DROP TABLE IF EXISTS {shadow.temp}")
        for c in custom_shadows:
            c.drop()
    report.models = [*counts.values(), *custom_counts.values()]
    report.seconds = time.perf_counter() - start
    return report
