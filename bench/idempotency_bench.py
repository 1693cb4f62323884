"""What `Idempotency-Key` costs on `POST /graphql` mutations: the same generic create without a key, with a fresh
key per request (the key row is written in the create's transaction and the answer stored by a second small
write), and a retry storm (one key and one body sent again and again: every request after the first is a
replay of the stored answer). One Atomo server (bundled sample), rounds A B C A B C; req/s, p99 and the
server's CPU per request; bad responses counted apart. Reports numbers; asserts nothing.

Usage: python bench/idempotency_bench.py [--seconds 5] [--warmup 1] [--concurrency 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from abrounds import run_rounds  # noqa: E402
from atomo_peer import AtomoPeer  # noqa: E402
from loadgen import MARKER, Request, resolve_generator  # noqa: E402

CREATE = 'mutation Create($data: JSON!) { create(model: "Contact", data: $data) }'


def create(peer: AtomoPeer, run: str, key: str | None) -> Request:
    """A unique create; ``key`` "fresh": a new Idempotency-Key per request; another text: that fixed key (and a
    fixed body, so the server replays)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {peer.token}"}
    email = f"idem-{run}-{MARKER}@example.com" if key in (None, "fresh") else f"idem-{run}@example.com"
    body = json.dumps({"query": CREATE, "variables": {"data": {"firstName": "Idem", "lastName": "Potent", "email": email}}})
    if key is None:
        return Request("POST", "/graphql", headers, body, unique=True)
    if key == "fresh":
        return Request("POST", "/graphql", headers, body, unique=True, token_header="Idempotency-Key")
    return Request("POST", "/graphql", {**headers, "Idempotency-Key": key}, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    generator = resolve_generator(args.generator)
    peer = AtomoPeer()
    try:
        peer.start()
        peer.login()
        shapes = {
            "create": lambda run: create(peer, run, None),
            "create+key": lambda run: create(peer, run, "fresh"),
            "replayed": lambda run: create(peer, run, f"replay-{run}-{uuid.uuid4()}"),
        }
        per_request = run_rounds(peer, shapes, rounds=args.rounds, seconds=args.seconds, warmup=args.warmup,
                                 concurrency=args.concurrency, generator=generator)
        print(f"create+key / create: CPU per request {per_request['create+key'] / per_request['create']:.2f}x")
        print(f"replayed / create:   CPU per request {per_request['replayed'] / per_request['create']:.2f}x")
    finally:
        peer.close()


if __name__ == "__main__":
    main()
