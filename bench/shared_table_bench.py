"""Rate-limit buckets in one process's memory vs in the shared table of ``atomo serve --workers N``.

Times ``take`` per call: ``TokenBuckets`` (in memory) and ``SharedTokenBuckets`` (the table file mapped,
a byte-range lock per call), on a few hot keys (hashes cached) and on distinct keys (each one new:
hashing and a slot to find); then the shared table again with ``--procs`` processes taking at once
(one table, lock contention), and the connection cap's acquire + release. The table lives in a temp
folder (on /dev/shm when it exists, as the supervisor's should). Reports numbers; asserts nothing.

Usage: python bench/shared_table_bench.py [--calls 200000] [--procs 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from atomo.cluster.shared_table import SharedConnectionCap, SharedTable, SharedTokenBuckets, create_table
from atomo.http.ratelimit import TokenBuckets

HOT_KEYS = [f"10.0.0.{i}" for i in range(16)]


def per_call(calls: int, run: Any) -> float:
    """Microseconds per call of ``run(i)``, the best of three rounds."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for i in range(calls):
            run(i)
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def takes(buckets: Any, calls: int, distinct: bool) -> float:
    take = buckets.take
    if distinct:
        keys = [f"client-{i}" for i in range(calls * 3)]
        counter = iter(keys)
        return per_call(calls, lambda _: take(next(counter)))
    return per_call(calls, lambda i: take(HOT_KEYS[i & 15]))


def worker(path: str, calls: int, out: Any) -> None:
    table = SharedTable.open(path)
    buckets = SharedTokenBuckets(table, "bench", 1_000_000, 1.0)
    out.put(per_call(calls, lambda i: buckets.take(HOT_KEYS[i & 15])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as folder:
        path = create_table(Path(folder) / "shared.table")
        table = SharedTable.open(path)
        results: dict[str, float] = {
            "memory_hot_us": takes(TokenBuckets(1_000_000, 1.0), args.calls, distinct=False),
            "shared_hot_us": takes(SharedTokenBuckets(table, "hot", 1_000_000, 1.0), args.calls, distinct=False),
            "memory_distinct_us": takes(TokenBuckets(100, 60.0), args.calls, distinct=True),
            "shared_distinct_us": takes(SharedTokenBuckets(table, "distinct", 100, 60.0), args.calls, distinct=True),
        }
        cap = SharedConnectionCap(table, 0, 1_000_000)
        results["shared_conn_acquire_release_us"] = per_call(
            args.calls // 4, lambda i: (cap.acquire(HOT_KEYS[i & 15]), cap.release(HOT_KEYS[i & 15])))
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        procs = [context.Process(target=worker, args=(str(path), args.calls // 2, out)) for _ in range(args.procs)]
        for proc in procs:
            proc.start()
        concurrent = [out.get() for _ in procs]
        for proc in procs:
            proc.join()
        results[f"shared_hot_{args.procs}_procs_us"] = sum(concurrent) / len(concurrent)
        results["file_bytes"] = os.path.getsize(path)
        results["file_resident_bytes"] = os.stat(path).st_blocks * 512
        table.close()
    if args.json:
        print(json.dumps(results))
        return
    print(f"cpus: {os.cpu_count()}")
    for name, value in results.items():
        print(f"{name:34} {value:12.2f}" if name.endswith("_us") else f"{name:34} {value:12,d}")


if __name__ == "__main__":
    main()
