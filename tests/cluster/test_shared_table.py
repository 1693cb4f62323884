"""The shared table of ``atomo serve --workers N``: buckets and connection counts across real processes.

The processes are started with ``spawn`` (a fresh interpreter each, as the supervisor's workers): each
opens the table file itself and they hammer it at once, behind a barrier.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from atomo.cluster.shared_table import (
    SharedConnectionCap,
    SharedTable,
    SharedTokenBuckets,
    create_table,
    forget_worker,
)
from atomo.errors import RateLimitedError
from atomo.http.ratelimit import LoginLimiter, TokenBuckets

PROCESSES = 4
SPAWN = multiprocessing.get_context("spawn")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return create_table(tmp_path / "shared.table")


@pytest.fixture
def table(path: Path) -> Any:
    with SharedTable.open(path) as opened:
        yield opened


def in_processes(target: Any, *args: Any) -> list[Any]:
    """Run ``target(index, barrier, *args)`` in PROCESSES spawned processes; their results by index."""
    barrier, results = SPAWN.Barrier(PROCESSES), SPAWN.Queue()
    procs = [SPAWN.Process(target=_run, args=(results, target, i, barrier, *args)) for i in range(PROCESSES)]
    for proc in procs:
        proc.start()
    answers = dict(results.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return [answers[i] for i in range(PROCESSES)]


def _run(results: Any, target: Any, index: int, barrier: Any, *args: Any) -> None:
    results.put((index, target(index, barrier, *args)))


# -- what the processes do -------------------------------------------------------------------------
def _takes(index: int, barrier: Any, path: str, attempts: int) -> int:
    with SharedTable.open(path) as table:
        buckets = SharedTokenBuckets(table, "requests", 100, 3600.0)   # refill: 1 token per 36 s
        noise = SharedTokenBuckets(table, "requests", 100, 3600.0)
        barrier.wait()
        allowed = 0
        for i in range(attempts):
            allowed += buckets.take("10.0.0.1") == 0.0
            noise.take(f"other-{index}-{i}")
        return allowed


def _logins(index: int, barrier: Any, path: str) -> int:
    with SharedTable.open(path) as table:
        limiter = LoginLimiter(5, 50, 300, account_attempts=20,
                               buckets=lambda kind, capacity, window: SharedTokenBuckets(table, kind, capacity, window))
        barrier.wait()
        admitted = 0
        for _ in range(10):
            try:
                limiter.acquire("10.0.0.1", "a@x")
            except RateLimitedError:
                continue
            admitted += 1           # a wrong password: the attempt keeps its tokens
        return admitted


def _connections(index: int, barrier: Any, path: str) -> int:
    with SharedTable.open(path) as table:
        cap = SharedConnectionCap(table, index, 20)
        barrier.wait()
        return sum(cap.acquire("10.0.0.1") for _ in range(10))


def _hashes(index: int, barrier: Any, path: str) -> list[int]:
    with SharedTable.open(path) as table:
        key_hash = table.hasher("requests")
        return [key_hash("10.0.0.1"), key_hash(("10.0.0.1", "a@x")), key_hash("é")]


# -- across processes ------------------------------------------------------------------------------
def test_the_capacity_holds_for_all_processes_together(path: Path, table: SharedTable) -> None:
    allowed = in_processes(_takes, str(path), 60)       # 240 attempts, 100 tokens
    assert sum(allowed) == 100
    assert SharedTokenBuckets(table, "requests", 100, 3600.0).take("10.0.0.1") > 0


def test_the_login_limiter_over_shared_buckets(path: Path, table: SharedTable) -> None:
    admitted = in_processes(_logins, str(path))
    assert sum(admitted) == 5                           # LOGIN_RATE_LIMIT_ATTEMPTS per (IP, email), not 4 x 5
    pairs = SharedTokenBuckets(table, "login.pairs", 5, 300)
    assert pairs.tokens(("10.0.0.1", "a@x")) < 1
    assert SharedTokenBuckets(table, "login.ips", 50, 300).tokens("10.0.0.1") == pytest.approx(45, abs=0.1)


def test_connection_counts_are_summed_and_a_dead_worker_is_forgotten(path: Path, table: SharedTable) -> None:
    admitted = in_processes(_connections, str(path))    # 40 attempts, at most 20 open
    assert sum(admitted) == 20
    cap = SharedConnectionCap(table, 0, 20)
    assert cap.count("10.0.0.1") == 20 and not cap.acquire("10.0.0.1")
    forget_worker(path, 1)                              # worker 1 exited: its connections are gone
    assert cap.count("10.0.0.1") == 20 - admitted[1]
    for index in (0, 2, 3):
        forget_worker(path, index)
    assert cap.count("10.0.0.1") == 0 and cap.acquire("10.0.0.1")
    cap.release("10.0.0.1")
    assert cap.count("10.0.0.1") == 0


def test_key_hashes_are_the_same_in_every_process(path: Path, table: SharedTable) -> None:
    hashes = in_processes(_hashes, str(path))
    key_hash = table.hasher("requests")
    assert hashes == [[key_hash("10.0.0.1"), key_hash(("10.0.0.1", "a@x")), key_hash("é")]] * PROCESSES
    assert len(set(hashes[0])) == 3 and table.hasher("login.ips")("10.0.0.1") != hashes[0][0]


def test_another_table_has_another_salt(tmp_path: Path, table: SharedTable) -> None:
    with SharedTable.open(create_table(tmp_path / "other.table")) as other:
        assert other.hasher("requests")("10.0.0.1") != table.hasher("requests")("10.0.0.1")


# -- the semantics of TokenBuckets -----------------------------------------------------------------
@pytest.mark.parametrize("shared", [False, True])
def test_same_answers_as_the_buckets_in_memory(shared: bool, table: SharedTable) -> None:
    clock = Clock()
    buckets: Any = (SharedTokenBuckets(table, "t", 4, 2.0, clock=clock) if shared
                    else TokenBuckets(4, 2.0, clock=clock))
    assert [buckets.take("a") for _ in range(4)] == [0.0] * 4
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    clock.now += 10
    assert [buckets.take("a") == 0.0 for _ in range(5)] == [True] * 4 + [False]
    assert buckets.take("b") == 0.0 and buckets.tokens("b") == 3.0
    buckets.give_back("b")
    assert buckets.tokens("b") == 4.0 and buckets.wait("a") == pytest.approx(0.5)
    buckets.reset("a")
    assert buckets.tokens("a") == 4.0
    assert [buckets.take("c") for _ in range(4)] == [0.0] * 4
    for _ in range(3):                                  # refused checks do not push the refill back
        clock.now += 0.125
        assert buckets.take("c") > 0
    clock.now += 0.125
    assert buckets.take("c") == 0.0 and buckets.tokens("c") == 0.0


def test_login_limiter_with_shared_buckets(table: SharedTable) -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=2, ip_attempts=3, window_secs=300, account_attempts=100, clock=clock,
                           buckets=lambda kind, cap, window: SharedTokenBuckets(table, kind, cap, window, clock=clock))
    limiter.acquire("ip", "a@x")
    limiter.acquire("ip", "a@x")
    limiter.succeeded("ip", "a@x")
    limiter.acquire("ip", "a@x")
    limiter.acquire("ip", "a@x")
    with pytest.raises(RateLimitedError) as refused:
        limiter.acquire("ip", "a@x")
    assert refused.value.details == {"retryAfter": 150}
    with pytest.raises(RateLimitedError):
        limiter.acquire("ip", "b@x")
    limiter.acquire("other-ip", "a@x")
    clock.now += 150
    limiter.acquire("ip", "a@x")
    limiter.clear()
    assert limiter.pairs.tokens(("ip", "a@x")) == 2.0 and len(limiter.ips) == 0


def test_clear_and_len_are_per_namespace(table: SharedTable) -> None:
    requests = SharedTokenBuckets(table, "requests", 10, 60.0)
    logins = SharedTokenBuckets(table, "login.ips", 10, 60.0)
    for i in range(100):
        requests.take(f"ip-{i}")
        logins.take(f"ip-{i}")
    assert len(requests) == 100 and len(logins) == 100
    requests.clear()
    assert len(requests) == 0 and len(logins) == 100 and logins.tokens("ip-7") < 10


def test_a_full_bucket_leaves_the_table(table: SharedTable) -> None:
    clock = Clock()
    buckets = SharedTokenBuckets(table, "t", 10, 5.0, clock=clock)
    for i in range(1000):
        buckets.take(f"ip-{i}")
    assert len(buckets) == 1000
    clock.now += 5.1                                    # full again: the same as absent
    assert len(buckets) == 0 and buckets.tokens("ip-1") == 10.0


# -- bounds ----------------------------------------------------------------------------------------
def test_a_full_stripe_forgets_the_bucket_closest_to_full(tmp_path: Path) -> None:
    clock = Clock()
    with SharedTable.open(create_table(tmp_path / "small.table", slots=8)) as table:   # one bucket of 8 slots
        buckets = SharedTokenBuckets(table, "t", 2, 10.0, clock=clock)
        for i in range(8):
            buckets.take(f"k{i}")
            buckets.take(f"k{i}") if i else None       # k0: 1 token left (closest to full); the others: 0
            clock.now += 0.001
        buckets.take("new")
        assert buckets.tokens("k0") == 2.0                          # forgotten: a full bucket again
        assert all(buckets.tokens(f"k{i}") < 1 for i in range(1, 8))  # the emptier ones are kept


def test_memory_is_bounded_under_a_million_distinct_keys(tmp_path: Path) -> None:
    path = create_table(tmp_path / "shared.table", slots=1 << 12)
    size = os.path.getsize(path)
    with SharedTable.open(path) as table:
        buckets = SharedTokenBuckets(table, "requests", 100, 60.0)
        for i in range(1_000_000):
            buckets.take(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
        # (a busy machine refills ~1.7 tokens/s between the takes: not a fixed 98)
        assert buckets.take("10.15.66.63") == 0.0 and buckets.tokens("10.15.66.63") == pytest.approx(98.0, abs=0.5)
        assert len(buckets) <= 1 << 12
    assert os.path.getsize(path) == size and os.stat(path).st_blocks * 512 <= size


def test_connections_beyond_the_table_are_admitted_uncounted(tmp_path: Path) -> None:
    with SharedTable.open(create_table(tmp_path / "small.table", count_slots=8, workers=2)) as table:
        cap = SharedConnectionCap(table, 1, 1)
        assert all(cap.acquire(f"ip-{i}") for i in range(8)) and not cap.acquire("ip-3")
        assert cap.acquire("ip-8") and cap.untracked == {"ip-8": 1}
        cap.release("ip-8")
        cap.release("ip-3")
        assert not cap.untracked and cap.count("ip-3") == 0 and cap.acquire("ip-9")


def test_worker_indexes_are_checked(table: SharedTable, path: Path) -> None:
    with pytest.raises(ValueError):
        SharedConnectionCap(table, table.workers, 1)
    with pytest.raises(ValueError):
        forget_worker(path, table.workers)
    with pytest.raises(ValueError):
        create_table(path, slots=100)


def test_unlimited_counts_nothing(table: SharedTable) -> None:
    cap = SharedConnectionCap(table, 0, 0)
    assert all(cap.acquire("ip") for _ in range(100)) and cap.count("ip") == 0


# -- wiring ----------------------------------------------------------------------------------------
def test_services_choose_the_shared_limits_in_a_group(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from atomo.config import load_settings
    from atomo.http.services import limiters
    from atomo.realtime.handshake import ConnectionCap
    from atomo.realtime.plugin import connection_cap

    settings = load_settings({}, rate_limit_rps=3, realtime_max_conn_per_ip=2)
    login, requests, table = limiters(settings, None)              # alone: in memory, as before
    assert type(requests) is TokenBuckets and type(login.pairs) is TokenBuckets and table is None
    assert limiters(load_settings({}, rate_limit_rps=0), None)[1] is None
    alone = SimpleNamespace(settings=settings, runtime=SimpleNamespace(member=None), shared_table=None)
    assert type(connection_cap(alone)) is ConnectionCap    # type: ignore[arg-type]

    member = SimpleNamespace(index=1, table_path=tmp_path / "shared.table")   # what they read of a Member
    create_table(member.table_path, workers=2)
    login, requests, table = limiters(settings, member)     # type: ignore[arg-type]
    assert isinstance(requests, SharedTokenBuckets) and isinstance(login.accounts, SharedTokenBuckets)
    assert table is not None
    try:
        worker = SimpleNamespace(settings=settings, runtime=SimpleNamespace(member=member), shared_table=table)
        cap = connection_cap(worker)                       # type: ignore[arg-type]
        assert isinstance(cap, SharedConnectionCap) and cap.worker == 1 and cap.limit == 2
        other = SharedConnectionCap(table, 0, 2)
        assert cap.acquire("ip") and other.acquire("ip") and not cap.acquire("ip")
        assert [requests.take("ip") for _ in range(4)][3] > 0
        assert SharedTokenBuckets(table, "requests", 3, settings.rate_limit_window_secs).take("ip") > 0
    finally:
        table.close()
