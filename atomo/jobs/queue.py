"""The job queue of a running process: the state machine of ``store`` over the single writer, long
polls, waits for terminal states, realtime frames on ``job:<id>`` and the reclaim sweep.

Every transition goes through ``Database.write`` (one writer, so claims are atomic). After the
commit the queue publishes the job's ``status`` (or ``progress``) frame through ``publish`` (set by
the HTTP layer to the realtime hub) and wakes whoever waits: long-polling leases on any arrival,
``?wait=`` callers on a terminal state. Waits also re-check every second, so jobs inserted by another
process, or becoming visible after a backoff, are found too.

Job times (``visibleAt``, leases, backoff, the sweep's expiry) come from the process clock through
``store.utcnow`` (``atomo/clock.py``), so a test freezes and advances them. How long a caller waits
(``wait_secs``, ``?wait=``, the sweep interval) stays real time: those waits end on asyncio timers and
must end while the clock is frozen. A test calls ``sweep()`` instead of waiting for the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from atomo.cluster.bus import Bus, Want
from atomo.errors import ConflictError
from atomo.storage.database import Database
from atomo.storage.tally import OTHER, Tally

from . import reports, store
from .store import NewJob, utcnow
from .workers import WorkerIdentity, WorkerRegistry

log = logging.getLogger("atomo.jobs")
RECHECK_SECS = 1.0
Publish = Callable[[str, Any], Any]


async def _first(a: asyncio.Event, b: asyncio.Event | None, timeout: float) -> None:
    """Wait until ``a`` or ``b`` is set, at most ``timeout`` seconds."""
    waits = [asyncio.ensure_future(e.wait()) for e in (a, b) if e is not None]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


class LeaseLostError(ConflictError):
    """The caller no longer holds the job's lease (HTTP 409 ``LEASE_LOST``)."""

    code = "LEASE_LOST"

    def __init__(self, job_id: str) -> None:
        super().__init__("lease lost", {"jobId": job_id})


