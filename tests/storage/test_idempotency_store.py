"""The rows of `Idempotency-Key` (atomo.storage.idempotency): a key taken in a write transaction, its answer
kept, expiry after the TTL, and a key used again after it expired (before the prune removed its row) taken over
by the new request, so the new request's retry is a replay and not a second write."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomo.clock import CLOCK
from atomo.storage.database import Database
from atomo.storage.idempotency import IdempotencyClaim, IdempotencyStore, claim_in_transaction
from atomo.storage.platform import create_platform_tables


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgres":            # the same rows on PostgreSQL (issue 21)
        from atomo.storage.pg_database import PgDatabase
        db: Database = PgDatabase(request.getfixturevalue("postgres_url"), read_connections=1)
    else:
        db = Database(tmp_path / "i.db", read_connections=1)
    await db.start()
    await db.write(create_platform_tables, exclusive=True)
    yield IdempotencyStore(db, ttl_seconds=3600)
    await db.close()


def claim(store: IdempotencyStore, fingerprint: str) -> IdempotencyClaim:
    return IdempotencyClaim("user-1\x1f", "key-1", fingerprint, store.horizon())


async def apply(store: IdempotencyStore, c: IdempotencyClaim, position: int, answer: bytes) -> None:
    """What a keyed request does: its write units take the key (twice: two events), then its answer is kept."""
    await store.db.write(lambda conn: [claim_in_transaction(conn, c, p) for p in (position, position + 1)])
    await store.complete(c, 200, answer)


async def test_a_key_keeps_its_answer_until_it_expires_then_a_new_request_takes_it_over(store) -> None:
    with CLOCK.frozen(at="2026-06-08T10:00:00Z") as clock:
        first = claim(store, "request-a")
        assert await store.find(first) is None
        await apply(store, first, 10, b"answer-a")
        row = await store.find(first)
        assert row is not None and (row.fingerprint, row.first_position, row.response) == ("request-a", 10, b"answer-a")
        clock.advance(3601)                                   # expired, and not pruned yet (no answer stored since)
        second = claim(store, "request-b")
        assert await store.find(second) is None               # an expired row is not an answer
        await apply(store, second, 20, b"answer-b")
        row = await store.find(second)                        # the retry of the new request finds its own answer
        assert row is not None and (row.fingerprint, row.first_position, row.response) == ("request-b", 20, b"answer-b")


async def test_a_live_key_is_not_taken_over(store) -> None:
    with CLOCK.frozen(at="2026-06-08T10:00:00Z") as clock:
        first = claim(store, "request-a")
        await apply(store, first, 10, b"answer-a")
        clock.advance(60)
        await store.db.write(lambda conn: claim_in_transaction(conn, claim(store, "request-b"), 30))
        row = await store.find(first)
        assert row is not None and (row.fingerprint, row.response) == ("request-a", b"answer-a")
