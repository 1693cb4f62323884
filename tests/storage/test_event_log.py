"""The event log over the ``Database`` API on both backends (issue 21): SQLite's file and PostgreSQL
(``PgDatabase`` on a real server). Appends and reads, optimistic concurrency, append-only rows, a failed
unit's position given back, the feed's cursors, and two instances on one store whose cursors see every
position of both, in order."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from atomo.errors import ConflictError, StorageError, ValidationError
from atomo.storage.database import Database
from atomo.storage.events import (
    EVENTS_DDL,
    EventAppender,
    NewEvent,
    StoredEvent,
    last_position,
    read_all,
    read_stream,
    stream_version,
)
from atomo.storage.feed import EventFeed

APPENDER = EventAppender()
Opener = Callable[[], Database]


def sqlite_statements() -> list[str]:
    statements, statement = [], ""
    for line in EVENTS_DDL.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            statements.append(statement)
            statement = ""
    return statements


@pytest.fixture(params=["sqlite", "postgres"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Makes ``Database`` objects on one store with the event log (each one an "instance")."""
    if request.param == "postgres":
        from atomo.storage.pg_database import PgDatabase
        from atomo.storage.pg_log import events_ddl
        url = request.getfixturevalue("postgres_url")
        make: Opener = lambda: PgDatabase(url, read_connections=2)      # noqa: E731
        ddl = events_ddl()
    else:
        make = lambda: Database(tmp_path / "events.db", read_connections=2)   # noqa: E731
        ddl = sqlite_statements()
    first = make()
    await first.start()

    def create(conn: Any) -> None:
        for statement in ddl:
            conn.execute(statement)
    await first.write(create, exclusive=True)
    await first.close()
    yield make


@pytest.fixture
async def db(opener: Opener) -> AsyncIterator[Database]:
    database = opener()
    await database.start()
    yield database
    await database.close()


def append(stream: str, *types: str, expected: int | None = None, data: Any = None):  # noqa: ANN201
    def unit(conn: Any) -> list[StoredEvent]:
        return APPENDER.append_many(conn, stream, [NewEvent(t, data if data is not None else {"t": t}) for t in types],
                                    expected, actor="u1", tenant_id=None, origin="test",
                                    recorded_at="2026-12-06T00:00:00.000Z")
    return unit


async def test_appended_events_read_back_in_order_with_their_data(db: Database) -> None:
    one = await db.write(append("Deal/1", "created", "updated"))
    two = await db.write(append("Deal/2", "created", data={"name": "ünï ✓", "n": 1.5, "tags": ["a", None]}))
    assert [e.position for e in one + two] == [1, 2, 3]
    assert [(e.stream, e.stream_version, e.type) for e in await db.read(lambda c: read_all(c))] == [
        ("Deal/1", 1, "created"), ("Deal/1", 2, "updated"), ("Deal/2", 1, "created")]
    again, = await db.read(lambda c: read_stream(c, "Deal/2"))
    assert again.data == {"name": "ünï ✓", "n": 1.5, "tags": ["a", None]}
    assert (again.model, again.record_id, again.actor, again.origin) == ("Deal", "2", "u1", "test")
    assert await db.read(last_position) == 3
    assert await db.read(lambda c: stream_version(c, "Deal/1")) == 2
    assert [e.position for e in await db.read(lambda c: read_all(c, after=1, model="Deal", limit=1))] == [2]


async def test_an_expected_version_that_moved_is_a_conflict(db: Database) -> None:
    await db.write(append("Deal/1", "created"))
    with pytest.raises(ConflictError):
        await db.write(append("Deal/1", "updated", expected=0))
    assert [e.stream_version for e in await db.write(append("Deal/1", "updated", expected=1))] == [2]


async def test_events_are_append_only(db: Database) -> None:
    await db.write(append("Deal/1", "created"))
    for sql in ("UPDATE events SET type = 'x'", "DELETE FROM events"):
        with pytest.raises(StorageError):
            await db.write(lambda c, sql=sql: c.execute(sql))
    assert len(await db.read(lambda c: read_all(c))) == 1


