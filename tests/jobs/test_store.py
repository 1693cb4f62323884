"""The job state machine on a plain connection with a fixed clock (jobs chapter §4, §6), on SQLite and on
PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from atomo.errors import ConflictError, NotFoundError
from atomo.jobs import reports, store
from atomo.jobs.store import NewJob

T0 = datetime(2026, 1, 5, 10, 0, 0, 123000, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def conn(request: pytest.FixtureRequest) -> Iterator[sqlite3.Connection]:
    """The state machine on both backends (issue 21): SQLite, and a PostgreSQL connection (autocommit)."""
    if request.param == "postgres":
        from atomo.storage.pg_database import connect
        c = connect(request.getfixturevalue("postgres_url"))
    else:
        c = sqlite3.connect(":memory:", isolation_level=None)
        c.row_factory = sqlite3.Row
    store.create_job_tables(c)          # type: ignore[arg-type]
    store.create_job_tables(c)          # type: ignore[arg-type]   (idempotent)
    yield c                             # type: ignore[misc]
    c.close()


def integrity_errors() -> tuple[type[Exception], ...]:
    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def lease_one(conn: sqlite3.Connection, now: datetime, worker: str = "w1", **kw: object) -> sqlite3.Row | None:
    rows = store.lease(conn, queues=kw.pop("queues", ["q"]), capacity=1, visibility_secs=30,  # type: ignore[arg-type]
                       worker_id=worker, kinds=kw.pop("kinds", None), now=now)  # type: ignore[arg-type]
    return rows[0] if rows else None


def test_backoff_doubles_from_five_seconds_and_caps_at_an_hour() -> None:
    assert [store.backoff_secs(n) for n in range(1, 14)] == \
        [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
    assert store.backoff_secs(10_000) == 3600


def test_retries_with_backoff_until_dead(conn: sqlite3.Connection) -> None:
    job_id, _ = store.enqueue(conn, NewJob("q", "k", {"n": 1}), T0)
    now, delays = T0, []
    while True:
        job = lease_one(conn, now)
        assert job is not None and job["id"] == job_id
        outcome = store.fail(conn, job_id, job["lease_id"], "w1", error="boom", retryable=True, delay_secs=None,
                             now=now)
        assert outcome is not None
        row, delay = outcome
        if delay is None:
            break
        delays.append(delay)
        assert lease_one(conn, now + timedelta(seconds=delay - 0.001)) is None      # not visible before the backoff
        now += timedelta(seconds=delay)
    assert delays == [5, 10, 20, 40]
    assert (row["status"], row["attempts"], row["error"]) == ("dead", 5, "boom")


def test_not_retryable_dies_at_once_and_delay_replaces_the_backoff(conn: sqlite3.Connection) -> None:
    a, _ = store.enqueue(conn, NewJob("q", "a", {}), T0)
    b, _ = store.enqueue(conn, NewJob("q", "b", {}), T0)
    ja, jb = lease_one(conn, T0), lease_one(conn, T0)
    assert ja is not None and jb is not None
    row, delay = store.fail(conn, a, ja["lease_id"], "w1", error="x" * 20_000, retryable=False, delay_secs=None,
                            now=T0) or (None, None)
    assert row is not None and delay is None and row["status"] == "dead" and len(row["error"]) == 10_000
    row, delay = store.fail(conn, b, jb["lease_id"], "w1", error="", retryable=True, delay_secs=0, now=T0) or (None, 1)
    assert delay == 0 and row is not None and row["status"] == "queued"
    assert lease_one(conn, T0) is not None


def test_priority_then_visibility_then_age(conn: sqlite3.Connection) -> None:
    ids = {}
    for name, priority in (("low", -5), ("old", 0), ("new", 0), ("high", 7)):
        ids[name], _ = store.enqueue(conn, NewJob("q", name, {}, priority=priority), T0)
    later, _ = store.enqueue(conn, NewJob("q", "retried", {}), T0)
    conn.execute("UPDATE jobs SET visible_at = ? WHERE id = ?", (store.iso(at(-10)), later))   # visible earlier
    order = [lease_one(conn, at(1))["kind"] for _ in range(5)]  # type: ignore[index]
    assert order == ["high", "retried", "old", "new", "low"]
    assert lease_one(conn, at(1)) is None


def test_queues_kinds_and_capacity(conn: sqlite3.Connection) -> None:
    for kind in ("a", "b", "c"):
        store.enqueue(conn, NewJob("actions", kind, {}), T0)
    store.enqueue(conn, NewJob("other", "z", {}), T0)
    rows = store.lease(conn, queues=["actions", "other"], capacity=10, visibility_secs=30, worker_id="w",
                       kinds=("b",), now=at(1))
    assert sorted(r["kind"] for r in rows) == ["b", "z"]
    rows = store.lease(conn, queues=["actions"], capacity=1, visibility_secs=30, worker_id="w", kinds=None, now=at(1))
    assert [r["kind"] for r in rows] == ["a"] and rows[0]["attempts"] == 1


def test_idempotency_key_per_queue_and_tenant(conn: sqlite3.Connection) -> None:
    first = store.enqueue(conn, NewJob("q", "k", {}, idempotency_key="x"), T0)
    assert first[1] is False
    assert store.enqueue(conn, NewJob("q", "other kind", {}, idempotency_key="x"), T0) == (first[0], True)
    acme = store.enqueue(conn, NewJob("q", "k", {}, tenant_id="acme", idempotency_key="x"), T0)
    assert acme[1] is False and acme[0] != first[0]
    assert store.enqueue(conn, NewJob("q2", "k", {}, idempotency_key="x"), T0)[1] is False
    assert store.enqueue(conn, NewJob("q", "k", {}, tenant_id="acme", idempotency_key="x"), T0) == (acme[0], True)
    with pytest.raises(integrity_errors()):       # the unique index backs the check
        conn.execute("INSERT INTO jobs (id, queue, kind, status, payload, visible_at, created_at, updated_at,"
                     " idempotency_key) VALUES ('dup', 'q', 'k', 'queued', '{}', '', '', '', 'x')")


def test_only_the_holder_extends_completes_or_fails(conn: sqlite3.Connection) -> None:
    job_id, _ = store.enqueue(conn, NewJob("q", "k", {}), T0)
    job = lease_one(conn, T0)
    assert job is not None
    lease = job["lease_id"]
    assert not store.extend(conn, job_id, lease, "w2", 30, T0)
    assert not store.extend(conn, job_id, "other", "w1", 30, T0)
    assert store.extend(conn, job_id, lease, "w1", 60, at(40), {"percent": 5})   # expired but not yet swept
    assert store.reclaim(conn, at(99)) == []                                      # extended to at(100)
    assert store.fail(conn, job_id, lease, "w2", error="", retryable=True, delay_secs=None, now=T0) is None
    assert store.complete(conn, job_id, lease, "w2", 1, T0) is None
    done = store.complete(conn, job_id, lease, "w1", {"ok": True}, at(50))
    assert done is not None and done["status"] == "succeeded" and done["lease_id"] is None
    assert store.complete(conn, job_id, lease, "w1", {"ok": True}, at(50)) is None


def test_reclaim_requeues_then_dead_letters(conn: sqlite3.Connection) -> None:
    job_id, _ = store.enqueue(conn, NewJob("q", "k", {}, max_attempts=2), T0)
    assert lease_one(conn, T0) is not None
    assert store.reclaim(conn, at(30)) == []                      # visibleAt == now: not expired yet
    [row] = store.reclaim(conn, at(31))
    assert (row["status"], row["attempts"], row["lease_id"]) == ("queued", 1, None)
    assert lease_one(conn, at(31)) is not None
    [row] = store.reclaim(conn, at(62))
    assert (row["status"], row["attempts"], row["error"]) == ("dead", 2, "lease expired")


def test_cancel_retry_and_revoke(conn: sqlite3.Connection) -> None:
    a, _ = store.enqueue(conn, NewJob("q", "a", {}), T0)
    b, _ = store.enqueue(conn, NewJob("q", "b", {}), T0)
    lease_one(conn, T0)
    assert store.cancel(conn, a, at(1))["status"] == "cancelled"
    with pytest.raises(ConflictError):
        store.cancel(conn, a, at(1))
    with pytest.raises(ConflictError):
        store.retry(conn, b, at(1))
    row = store.retry(conn, a, at(2))
    assert (row["status"], row["attempts"]) == ("queued", 0)
    conn.execute("INSERT INTO workers (id, name, token_hash, queues, capabilities, created_at)"
                 " VALUES ('w1', 'w', 'h', '[]', '[]', '')")
    lease_one(conn, at(3))
    lease_one(conn, at(3))
    released = store.release_worker(conn, "w1", at(4))
    assert {r["id"] for r in released} == {a, b} and {r["status"] for r in released} == {"queued"}
    with pytest.raises(NotFoundError):
        store.release_worker(conn, "w1", at(4))


def test_stats_and_recent(conn: sqlite3.Connection) -> None:
    for i in range(3):
        store.enqueue(conn, NewJob("q", f"k{i}", {}), at(i))
    store.enqueue(conn, NewJob("r", "x", {}), at(5))
    lease_one(conn, at(6), queues=["r"])
    stats = reports.stats(conn, at(10))
    assert stats["byStatus"] == {"queued": 3, "leased": 1, "succeeded": 0, "dead": 0, "cancelled": 0}
    assert stats["byQueue"] == [{"queue": "q", "status": "queued", "count": 3},
                                {"queue": "r", "status": "leased", "count": 1}]
    assert stats["oldestQueuedSeconds"] == 10.0
    assert [j["kind"] for j in reports.recent(conn, queue=None, status=None, limit=2, offset=0)] == ["x", "k2"]
    assert [j["kind"] for j in reports.recent(conn, queue="q", status="queued", limit=10, offset=1)] == ["k1", "k0"]
    conn.execute("DELETE FROM jobs")
    assert reports.stats(conn, at(10))["oldestQueuedSeconds"] is None


def test_on_postgres_concurrent_leases_skip_each_others_jobs(conn: sqlite3.Connection,
                                                             request: pytest.FixtureRequest) -> None:
    """PostgreSQL: two instances lease at once, each in its own transaction holding its rows; ``SKIP LOCKED``
    makes each take other jobs instead of waiting, and every job is leased exactly once."""
    if request.node.callspec.params["conn"] != "postgres":
        pytest.skip("SKIP LOCKED is PostgreSQL's")
    import threading

    from atomo.storage.pg_database import connect
    jobs = {store.enqueue(conn, NewJob("q", "k", {"n": n}), T0)[0] for n in range(30)}
    url = request.getfixturevalue("postgres_url")
    search_path = conn.execute("SHOW search_path").fetchone()[0]
    taken: dict[str, list[str]] = {"a": [], "b": []}

    def lessor(name: str) -> None:
        mine = connect(url)
        mine.execute(f"SET search_path TO {search_path}")
        while True:
            mine.execute("BEGIN")
            rows = store.lease(mine, queues=["q"], capacity=2, visibility_secs=30, worker_id=name,  # type: ignore[arg-type]
                               kinds=None, now=at(1))
            threading.Event().wait(0.005)              # the rows stay locked a moment: the other one skips them
            mine.execute("COMMIT")
            if not rows:
                break
            taken[name] += [r["id"] for r in rows]
        mine.close()

    threads = [threading.Thread(target=lessor, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    leased = taken["a"] + taken["b"]
    assert sorted(leased) == sorted(jobs), "every job leased exactly once"
    assert taken["a"] and taken["b"], "both lessors got jobs"
