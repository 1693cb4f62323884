"""One SQLite file: a single writer thread with group commit, and a pool of read-only connections.

The writer loop takes every queued write unit (up to ``write_batch_max``), runs them in one
``BEGIN IMMEDIATE`` transaction, commits once, then resolves every caller's future in queue order.
One unit's failure is its own: the batch first runs without savepoints (the common case), and if a
unit raises, it is rolled back and run again with each unit inside its own SAVEPOINT, so a unit
must be a pure function of the connection (no effects outside it). Exclusive units (migrations,
rebuild swaps) run alone. Readers never touch the writer connection, and a checkpointer thread
keeps WAL checkpoints off the write path.

``snapshot()`` copies the whole database into an in-memory ``sqlite3`` connection and ``restore()`` copies
one back (SQLite's backup API), both on the writer thread between batches, outside any transaction: a
snapshot is a committed state, and a restore is seen by every reader that starts after it (test suites
reset with it; ``Runtime.reset``). A data file of ``:memory:`` is a private file on tmpfs, removed on
close (``atomo.storage.files.memory_data_file``, which says why it is not an SQLite in-memory database).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import queue
import sqlite3
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from atomo.cluster.writelock import WriterLock
from atomo.config import is_memory
from atomo.errors import AtomoError, ConfigError, StorageError, StorageFullError
from atomo.storage.files import (
    check_integrity,
    claim,
    memory_data_file,
    prepare_data_file,
    remove_memory_data_file,
)
from atomo.storage.tally import Tally

log = logging.getLogger("atomo.storage")
T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]
_STOP = object()
_LOCK_RETRY_SECS = 60.0
WAL_CHECK_SECS = 0.02
WAL_RESTART_WAIT_MS = 200
WAL_MIN_LIMIT = 1 << 20


@dataclass
class _Unit:
    fn: WriteFn
    future: asyncio.Future[Any]
    exclusive: bool = False
    raw: bool = False                                   # alone, outside any transaction (snapshot, restore)
    on_done: Callable[[Any], None] | None = None        # raw: run on the loop before later commits are handed out


BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class WriterStats:
    """What the writer did, for tests and ``/metrics``: written by the writer thread only (the checkpoint
    thread keeps its own ``checkpoints``). The histograms are bucket counts (not cumulative; the last one
    is +Inf) and sums, in the buckets of the configuration chapter §3."""

    transactions: int = 0
    units: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    batch_buckets: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))
    commit_buckets: list[int] = field(default_factory=lambda: [0] * (len(SECONDS_BUCKETS) + 1))
    commit_seconds: float = 0.0
    checkpoints: Tally = field(default_factory=Tally)      # RESTART checkpoints by result (ok, busy, error)

    def committed(self, size: int, seconds: float) -> None:
        self.transactions += 1
        self.units += size
        if len(self.batch_sizes) < 100_000:
            self.batch_sizes.append(size)
        self.batch_buckets[bisect_left(BATCH_BUCKETS, size)] += 1
        self.commit_buckets[bisect_left(SECONDS_BUCKETS, seconds)] += 1
        self.commit_seconds += seconds


def configure(conn: sqlite3.Connection, *, synchronous: str, busy_timeout_ms: int, query_only: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ConfigError(f"the file system does not support SQLite WAL mode (journal_mode={mode})")
    conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("PRAGMA cache_size = -16000")
    conn.execute("PRAGMA temp_store = MEMORY")
    if query_only:
        conn.execute("PRAGMA query_only = ON")


class Database:
    """The storage engine of one data file. Create, ``await start()``, use, ``await close()``."""

    dialect = "sqlite"                    # the SQL its connections speak ("postgres": pg_database.PgDatabase)
    READ_BEGIN = "BEGIN"                  # a read transaction (PostgreSQL: one snapshot for all its statements)

    def __init__(self, path: Path, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000,
                 read_connections: int = 4, write_batch_max: int = 256, write_queue_max: int = 10000,
                 group_commit: bool = True, on_connect: Callable[[sqlite3.Connection], None] | None = None,
                 wal_checkpoint_bytes: int = 8 << 20, adopt_existing: bool = False, integrity_check: bool = True,
                 model_tables: tuple[str, ...] = (), writer_lock: WriterLock | None = None) -> None:
        self.memory = is_memory(path)             # ":memory:": a private file on tmpfs, chosen by start()
        self.path = Path(path)
        self._adopt = adopt_existing
        self._integrity = integrity_check
        self._model_tables = model_tables
        self.created = False                      # the file was new (or empty) when opened
        self.wal_path = self.path.with_name(self.path.name + "-wal")
        self._wal_limit = wal_checkpoint_bytes
        self._wal_checked = 0.0
        self._sync = synchronous
        self._busy = busy_timeout_ms
        self._n_readers = read_connections
        self._batch_max = write_batch_max if group_commit else 1
        self._queue_max = write_queue_max
        self._on_connect = on_connect
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._readers: list[sqlite3.Connection] = []
        self._idle: list[sqlite3.Connection] = []
        self._reader_wait: asyncio.Semaphore | None = None
        self._space: asyncio.Semaphore | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.after_commit: list[Callable[[list[Any]], None]] = []
        self.stats = WriterStats()
        self.queue_depth = 0
        self.write_failure: str | None = None    # why writes fail right now (disk full), for /ready
        self._checkpointer: Checkpointer | None = None
        # several processes serve this file (`atomo serve --workers N`): their writers take turns on this lock
        self._writer_lock = writer_lock

    def checkpoint_results(self) -> dict[str, int]:
        """Checkpoints by result (``ok``, ``busy``, ``error``): the writer's RESTART ones and the background
        PASSIVE ones, for ``/metrics``."""
        counts: dict[str, int] = {}
        tallies = [self.stats.checkpoints] + ([self._checkpointer.results] if self._checkpointer else [])
        for tally in tallies:
            for key, n in tally.snapshot().items():
                counts[str(key)] = counts.get(str(key), 0) + n
        return counts

    # -- lifecycle ---------------------------------------------------------------------------
    def connect(self, *, query_only: bool) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open data file {self.path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        try:
            configure(conn, synchronous=self._sync, busy_timeout_ms=self._busy, query_only=query_only)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError(f"cannot open data file {self.path}: {exc}") from None
        if self._on_connect:
            self._on_connect(conn)
        return conn

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.memory:
            self.path = memory_data_file()
            self.wal_path = self.path.with_name(self.path.name + "-wal")
        try:
            self._open()
        except BaseException:
            if self.memory:
                remove_memory_data_file(self.path)
            raise

    def _open(self) -> None:
        self.created = prepare_data_file(self.path)
        writer = self.connect(query_only=False)
        try:
            claim(writer, self.path, adopt=self._adopt, model_tables=self._model_tables)
            if self._integrity and not self.created:
                check_integrity(writer, self.path)
        except BaseException:
            writer.close()
            raise
        writer.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it, off the write path
        writer.execute(f"PRAGMA journal_size_limit = {int(self._wal_limit)}")  # a restarted WAL shrinks to this
        self._checkpointer = Checkpointer(self.connect(query_only=False))
        self._serve(writer, [self.connect(query_only=True) for _ in range(self._n_readers)])

    def _serve(self, writer: Any, readers: list[Any]) -> None:
        """Start the reader pool and the writer thread on open connections (any driver)."""
        self._readers = readers
        self._idle = list(self._readers)
        self._reader_wait = asyncio.Semaphore(len(self._readers))
        self._space = asyncio.Semaphore(self._queue_max)
        self._executor = ThreadPoolExecutor(max_workers=len(self._readers), thread_name_prefix="atomo-read")
        self._thread = threading.Thread(target=self._run_writer, args=(writer,), name="atomo-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.stop)
            self._checkpointer = None
        if self._executor:
            self._executor.shutdown(wait=True)
        for conn in self._readers:
            conn.close()
        self._readers = []
        if self._writer_lock is not None:
            self._writer_lock.close()
        if self.memory:
            remove_memory_data_file(self.path)

    # -- writes ------------------------------------------------------------------------------
    async def write(self, fn: Callable[[sqlite3.Connection], T], *, exclusive: bool = False) -> T:
        """Run ``fn(conn)`` inside the writer's transaction; resolves after COMMIT."""
        if self._thread is None or self._loop is None or self._space is None:
            raise StorageError("database is not open")
        await self._space.acquire()
        future: asyncio.Future[Any] = self._loop.create_future()
        self.queue_depth += 1
        self._queue.put(_Unit(fn, future, exclusive))
        try:
            return await future  # type: ignore[no-any-return]
        finally:
            self.queue_depth -= 1
            self._space.release()

    async def snapshot(self) -> sqlite3.Connection:
        """A copy of the database in an in-memory ``sqlite3`` connection (the backup API), taken on the writer
        thread between batches: every committed write is in it, none half. Hand it to ``restore``; close it
        when done."""
        def take(conn: sqlite3.Connection) -> sqlite3.Connection:
            copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            try:
                copy.execute(f"PRAGMA page_size = {int(conn.execute('PRAGMA page_size').fetchone()[0])}")
                conn.backup(copy)
            except BaseException:
                copy.close()
                raise
            return copy
        return await self._control(take)  # type: ignore[no-any-return]

    async def restore(self, snapshot: sqlite3.Connection, *, then: Callable[[sqlite3.Connection], T] | None = None,
                      on_restored: Callable[[T | None], None] | None = None) -> T | None:
        """Replace the whole database with ``snapshot`` (from ``snapshot()``), on the writer thread with no batch
        in flight; readers that start afterwards see it. ``then(conn)`` runs right after on the writer thread
        (e.g. the log's last position) and its result is returned; ``on_restored(result)`` runs on the event
        loop before any later commit reaches the ``after_commit`` hooks (the feed resets there), even if the
        caller was cancelled meanwhile."""
        def put(conn: sqlite3.Connection) -> T | None:
            snapshot.backup(conn)
            return then(conn) if then is not None else None
        return await self._control(put, on_restored)  # type: ignore[no-any-return]

    async def _control(self, fn: WriteFn, on_done: Callable[[Any], None] | None = None) -> Any:
        if self._thread is None or self._loop is None:
            raise StorageError("database is not open")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put(_Unit(fn, future, exclusive=True, raw=True, on_done=on_done))
        return await future

    def _run_raw(self, conn: sqlite3.Connection, unit: _Unit) -> None:
        """A control unit: alone, outside any transaction (the backup API manages its own)."""
        try:
            result: tuple[bool, Any] = (True, unit.fn(conn))
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except Exception:
                    pass
            result = (False, translate(exc))
        self._wal_checked = 0.0                  # a restore wrote the whole file to the WAL: look at its size now
        if self._checkpointer is not None:
            self._checkpointer.committed()
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._resolve_raw, unit, result)
        except RuntimeError:  # the loop is gone (interpreter shutdown)
            pass

    @staticmethod
    def _resolve_raw(unit: _Unit, result: tuple[bool, Any]) -> None:
        ok, value = result
        if ok and unit.on_done is not None:
            try:
                unit.on_done(value)
            except Exception:
                log.exception("restore listener failed")
        if unit.future.done():
            return
        if ok:
            unit.future.set_result(value)
        else:
            unit.future.set_exception(value)

    def _run_one(self, conn: sqlite3.Connection, batch: list[_Unit]) -> None:
        if batch[0].raw:
            self._run_raw(conn, batch[0])
        else:
            self._run_batch(conn, batch)

    def _run_locked(self, conn: sqlite3.Connection, batch: list[_Unit]) -> None:
        lock = self._writer_lock
        if lock is None:
            self._run_one(conn, batch)
            self._bound_wal(conn)
            return
        lock.acquire()
        try:
            self._run_one(conn, batch)
            self._bound_wal(conn)
        finally:
            lock.release()

    def _run_writer(self, conn: sqlite3.Connection) -> None:
        pending: list[_Unit] = []
        try:
            while True:
                item = pending.pop(0) if pending else self._queue.get()
                if item is _STOP:
                    break
                batch = [item]
                stop = False
                if not item.exclusive:
                    while len(batch) < self._batch_max:
                        try:
                            nxt = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if nxt is _STOP:
                            stop = True
                            break
                        if nxt.exclusive:
                            pending.append(nxt)
                            break
                        batch.append(nxt)
                self._run_locked(conn, batch)
                if stop:
                    break
            while pending:  # exclusive units queued behind the stop marker still get an answer
                self._run_locked(conn, [pending.pop(0)])
        finally:
            self._close_writer(conn)

    def _close_writer(self, conn: sqlite3.Connection) -> None:
        try:
            # in a group the other workers go on writing: a PASSIVE checkpoint, and the supervisor truncates
            # the WAL once every worker stopped
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)" if self._writer_lock is not None
                         else "PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("the closing WAL checkpoint failed (the WAL is kept and replayed on the next open): %s",
                        exc)
        conn.close()

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        """Between batches: when the WAL has grown past its limit, copy it back and restart it.

        SQLite reuses the WAL from its start only when a write begins after every frame was copied
        back, which never happens while writes keep arriving; a RESTART checkpoint here (no write can
        start meanwhile; it waits for readers of older snapshots) makes the next write start over, and
        ``journal_size_limit`` truncates the file to the limit. The size is looked at every 20 ms at most.
        The limit is ``ATOMO_WAL_CHECKPOINT_BYTES``, lowered to a quarter of the free disk space (at least
        1 MiB) on a small or nearly full disk, so the WAL never takes the space the data needs.
        """
        now = time.monotonic()
        if now - self._wal_checked < WAL_CHECK_SECS:
            return
        self._wal_checked = now
        try:
            size = os.path.getsize(self.wal_path)
            if size <= WAL_MIN_LIMIT:
                return
            disk = os.statvfs(self.wal_path.parent)
            limit = max(WAL_MIN_LIMIT, min(self._wal_limit, disk.f_bavail * disk.f_frsize // 4))
            if size <= limit:
                return
            conn.execute(f"PRAGMA journal_size_limit = {limit}")
            conn.execute(f"PRAGMA busy_timeout = {WAL_RESTART_WAIT_MS}")  # a long reader delays writes this long at most
            try:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy)}")
        except (OSError, sqlite3.Error) as exc:
            log.warning("WAL restart checkpoint failed: %s", exc)
            self.stats.checkpoints.add("error")
            return
        self.stats.checkpoints.add("busy" if busy else "ok")
        if busy:
            log.info("WAL restart checkpoint was blocked by a reader; retried after the next batch")

    def _begin(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + _LOCK_RETRY_SECS
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Unit]) -> None:
        results: list[tuple[bool, Any]] = []
        changes = conn.total_changes
        started = time.perf_counter()
        try:
            self._begin(conn)
            if len(batch) == 1:
                results.append(self._run_unit_alone(conn, batch[0]))
            else:
                results = self._run_optimistic(conn, batch)
                if results is None:  # a unit failed: roll back, then isolate every unit in a savepoint
                    conn.execute("ROLLBACK")
                    self._begin(conn)
                    results = [self._run_unit(conn, unit) for unit in batch]
            conn.execute("COMMIT")
        except BaseException as exc:  # COMMIT (or BEGIN) failed: every unit of the batch fails
            failure = translate(exc)
            if not isinstance(failure, StorageFullError):
                log.error("write transaction failed: %s", exc)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except Exception:            # the connection is broken: the next BEGIN says so
                    pass
            results = [(False, failure) for _ in batch]
        if self.write_failure is not None or not all(ok for ok, _ in results):
            self._track_failure(results, wrote=conn.total_changes != changes)
        if self._checkpointer is not None:
            self._checkpointer.committed()
        self.stats.committed(len(batch), time.perf_counter() - started)
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._resolve, batch, results)
        except RuntimeError:  # the loop is gone (interpreter shutdown)
            pass

    def _track_failure(self, results: list[tuple[bool, Any]], *, wrote: bool) -> None:
        """One log line when writes start failing for lack of disk space, one when they succeed again
        (a commit that changed rows: an empty transaction, like the /ready probe, proves nothing)."""
        full = any(not ok and isinstance(value, StorageFullError) for ok, value in results)
        if full and self.write_failure is None:
            self.write_failure = "disk full"
            log.error("writes are failing: the disk holding %s is full (STORAGE_FULL); they succeed again once "
                      "space is freed", self.path)
        elif not full and self.write_failure is not None and wrote:
            self.write_failure = None
            log.warning("writes succeed again: disk space is available for %s", self.path)

    def _run_unit_alone(self, conn: sqlite3.Connection, unit: _Unit) -> tuple[bool, Any]:
        # A batch of one needs no savepoint: on failure the whole transaction is rolled back instead.
        try:
            return True, unit.fn(conn)
        except BaseException as exc:
            conn.execute("ROLLBACK")
            self._begin(conn)
            return False, translate(exc)

    @staticmethod
    def _run_optimistic(conn: sqlite3.Connection, batch: list[_Unit]) -> list[tuple[bool, Any]] | None:
        """Run the batch without savepoints (the common case: nothing fails); None if a unit failed.

        Units are pure functions of the connection, so running them again after a rollback is safe.
        Skipping two SAVEPOINT statements per unit matters: each statement releases the GIL.
        """
        results: list[tuple[bool, Any]] = []
        for unit in batch:
            try:
                results.append((True, unit.fn(conn)))
            except Exception:
                return None
        return results

    def _run_unit(self, conn: sqlite3.Connection, unit: _Unit) -> tuple[bool, Any]:
        conn.execute("SAVEPOINT unit")
        try:
            result = unit.fn(conn)
        except BaseException as exc:
            conn.execute("ROLLBACK TO unit")
            conn.execute("RELEASE unit")
            return False, translate(exc)
        conn.execute("RELEASE unit")
        return True, result

    def _resolve(self, batch: list[_Unit], results: list[tuple[bool, Any]]) -> None:
        committed = []
        for unit, (ok, value) in zip(batch, results, strict=True):
            if unit.future.done():
                continue
            if ok:
                unit.future.set_result(value)
                committed.append(value)
            else:
                unit.future.set_exception(value)
        for hook in self.after_commit:
            try:
                hook(committed)
            except Exception:  # a listener never breaks the writer
                log.exception("after-commit hook failed")

    # -- reads -------------------------------------------------------------------------------
    def _release(self, conn: sqlite3.Connection) -> None:
        self._idle.append(conn)
        assert self._reader_wait is not None
        self._reader_wait.release()

    def _read_begin(self, one_statement: bool) -> str | None:
        """What opens a read transaction (SQLite: always ``BEGIN``, an in-process call)."""
        return self.READ_BEGIN

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, inline: bool = False,
                   one_statement: bool = False) -> T:
        """Run ``fn(conn)`` on a read-only connection, in one read transaction.

        ``inline=True`` runs it directly on the event loop (cheaper for short indexed reads);
        otherwise it runs on a reader thread so long reads never block the loop. A cancelled
        caller does not get the connection back into the pool before its thread is done with it.
        ``one_statement``: ``fn`` runs a single statement, which sees one snapshot by itself (PostgreSQL then
        sends no ``BEGIN``/``ROLLBACK``: two round trips fewer).
        """
        if self._reader_wait is None or self._executor is None:
            raise StorageError("database is not open")
        begin = self._read_begin(one_statement)
        await self._reader_wait.acquire()
        conn = self._idle.pop()
        if inline:
            try:
                return _in_read_txn(conn, fn, begin)
            finally:
                self._release(conn)
        future = asyncio.get_running_loop().run_in_executor(self._executor, _in_read_txn, conn, fn, begin)
        future.add_done_callback(lambda _: self._release(conn))
        return await asyncio.shield(future)