async def test_a_failed_unit_in_a_batch_gives_its_position_back(db: Database) -> None:
    def fails(conn: Any) -> None:
        append("Deal/bad", "created")(conn)
        raise ValidationError.single("x", "x is wrong", "custom")
    results = await asyncio.gather(db.write(append("Deal/1", "created")), db.write(fails),
                                   db.write(append("Deal/2", "created")), return_exceptions=True)
    assert isinstance(results[1], ValidationError)
    assert [e.position for e in await db.read(lambda c: read_all(c))] == [1, 2]


async def collect(feed: EventFeed, seen: list[int]) -> None:
    async with feed.subscribe(after=0) as events:
        async for event in events:
            seen.append(event.position)


async def wait_for(seen: list[list[int]], total: int, timeout: float = 15.0) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while any(len(s) < total for s in seen):
                await asyncio.sleep(0.02)


async def test_two_instances_on_one_store_each_see_every_position_in_order(opener: Opener) -> None:
    """Each instance's feed gets its own commits at once and the other's from its poll of the log (PostgreSQL's
    NOTIFY fan-out comes later): every cursor sees 1..N, whoever wrote."""
    instances = [opener(), opener()]
    feeds = []
    for database in instances:
        await database.start()
        feed = EventFeed(database, poll_ms=50)
        await feed.start()
        feeds.append(feed)
    seen: list[list[int]] = [[], [], [], []]
    readers = [asyncio.create_task(collect(feeds[i // 2], seen[i])) for i in range(4)]
    try:
        async def writer(index: int, loop: int) -> None:
            for n in range(25):
                await asyncio.gather(*(instances[index].write(append(f"Deal/{index}-{loop}-{n}-{k}", "created"))
                                       for k in range(2)))
        await asyncio.gather(*(writer(i, loop) for i in range(2) for loop in range(3)))
        total = await instances[0].read(last_position)
        assert total == 2 * 3 * 25 * 2
        await wait_for(seen, total)
        for positions in seen:
            assert positions == list(range(1, total + 1)), "a cursor skipped or repeated a position"
    finally:
        for task in readers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for feed, database in zip(feeds, instances, strict=True):
            await feed.close()
            await database.close()


async def test_on_postgres_instances_follow_each_other_by_notification(opener: Opener,
                                                                      request: pytest.FixtureRequest) -> None:
    """PostgreSQL: with the poll out of the way (an hour), only the other instance's NOTIFY (``PgBus``) moves
    a feed on; a cursor there still sees every position, in order, soon after each commit."""
    if request.node.callspec.params["opener"] != "postgres":
        pytest.skip("NOTIFY is PostgreSQL's")
    from atomo.cluster.pg_bus import PgBus
    instances = [opener(), opener()]
    url = instances[0].url                                       # type: ignore[attr-defined]
    buses = [PgBus(url, "atomo_test_bus"), PgBus(url, "atomo_test_bus")]
    feeds = []
    for database, bus in zip(instances, buses, strict=True):
        await database.start()
        await bus.start()
        feed = EventFeed(database, poll_ms=3_600_000, bus=bus)
        await feed.start()
        feeds.append(feed)
    seen: list[list[int]] = [[], []]
    readers = [asyncio.create_task(collect(feeds[i], seen[i])) for i in range(2)]
    try:
        await asyncio.sleep(0.3)                                 # both cursors wait: each instance wants feed.tail
        lag = []
        for n in range(40):
            writer = n % 2
            event, = await instances[writer].write(append(f"Deal/{n}", "created"))
            sent = asyncio.get_running_loop().time()
            other = seen[1 - writer]
            async with asyncio.timeout(5):
                while event.position not in other:
                    await asyncio.sleep(0.001)
            lag.append(asyncio.get_running_loop().time() - sent)
        await wait_for(seen, 40)
        print(f"delivery to the other instance: median {1000 * sorted(lag)[20]:.2f} ms, max {1000 * max(lag):.2f} ms")
        assert seen == [list(range(1, 41))] * 2
        assert sorted(lag)[len(lag) // 2] < 0.5, f"median delivery to the other instance {sorted(lag)[20]:.3f} s"
    finally:
        for task in readers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for feed, bus, database in zip(feeds, buses, instances, strict=True):
            await feed.close()
            await bus.close()
            await database.close()
