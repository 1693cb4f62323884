"""The event feed of one worker when another worker writes the same file, in one process: two ``Database``
objects on one data file taking turns on a real ``WriterLock``, two ``EventFeed`` objects told of each
other's commits over two real ``Bus`` clients of a real ``Relay``.

The case the cross-process bench found: a worker's own commits arrive with another worker's commit between
them (a hole in the local batch); the feed must not put them in its ring as if they were contiguous. Every
cursor, on either worker, sees every position once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atomo.cluster.bus import Bus
from atomo.cluster.relay import Relay
from atomo.cluster.writelock import WriterLock
from atomo.storage.database import Database
from atomo.storage.events import EVENTS_DDL, EventAppender, NewEvent, StoredEvent
from atomo.storage.feed import EventFeed

WRITES = 150          # per worker
SUBSCRIBERS = 2       # per worker
LOOPS = 4             # writing at once, per worker


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[list[tuple[Database, EventFeed]]]:
    short = Path(tempfile.mkdtemp(prefix="atomo-feed-"))       # a Unix socket path must be short
    relay = Relay(short / "relay.sock")
    await relay.start()
    data = tmp_path / "data.db"
    made: list[tuple[Database, EventFeed, Bus]] = []
    try:
        for index in range(2):
            db = Database(data, read_connections=2, writer_lock=WriterLock(short / "writer.lock"))
            await db.start()
            if index == 0:
                await db.write(create_events_table)
            bus = Bus(index, 2)
            await bus.connect(relay.path)
            feed = EventFeed(db, poll_ms=60_000, bus=bus)       # no poll: only the bus moves the feed on
            await feed.start()
            made.append((db, feed, bus))
        while len(relay.workers) < 2:
            await asyncio.sleep(0.01)
        yield [(db, feed) for db, feed, _ in made]
    finally:
        for db, feed, bus in made:
            await feed.close()
            await bus.close()
            await db.close()
        await relay.close()
        shutil.rmtree(short, ignore_errors=True)


def create_events_table(conn: sqlite3.Connection) -> None:
    statement = ""
    for line in EVENTS_DDL.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""


def append(index: int, n: int):
    appender = EventAppender()

    def unit(conn: sqlite3.Connection) -> list[StoredEvent]:
        return appender.append_many(conn, f"Item:w{index}-{n}", [NewEvent("created", {"n": n})], None,
                                    actor=None, tenant_id=None, origin=None, recorded_at="2026-12-06T00:00:00Z")
    return unit


async def collect(feed: EventFeed, seen: list[int]) -> None:
    async with feed.subscribe(after=0) as events:
        async for event in events:
            seen.append(event.position)


async def test_every_cursor_sees_every_position_once_in_order_whoever_wrote(
        workers: list[tuple[Database, EventFeed]]) -> None:
    rng = random.Random(7)

    async def writer(index: int, loop: int) -> None:
        db = workers[index][0]
        for n in range(WRITES):
            # concurrent writes group into one commit; between two commits the other worker commits
            burst = [db.write(append(index, (loop * WRITES + n) * 10 + k)) for k in range(rng.randint(1, 3))]
            await asyncio.gather(*burst)
            await asyncio.sleep(rng.random() / 2000)

    seen: list[list[int]] = [[] for _ in range(2 * SUBSCRIBERS)]
    readers = [asyncio.create_task(collect(workers[i // SUBSCRIBERS][1], seen[i]))
               for i in range(2 * SUBSCRIBERS)]
    await asyncio.gather(*(writer(i, loop) for i in range(2) for loop in range(LOOPS)))
    total = await workers[0][0].read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0])
    assert total >= 2 * LOOPS * WRITES
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            while any(len(s) < total for s in seen):
                await asyncio.sleep(0.02)
    for task in readers:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for positions in seen:
        missing = sorted(set(range(1, total + 1)) - set(positions))
        assert positions == list(range(1, total + 1)), f"a cursor skipped {missing[:10]} or repeated a position"


async def test_local_commits_with_another_workers_commit_between_them(
        workers: list[tuple[Database, EventFeed]]) -> None:
    """The same case made deterministic: worker 0's feed is busy (its lock held, as during a read of the log)
    while it commits, worker 1 commits, and it commits again; its two commits then reach the feed together."""
    (db0, feed0), (db1, _) = workers
    seen: list[int] = []
    reader = asyncio.create_task(collect(feed0, seen))
    await asyncio.sleep(0.05)
    async with feed0._lock:                              # noqa: SLF001 (the feed reading the log)
        await db0.write(append(0, 1))
        await db1.write(append(1, 1))
        await asyncio.sleep(0.05)                        # worker 1's feed.tail arrives meanwhile
        await db0.write(append(0, 2))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while len(seen) < 3:
                await asyncio.sleep(0.01)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    assert seen == [1, 2, 3], "position 2 (worker 1's) was skipped"
