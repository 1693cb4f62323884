"""Projection rebuild: recompute every model table from the event log (events chapter §6).

Runs on a connection of its own (the CLI's, or a thread of the library's) so the live writer keeps
serving until the final swap: shadows are TEMP tables, filled from a read snapshot; the swap takes
the write lock, replays what was appended meanwhile, and replaces the live table in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from atomo.schema.model import Model, Schema, snake_case
from atomo.storage.events import StoredEvent, read_all
from atomo.storage.record_images import BLOCK_EVENT_TYPES, apply_block_event
from atomo.storage.records import codec_for, from_column
from atomo.storage.tables import (
    check_trigger_sql,
    create_table_sql,
    index_sql,
    q,
    table_columns,
    table_exists,
    wanted_indexes,
)

Progress = Callable[[int, int], None]   # (events replayed, events to replay) over every chosen model
BATCH = 2000


@dataclass
class ModelReport:
    model: str
    rows: int = 0                  # rows of the rebuilt table
    events: int = 0
    seconds: float = 0.0
    live_rows: int | None = None   # with ``check``: rows of the live table


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
        self.name = f"_atomo_shadow_{model.table}"
        cols = ", ".join(f"{q(c.name)} {c.type}" + (f" DEFAULT {c.default}" if c.default is not None else "")
                         + (" PRIMARY KEY" if c.name == "id" else "") for c in self.columns)
        conn.execute(f"DROP TABLE IF EXISTS temp.{q(self.name)}")
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
        t, rid, version = q(self.name), event.record_id, event.stream_version
        data = event.data if isinstance(event.data, dict) else {}
        if event.type == "Created":
            cols = self._columns_of(data)
            cols["id"], cols["_version"] = rid, version
            names = ", ".join(q(c) for c in cols)
            self.conn.execute(f"INSERT OR REPLACE INTO {t} ({names}) VALUES ({', '.join('?' * len(cols))})",
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
        row = self.conn.execute(f"SELECT {q(col.column)} FROM temp.{q(self.name)} WHERE id = ?",
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
            report: RebuildReport, counts: dict[str, ModelReport], tally: _Tally) -> int:
    position = after
    while True:
        events = read_all(conn, after=position, limit=BATCH, before=before)
        for event in events:
            position = event.position
            if event.model is None or event.record_id is None:
                continue
            shadow = shadows.get(event.model)
            if shadow is None:
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
    rebuilt = shadow.rows(f"temp.{q(shadow.name)}")
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
    conn.execute(f"DROP TABLE IF EXISTS {q(new)}")
    conn.execute(create_table_sql(model, name=new, kept=kept))
    names = ", ".join(q(c.name) for c in shadow.columns)
    conn.execute(f"INSERT INTO {q(new)} ({names}) SELECT {names} FROM temp.{q(shadow.name)}")
    conn.execute(f"DROP TABLE {q(model.table)}")
    conn.execute(f"ALTER TABLE {q(new)} RENAME TO {q(model.table)}")
    for index in wanted_indexes(model):
        conn.execute(index_sql(model, index))
    for check in model.checks:
        for sql in check_trigger_sql(model, check):
            conn.execute(sql)


def rebuild(conn: sqlite3.Connection, schema: Schema, models: list[str] | None = None, *, check: bool = False,
            progress: Progress | None = None, diff_limit: int = 20) -> RebuildReport:
    """Rebuild (or, with ``check``, compare) the model tables on ``conn``, a read-write connection."""
    start = time.perf_counter()
    report = RebuildReport()
    chosen = [m for m in schema.models if (models is None or m.name in models) and table_exists(conn, m.table)]
    shadows = {m.name: _Shadow(conn, m) for m in chosen}
    counts = {m.name: ModelReport(m.name) for m in chosen}
    conn.execute("BEGIN")   # steps 1-3 from one read snapshot (TEMP tables are writable inside it)
    snapshot = int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])
    marks = ",".join("?" * len(chosen))
    total = conn.execute(f"SELECT count(*) FROM events WHERE model IN ({marks}) AND record_id IS NOT NULL"
                         " AND position <= ?", [m.name for m in chosen] + [snapshot]).fetchone()[0]
    tally = _Tally(int(total), progress)
    _replay(conn, shadows, 0, snapshot, report, counts, tally)
    conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")   # step 4: the writer is ours; catch up, then swap or compare
    try:
        _replay(conn, shadows, snapshot, None, report, counts, tally)
        for name, shadow in shadows.items():
            counts[name].rows = int(conn.execute(f"SELECT count(*) FROM temp.{q(shadow.name)}").fetchone()[0])
            if check:
                counts[name].live_rows = int(conn.execute(f"SELECT count(*) FROM {q(shadow.model.table)}").fetchone()[0])
                report.differences += _compare(shadow, diff_limit - len(report.differences))
            else:
                _swap(conn, shadow)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        for shadow in shadows.values():
            conn.execute(f"DROP TABLE IF EXISTS temp.{q(shadow.name)}")
    report.models = list(counts.values())
    report.seconds = time.perf_counter() - start
    return report
