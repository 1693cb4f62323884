"""In-memory data (``:memory:``) and snapshot/reset, through the library (``Atomo``) and the ``Database``.

``:memory:`` is a private file on tmpfs (folder 0700, file 0600) removed on close; ``snapshot()`` /
``reset()`` bring back records, events and the log position, users, sessions and jobs; subscriptions open at
the reset end; readers see the restored data at once.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atomo import Atomo
from atomo.auth.sessions import create_session
from atomo.config import load_settings
from atomo.errors import ConfigError, UnauthenticatedError, UsageError
from atomo.jobs.store import NewJob
from atomo.storage.database import Database
from atomo.storage.events import NewEvent
from atomo.storage.files import memory_root
from tests.conftest import settings

SAMPLE_CONTACTS = 6      # the bundled sample's seed


@pytest.fixture
async def mem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Atomo]:
    """The bundled sample (seeded at boot) on in-memory data, run from an empty folder."""
    monkeypatch.chdir(tmp_path)
    async with Atomo(data_file=":memory:", settings=settings()) as app:
        yield app


async def contacts(app: Atomo) -> int:
    return await app.count("Contact")


# -- :memory: --------------------------------------------------------------------------------------
async def test_memory_data_is_a_private_tmpfs_file_removed_on_close(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = Atomo(data_file=":memory:", settings=settings())
    await app.start()
    try:
        path = app.runtime.db.path
        assert path.parent.parent == memory_root()
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert await contacts(app) == SAMPLE_CONTACTS               # a new file: the sample is seeded
        assert await app.runtime.db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert app.tokens.verify(app.tokens.issue(user_id="u", email="e@x.io", role="admin", session_id="s")[0])
    finally:
        await app.close()
    assert not path.parent.exists()
    assert list(tmp_path.iterdir()) == [], "nothing in the working folder (no .atomo/, no jwt_secret)"


@pytest.mark.parametrize("env", [{"ATOMO_DATA_FILE": ":memory:"}, {"DATABASE_URL": "sqlite::memory:"},
                                 {"DATABASE_URL": "sqlite:///:memory:"},
                                 {"ATOMO_DATA_FILE": ":memory:", "DATABASE_URL": "sqlite::memory:"}])
def test_memory_is_accepted_from_every_setting(env: dict[str, str], tmp_path: Path) -> None:
    assert str(load_settings(env).resolved_data_file(tmp_path)) == ":memory:"


def test_memory_and_a_file_at_once_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="name different files"):
        load_settings({"ATOMO_DATA_FILE": ":memory:", "DATABASE_URL": "sqlite:///x.db"}).resolved_data_file(tmp_path)
    with pytest.raises(ConfigError, match="names no file"):
        load_settings({"DATABASE_URL": "sqlite:///"}).resolved_data_file(tmp_path)


async def test_two_memory_databases_are_separate() -> None:
    one, two = Database(Path(":memory:")), Database(Path(":memory:"))
    await one.start()
    await two.start()
    try:
        assert one.path != two.path
        await one.write(lambda c: c.execute("CREATE TABLE t (x)"))
        tables = await two.read(lambda c: c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        assert tables == 0
    finally:
        await one.close()
        await two.close()


# -- snapshot / reset ------------------------------------------------------------------------------
async def test_reset_brings_back_records_events_and_the_log_position(mem: Atomo) -> None:
    position = await mem.events.last_position()
    made = await mem.create("Contact", {"firstName": "Gone", "lastName": "Soon"})
    await mem.update("Contact", id=made["id"], data={"lastName": "Later"})
    await mem.events.append("custom-stream", [NewEvent("Noted", {"n": 1})])
    assert await mem.events.last_position() == position + 3
    assert await mem.reset() == position
    assert await contacts(mem) == SAMPLE_CONTACTS
    assert await mem.record("Contact", made["id"]) is None
    assert await mem.events.last_position() == position
    assert mem.runtime.feed.tail == position
    again = await mem.create("Contact", {"firstName": "New", "lastName": "One"})
    history = await mem.history("Contact", again["id"])
    assert [e.position for e in history] == [position + 1], "positions continue from the restored log"


async def test_every_reader_sees_the_restored_data_at_once(mem: Atomo) -> None:
    for i in range(20):
        await mem.create("Contact", {"firstName": "R", "lastName": str(i)})
    readers = len(mem.runtime.db._readers)
    counts = await asyncio.gather(*(contacts(mem) for _ in range(readers * 2)))
    assert set(counts) == {SAMPLE_CONTACTS + 20}
    await mem.reset()
    counts = await asyncio.gather(*(contacts(mem) for _ in range(readers * 2)))
    assert set(counts) == {SAMPLE_CONTACTS}


async def test_users_and_sessions_go_back(mem: Atomo) -> None:
    db = mem.runtime.db
    kept, _ = await mem.users.create("kept@example.com", "Kept-pass-1", role="sales")
    await mem.snapshot()
    user, _ = await mem.users.create("temp@example.com", "Temp-pass-1")
    session = await db.write(lambda c: create_session(c, user_id=kept.id, ttl_secs=60))
    await mem.users.deactivate("kept@example.com")
    await mem.reset()
    assert await mem.users.get(user.id) is None
    restored = await mem.users.get(kept.id)
    assert restored is not None and restored.is_active
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM sessions WHERE id = ?",
                                             (session.id,)).fetchone()[0]) == 0


async def test_jobs_and_worker_tokens_go_back(mem: Atomo) -> None:
    jobs = mem.runtime.jobs
    kept_id, _ = await jobs.enqueue(NewJob("mail", "send", {"n": 1}))
    await mem.snapshot()
    extra_id, _ = await jobs.enqueue(NewJob("mail", "send", {"n": 2}))
    worker = await jobs.workers.create({"name": "w", "queues": ["*"]})
    identity = await jobs.workers.authenticate(worker["token"])             # cached in memory now
    leased = await jobs.queue.lease(identity, ["mail"], capacity=10, visibility_secs=60)
    assert {j["id"] for j in leased} == {kept_id, extra_id}
    await mem.reset()
    assert (await jobs.queue.find(extra_id)) is None
    row = await jobs.queue.find(kept_id)
    assert row is not None and row["status"] == "queued" and row["lease_id"] is None
    with pytest.raises(UnauthenticatedError):
        await jobs.workers.authenticate(worker["token"])                   # the cache did not outlive the reset


async def test_a_waiting_long_poll_sees_the_restored_queue(mem: Atomo) -> None:
    jobs = mem.runtime.jobs
    job_id, _ = await jobs.enqueue(NewJob("mail", "send", {}))
    worker = await jobs.workers.create({"name": "w", "queues": ["*"]})
    identity = await jobs.workers.authenticate(worker["token"])
    assert [j["id"] for j in await jobs.queue.lease(identity, ["mail"], capacity=1, visibility_secs=60)] == [job_id]
    await mem.snapshot()                                  # the job is leased in the snapshot, the worker exists
    await jobs.queue.cancel(job_id)
    poll = asyncio.create_task(jobs.queue.lease(identity, ["mail"], capacity=1, visibility_secs=60, wait_secs=10))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await mem.reset()
    await asyncio.sleep(0.05)
    assert not poll.done(), "nothing to lease in the restored queue: the poll keeps waiting"
    poll.cancel()
    await asyncio.gather(poll, return_exceptions=True)


async def test_subscriptions_open_at_the_reset_end(mem: Atomo) -> None:
    async with mem.events.subscribe() as waiting, mem.events.subscribe() as idle:
        pending = asyncio.create_task(anext(waiting))
        await asyncio.sleep(0.01)
        started = time.monotonic()
        await mem.reset()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, 2)
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(idle), 2)          # opened before, never stepped: ends too
        assert time.monotonic() - started < 1
    position = await mem.events.last_position()
    async with mem.events.subscribe(after=position) as fresh:
        made = await mem.create("Contact", {"firstName": "After", "lastName": "Reset"})
        event = await asyncio.wait_for(anext(fresh), 2)
    assert (event.position, event.record_id) == (position + 1, made["id"])


async def test_events_committed_just_before_the_reset_are_not_delivered_after_it(mem: Atomo) -> None:
    position = await mem.events.last_position()
    writes = [asyncio.create_task(mem.create("Contact", {"firstName": "Race", "lastName": str(i)})) for i in range(20)]
    reset = asyncio.create_task(mem.reset())
    more = [asyncio.create_task(mem.create("Contact", {"firstName": "Late", "lastName": str(i)})) for i in range(5)]
    await asyncio.gather(*writes, reset, *more)
    assert reset.result() == position
    last = await mem.events.last_position()
    assert last == position + 5 and mem.runtime.feed.tail == last
    replayed = await mem.runtime.feed.events_after(position)
    assert [e.data["firstName"] for e in replayed] == ["Late"] * 5


async def test_reset_of_a_data_file_needs_a_snapshot(app: Atomo) -> None:
    with pytest.raises(UsageError, match="snapshot"):
        await app.reset()
    await app.create("Contact", {"firstName": "Before", "lastName": "Snapshot"})
    await app.snapshot()
    position = await app.events.last_position()
    await app.create("Contact", {"firstName": "After", "lastName": "Snapshot"})
    assert await app.reset() == position
    assert await app.count("Contact") == 1
    assert app.runtime.db.path.is_file(), "a file-backed reset keeps the file"


async def test_reset_is_fast(mem: Atomo) -> None:
    times = []
    for i in range(30):
        await mem.create("Contact", {"firstName": "Fast", "lastName": str(i)})
        started = time.perf_counter()
        await mem.reset()
        times.append(time.perf_counter() - started)
    times.sort()
    assert times[len(times) // 2] < 0.005, times


async def test_database_snapshot_is_a_committed_state(tmp_path: Path) -> None:
    db = Database(tmp_path / "d.db", read_connections=1)
    await db.start()
    try:
        await db.write(lambda c: c.execute("CREATE TABLE t (x)"), exclusive=True)
        await asyncio.gather(*(db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,)))
                               for i in range(100)), db.snapshot())
        snapshot = await db.snapshot()
        assert snapshot.execute("SELECT count(*) FROM t").fetchone()[0] == 100
        await db.write(lambda c: c.execute("DELETE FROM t"))
        seen: list[int] = []
        restored = await db.restore(snapshot, then=lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0],
                                    on_restored=seen.append)
        assert restored == 100 and seen == [100]
        assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 100
        snapshot.close()
    finally:
        await db.close()
    conn = sqlite3.connect(tmp_path / "d.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert os.path.getsize(tmp_path / "d.db") > 0
