"""Snapshot/reset for test suites: the time of ``Atomo.reset()`` on the bundled sample after boot + seed.

For a data file in a temp folder and for ``:memory:`` (a private file on tmpfs): boot, seed, snapshot, then
``--resets`` times: a few writes (``--writes`` creates, one update, one custom event), then a timed reset.
Also shown: the time of the snapshot, the file size, and the in-process boot (open + migrate + seed).
Reports numbers; asserts nothing beyond each reset landing on the snapshot's log position.

Usage: python bench/reset_bench.py [--resets 200] [--writes 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from atomo import Atomo
from atomo.config import load_settings
from atomo.storage.events import NewEvent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(data_file: str, folder: Path, resets: int, writes: int) -> dict[str, Any]:
    started = time.perf_counter()
    app = Atomo(folder, data_file=data_file, settings=load_settings({}))   # empty folder: the bundled sample
    await app.start()
    boot_ms = (time.perf_counter() - started) * 1000
    try:
        if app.runtime.seeded is None:          # an existing file is not seeded again
            raise SystemExit(f"{data_file}: expected a new data file")
        started = time.perf_counter()
        await app.snapshot()
        snapshot_ms = (time.perf_counter() - started) * 1000
        position = await app.events.last_position()
        times = []
        for i in range(resets):
            made = None
            for w in range(writes):
                made = await app.create("Contact", {"firstName": "Bench", "lastName": f"{i}-{w}"})
            if made is not None:
                await app.update("Contact", id=made["id"], data={"lastName": "updated"})
            await app.events.append("bench", [NewEvent("Ran", {"i": i})])
            started = time.perf_counter()
            restored = await app.reset()
            times.append((time.perf_counter() - started) * 1000)
            assert restored == position
        assert await app.count("Contact") == 6
        size = app.runtime.db.path.stat().st_size
        where = str(app.runtime.db.path.parent.parent) if data_file == ":memory:" else "temp folder"
    finally:
        await app.close()
    return {"dataFile": data_file, "where": where, "fileBytes": size, "bootMs": round(boot_ms, 1),
            "snapshotMs": round(snapshot_ms, 3), "resets": resets, "writesBetween": writes + 2,
            "resetP50Ms": round(percentile(times, 50), 3), "resetP95Ms": round(percentile(times, 95), 3),
            "resetMaxMs": round(max(times), 3), "resetMeanMs": round(statistics.fmean(times), 3)}


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="atomo-reset-bench-") as tmp:
        for label, data_file in (("file", str(Path(tmp) / "file" / "atomo.db")), ("memory", ":memory:")):
            folder = Path(tmp) / f"project-{label}"
            folder.mkdir()
            results.append(await measure(data_file, folder, args.resets, args.writes))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resets", type=int, default=200)
    parser.add_argument("--writes", type=int, default=5, help="creates before each reset (plus an update and an event)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    rows = asyncio.run(main(options))
    if options.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        for r in rows:
            shown = "temp file" if r["dataFile"] != ":memory:" else f":memory: ({r['where']})"
            print(f"{shown:22} reset p50 {r['resetP50Ms']:.3f} ms  p95 {r['resetP95Ms']:.3f} ms  "
                  f"max {r['resetMaxMs']:.3f} ms  ({r['resets']} resets, {r['writesBetween']} writes between; "
                  f"snapshot {r['snapshotMs']:.3f} ms, file {r['fileBytes'] // 1024} KiB, boot {r['bootMs']} ms)")
