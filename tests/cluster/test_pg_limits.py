"""Rate limits shared through PostgreSQL (issue 21, ``atomo.http.pg_limits``): two instances' buckets of one key
drain one global bucket, and each round reads back what the others took of the keys used lately; a refill (reset)
travels too; between rounds, each decides alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from atomo.http.pg_limits import PgLimits
from atomo.storage.pg_database import connect
from atomo.storage.platform import RATE_TABLE_DDL

pytest.importorskip("psycopg")


@pytest.fixture
async def pair(postgres_url: str) -> AsyncIterator[tuple[PgLimits, PgLimits]]:
    conn = connect(postgres_url)
    conn.execute(RATE_TABLE_DDL)
    conn.close()
    a, b = PgLimits(postgres_url), PgLimits(postgres_url)
    for limits in (a, b):
        await limits.start()
        await limits.close_task()            # rounds by hand here: the test decides when they happen
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def allowed(buckets, key: object, n: int) -> int:  # noqa: ANN001
    return sum(1 for _ in range(n) if buckets.take(key) == 0.0)


async def test_two_instances_drain_one_bucket(pair: tuple[PgLimits, PgLimits]) -> None:
    a, b = pair
    on_a, on_b = a.buckets("requests", 10, 60), b.buckets("requests", 10, 60)
    assert allowed(on_a, "1.2.3.4", 6) == 6
    await a.sync()
    assert allowed(on_b, "1.2.3.4", 1) == 1         # B has not heard yet: it decides alone
    await b.sync()                                   # ... and now knows the 7 taken in all
    assert allowed(on_b, "1.2.3.4", 10) == 3
    await b.sync()
    await a.sync()
    assert allowed(on_a, "1.2.3.4", 5) == 0 or allowed(on_a, "1.2.3.4", 1) == 0
    await a.sync()
    await b.sync()
    assert on_b.wait("1.2.3.4") > 0 and allowed(on_b, "other-key", 3) == 3      # keys are apart

    on_a.reset("1.2.3.4")                            # a refill travels
    await a.sync()
    assert allowed(on_a, "1.2.3.4", 1) == 1
    await a.sync()
    assert on_b.take("1.2.3.4") > 0                  # refused here: B has not heard of the refill yet
    await b.sync()                                   # its round reads back the keys it used lately
    assert on_b.tokens("1.2.3.4") == pytest.approx(9, abs=0.01)    # 10, less A's one
    assert allowed(on_b, "1.2.3.4", 1) == 1


async def test_login_buckets_are_shared_too(pair: tuple[PgLimits, PgLimits]) -> None:
    from atomo.config import load_settings
    from atomo.errors import RateLimitedError
    from atomo.http.ratelimit import LoginLimiter
    a, b = pair
    settings = load_settings({"LOGIN_RATE_LIMIT_IP_ATTEMPTS": "3", "LOGIN_RATE_LIMIT_ATTEMPTS": "100",
                              "LOGIN_RATE_LIMIT_ACCOUNT_ATTEMPTS": "100"})
    on_a = LoginLimiter.from_settings(settings, buckets=a.buckets)
    on_b = LoginLimiter.from_settings(settings, buckets=b.buckets)
    on_a.acquire("9.9.9.9", "x@example.com")
    on_a.acquire("9.9.9.9", "y@example.com")
    await a.sync()
    await b.sync()
    on_b.acquire("9.9.9.9", "z@example.com")        # the third of three, on the other instance, which decides
    await b.sync()                                   # alone until its round on the key: then it knows of all 3
    with pytest.raises(RateLimitedError):
        on_b.acquire("9.9.9.9", "w@example.com")
    await b.sync()
    await a.sync()                                   # A's round reads back what B took of its keys
    with pytest.raises(RateLimitedError):
        on_a.acquire("9.9.9.9", "v@example.com")
