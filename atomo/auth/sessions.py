"""Sessions (auth chapter §2): one row per login; the id is the JWT ``jti``.

Refresh tokens are random UUIDv4 strings stored only as their SHA-256 hex. Timestamps use the
canonical text form (``2026-06-08T10:00:00.123456+00:00``), so comparing them as text is comparing
them in time.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ulid import ULID

from atomo import clock
from atomo.auth.principal import Principal


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    refresh_token: str          # the clear token, returned once to the client
    expires_at: str
    created_at: str


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


now_iso = clock.now_iso       # the process clock (atomo/clock.py): frozen in tests


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return str(uuid.uuid4())


def new_session_id() -> str:
    return str(ULID())


def create_session(conn: sqlite3.Connection, *, user_id: str, ttl_secs: int, ip_address: str | None = None,
                   user_agent: str | None = None, now: datetime | None = None,
                   session_id: str | None = None) -> Session:
    """Insert a live session (a writer unit step); expires_at = now + ATOMO_SESSION_TTL_SECS."""
    moment = now or clock.now()
    created = iso(moment)
    expires = iso(moment + timedelta(seconds=ttl_secs))
    token = new_refresh_token()
    session = Session(session_id or new_session_id(), user_id, token, expires, created)
    conn.execute(
        "INSERT INTO sessions (id, user_id, refresh_token_hash, previous_refresh_token_hash, expires_at, revoked_at,"
        " ip_address, user_agent, created_at, last_used_at) VALUES (?, ?, ?, NULL, ?, NULL, ?, ?, ?, ?)",
        (session.id, user_id, hash_refresh_token(token), expires, (ip_address or "")[:64] or None,
         (user_agent or "")[:512] or None, created, created))
    return session


def revoke_session(conn: sqlite3.Connection, session_id: str, *, now: str | None = None) -> int:
    return conn.execute("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                        (now or now_iso(), session_id)).rowcount


def revoke_user_sessions(conn: sqlite3.Connection, user_id: str, *, now: str | None = None) -> int:
    return conn.execute("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                        (now or now_iso(), user_id)).rowcount


# One indexed query (sessions primary key, then users primary key) per authenticated request.
_PRINCIPAL_SQL = (
    "SELECT u.email, u.role, u.tenant_id FROM sessions AS s JOIN users AS u ON u.id = s.user_id"
    " WHERE s.id = ? AND s.user_id = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.is_active = 1"
)


def principal_for_session(conn: sqlite3.Connection, session_id: str, user_id: str, now: str) -> Principal | None:
    """The principal of a live session of an active user, with role/email/tenant from the user row."""
    row = conn.execute(_PRINCIPAL_SQL, (session_id, user_id, now)).fetchone()
    if row is None:
        return None
    return Principal(user_id=user_id, email=row[0], role=(row[1] or "").lower(), tenant_binding=row[2],
                     session_id=session_id)
