"""Self-registration (auth chapter §5.5), mounted only with ATOMO_ENABLE_SELF_REGISTRATION.

The role comes from ``ATOMO_SELF_REGISTRATION_ROLE`` (never ``admin``; checked at boot) and the
tenant from ``ATOMO_SELF_REGISTRATION_TENANT``: ``none``/empty -> no tenant, ``per-user``/``self``
-> the new user's own id, anything else -> that fixed tenant. The new user is logged in at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import Any

from atomo import clock
from atomo.auth.login import LoginResult
from atomo.auth.passwords import check_policy, hash_password
from atomo.auth.scope import MAX_TENANT_LENGTH
from atomo.auth.sessions import Session, create_session, iso
from atomo.auth.tokens import TokenService
from atomo.auth.users import RESERVED_ROLES, ROLE, User, find_by_email, insert_user, new_id
from atomo.config import Settings
from atomo.errors import ConfigError, ConflictError, ValidationError
from atomo.storage.database import Database

MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100
PER_USER = "per-user"


@dataclass(frozen=True)
class RegistrationPolicy:
    role: str
    tenant: str | None              # None: no tenant; PER_USER: the user's id; else a fixed tenant
    min_length: int
    require_complexity: bool


def registration_policy(settings: Settings) -> RegistrationPolicy:
    """The policy from the settings; ConfigError (exit 3) for a refused role or tenant."""
    role = (settings.self_registration_role or "").strip().lower()
    if role == "admin":
        raise ConfigError("ATOMO_SELF_REGISTRATION_ROLE=admin is refused: self-registered users cannot be admins")
    if not ROLE.match(role) or role in RESERVED_ROLES:
        raise ConfigError(f"ATOMO_SELF_REGISTRATION_ROLE={settings.self_registration_role!r} is not a valid role "
                          "name (lower-case letters, digits, '_' or '-', starting with a letter, at most 32)")
    tenant_setting = (settings.self_registration_tenant or "").strip()
    tenant: str | None
    if tenant_setting.lower() in ("", "none"):
        tenant = None
    elif tenant_setting.lower() in (PER_USER, "self"):
        tenant = PER_USER
    elif len(tenant_setting) > MAX_TENANT_LENGTH:
        raise ConfigError(f"ATOMO_SELF_REGISTRATION_TENANT must be at most {MAX_TENANT_LENGTH} characters")
    else:
        tenant = tenant_setting
    return RegistrationPolicy(role, tenant, settings.password_min_length, settings.password_require_complexity)


def _problem(field: str, message: str, code: str) -> dict[str, str]:
    return {"field": field, "message": message, "code": code}


def parse_registration(body: Any, policy: RegistrationPolicy) -> tuple[str, str, str, str]:
    """(email, password, first name, last name); VALIDATION_ERROR listing every problem."""
    if not isinstance(body, dict):
        raise ValidationError.single(None, "body must be a JSON object with email and password", "type")
    problems: list[dict[str, str]] = []
    email = body.get("email")
    if email is None or (isinstance(email, str) and not email.strip()):
        problems.append(_problem("email", "email is required", "required"))
    elif not isinstance(email, str):
        problems.append(_problem("email", "email must be a string", "type"))
    else:
        email = email.strip().lower()
        if "@" not in email:
            problems.append(_problem("email", "email must be a valid email address", "email"))
        elif len(email) > MAX_EMAIL_LENGTH:
            problems.append(_problem("email", f"email must be at most {MAX_EMAIL_LENGTH} characters", "max_length"))
    password = body.get("password")
    if password is None or password == "":
        problems.append(_problem("password", "password is required", "required"))
    elif not isinstance(password, str):
        problems.append(_problem("password", "password must be a string", "type"))
    else:
        problems += password_problems(password, policy.min_length, policy.require_complexity)
    names = []
    for key in ("firstName", "lastName"):
        value = body.get(key, body.get("first_name" if key == "firstName" else "last_name"))
        if value is None:
            value = ""
        if not isinstance(value, str):
            problems.append(_problem(key, f"{key} must be a string", "type"))
        elif len(value.strip()) > MAX_NAME_LENGTH:
            problems.append(_problem(key, f"{key} must be at most {MAX_NAME_LENGTH} characters", "max_length"))
        names.append(value.strip() if isinstance(value, str) else "")
    if problems:
        raise ValidationError(details=problems)
    return str(email), str(password), names[0], names[1]


def password_problems(password: str, min_length: int, require_complexity: bool) -> list[dict[str, str]]:
    """The password policy of §4 as detail entries (codes min_length, max_length, complexity)."""
    try:
        check_policy(password, min_length=min_length, require_complexity=require_complexity)
    except ValidationError as exc:
        return list(exc.details or [])
    return []


async def register(db: Database, tokens: TokenService, policy: RegistrationPolicy, body: Any, *,
                   session_ttl_secs: int, ip_address: str | None = None, user_agent: str | None = None) -> LoginResult:
    email, password, first_name, last_name = parse_registration(body, policy)
    if await db.read(lambda conn: find_by_email(conn, email), inline=True) is not None:
        raise ConflictError("email already registered")
    pw_hash = await asyncio.to_thread(hash_password, password)
    now = clock.now()
    user_id = new_id()
    tenant = user_id if policy.tenant == PER_USER else policy.tenant

    def unit(conn: sqlite3.Connection) -> tuple[User, Session]:
        if find_by_email(conn, email) is not None:
            raise ConflictError("email already registered")
        user = insert_user(conn, email=email, password_hash=pw_hash, role=policy.role, tenant_id=tenant,
                           first_name=first_name, last_name=last_name, now=iso(now), user_id=user_id)
        session = create_session(conn, user_id=user.id, ttl_secs=session_ttl_secs, ip_address=ip_address,
                                 user_agent=user_agent, now=now)
        conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", (iso(now), user.id))
        return user, session

    user, session = await db.write(unit)
    issued_at = int(now.timestamp())
    token, exp = tokens.issue(user_id=user.id, email=user.email, role=user.role, session_id=session.id, now=issued_at)
    return LoginResult(token, session.refresh_token, exp - issued_at, user, session.id)
