"""Appends to the event store over GraphQL (issue 18): `appendEvents` with 1-event batches at concurrency 8 (each
request a new stream, as new orders would be) and with 100-event batches, next to a generic create of the
bundled sample as the reference write. One Atomo server (bundled sample, admin token); requests/s, events/s,
p50/p99; responses with an error counted apart (a GraphQL error is an HTTP 200). Reports numbers; asserts nothing.

Usage: python bench/event_store_bench.py [--seconds 10] [--concurrency 8] [--generator auto|wrk|python]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from atomo_peer import AtomoPeer  # noqa: E402
from loadgen import MARKER, Request, resolve_generator, run_load  # noqa: E402

APPEND = "mutation($s: String!, $e: [NewEventInput!]!) { appendEvents(stream: $s, events: $e) { version } }"


def append(peer: AtomoPeer, batch: int, run: str) -> Request:
    events = [{"type": "OrderLineAdded", "data": {"sku": f"sku-{n}", "qty": 1 + n % 3, "price": 9.5},
               "metadata": {"source": "bench"}} for n in range(batch)]
    body = json.dumps({"query": APPEND, "variables": {"s": f"order-{run}-{MARKER}", "e": events}})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {peer.token}"}
    return Request("POST", "/graphql", headers, body, unique=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--generator", default="auto", choices=("auto", "wrk", "python"))
    args = parser.parse_args()
    generator = resolve_generator(args.generator)
    peer = AtomoPeer()
    try:
        peer.start()
        peer.login()
        print(f"atomo {peer.code_version()}, generator {generator}, c={args.concurrency}, {args.seconds:.0f} s each")
        print(f"{'request':<24} {'req/s':>8} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
        runs = [("create (reference)", peer.create_request(), 1), ("append 1 event", append(peer, 1, "one"), 1),
                ("append 100 events", append(peer, 100, "hundred"), 100)]
        for n, (label, request, batch) in enumerate(runs):       # the run label goes into unique e-mails
            run_load(peer.base_url, request, concurrency=args.concurrency, seconds=1.0, generator=generator,
                     label=f"warm{n}")
            result = run_load(peer.base_url, request, concurrency=args.concurrency, seconds=args.seconds,
                              generator=generator, label=f"run{n}")
            good = result.requests - result.bad_responses - result.transport_errors
            print(f"{label:<24} {good / result.seconds:8.0f} {good * batch / result.seconds:9.0f} "
                  f"{result.p50_ms:7.1f} {result.p99_ms:7.1f} {result.bad_responses + result.transport_errors:7d}")
    finally:
        peer.close()


if __name__ == "__main__":
    main()
