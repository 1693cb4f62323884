"""WAL size under sustained writes: back-to-back creates through the library at 1 and 16 concurrent
callers, the largest ``-wal`` file seen (sampled every 20 ms) and the creates/s, so the cost of keeping
the WAL bounded shows next to the bound.

Usage: python bench/wal_bench.py [--ops 3000] [--wal-bytes N]   (N sets ATOMO_WAL_CHECKPOINT_BYTES)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from library_bench import SCHEMA

from atomo import Atomo
from atomo.config import load_settings


async def measure(concurrency: int, total: int, env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "schema.ts").write_text(SCHEMA)
        async with Atomo(tmp, settings=load_settings(env)) as app:
            wal = app.runtime.project.data_file.with_name(app.runtime.project.data_file.name + "-wal")
            largest, done, running = 0, 0, True

            async def sample() -> None:
                nonlocal largest
                while running:
                    try:
                        largest = max(largest, os.path.getsize(wal))
                    except OSError:
                        pass
                    await asyncio.sleep(0.02)

            async def caller() -> None:
                nonlocal done
                while done < total:
                    done += 1
                    await app.create("Item", {"name": "x" * 200, "qty": 3, "category": "c"})
            sampler = asyncio.create_task(sample())
            wall = time.perf_counter()
            await asyncio.gather(*(caller() for _ in range(concurrency)))
            wall = time.perf_counter() - wall
            running = False
            await sampler
            db = os.path.getsize(app.runtime.project.data_file)
            print(f"c={concurrency:<3} {done / wall:8.0f} creates/s  largest WAL {largest / 2**20:7.1f} MiB  "
                  f"database {db / 2**20:6.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--wal-bytes", type=int, default=None)
    args = parser.parse_args()
    env = {} if args.wal_bytes is None else {"ATOMO_WAL_CHECKPOINT_BYTES": str(args.wal_bytes)}
    for concurrency in (1, 16):
        asyncio.run(measure(concurrency, args.ops, env))


if __name__ == "__main__":
    main()
