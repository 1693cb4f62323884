"""CPU cost per create through the library: process CPU µs per operation and the CPU utilisation,
at 1 and 64 concurrent callers. CPU time per operation is steadier than wall time on a shared
machine, so use it to compare two versions of the write path.

Usage: python bench/write_cpu_bench.py [--ops 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from library_bench import SCHEMA  # the same Item model as the library benchmark

from atomo import Atomo
from atomo.config import load_settings


async def measure(concurrency: int, total: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "schema.ts").write_text(SCHEMA)
        async with Atomo(tmp, settings=load_settings({})) as app:
            done = 0

            async def caller() -> None:
                nonlocal done
                while done < total:
                    done += 1
                    await app.create("Item", {"name": "x", "qty": 3, "category": "c"})
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            sizes = app.runtime.db.stats.batch_sizes
            print(f"c={concurrency:<3} {done / wall:8.0f} creates/s  CPU {cpu / done * 1e6:6.1f} µs/op  "
                  f"utilisation {cpu / wall:4.2f} cores  mean batch {sum(sizes) / len(sizes):5.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20000)
    args = parser.parse_args()
    for concurrency in (1, 64):
        asyncio.run(measure(concurrency, args.ops))


if __name__ == "__main__":
    main()
