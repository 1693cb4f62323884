"""Library-level throughput: creates and filtered reads at 1, 16 and 64 concurrent callers,
with and without group commit, on a table prefilled to 100k rows.

Reports numbers; asserts nothing. Usage: python bench/library_bench.py [--rows 100000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from atomo import Atomo
from atomo.config import load_settings

SCHEMA = """
export interface Item {
  id: string
  name: string
  qty: number
  category: string   // @index
  note?: string
  // @@index([category, createdAt])
}
"""
CATEGORIES = [f"cat-{i}" for i in range(50)]


async def prefill(app: Atomo, rows: int) -> None:
    have = await app.count("Item")
    sem = asyncio.Semaphore(256)

    async def one(i: int) -> None:
        async with sem:
            await app.create("Item", {"name": f"item {i}", "qty": i % 97, "category": CATEGORIES[i % 50]})
    await asyncio.gather(*(one(i) for i in range(have, rows)))


async def run_for(seconds: float, concurrency: int, op) -> float:  # noqa: ANN001
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < stop:
            await op(w, i)
            i += 1
            done += 1
    start = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return done / (time.perf_counter() - start)


async def bench(rows: int, seconds: float, group_commit: bool, folder: Path) -> dict[str, float]:
    settings = load_settings({}, write_batch_max=256 if group_commit else 1)
    (folder / "schema.ts").write_text(SCHEMA)
    results: dict[str, float] = {}
    async with Atomo(folder, settings=settings) as app:
        t = time.perf_counter()
        await prefill(app, rows)
        results["prefill_s"] = round(time.perf_counter() - t, 2)

        async def create(w: int, i: int) -> None:
            await app.create("Item", {"name": f"w{w}-{i}", "qty": i % 97, "category": CATEGORIES[i % 50]})

        async def read(w: int, i: int) -> None:
            await app.records("Item", where={"category": CATEGORIES[(w + i) % 50], "qty": {"gte": 10}},
                              order_by={"createdAt": "desc"}, limit=20)
        for c in (1, 16, 64):
            results[f"create_c{c}"] = round(await run_for(seconds, c, create))
        for c in (1, 16, 64):
            results[f"read_c{c}"] = round(await run_for(seconds, c, read))
        results["batch_max"] = max(app.runtime.db.stats.batch_sizes[-1000:])
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--group-commit-only", action="store_true", help="skip the one-transaction-per-write run")
    args = parser.parse_args()
    report = {}
    modes = (True,) if args.group_commit_only else (True, False)
    for group_commit in modes:
        with tempfile.TemporaryDirectory() as tmp:
            report["group_commit" if group_commit else "one_txn_per_write"] = asyncio.run(
                bench(args.rows, args.seconds, group_commit, Path(tmp)))
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
