"""Create throughput of `atomo serve --workers N` for several N and concurrencies, with what the writers did.

For each worker count, one server on an empty project (the bundled CRM sample, rate limits off, see
``atomo_peer.py``); for each concurrency a warm-up, then a measured closed-loop run of the GraphQL ``create``
of a Contact (``loadgen.py``: wrk when installed). Around each run ``/metrics`` is scraped (in a group it adds
up every worker), giving the write transactions per second, writes per transaction (group commit) and the
mean time of one transaction (BEGIN to COMMIT, the writer lock held): the lock is held ``busy`` of the time.
CPU is read from /proc for the supervisor and each worker. Reports numbers; asserts nothing.

Usage: python bench/write_scaling_bench.py [--workers 1 2 3] [--concurrency 1 8 64] [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from atomo_peer import AtomoPeer  # noqa: E402
from loadgen import resolve_generator, run_load  # noqa: E402

SERIES = ("db_write_transactions_total", "db_write_batch_size_sum", "db_write_commit_duration_seconds_sum")


def scrape(base_url: str) -> dict[str, float]:
    text = httpx.get(base_url + "/metrics", timeout=30.0).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in SERIES and not sample.labels:
                found[sample.name] = sample.value
    return found


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *map(int, out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", nargs="+", default=["1", "2"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    generator = resolve_generator(args.generator)
    print(f"{os.cpu_count()} cores, generator {generator}; creates of a Contact over POST /graphql")
    print(f"{'workers':>7s} {'conc':>4s} | {'req/s':>7s} {'p50':>6s} {'p99':>6s} {'bad':>4s} | {'tx/s':>6s} "
          f"{'writes/tx':>9s} {'tx ms':>6s} {'lock busy':>9s} | cores: supervisor/worker...")
    for workers in args.workers:
        peer = AtomoPeer(workers=workers)
        try:
            peer.start()
            peer.login()
            request = peer.create_request()
            pids = processes(peer.pid)
            for concurrency in args.concurrency:
                run_load(peer.base_url, request, concurrency=concurrency, seconds=args.warmup, generator=generator,
                         threads=1, label=f"w{workers}-c{concurrency}-warm")
                before, cpu0, t0 = scrape(peer.base_url), [cpu_s(p) for p in pids], time.perf_counter()
                result = run_load(peer.base_url, request, concurrency=concurrency, seconds=args.seconds,
                                  generator=generator, threads=1, label=f"w{workers}-c{concurrency}")
                wall = time.perf_counter() - t0
                after, cpu1 = scrape(peer.base_url), [cpu_s(p) for p in pids]
                tx, writes, secs = (after[k] - before.get(k, 0.0) for k in SERIES)
                cores = "/".join(f"{(b - a) / wall:.2f}" for a, b in zip(cpu0, cpu1, strict=True))
                print(f"{workers:>7s} {concurrency:>4d} | {result.rps:>7.0f} {result.p50_ms:>6.2f} {result.p99_ms:>6.2f} "
                      f"{result.bad_responses + result.transport_errors:>4d} | {tx / wall:>6.0f} "
                      f"{writes / tx if tx else 0:>9.2f} {1000 * secs / tx if tx else 0:>6.3f} {secs / wall:>9.2f} | "
                      f"{cores}", flush=True)
        finally:
            peer.close()


if __name__ == "__main__":
    main()
