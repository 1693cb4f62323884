"""Event appends through ``Database.write`` on both backends (issue 21): SQLite's file and PostgreSQL.

The same unit (``EventAppender.append_many`` of one event to a new stream) is written by N concurrent callers
for a fixed time on: a SQLite data file (WAL, synchronous=NORMAL: what a server uses), and ``PgDatabase`` on a
throwaway PostgreSQL from ``atomo.testing.postgres`` with ``synchronous_commit`` off (comparable to NORMAL) and
on (every commit flushed). Reports appends/s, write transactions/s and appends per transaction (group commit),
and the p50/p99 of one write's latency. Reports numbers; asserts nothing.

Usage: python bench/backend_write_bench.py [--seconds 5] [--concurrency 1 8 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atomo.storage.database import Database  # noqa: E402
from atomo.storage.events import EventAppender, NewEvent  # noqa: E402
from atomo.storage.platform import create_platform_tables  # noqa: E402

APPENDER = EventAppender()


def unit(stream: str) -> Any:
    def run(conn: Any) -> Any:
        return APPENDER.append_many(conn, stream, [NewEvent("created", {"name": stream, "n": 1})], None,
                                    actor="bench", tenant_id=None, origin="bench",
                                    recorded_at="2026-12-06T00:00:00.000000+00:00")
    return run


async def measure(db: Database, concurrency: int, seconds: float, label: str) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def caller(i: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await db.write(unit(f"Item/{label}-{i}-{next(counter)}"))
            latencies.append(time.perf_counter() - started)
    tx0 = db.stats.transactions
    began = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    wall = time.perf_counter() - began
    tx = db.stats.transactions - tx0
    latencies.sort()
    return {"appends_s": len(latencies) / wall, "tx_s": tx / wall, "per_tx": len(latencies) / max(tx, 1),
            "p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)]}


async def run_one(name: str, db: Database, args: argparse.Namespace) -> None:
    await db.start()
    try:
        await db.write(create_platform_tables, exclusive=True)
        for concurrency in args.concurrency:
            await measure(db, concurrency, 1.0, f"warm{concurrency}")
            r = await measure(db, concurrency, args.seconds, f"c{concurrency}")
            print(f"{name:28s} c={concurrency:<3d} {r['appends_s']:>8,.0f} appends/s {r['tx_s']:>7,.0f} tx/s "
                  f"{r['per_tx']:>6.1f} per tx  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms", flush=True)
    finally:
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        await run_one("sqlite (WAL, NORMAL)", Database(Path(folder) / "bench.db"), args)
    from atomo.storage.pg_database import PgDatabase
    from atomo.testing.postgres import TemporaryPostgres
    for commit in ("off", "on"):
        with TemporaryPostgres(settings={"synchronous_commit": commit, "fsync": "on", "full_page_writes": "on"},
                               parent=Path(tempfile.gettempdir())) as server:      # on the disk, like SQLite's file
            await run_one(f"postgres (sync commit {commit})", PgDatabase(server.url), args)


if __name__ == "__main__":
    asyncio.run(main())
