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
from atomo.storage.tables import q, table_columns

PLATFORM_DDL = EVENTS_DDL + """
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
""" + IDEMPOTENCY_DDL

PLATFORM_TABLES = ("events", "users", "sessions", "_atomo_migrations", "_atomo_auth_epoch", "_atomo_idempotency")


def auth_epoch(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM _atomo_auth_epoch WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


def create_platform_tables(conn: sqlite3.Connection, user_columns: Mapping[str, str] | None = None) -> None:
    """Idempotent: creates what is missing, then adds the schema's extra `users` columns."""
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
