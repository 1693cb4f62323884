"""Sessions and the login flow against a real data file (in-process runtime)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from atomo import Atomo
from atomo.auth.login import BAD_CREDENTIALS, LoginService, parse_credentials
from atomo.auth.sessions import create_session, now_iso, principal_for_session, revoke_session
from atomo.auth.tokens import TokenService
from atomo.auth.users import find_by_email
from atomo.errors import UnauthenticatedError, ValidationError

SECRET = "t" * 64


def service(app: Atomo, ttl: int = 3600) -> LoginService:
    assert app.runtime.db is not None
    return LoginService(app.runtime.db, TokenService(SECRET, ttl_secs=900), session_ttl_secs=ttl)


async def test_login_opens_a_session_and_issues_a_token(app: Atomo) -> None:
    user, _ = await app.users.create("Ada@Example.com", "lovelace-1", role="sales", first_name="Ada")
    result = await service(app).login("  ADA@example.COM ", "lovelace-1", ip_address="10.0.0.1", user_agent="pytest")
    body = result.body()
    assert set(body) == {"token", "refresh_token", "expires_in", "user"}
    assert body["expires_in"] == 900
    assert body["user"] == {"id": user.id, "email": "ada@example.com", "role": "sales", "first_name": "Ada",
                            "last_name": "", "tenant_id": None}
    claims = TokenService(SECRET).verify(result.token)
    assert claims.jti == result.session_id and claims.sub == user.id and claims.role == "sales"

    def row(conn: sqlite3.Connection) -> tuple:
        return conn.execute("SELECT user_id, refresh_token_hash, expires_at, revoked_at, ip_address, user_agent "
                            "FROM sessions WHERE id = ?", (result.session_id,)).fetchone()
    user_id, token_hash, expires_at, revoked_at, ip, agent = await app.runtime.db.read(row)
    assert user_id == user.id and revoked_at is None and (ip, agent) == ("10.0.0.1", "pytest")
    assert token_hash == hashlib.sha256(result.refresh_token.encode()).hexdigest()
    expires = datetime.fromisoformat(expires_at)
    assert abs((expires - datetime.now(UTC)) - timedelta(seconds=3600)) < timedelta(seconds=30)
    stored = await app.runtime.db.read(lambda c: find_by_email(c, "ada@example.com"))
    assert stored is not None and stored.last_login_at is not None


@pytest.mark.parametrize("email, password", [("ada@example.com", "wrong-pass-1"), ("nobody@example.com", "x1")])
async def test_bad_credentials(app: Atomo, email: str, password: str) -> None:
    await app.users.create("ada@example.com", "lovelace-1")
    with pytest.raises(UnauthenticatedError) as info:
        await service(app).login(email, password)
    assert info.value.message == BAD_CREDENTIALS


async def test_inactive_user_fails_like_a_wrong_password(app: Atomo) -> None:
    await app.users.create("ada@example.com", "lovelace-1")
    await app.users.deactivate("ada@example.com")
    with pytest.raises(UnauthenticatedError) as info:
        await service(app).login("ada@example.com", "lovelace-1")
    assert info.value.message == BAD_CREDENTIALS


async def test_login_upgrades_a_hash_with_other_parameters(app: Atomo) -> None:
    user, _ = await app.users.create("ada@example.com", "lovelace-1")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("lovelace-1")
    await app.runtime.db.write(lambda c: c.execute("UPDATE users SET password_hash = ? WHERE id = ?", (weak, user.id)))
    await service(app).login("ada@example.com", "lovelace-1")
    stored = await app.runtime.db.read(lambda c: find_by_email(c, "ada@example.com"))
    assert stored is not None and stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    await service(app).login("ada@example.com", "lovelace-1")


def test_parse_credentials() -> None:
    assert parse_credentials({"email": " A@B.io ", "password": "pw"}) == ("a@b.io", "pw")
    with pytest.raises(ValidationError) as info:
        parse_credentials({})
    assert [d["field"] for d in info.value.details] == ["email", "password"]
    with pytest.raises(ValidationError) as info:
        parse_credentials({"email": "a@b.io", "password": 5})
    assert info.value.details == [{"field": "password", "message": "password must be a string", "code": "type"}]
    with pytest.raises(ValidationError):
        parse_credentials(["a@b.io", "pw"])


async def test_session_lookup_checks_session_and_user(app: Atomo) -> None:
    db = app.runtime.db
    user, _ = await app.users.create("ada@example.com", "lovelace-1", role="Manager", tenant_id="acme")
    live = await db.write(lambda c: create_session(c, user_id=user.id, ttl_secs=3600))
    expired = await db.write(lambda c: create_session(c, user_id=user.id, ttl_secs=60,
                                                      now=datetime.now(UTC) - timedelta(seconds=120)))
    now = now_iso()
    principal = await db.read(lambda c: principal_for_session(c, live.id, user.id, now), inline=True)
    assert principal is not None
    assert (principal.user_id, principal.role, principal.tenant_binding, principal.session_id) == (
        user.id, "manager", "acme", live.id)
    assert await db.read(lambda c: principal_for_session(c, expired.id, user.id, now)) is None
    assert await db.read(lambda c: principal_for_session(c, live.id, "someone-else", now)) is None
    await db.write(lambda c: revoke_session(c, live.id))
    assert await db.read(lambda c: principal_for_session(c, live.id, user.id, now_iso())) is None
    other = await db.write(lambda c: create_session(c, user_id=user.id, ttl_secs=3600))
    assert await db.read(lambda c: principal_for_session(c, other.id, user.id, now_iso())) is not None
    await db.write(lambda c: c.execute("UPDATE users SET is_active = 0 WHERE id = ?", (user.id,)))
    assert await db.read(lambda c: principal_for_session(c, other.id, user.id, now_iso())) is None
