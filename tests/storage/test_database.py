"""The single writer with group commit: ordering, isolation of failures, concurrency, readers."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from atomo.errors import StorageError, ValidationError
from atomo.storage.database import Database


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path):
    """The same contract on both backends (issue 21): the SQLite file, and PostgreSQL (``PgDatabase``)."""
    if request.param == "postgres":
        from atomo.storage.pg_database import PgDatabase
        database: Database = PgDatabase(request.getfixturevalue("postgres_url"), read_connections=2)
    else:
        database = Database(tmp_path / "t.db", read_connections=2)
    await database.start()
    await database.write(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"),
                         exclusive=True)
    yield database
    await database.close()


def sqlite_only(db: Database) -> None:
    if type(db) is not Database:
        pytest.skip("SQLite's file (pragmas, its write lock)")


def insert(k: int, v: str | None):
    def unit(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (k, v))
        return k
    return unit


async def test_wal_mode_and_pragmas(db: Database) -> None:
    sqlite_only(db)
    mode = await db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    assert await db.read(lambda c: c.execute("PRAGMA query_only").fetchone()[0]) == 1


async def test_each_caller_gets_its_own_result_and_batches_form(db: Database) -> None:
    results = await asyncio.gather(*(db.write(insert(i, f"v{i}")) for i in range(500)))
    assert results == list(range(500))
    assert max(db.stats.batch_sizes) > 1, "concurrent writes should share transactions"
    assert db.stats.transactions < 500
    count = await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
    assert count == 500


async def test_a_failing_unit_does_not_fail_its_neighbours(db: Database) -> None:
    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t (k, v) VALUES (1000, 'x')")
        raise ValidationError.single("v", "v is wrong", "custom")

    calls = [db.write(insert(i, "ok")) for i in range(10)]
    calls.insert(5, db.write(bad))
    calls.insert(7, db.write(insert(3, "duplicate key")))   # sqlite IntegrityError -> StorageError
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[5], ValidationError)
    assert isinstance(results[7], StorageError) and results[7].message == "Internal server error"
    assert [r for i, r in enumerate(results) if i not in (5, 7)] == list(range(10))
    rows = await db.read(lambda c: [r[0] for r in c.execute("SELECT k FROM t ORDER BY k")])
    assert rows == list(range(10)), "the failed units left nothing behind"


async def test_reader_sees_a_write_after_its_future_resolves(db: Database) -> None:
    for i in range(50):
        await db.write(insert(i, "x"))
        assert await db.read(lambda c, i=i: c.execute("SELECT v FROM t WHERE k = ?", (i,)).fetchone()[0],
                             inline=i % 2 == 0) == "x"


async def test_exclusive_units_run_alone(db: Database) -> None:
    seen = []

    def exclusive(conn: sqlite3.Connection) -> str:
        seen.append(len(db.stats.batch_sizes))
        return "alone"
    writes = [db.write(insert(i, "x")) for i in range(20)]
    writes.append(db.write(exclusive, exclusive=True))
    writes += [db.write(insert(100 + i, "x")) for i in range(20)]
    results = await asyncio.gather(*writes)
    assert results[20] == "alone"


async def test_another_connection_writing_does_not_surface_database_is_locked(db: Database, tmp_path: Path) -> None:
    sqlite_only(db)
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=5)

    async def hold_lock() -> None:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (k, v) VALUES (-1, 'cli')")
        await asyncio.sleep(0.3)
        other.execute("COMMIT")
    holder = asyncio.create_task(hold_lock())
    await asyncio.sleep(0.05)
    results = await asyncio.gather(*(db.write(insert(i, "x")) for i in range(100)))
    await holder
    assert results == list(range(100))
    other.close()


async def test_another_instance_holding_the_write_lock_delays_writes_and_fails_none(db: Database) -> None:
    """PostgreSQL: another instance's write transaction holds the write lock (``pg_log``); ours wait, then
    every one commits after it, none fails."""
    if type(db) is Database:
        pytest.skip("PostgreSQL's write lock")
    import psycopg

    from atomo.storage.pg_log import begin_write
    other = psycopg.connect(db.url, autocommit=True)      # type: ignore[attr-defined]
    begin_write(other)
    other.execute("INSERT INTO t (k, v) VALUES (-1, 'other instance')")
    writes = asyncio.gather(*(db.write(insert(i, "x")) for i in range(100)))
    await asyncio.sleep(0.3)
    assert db.stats.transactions == 1, "only the fixture's table was written: ours wait for the lock"
    other.execute("COMMIT")
    assert await writes == list(range(100))
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 101
    other.close()
