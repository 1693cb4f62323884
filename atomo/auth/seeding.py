"""Admin seeding at every boot (auth chapter §6).

- No user with ``ADMIN_EMAIL``: create an active ``admin`` named Admin User without tenant, with
  ``ADMIN_PASSWORD`` (production: it must satisfy the password policy) or, in development, with a
  generated 20-character password that is returned so the banner can show it once. In production
  without ``ADMIN_PASSWORD`` nothing is seeded.
- The user exists: ``ADMIN_RESET_PASSWORD`` with ``ADMIN_PASSWORD`` replaces the password,
  re-activates the account and revokes its sessions; otherwise a non-matching ``ADMIN_PASSWORD``
  only logs a warning. The role of an existing user is never changed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass

from atomo.auth.passwords import check_policy, generate_password, hash_password, verify_password
from atomo.auth.sessions import now_iso, revoke_user_sessions
from atomo.auth.users import find_by_email, insert_user, normalize_email
from atomo.config import Settings
from atomo.errors import ConfigError, ValidationError
from atomo.storage.database import Database

log = logging.getLogger("atomo.auth")


@dataclass(frozen=True)
class AdminSeed:
    email: str | None
    created: bool = False
    generated_password: str | None = None
    reset: bool = False


def _policy(settings: Settings, password: str) -> None:
    if not settings.production:
        return
    try:
        check_policy(password, min_length=settings.password_min_length,
                     require_complexity=settings.password_require_complexity, field="ADMIN_PASSWORD")
    except ValidationError as exc:
        raise ConfigError(f"ADMIN_PASSWORD does not satisfy the password policy: {exc.message}") from None


async def seed_admin(db: Database, settings: Settings) -> AdminSeed:
    """Run the seeding rules; ``generated_password`` is set only when one was generated just now."""
    if not settings.admin_email:
        if settings.production:
            await _warn_without_admin(db)
        return AdminSeed(None)
    try:
        email = normalize_email(settings.admin_email)
    except ValidationError:
        raise ConfigError(f"ADMIN_EMAIL={settings.admin_email!r} is not a valid email address") from None
    password = settings.admin_password or None
    existing = await db.read(lambda conn: find_by_email(conn, email))
    if existing is None:
        generated = None
        if password is None:
            if settings.production:
                await _warn_without_admin(db)
                return AdminSeed(email)
            password = generated = generate_password()
        _policy(settings, password)
        pw_hash = await asyncio.to_thread(hash_password, password)
        now = now_iso()
        await db.write(lambda conn: insert_user(conn, email=email, password_hash=pw_hash, role="admin",
                                                tenant_id=None, first_name="Admin", last_name="User", now=now))
        log.info("seeded admin %s", email)
        return AdminSeed(email, created=True, generated_password=generated)
    if password is None:
        return AdminSeed(email)
    if settings.admin_reset_password:
        _policy(settings, password)
        pw_hash = await asyncio.to_thread(hash_password, password)
        now = now_iso()

        def reset(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE users SET password_hash = ?, is_active = 1, updated_at = ? WHERE id = ?",
                         (pw_hash, now, existing.id))
            revoke_user_sessions(conn, existing.id, now=now)
        await db.write(reset)
        log.warning("ADMIN_RESET_PASSWORD: password of %s replaced and its sessions revoked", email)
        return AdminSeed(email, reset=True)
    if not await asyncio.to_thread(verify_password, existing.password_hash, password):
        log.warning("ADMIN_PASSWORD does not match the existing admin %s; set ADMIN_RESET_PASSWORD=true to "
                    "replace it", email)
    return AdminSeed(email)


async def _warn_without_admin(db: Database) -> None:
    def count(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM users WHERE role = 'admin' AND is_active = 1").fetchone()[0])
    if await db.read(count) == 0:
        log.warning("no active admin: set ADMIN_EMAIL and ADMIN_PASSWORD, or run "
                    "`atomo users create --email EMAIL --role admin`")
