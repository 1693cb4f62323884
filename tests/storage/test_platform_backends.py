"""The platform tables on both backends (issue 21): SQLite's file and PostgreSQL (``PgDatabase``). Users
(create, find, search, change, deactivate), sessions and the principal they give, and the auth epoch that
every role/tenant/activity/email change and every revoked or deleted session raises, by triggers, whoever
writes; the migrations ledger and idempotency rows use the same tables."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atomo.auth.sessions import create_session, principal_for_session, revoke_session
from atomo.auth.users import Users
from atomo.storage.database import Database
from atomo.storage.platform import auth_epoch, create_platform_tables

FAR_FUTURE = "2999-01-01T00:00:00.000000+00:00"


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgres":
        from atomo.storage.pg_database import PgDatabase
        database: Database = PgDatabase(request.getfixturevalue("postgres_url"), read_connections=2)
    else:
        database = Database(tmp_path / "p.db", read_connections=2)
    await database.start()
    await database.write(lambda c: create_platform_tables(c, {"nickname": "TEXT", "score": "REAL"}), exclusive=True)
    await database.write(create_platform_tables, exclusive=True)           # idempotent
    yield database
    await database.close()


async def test_users_sessions_and_the_auth_epoch(db: Database) -> None:
    users = Users(db, min_length=8)
    ada, _ = await users.create("Ada@Example.com", "correct-horse-9", role="editor", first_name="Ada")
    bob, generated = await users.create("bob@example.com", role="viewer", tenant_id="acme")
    assert generated is not None
    assert (await users.get("ada@example.com")).id == ada.id            # type: ignore[union-attr]
    page, total = await users.page(limit=10, offset=0, query="example")
    assert total == 2 and {u.email for u in page} == {"ada@example.com", "bob@example.com"}
    scoped, total = await users.page(limit=10, offset=0, query="", tenant_scope=(True, "acme"))
    assert [u.email for u in scoped] == ["bob@example.com"] and total == 1
    untenanted, _ = await users.page(limit=10, offset=0, tenant_scope=(True, None))
    assert [u.email for u in untenanted] == ["ada@example.com"]

    epoch = await db.read(auth_epoch)
    session = await db.write(lambda c: create_session(c, user_id=ada.id, ttl_secs=3600))
    principal = await db.read(lambda c: principal_for_session(c, session.id, ada.id, "2000-01-01"))
    assert principal is not None and (principal.email, principal.role) == ("ada@example.com", "editor")
    assert await db.read(auth_epoch) == epoch, "a new session changes no principal"

    second_session = await db.write(lambda c: create_session(c, user_id=bob.id, ttl_secs=3600))
    epoch = await db.read(auth_epoch)
    changed = await users.change(ada.id, role="admin")                  # also revokes her sessions
    assert changed.role == "admin"
    assert await db.read(auth_epoch) > epoch
    assert await db.read(lambda c: principal_for_session(c, session.id, ada.id, "2000-01-01")) is None

    for change in (lambda: db.write(lambda c: revoke_session(c, second_session.id)),
                   lambda: users.deactivate("bob@example.com"),
                   lambda: db.write(lambda c: c.execute("DELETE FROM sessions"))):
        epoch = await db.read(auth_epoch)
        await change()
        assert await db.read(auth_epoch) > epoch, "every change of who may do what raises the epoch"
    assert (await users.get(bob.id)).is_active is False                 # type: ignore[union-attr]

async def test_the_schema_s_user_columns_and_the_ledgers(db: Database) -> None:
    await db.write(lambda c: c.execute("INSERT INTO users (id, email, password_hash, created_at, updated_at,"
                                       " nickname, score) VALUES ('u1', 'x@y.z', 'h', 't', 't', 'Zed', 2.5)"))
    row = await db.read(lambda c: c.execute("SELECT nickname, score, role, is_active FROM users").fetchone())
    assert tuple(row) == ("Zed", 2.5, "viewer", 1)
    await db.write(lambda c: c.execute("INSERT INTO _atomo_migrations (name, checksum, applied_at, duration_ms)"
                                       " VALUES ('0001_init.sql', 'abc', 't', 3)"))
    await db.write(lambda c: c.execute("INSERT INTO _atomo_idempotency (scope, key, fingerprint, first_position,"
                                       " status, response, created_at) VALUES ('s', 'k', 'f', 1, 200, ?, 't')",
                                       (b"\x00answer",)))
    assert await db.read(lambda c: bytes(c.execute("SELECT response FROM _atomo_idempotency").fetchone()[0])) == \
        b"\x00answer"
