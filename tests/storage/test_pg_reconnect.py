"""A PostgreSQL restart under a running ``PgDatabase`` (issue 21): the writer and the readers open their sessions
again by themselves; a read that meets a cut session is retried on a new one; nothing is written twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atomo.storage.pg_database import PgDatabase
from tests.conftest import own_postgres

pytest.importorskip("psycopg")


@pytest.fixture
def server() -> Iterator[object]:
    """A PostgreSQL of its own: restarting the test run's shared one would cut every other test's sessions."""
    with own_postgres() as pg:
        yield pg


def insert(n: int):  # noqa: ANN201
    return lambda conn: conn.execute("INSERT INTO t (n) VALUES (?)", (n,))


async def test_reads_and_writes_go_on_after_a_database_restart(server) -> None:  # noqa: ANN001
    db = PgDatabase(server.url, read_connections=2)
    await db.start()
    try:
        await db.write(lambda conn: conn.execute("CREATE TABLE t (n bigint PRIMARY KEY)"), exclusive=True)
        await db.write(insert(1))
        server.restart()                                   # every session is cut while idle
        # reads on their own are retried on a new session: no error reaches the caller
        for _ in range(4):
            assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0], one_statement=True) == 1
        # a write transaction begins on a new session
        await db.write(insert(2))
        # and a read transaction too
        assert await db.read(lambda c: [r[0] for r in c.execute("SELECT n FROM t ORDER BY n")]) == [1, 2]
        server.restart(down_secs=0.5)
        await db.write(insert(3))
        assert await db.read(lambda c: [r[0] for r in c.execute("SELECT n FROM t ORDER BY n")]) == [1, 2, 3]
    finally:
        await db.close()


async def test_the_bus_and_the_shared_limits_connect_again(server) -> None:  # noqa: ANN001
    import asyncio

    from atomo.cluster.pg_bus import PgBus
    from atomo.http.pg_limits import PgLimits
    from atomo.storage.pg_database import connect
    from atomo.storage.platform import RATE_TABLE_DDL
    setup = connect(server.url)
    setup.execute(RATE_TABLE_DDL)
    setup.close()
    a, b = PgBus(server.url, "atomo_reconnect"), PgBus(server.url, "atomo_reconnect")
    limits = PgLimits(server.url)
    got: list[object] = []
    b.on("ping", lambda payload, _sender: got.append(payload))
    for part in (a, b, limits):
        await part.start()
    await limits.close_task()
    buckets = limits.buckets("requests", 5, 60)
    try:
        server.restart(down_secs=0.3)
        buckets.take("k")
        await limits.sync()                                # its session is opened again
        assert limits._conn is not None and not limits._conn.broken   # noqa: SLF001
        for attempt in range(100):                         # the listener backs off, then listens again
            a.send("ping", attempt)
            await asyncio.sleep(0.1)
            if got:
                break
        assert got, "no frame crossed after the restart"
    finally:
        for part in (a, b, limits):
            await part.close()
