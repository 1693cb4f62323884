"""Event positions on PostgreSQL (issue 21, first piece): gap-free and in commit order, as on SQLite.

A write transaction that appends events runs ``BEGIN`` then takes one transaction-level advisory lock, keyed
by the schema (``WRITE_LOCK``: several projects in one database do not share it), before its first statement.
Each append inserts at ``NEXT_POSITION`` (``max(position) + 1``: one backward probe of the primary key, and it
sees the transaction's own earlier appends, so a unit rolled back to its savepoint gives its numbers back).
PostgreSQL makes a commit visible before it releases the transaction's locks, so the next holder's next
statement (a new READ COMMITTED snapshot) sees every position committed before, and continues from the last:
positions are dense, a larger one always belongs to a later commit, and a reader that has seen position p
has seen every position below it — a cursor ``WHERE position > p`` never skips an event that commits late,
because none can. A transaction that rolls back made no number visible; the next holder reuses them. This is
SQLite's ``INTEGER PRIMARY KEY`` under its file lock, across instances. The cost is the same too: event-writing
transactions are serial (group commit amortises it).

A ``bigserial`` would not do: numbers are taken at insert and become visible at commit, so 11 can be visible
while 10 is still in flight, and a cursor at 11 skips 10 forever (``tests/storage/test_pg_log.py`` shows it).

``PgDatabase`` (``pg_database``) begins its write transactions with ``begin_write``; ``EventAppender``
(``events``) inserts at ``NEXT_POSITION`` on a PostgreSQL connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/atomo.write', 0))"
BEGIN_WRITE = "BEGIN; " + WRITE_LOCK
NEXT_POSITION = "(SELECT coalesce(max(position), 0) + 1 FROM events)"


def events_ddl(encoding: str = "json") -> list[str]:
    """The event log's table, indexes and append-only triggers in the current schema. Payload columns are
    ``text`` for JSON and ``bytea`` for MessagePack (``decode`` tells them apart by type, as on SQLite)."""
    payload = "bytea" if encoding == "msgpack" else "text"
    return [
        f"""CREATE TABLE IF NOT EXISTS events (
  position       bigint  PRIMARY KEY,
  event_id       text    NOT NULL UNIQUE,
  stream         text    NOT NULL,
  stream_version bigint  NOT NULL,
  type           text    NOT NULL,
  model          text,
  record_id      text,
  data           {payload} NOT NULL,
  previous_data  {payload},
  actor          text,
  tenant_id      text,
  origin         text,
  recorded_at    text    NOT NULL,
  metadata       {payload},
  UNIQUE (stream, stream_version)
)""",
        "CREATE INDEX IF NOT EXISTS idx_events_model_position ON events (model, position)",
        "CREATE INDEX IF NOT EXISTS idx_events_tenant_position ON events (tenant_id, position)",
        "CREATE OR REPLACE FUNCTION atomo_events_append_only() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$",
        "CREATE OR REPLACE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events"
        " FOR EACH ROW EXECUTE FUNCTION atomo_events_append_only()",
    ]


def on_postgres(conn: Any) -> bool:
    """Whether a unit's ``conn`` is PostgreSQL's (``pg_database.PgConnection``); a type check first, as this runs
    for every appended event."""
    return not isinstance(conn, sqlite3.Connection) and getattr(conn, "dialect", None) == "postgres"


def begin_write(conn: Any) -> None:
    """Open a write transaction that may append events: after this, no other one appends until it ends."""
    conn.execute(BEGIN_WRITE)           # one round trip: two statements, no parameters (simple query protocol)
