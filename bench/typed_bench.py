"""Typed vs generic GraphQL: server CPU per request of the same operation through both APIs.

One Atomo server (bundled CRM sample, ``python -m atomo serve``, see ``atomo_peer.py``) is driven by
the same closed-loop generator (wrk when installed) with each request shape in turn, rounds A B A B,
and the server process's CPU time is divided by the requests answered. Shapes:

- ``create``: generic ``create(model: "Contact", data: $data)`` (JSONObject result);
- ``createContact``: typed ``createContact(data: $data) { ...every field }``;
- ``createContact-id``: typed, selecting only ``id``;
- ``records``: generic filtered read, limit 20; ``contacts``: the typed twin selecting every field.

A response with a GraphQL ``errors`` key or a non-2xx status counts as bad and is reported apart.
Reports numbers; asserts nothing.

Usage: python bench/typed_bench.py [--seconds 5] [--warmup 1] [--concurrency 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from atomo_peer import READ_QUERY, AtomoPeer  # noqa: E402
from benchutil import cpu_s  # noqa: E402
from loadgen import MARKER, Request, resolve_generator, run_load  # noqa: E402

FIELDS = "id firstName lastName email phone companyId tags notes ownerId createdAt updatedAt deletedAt tenantId _version"
SHAPES = {
    "create": ('mutation Create($data: JSON!) { create(model: "Contact", data: $data) }', True),
    "createContact": (f"mutation Create($data: ContactCreateInput!) {{ createContact(data: $data) {{ {FIELDS} }} }}",
                      True),
    "createContact-id": ("mutation Create($data: ContactCreateInput!) { createContact(data: $data) { id } }", True),
    "records": (READ_QUERY, False),
    "contacts": (f'{{ contacts(where: {{lastName: {{startsWith: "L"}}}}, limit: 20) {{ {FIELDS} }} }}', False),
}


def request(peer: AtomoPeer, query: str, create: bool, run: str) -> Request:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {peer.token}"}
    if not create:
        return Request("POST", "/graphql", headers, json.dumps({"query": query}))
    data = {"firstName": "Bench", "lastName": "Mark", "email": f"bench-{run}-{MARKER}@example.com", "phone": "+1 555 0100",
            "tags": ["bench", "load"]}
    return Request("POST", "/graphql", headers, json.dumps({"query": query, "variables": {"data": data}}), unique=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--prefill", type=int, default=500)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    generator = resolve_generator(args.generator)
    peer = AtomoPeer()
    try:
        peer.start()
        peer.login()
        peer.prefill(args.prefill)
        totals: dict[str, list[tuple[float, int, int, float]]] = {name: [] for name in SHAPES}
        for round_no in range(args.rounds):
            for name, (query, create) in SHAPES.items():
                shape = request(peer, query, create, f"{name}-{round_no}")
                if args.warmup:
                    warm = request(peer, query, create, f"{name}-{round_no}-warm")
                    run_load(peer.base_url, warm, concurrency=args.concurrency, seconds=args.warmup,
                             generator=generator, label=f"{name}-warm")
                cpu0, wall0 = cpu_s(peer.pid), time.perf_counter()
                result = run_load(peer.base_url, shape, concurrency=args.concurrency, seconds=args.seconds,
                                  generator=generator, label=name)
                cpu, wall = cpu_s(peer.pid) - cpu0, time.perf_counter() - wall0
                bad = result.bad_responses + result.transport_errors
                totals[name].append((cpu, result.requests, bad, result.rps))
                print(f"round {round_no + 1} {name:18s} {result.rps:8.0f} req/s  p99 {result.p99_ms:6.2f} ms  "
                      f"server CPU {cpu / max(result.requests, 1) * 1e6:7.1f} µs/req  bad {bad}  "
                      f"({wall:.1f} s)", flush=True)
        print()
        print(f"{'shape':18s} {'req/s':>8s} {'CPU µs/req':>11s} {'bad':>5s}   (all rounds, c={args.concurrency}, "
              f"{generator})")
        per_request = {}
        for name, rows in totals.items():
            cpu, count, bad = sum(r[0] for r in rows), sum(r[1] for r in rows), sum(r[2] for r in rows)
            per_request[name] = cpu / max(count, 1) * 1e6
            rps = sum(r[3] for r in rows) / len(rows)
            print(f"{name:18s} {rps:8.0f} {per_request[name]:11.1f} {bad:5d}")
        print()
        for typed, generic in (("createContact", "create"), ("createContact-id", "create"), ("contacts", "records")):
            print(f"{typed} / {generic}: CPU per request {per_request[typed] / per_request[generic]:.2f}x")
    finally:
        peer.close()


if __name__ == "__main__":
    main()
