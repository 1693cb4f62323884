"""Request shapes against one Atomo server in rounds (A B A B …): req/s, p99 and the server's CPU per request.

Shared by the benches that compare ways of doing the same thing on one server (``typed_bench.py``,
``idempotency_bench.py``). Bad responses (non-2xx, a GraphQL ``errors`` key) and transport errors are counted
apart. Reports numbers; asserts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from atomo_peer import AtomoPeer
from benchutil import cpu_s
from loadgen import Request, run_load


def run_rounds(peer: AtomoPeer, shapes: dict[str, Callable[[str], Request]], *, rounds: int, seconds: float,
               warmup: float, concurrency: int, generator: str) -> dict[str, float]:
    """Each shape (a function of a run label giving its request) for ``seconds`` per round, after a warm-up;
    prints a line per run and the summary; returns the server CPU µs per request of each shape."""
    totals: dict[str, list[tuple[float, int, int, float]]] = {name: [] for name in shapes}
    for round_no in range(rounds):
        for name, make in shapes.items():
            if warmup:
                run_load(peer.base_url, make(f"{name}-{round_no}-warm"), concurrency=concurrency, seconds=warmup,
                         generator=generator, label=f"{name}-warm")
            cpu0, wall0 = cpu_s(peer.pid), time.perf_counter()
            result = run_load(peer.base_url, make(f"{name}-{round_no}"), concurrency=concurrency, seconds=seconds,
                              generator=generator, label=f"{name}-{round_no}")
            cpu, wall = cpu_s(peer.pid) - cpu0, time.perf_counter() - wall0
            bad = result.bad_responses + result.transport_errors
            totals[name].append((cpu, result.requests, bad, result.rps))
            print(f"round {round_no + 1} {name:18s} {result.rps:8.0f} req/s  p99 {result.p99_ms:6.2f} ms  "
                  f"server CPU {cpu / max(result.requests, 1) * 1e6:7.1f} µs/req  bad {bad}  ({wall:.1f} s)", flush=True)
    print()
    print(f"{'shape':18s} {'req/s':>8s} {'CPU µs/req':>11s} {'bad':>5s}   (all rounds, c={concurrency}, {generator})")
    per_request = {}
    for name, rows in totals.items():
        cpu, count, bad = sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows)
        per_request[name] = cpu / max(count, 1) * 1e6
        print(f"{name:18s} {sum(r[3] for r in rows) / len(rows):8.0f} {per_request[name]:11.1f} {bad:5d}")
    print()
    return per_request
