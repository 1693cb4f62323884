"""The login flow (auth chapter §4, §5.1): verify, open a session, issue the JWT.

Unknown emails still cost one argon2 verification (against the fixed dummy hash) and inactive users
fail exactly like a wrong password, so neither timing nor answer reveals which emails exist. A
stored hash with other parameters is replaced by a fresh argon2id hash on success.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Any

from atomo import clock
from atomo.auth.passwords import hash_password, needs_rehash, verify_password
from atomo.auth.sessions import Session, create_session, iso
from atomo.auth.tokens import TokenService
from atomo.auth.users import User, find_by_email
from atomo.errors import UnauthenticatedError, ValidationError
from atomo.storage.database import Database

BAD_CREDENTIALS = "invalid email or password"
MAX_EMAIL_LENGTH = 254     # RFC 5321 path limit; longer is refused before any lookup, limiter key or hash


@dataclass(frozen=True)
class LoginResult:
    token: str
    refresh_token: str
    expires_in: int
    user: User
    session_id: str

    def body(self) -> dict[str, Any]:
        user = self.user.public()
        user["role"] = str(user["role"]).lower()
        return {"token": self.token, "refresh_token": self.refresh_token, "expires_in": self.expires_in,
                "user": user}


def parse_credentials(body: Any) -> tuple[str, str]:
    """``{"email", "password"}`` -> (normalised email, password); VALIDATION_ERROR listing what is missing,
    not a string, or an email longer than ``MAX_EMAIL_LENGTH`` characters (``max_length``)."""
    if not isinstance(body, dict):
        raise ValidationError.single(None, "body must be a JSON object with email and password", "type")
    problems = []
    values: list[str] = []
    for name in ("email", "password"):
        value = body.get(name)
        if value is None or value == "":
            problems.append({"field": name, "message": f"{name} is required", "code": "required"})
        elif not isinstance(value, str):
            problems.append({"field": name, "message": f"{name} must be a string", "code": "type"})
        elif name == "email" and len(value) > MAX_EMAIL_LENGTH and len(value.strip()) > MAX_EMAIL_LENGTH:
            problems.append({"field": name, "message": f"email must be at most {MAX_EMAIL_LENGTH} characters",
                             "code": "max_length"})
        else:
            values.append(value)
    if problems:
        raise ValidationError(details=problems)
    return values[0].strip().lower(), values[1]


class LoginService:
    def __init__(self, db: Database, tokens: TokenService, *, session_ttl_secs: int) -> None:
        self.db = db
        self.tokens = tokens
        self.session_ttl_secs = session_ttl_secs

    async def login(self, email: str, password: str, *, ip_address: str | None = None,
                    user_agent: str | None = None) -> LoginResult:
        email = email.strip().lower()
        user = await self.db.read(lambda conn: find_by_email(conn, email), inline=True) if email else None
        stored = user.password_hash if user is not None else None
        ok = await asyncio.to_thread(verify_password, stored, password)
        if not ok or user is None or not user.is_active:
            raise UnauthenticatedError(BAD_CREDENTIALS)
        new_hash = await asyncio.to_thread(hash_password, password) if needs_rehash(user.password_hash) else None
        now = clock.now()

        def unit(conn: sqlite3.Connection) -> Session:
            active = conn.execute("SELECT is_active FROM users WHERE id = ?", (user.id,)).fetchone()
            if active is None or not active[0]:
                raise UnauthenticatedError(BAD_CREDENTIALS)
            session = create_session(conn, user_id=user.id, ttl_secs=self.session_ttl_secs, ip_address=ip_address,
                                     user_agent=user_agent, now=now)
            if new_hash is not None:
                conn.execute("UPDATE users SET last_login_at = ?, password_hash = ? WHERE id = ?",
                             (iso(now), new_hash, user.id))
            else:
                conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", (iso(now), user.id))
            return session

        session = await self.db.write(unit)
        token, exp = self.tokens.issue(user_id=user.id, email=user.email, role=user.role, session_id=session.id,
                                       now=int(now.timestamp()))
        return LoginResult(token, session.refresh_token, exp - int(now.timestamp()), user, session.id)
