"""Job leases, reclaim and retry backoff through a running queue under a frozen clock: no sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atomo import Atomo
from atomo.jobs.queue import JobQueue
from atomo.jobs.store import NewJob
from atomo.jobs.workers import WorkerIdentity
from tests.conftest import settings

AT = "2030-01-01T00:00:00Z"
WORKER = WorkerIdentity("w-1", "worker", ("*",), ())


@pytest.fixture
async def app(project: Path) -> AsyncIterator[Atomo]:
    async with Atomo(project, settings=settings(job_reclaim_interval=1)) as opened:
        yield opened


def queue_of(app: Atomo) -> JobQueue:
    return app.runtime.jobs.queue


async def lease_one(queue: JobQueue, visibility_secs: int = 30) -> dict | None:
    leased = await queue.lease(WORKER, ["mail"], capacity=1, visibility_secs=visibility_secs)
    return leased[0] if leased else None


async def test_an_expired_lease_is_reclaimed_then_dead_lettered(app: Atomo) -> None:
    queue = queue_of(app)
    with app.clock.frozen(at=AT) as clock:
        job_id, _ = await app.runtime.jobs.enqueue(NewJob("mail", "send", {"to": "a"}, max_attempts=2))
        first = await lease_one(queue)
        assert first is not None and first["attempts"] == 1
        clock.advance(30)                                           # visibleAt == now: still held
        assert await queue.sweep() == 0 and await lease_one(queue) is None
        clock.advance(0.001)
        assert await queue.sweep() == 1
        assert (await queue.find(job_id))["status"] == "queued"
        second = await lease_one(queue)
        assert second is not None and second["attempts"] == 2 and second["leaseId"] != first["leaseId"]
        await queue.heartbeat(WORKER, job_id, second["leaseId"], 30)   # extends to now + 30
        clock.advance(20)
        assert await queue.sweep() == 0
        clock.advance(10.001)
        assert await queue.sweep() == 1                             # past maxAttempts: dead
        row = await queue.find(job_id)
        assert (row["status"], row["error"]) == ("dead", "lease expired")
        assert row["updated_at"] == "2030-01-01T00:01:00.002000+00:00"


async def test_retry_backoff_without_sleeping(app: Atomo) -> None:
    queue = queue_of(app)
    with app.clock.frozen(at=AT) as clock:
        job_id, _ = await app.runtime.jobs.enqueue(NewJob("mail", "send", {}, max_attempts=4))
        for attempt, backoff in ((1, 5), (2, 10), (3, 20)):
            leased = await lease_one(queue)
            assert leased is not None and leased["attempts"] == attempt
            outcome = await queue.fail(WORKER, job_id, leased["leaseId"], error="smtp down", retryable=True,
                                       delay_secs=None)
            assert outcome == {"outcome": "retry", "delaySecs": backoff}
            clock.advance(backoff - 0.001)
            assert await lease_one(queue) is None                    # not visible before the backoff
            clock.advance(0.001)
        last = await lease_one(queue)
        assert last is not None and last["attempts"] == 4
        assert await queue.fail(WORKER, job_id, last["leaseId"], error="smtp down", retryable=True,
                                delay_secs=None) == {"outcome": "dead"}
        assert (await queue.find(job_id))["status"] == "dead"


async def test_the_background_sweep_reads_the_frozen_clock(app: Atomo) -> None:
    """The sweep task runs every ``job_reclaim_interval`` real seconds (1 here); once the frozen clock is
    past the lease, its next pass reclaims the job without ``sweep()`` being called."""
    queue = queue_of(app)
    with app.clock.frozen(at=AT) as clock:
        job_id, _ = await app.runtime.jobs.enqueue(NewJob("mail", "send", {}))
        assert await lease_one(queue, visibility_secs=3600) is not None
        clock.advance(3601)
        for _ in range(60):                                         # at most ~1 s: the next pass
            if (await queue.find(job_id))["status"] == "queued":
                break
            await asyncio.sleep(0.05)
        assert (await queue.find(job_id))["status"] == "queued"
