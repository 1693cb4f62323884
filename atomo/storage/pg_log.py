"""Event positions on PostgreSQL (issue 21, first piece): gap-free and in commit order, as on SQLite.

A write transaction that appends events runs ``BEGIN`` then takes one transaction-level advisory lock, keyed
by the schema (``WRITE_LOCK``: several projects in one database do not share it), before its first statement.
Its first append reads ``max(position)`` (one backward probe of the primary key) and later ones count up in
the process (``Positions``). PostgreSQL makes a commit visible before it releases the transaction's locks, so
the next holder's next statement (a new READ COMMITTED snapshot) sees every position committed before, and
continues from the last: positions are dense, a larger one always belongs to a later commit, and a reader
that has seen position p has seen every position below it — a cursor ``WHERE position > p`` never skips an
event that commits late, because none can. A transaction that rolls back made no number visible; the next
holder reuses them. This is SQLite's ``INTEGER PRIMARY KEY`` under its file lock, across instances. The cost
is the same too: event-writing transactions are serial (group commit amortises it).

A ``bigserial`` would not do: numbers are taken at insert and become visible at commit, so 11 can be visible
while 10 is still in flight, and a cursor at 11 skips 10 forever (``tests/storage/test_pg_log.py`` shows it).

Driver-neutral: ``conn`` is any DB-API connection whose ``execute`` takes ``%s`` parameters (psycopg 3); the
PostgreSQL driver of ``Database`` (next slices, docs/design/postgres-backend.md) will call these.
"""

from __future__ import annotations

from typing import Any

WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/atomo.write', 0))"
EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events (
  position       bigint  PRIMARY KEY,
  event_id       text    NOT NULL UNIQUE,
  stream         text    NOT NULL,
  stream_version bigint  NOT NULL,
  type           text    NOT NULL,
  model          text,
  record_id      text,
  data           bytea   NOT NULL,
  previous_data  bytea,
  actor          text,
  tenant_id      text,
  origin         text,
  recorded_at    text    NOT NULL,
  metadata       bytea,
  UNIQUE (stream, stream_version)
)"""


def begin_write(conn: Any) -> None:
    """Open a write transaction that may append events: after this, no other one appends until it ends."""
    conn.execute("BEGIN")
    conn.execute(WRITE_LOCK)


class Positions:
    """The positions of one write transaction (after ``begin_write``): the first from the table, then counted
    up here. ``mark``/``back_to`` follow a unit's savepoint; a new transaction needs a new ``Positions``."""

    def __init__(self) -> None:
        self._last: int | None = None

    def next(self, conn: Any) -> int:
        if self._last is None:
            self._last = int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])
        self._last += 1
        return self._last

    def mark(self) -> int | None:
        return self._last

    def back_to(self, mark: int | None) -> None:
        self._last = mark
