"""Admin seeding at boot (auth chapter §6)."""

from __future__ import annotations

import pytest

from atomo import Atomo
from atomo.auth.passwords import verify_password
from atomo.auth.seeding import seed_admin
from atomo.auth.sessions import create_session
from atomo.auth.users import find_by_email
from atomo.config import load_settings
from atomo.errors import ConfigError


async def admin(app: Atomo, email: str = "admin@example.com"):  # noqa: ANN201
    return await app.runtime.db.read(lambda c: find_by_email(c, email))


async def test_development_generates_a_password_once(app: Atomo) -> None:
    seeded = await seed_admin(app.runtime.db, load_settings({}))
    assert seeded.created and seeded.email == "admin@example.com"
    password = seeded.generated_password
    assert password is not None and len(password) == 20 and password.isalnum()
    user = await admin(app)
    assert (user.role, user.first_name, user.last_name, user.tenant_id, user.is_active) == (
        "admin", "Admin", "User", None, True)
    assert verify_password(user.password_hash, password)
    again = await seed_admin(app.runtime.db, load_settings({}))
    assert not again.created and again.generated_password is None


async def test_admin_password_is_used_without_policy_in_development(app: Atomo) -> None:
    seeded = await seed_admin(app.runtime.db, load_settings({"ADMIN_PASSWORD": "short",
                                                              "ADMIN_EMAIL": " Boss@Example.com"}))
    assert seeded.created and seeded.generated_password is None
    assert verify_password((await admin(app, "boss@example.com")).password_hash, "short")


async def test_production_rules(app: Atomo) -> None:
    prod = {"ATOMO_ENV": "production", "JWT_SECRET": "x" * 40}
    assert not (await seed_admin(app.runtime.db, load_settings(prod))).created
    assert not (await seed_admin(app.runtime.db, load_settings({**prod, "ADMIN_EMAIL": "a@b.io"}))).created
    assert await admin(app, "a@b.io") is None
    with pytest.raises(ConfigError) as info:
        await seed_admin(app.runtime.db, load_settings({**prod, "ADMIN_EMAIL": "a@b.io", "ADMIN_PASSWORD": "weak"}))
    assert "ADMIN_PASSWORD" in info.value.message
    seeded = await seed_admin(app.runtime.db, load_settings({**prod, "ADMIN_EMAIL": "a@b.io",
                                                              "ADMIN_PASSWORD": "strong-pass-1"}))
    assert seeded.created


async def test_reset_replaces_password_reactivates_and_revokes(app: Atomo) -> None:
    db = app.runtime.db
    await seed_admin(db, load_settings({"ADMIN_PASSWORD": "first-pass-1"}))
    user = await admin(app)
    await app.users.update(user.id, role="manager")
    await app.users.deactivate(user.id)
    session = await db.write(lambda c: create_session(c, user_id=user.id, ttl_secs=3600))
    unchanged = await seed_admin(db, load_settings({"ADMIN_PASSWORD": "second-pass-2"}))
    assert not unchanged.reset
    assert verify_password((await admin(app)).password_hash, "first-pass-1")
    reset = await seed_admin(db, load_settings({"ADMIN_PASSWORD": "second-pass-2", "ADMIN_RESET_PASSWORD": "true"}))
    assert reset.reset
    after = await admin(app)
    assert verify_password(after.password_hash, "second-pass-2")
    assert after.is_active and after.role == "manager"
    revoked = await db.read(lambda c: c.execute("SELECT revoked_at FROM sessions WHERE id = ?",
                                                (session.id,)).fetchone()[0])
    assert revoked is not None
