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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from abrounds import run_rounds  # noqa: E402
from atomo_peer import READ_QUERY, AtomoPeer  # noqa: E402
from loadgen import MARKER, Request, resolve_generator  # noqa: E402

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
        shapes = {name: (lambda run, q=query, c=create: request(peer, q, c, run)) for name, (query, create) in SHAPES.items()}
        per_request = run_rounds(peer, shapes, rounds=args.rounds, seconds=args.seconds, warmup=args.warmup,
                                 concurrency=args.concurrency, generator=generator)
        for typed, generic in (("createContact", "create"), ("createContact-id", "create"), ("contacts", "records")):
            print(f"{typed} / {generic}: CPU per request {per_request[typed] / per_request[generic]:.2f}x")
    finally:
        peer.close()


if __name__ == "__main__":
    main()
