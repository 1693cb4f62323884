"""Platform tables that every data file has: events, users, sessions, migrations.

``_atomo_auth_epoch`` holds one number that triggers raise whenever a user's role, tenant, email or
activity changes, a user is deleted, or a session is revoked or deleted, by any process: the server's
principal cache compares it (at most every 100 ms) to notice changes made by another process, such as
``atomo users deactivate`` on the same file."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from atomo.storage.events import EVENTS_DDL
from atomo.storage.idempotency import IDEMPOTENCY_DDL
from atomo.storage.pg_log import on_postgres
from atomo.storage.tables import PG_SIZED_TYPES, q, table_columns

ACCOUNT_DDL = """
CREATE TABLE IF NOT EXISTS users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  first_name    TEXT NOT NULL DEFAULT '',
  last_name     TEXT NOT NULL DEFAULT '',
  role          TEXT NOT NULL DEFAULT 'viewer',
  is_active     INTEGER NOT NULL DEFAULT 1,
  tenant_id     TEXT,
  last_login_at TEXT,
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  id                          TEXT PRIMARY KEY,
  user_id                     TEXT NOT NULL,
  refresh_token_hash          TEXT NOT NULL,
  previous_refresh_token_hash TEXT,
  expires_at                  TEXT NOT NULL,
  revoked_at                  TEXT,
  ip_address                  TEXT,
  user_agent                  TEXT,
  created_at                  TEXT NOT NULL,
  last_used_at                TEXT
);
CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions (user_id);
CREATE UNIQUE INDEX IF NOT EXISTS uq_sessions_refresh ON sessions (refresh_token_hash);
CREATE INDEX IF NOT EXISTS idx_sessions_previous_refresh ON sessions (previous_refresh_token_hash);
CREATE TABLE IF NOT EXISTS _atomo_auth_epoch (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
INSERT OR IGNORE INTO _atomo_auth_epoch (id, value) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS trg_auth_epoch_user AFTER UPDATE OF role, tenant_id, is_active, email ON users
  BEGIN UPDATE _atomo_auth_epoch SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS trg_auth_epoch_user_gone AFTER DELETE ON users
  BEGIN UPDATE _atomo_auth_epoch SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS trg_auth_epoch_session AFTER UPDATE OF revoked_at ON sessions
  BEGIN UPDATE _atomo_auth_epoch SET value = value + 1; END;
CREATE TRIGGER IF NOT EXISTS trg_auth_epoch_session_gone AFTER DELETE ON sessions
  BEGIN UPDATE _atomo_auth_epoch SET value = value + 1; END;
CREATE TABLE IF NOT EXISTS _atomo_migrations (
  name        TEXT PRIMARY KEY,
  checksum    TEXT NOT NULL,
  applied_at  TEXT NOT NULL,
  duration_ms INTEGER NOT NULL
);
"""
PLATFORM_DDL = EVENTS_DDL + ACCOUNT_DDL + IDEMPOTENCY_DDL

PLATFORM_TABLES = ("events", "users", "sessions", "_atomo_migrations", "_atomo_auth_epoch", "_atomo_idempotency")


def auth_epoch(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM _atomo_auth_epoch WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


def create_platform_tables(conn: sqlite3.Connection, user_columns: Mapping[str, str] | None = None, *,
                           event_encoding: str = "json") -> None:
    """Idempotent: creates what is missing, then adds the schema's extra `users` columns. ``event_encoding``
    types the event payload columns on PostgreSQL (SQLite's are untyped)."""
    if on_postgres(conn):
        for statement in pg_platform_ddl(event_encoding):
            conn.execute(statement)
        for name, sql_type in (user_columns or {}).items():
            conn.execute(f"ALTER TABLE users ADD COLUMN IF NOT EXISTS {q(name)} {PG_SIZED_TYPES.get(sql_type, sql_type)}")
        return
    for statement in PLATFORM_DDL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
    if "metadata" not in {c.name for c in table_columns(conn, "events")}:   # files from before event metadata
        conn.execute("ALTER TABLE events ADD COLUMN metadata")
    if user_columns:
        have = {c.name for c in table_columns(conn, "users")}
        for name, sql_type in user_columns.items():
            if name not in have:
                conn.execute(f"ALTER TABLE users ADD COLUMN {q(name)} {sql_type}")


# -- PostgreSQL (issue 21) ----------------------------------------------------------------------------------------
_PG_EPOCH_TRIGGERS = (
    ("trg_auth_epoch_user", "AFTER UPDATE OF role, tenant_id, is_active, email ON users"),
    ("trg_auth_epoch_user_gone", "AFTER DELETE ON users"),
    ("trg_auth_epoch_session", "AFTER UPDATE OF revoked_at ON sessions"),
    ("trg_auth_epoch_session_gone", "AFTER DELETE ON sessions"),
)


RATE_TABLE_DDL = ("CREATE UNLOGGED TABLE IF NOT EXISTS _atomo_rate (kind text NOT NULL, key text NOT NULL,"
                  " tokens float8 NOT NULL, at float8 NOT NULL, PRIMARY KEY (kind, key))")


def pg_platform_ddl(event_encoding: str = "json") -> list[str]:
    """The platform tables of one schema on PostgreSQL: SQLite's, with an identity-free event log
    (``pg_log``), ``bytea`` for blobs, and the auth-epoch triggers as one plpgsql function."""
    from atomo.cluster.pg_bus import BUS_TABLE_DDL
    from atomo.storage.pg_fold import fold_function_ddl
    from atomo.storage.pg_log import events_ddl
    sqlite_only = ("CREATE TRIGGER", "INSERT OR IGNORE")
    common = [statement.strip() for statement in (ACCOUNT_DDL + IDEMPOTENCY_DDL).split(";\n")
              if statement.strip() and not statement.strip().startswith(sqlite_only)]
    common = [statement.replace(" WITHOUT ROWID", "").replace(" BLOB", " bytea").rstrip(";") for statement in common]
    return [
        *events_ddl(event_encoding), *common,
        "INSERT INTO _atomo_auth_epoch (id, value) VALUES (1, 0) ON CONFLICT DO NOTHING",
        "CREATE OR REPLACE FUNCTION atomo_bump_auth_epoch() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN UPDATE _atomo_auth_epoch SET value = value + 1; RETURN NULL; END $$",
        *(f"CREATE OR REPLACE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION atomo_bump_auth_epoch()"
          for name, when in _PG_EPOCH_TRIGGERS),
        fold_function_ddl(),                 # the filters' case folding (where-compiler, dialect "postgres")
        BUS_TABLE_DDL,                       # large frames between instances (atomo.cluster.pg_bus)
        RATE_TABLE_DDL,                      # the instances' shared rate and login limits (atomo.http.pg_limits)
    ]
