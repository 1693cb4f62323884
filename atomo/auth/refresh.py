"""Refresh-token rotation and logout (auth chapter §5.2, §5.4).

``refresh`` finds the live session holding the presented refresh token, rotates the token (the
old one is kept only as ``previous_refresh_token_hash``), extends the session to now +
``ATOMO_SESSION_TTL_SECS`` and issues a new JWT with the same ``jti``. Presenting the immediately
previous token again is treated as theft: the whole session is revoked (committed) and the answer
is 401 like any other unusable token.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from atomo import clock
from atomo.auth.login import LoginResult
from atomo.auth.sessions import hash_refresh_token, iso, new_refresh_token, revoke_session, revoke_user_sessions
from atomo.auth.tokens import TokenService
from atomo.auth.users import User, find_by_id
from atomo.errors import UnauthenticatedError, ValidationError
from atomo.storage.database import Database

log = logging.getLogger("atomo.auth")

INVALID_REFRESH = "invalid or expired refresh token"
MAX_REFRESH_TOKEN_LENGTH = 256


def parse_refresh_token(body: Any) -> str:
    """``{"refreshToken": ...}`` (or ``refresh_token``) -> the token; VALIDATION_ERROR otherwise."""
    if not isinstance(body, dict):
        raise ValidationError.single("refreshToken", "refreshToken is required", "required")
    value = body.get("refreshToken", body.get("refresh_token"))
    if value is None or value == "":
        raise ValidationError.single("refreshToken", "refreshToken is required", "required")
    if not isinstance(value, str):
        raise ValidationError.single("refreshToken", "refreshToken must be a string", "type")
    return value


def _rotate(conn: sqlite3.Connection, token_hash: str, ttl_secs: int,
            now: datetime) -> tuple[str, User, str] | str | None:
    """(session id, user, new refresh token); ``theft:<session id>`` when a rotated token came back (that
    session is revoked); None if unusable."""
    now_text = iso(now)
    row = conn.execute("SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE refresh_token_hash = ?",
                       (token_hash,)).fetchone()
    if row is None:
        stolen = conn.execute("SELECT id FROM sessions WHERE previous_refresh_token_hash = ? AND revoked_at IS NULL",
                              (token_hash,)).fetchone()
        if stolen is None:
            return None
        revoke_session(conn, stolen[0], now=now_text)
        return f"theft:{stolen[0]}"
    session_id, user_id, expires_at, revoked_at = row
    if revoked_at is not None or expires_at <= now_text:
        return None
    user = find_by_id(conn, user_id)
    if user is None or not user.is_active:
        return None
    token = new_refresh_token()
    conn.execute("UPDATE sessions SET previous_refresh_token_hash = refresh_token_hash, refresh_token_hash = ?,"
                 " expires_at = ?, last_used_at = ? WHERE id = ?",
                 (hash_refresh_token(token), iso(now + timedelta(seconds=ttl_secs)), now_text, session_id))
    return session_id, user, token


async def refresh(db: Database, tokens: TokenService, refresh_token: str, *, session_ttl_secs: int,
                  on_revoked: Callable[[str], None] | None = None) -> LoginResult:
    """A new access and refresh token for a live session; ``on_revoked(session_id)`` is told when a
    rotated token came back and its session was revoked."""
    if len(refresh_token) > MAX_REFRESH_TOKEN_LENGTH:
        raise UnauthenticatedError(INVALID_REFRESH)
    token_hash = hash_refresh_token(refresh_token)
    now = clock.now()
    outcome = await db.write(lambda conn: _rotate(conn, token_hash, session_ttl_secs, now))
    if isinstance(outcome, str):
        log.warning("a rotated refresh token was presented again; its session is revoked")
        if on_revoked is not None:
            on_revoked(outcome.removeprefix("theft:"))
        raise UnauthenticatedError(INVALID_REFRESH)
    if not isinstance(outcome, tuple):
        raise UnauthenticatedError(INVALID_REFRESH)
    session_id, user, new_token = outcome
    issued_at = int(now.timestamp())
    jwt, exp = tokens.issue(user_id=user.id, email=user.email, role=user.role, session_id=session_id, now=issued_at)
    return LoginResult(jwt, new_token, exp - issued_at, user, session_id)


async def logout(db: Database, *, user_id: str, session_id: str | None, everywhere: bool = False) -> int:
    """Revoke the caller's session (or all of the user's sessions); the number revoked."""
    def unit(conn: sqlite3.Connection) -> int:
        if everywhere:
            return revoke_user_sessions(conn, user_id)
        return revoke_session(conn, session_id) if session_id else 0
    return await db.write(unit)