class JobQueue:
    def __init__(self, db: Database, workers: WorkerRegistry, *, reclaim_interval: float = 30,
                 bus: Bus | None = None, reclaims: bool = True) -> None:
        self.db = db
        self.workers = workers
        self.reclaim_interval = max(1.0, float(reclaim_interval))
        # several worker processes: arrivals, finished jobs and revocations are told to the others on the bus,
        # and only one of them (``reclaims``) runs the reclaim part of the sweep
        self.bus = bus or Bus()
        self.reclaims = reclaims
        self.bus.on("jobs.arrived", lambda _, sender: self._wake_arrivals())
        self.bus.on("jobs.finished", lambda ids, sender: self._wake_finished(ids))
        self.bus.on("workers.forget", lambda worker_id, sender: self.workers.forget(worker_id))
        self.publish: Publish | None = None
        self._arrival: asyncio.Event | None = None
        self._polls = 0                                   # long polls waiting for arrivals
        self._finished: dict[str, asyncio.Event] = {}
        # in a group, the others tell this process of arrivals and finished jobs only while something here waits
        # for them; when that starts, the waiters look at the table once more (what was sent before)
        self.want_arrivals = Want(self.bus, "jobs.arrived", lambda: self._polls > 0,
                                  lambda: self._soon(self._wake_arrivals))
        self.want_finished = Want(self.bus, "jobs.finished", lambda: bool(self._finished),
                                  lambda: self._soon(lambda: self._wake_finished(list(self._finished))))
        self._sweeper: asyncio.Task[None] | None = None
        # /metrics: jobs enqueued by queue, finished by (queue, outcome), leases reclaimed by queue
        self.enqueued = Tally()
        self.finished = Tally()
        self.reclaimed = Tally()

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="atomo-job-reclaim")

    async def close(self) -> None:
        self.want_arrivals.close()
        self.want_finished.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        unit = self.workers.flush_unit()
        if unit is not None:
            try:
                await self.db.write(unit)
            except Exception:  # closing never fails on a bookkeeping write
                log.warning("could not store worker lastSeenAt on close")

    async def sweep(self) -> int:
        """One pass of the reclaim sweep (also run every ``reclaim_interval`` seconds): expired leases back to
        the queue or dead, pending ``lastSeenAt`` values stored. The number of jobs reclaimed."""
        reclaimed = await self.reclaim() if self.reclaims else 0
        unit = self.workers.flush_unit()
        if unit is not None:
            await self.db.write(unit)
        return reclaimed

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job reclaim sweep failed")
            await asyncio.sleep(self.reclaim_interval)

    def reset(self) -> None:
        """The database was restored (``Runtime.reset``): wake every long poll and ``?wait=`` caller, so they
        look at the restored table now (a poll leases from it; a waiter finds its job as restored, or gone)."""
        self.notify_arrival()
        finished, self._finished = self._finished, {}
        for waiter in finished.values():
            waiter.set()

    # -- notifications -------------------------------------------------------------------------------
    def notify_arrival(self) -> None:
        self._wake_arrivals()
        self.bus.send_wanted("jobs.arrived")

    @staticmethod
    def _soon(wake: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_later(0.05, wake)

    def _wake_arrivals(self) -> None:
        event, self._arrival = self._arrival, None
        if event is not None:
            event.set()

    def _wake_finished(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            waiter = self._finished.pop(job_id, None)
            if waiter is not None:
                waiter.set()

    def _finished_as(self, row: sqlite3.Row, outcome: str) -> None:
        self.finished.add((row["queue"], outcome), other=(OTHER, outcome))

    def _published(self, rows: list[sqlite3.Row]) -> None:
        arrived = False
        finished = [row["id"] for row in rows if row["status"] in store.TERMINAL]
        for row in rows:
            arrived = arrived or row["status"] == "queued"
            self._send(row["id"], store.status_frame(row))
        if finished:
            self._wake_finished(finished)
            self.bus.send_wanted("jobs.finished", finished)
        if arrived:
            self.notify_arrival()

    def _send(self, job_id: str, payload: dict[str, Any]) -> None:
        if self.publish is not None:
            try:
                self.publish(f"job:{job_id}", payload)
            except Exception:  # realtime delivery never fails a job transition
                log.exception("publishing on job:%s failed", job_id)

    # -- app plane -------------------------------------------------------------------------------------
    async def enqueue(self, job: NewJob) -> tuple[str, bool]:
        result: tuple[str, bool] = await self.db.write(lambda conn: store.enqueue(conn, job, utcnow()))
        if not result[1]:
            self.enqueued.add(job.queue)
            self.notify_arrival()
        return result

    async def find(self, job_id: str) -> sqlite3.Row | None:
        return await self.db.read(lambda conn: store.find(conn, job_id), inline=True)

    async def cancel(self, job_id: str) -> sqlite3.Row:
        row: sqlite3.Row = await self.db.write(lambda conn: store.cancel(conn, job_id, utcnow()))
        if row["status"] == "cancelled":
            self._finished_as(row, "cancelled")
        self._published([row])
        return row

    async def retry(self, job_id: str) -> sqlite3.Row:
        row: sqlite3.Row = await self.db.write(lambda conn: store.retry(conn, job_id, utcnow()))
        self._published([row])
        return row

    async def wait_finished(self, job_id: str, timeout: float) -> sqlite3.Row | None:
        """The job once terminal, or as it is when ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            waiter = self._finished.setdefault(job_id, asyncio.Event())
            self.want_finished.touch()
            row = await self.find(job_id)
            remaining = deadline - time.monotonic()
            if row is None or row["status"] in store.TERMINAL or remaining <= 0:
                if not waiter.is_set() and self._finished.get(job_id) is waiter:
                    del self._finished[job_id]
                return row
            try:
                await asyncio.wait_for(waiter.wait(), min(remaining, RECHECK_SECS))
            except TimeoutError:
                pass

    async def stats(self, scope: reports.Scope = (False, None)) -> dict[str, Any]:
        return await self.db.read(lambda conn: reports.stats(conn, utcnow(), scope))  # type: ignore[no-any-return]

    async def recent(self, *, queue: str | None, status: str | None, limit: int, offset: int,
                     scope: reports.Scope = (False, None)) -> list[dict[str, Any]]:
        return await self.db.read(lambda conn: reports.recent(conn, queue=queue, status=status, limit=limit,
                                                            offset=offset, scope=scope))

    # -- worker plane ------------------------------------------------------------------------------------
    async def lease(self, worker: WorkerIdentity, queues: list[str], *, capacity: int, visibility_secs: int,
                    wait_secs: float = 0, gone: asyncio.Event | None = None) -> list[dict[str, Any]]:
        """Claim jobs; with ``wait_secs``, wait for arrivals (long poll). ``gone`` is set when the client left:
        the wait ends, and leases claimed meanwhile are given back."""
        deadline = time.monotonic() + wait_secs
        kinds = worker.action_kinds

        def unit(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            return store.lease(conn, queues=queues, capacity=capacity, visibility_secs=visibility_secs,
                               worker_id=worker.id, kinds=kinds, now=utcnow(), tenant_id=worker.tenant_id)
        while True:
            if self._arrival is None:
                self._arrival = asyncio.Event()
            arrival = self._arrival
            rows: list[sqlite3.Row] = await self.db.write(unit)
            if gone is not None and gone.is_set():
                if rows:
                    await self._give_back([(r["id"], r["lease_id"]) for r in rows])
                return []
            remaining = deadline - time.monotonic()
            if rows or remaining <= 0:
                for row in rows:
                    self._send(row["id"], store.status_frame(row))
                return [store.leased_view(r) for r in rows]
            self._polls += 1
            self.want_arrivals.touch()
            try:
                await _first(arrival, gone, min(remaining, RECHECK_SECS))
            finally:
                self._polls -= 1

    async def _give_back(self, leases: list[tuple[str, str]]) -> None:
        await self.db.write(lambda conn: store.unlease(conn, leases, utcnow()))
        self.notify_arrival()

    async def heartbeat(self, worker: WorkerIdentity, job_id: str, lease_id: str, visibility_secs: int) -> None:
        held = await self.db.write(lambda conn: store.extend(conn, job_id, lease_id, worker.id, visibility_secs,
                                                             utcnow()))
        if not held:
            raise LeaseLostError(job_id)

    async def progress(self, worker: WorkerIdentity, job_id: str, lease_id: str, visibility_secs: int,
                       percent: float | None, message: str | None, data: Any) -> None:
        now = utcnow()
        progress = {"percent": percent, "message": message, "data": data, "at": store.iso(now)}
        held = await self.db.write(lambda conn: store.extend(conn, job_id, lease_id, worker.id, visibility_secs,
                                                             utcnow(), progress))
        if not held:
            raise LeaseLostError(job_id)
        self._send(job_id, {"event": "progress", "jobId": job_id, "percent": percent, "message": message,
                            "data": data})

    async def complete(self, worker: WorkerIdentity, job_id: str, lease_id: str, result: Any) -> None:
        row = await self.db.write(lambda conn: store.complete(conn, job_id, lease_id, worker.id, result, utcnow()))
        if row is None:
            raise LeaseLostError(job_id)
        self._finished_as(row, "succeeded")
        self._published([row])

    async def fail(self, worker: WorkerIdentity, job_id: str, lease_id: str, *, error: str, retryable: bool,
                   delay_secs: int | None) -> dict[str, Any]:
        done = await self.db.write(lambda conn: store.fail(conn, job_id, lease_id, worker.id, error=error,
                                                           retryable=retryable, delay_secs=delay_secs, now=utcnow()))
        if done is None:
            raise LeaseLostError(job_id)
        row, delay = done
        self._finished_as(row, "dead" if delay is None else "retry")
        self._published([row])
        return {"outcome": "dead"} if delay is None else {"outcome": "retry", "delaySecs": delay}

    # -- sweep and revocation --------------------------------------------------------------------------
    async def reclaim(self) -> int:
        rows: list[sqlite3.Row] = await self.db.write(lambda conn: store.reclaim(conn, utcnow()))
        for row in rows:
            self.reclaimed.add(row["queue"])
            if row["status"] == "dead":
                self._finished_as(row, "dead")
        if rows:
            log.info("reclaimed %d expired job lease(s)", len(rows))
            self._published(rows)
        return len(rows)

    async def revoke_worker(self, worker_id: str, scope: reports.Scope = (False, None)) -> None:
        scoped, tenant = scope
        try:
            rows: list[sqlite3.Row] = await self.db.write(
                lambda conn: store.release_worker(conn, worker_id, utcnow(), scoped=scoped, tenant_id=tenant))
        finally:
            self.workers.forget(worker_id)
            self.bus.send("workers.forget", worker_id)
        self._published(rows)