class Checkpointer:
    """Moves WAL pages into the database file on its own thread and connection.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, on the writer,
    and costs more than the commit itself; a PASSIVE checkpoint here never blocks the writer or the
    readers. The writer runs a TRUNCATE checkpoint when it closes.
    """

    INTERVAL_SECS = 0.25

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._dirty = threading.Event()
        self._stopping = False
        self.results = Tally()              # PASSIVE checkpoints by result (ok, busy, error), for /metrics
        self._thread = threading.Thread(target=self._run, name="atomo-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        while not self._stopping:
            self._dirty.wait()
            if self._stopping:
                break
            time.sleep(self.INTERVAL_SECS)
            self._dirty.clear()
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[0]
            except sqlite3.Error as exc:
                log.warning("checkpoint failed: %s", exc)
                self.results.add("error")
            else:
                self.results.add("busy" if busy else "ok")
        self._conn.close()

    def stop(self) -> None:
        self._stopping = True
        self._dirty.set()
        self._thread.join()


def _in_read_txn(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], begin: str | None = "BEGIN") -> T:
    """``fn(conn)`` inside ``begin`` ... ``ROLLBACK`` (``begin`` None: a single statement, on its own)."""
    if begin is not None:
        conn.execute(begin)
    try:
        return fn(conn)
    except Exception as exc:
        if isinstance(exc, AtomoError) or not is_driver_error(exc):
            raise
        raise translate(exc) from None
    finally:
        if begin is not None:
            conn.execute("ROLLBACK")


FULL_MESSAGE = "the data file's disk is full; writes fail until space is freed"


def is_driver_error(exc: BaseException) -> bool:
    """An error of a database driver (sqlite3, or psycopg on PostgreSQL: both are DB-API errors)."""
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg")


def is_disk_full(exc: BaseException) -> bool:
    if getattr(exc, "sqlstate", None) == "53100":        # PostgreSQL: disk_full
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return (isinstance(exc, sqlite3.Error) and (code is not None and code & 0xFF == sqlite3.SQLITE_FULL
                                                or "database or disk is full" in str(exc))) or (
        isinstance(exc, OSError) and exc.errno == errno.ENOSPC)


def translate(exc: BaseException) -> BaseException:
    """The storage boundary: sqlite3 errors become StorageError (StorageFullError for a full disk, logged
    once per state change by the writer); Atomo errors pass through."""
    if isinstance(exc, AtomoError) or not isinstance(exc, Exception):
        return exc
    if is_disk_full(exc):
        return StorageFullError(FULL_MESSAGE)
    log.error("storage error: %r", exc, exc_info=exc)
    return StorageError("Internal server error")
