"""Cross-process delivery of ``modelChanges`` in ``atomo serve --workers N`` (issue 20).

Starts a group of ``--workers`` processes on the bundled sample, opens ``--subscribers`` GraphQL WebSocket
subscriptions to ``modelChanges(model: "Company")`` (spread over the workers by the kernel), and writes
``--rate`` Companies per second for ``--seconds`` through HTTP connections pinned to each worker (found with
``/ready``, which names the worker that answers), split evenly between the workers. Each Company carries
the wall time its request was sent; a subscriber stamps the time it received the event.

Reported: per (subscriber, writing worker) pair, the p50/p99/max of the delay from the request being sent
to the event arriving (it includes the write itself: validation, group commit, answer), the p99 of the
delay from the writer receiving its answer to the event arriving (the delivery proper; negative when the
event arrived first), and the same for the whole run; since every subscriber gets events written on every
worker, the worst pair is a cross-process one. Also: events lost or duplicated (must be 0), the rate
reached, failed writes (counted apart). Reports numbers; asserts nothing.

Usage: python bench/cluster_feed_bench.py [--workers 2] [--rate 1000] [--seconds 10] [--subscribers 4]
                                         [--writers-per-worker 2]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atomo_peer import ADMIN_EMAIL, ADMIN_PASSWORD, REPO, free_port, wait_for_health  # noqa: E402

QUERY = 'subscription { modelChanges(model: "Company") { position data } }'
CREATE = 'mutation($d: JSON!) { create(model: "Company", data: $d) }'


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def writer(base: str, token: str, worker: int, k: int, rate: float, seconds: float, start_at: float,
           result: Any) -> None:
    """A process writing ``rate`` Companies/s over one keep-alive connection to worker ``worker`` (http.client:
    cheap enough that the generator keeps the pace on a small machine); puts (written, failed) on ``result``."""
    host, port = base.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(500):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/ready")
        if json.loads(conn.getresponse().read())["worker"]["index"] == worker:
            break
        conn.close()
    else:
        raise RuntimeError(f"worker {worker} not reached")
    written = failed = 0
    acks: dict[str, float] = {}
    total = int(rate * seconds)
    while time.time() < start_at:
        time.sleep(0.001)
    for n in range(total):
        delay = start_at + n / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        name = f"w{worker}-{k}-{n}"
        body = json.dumps({"query": CREATE, "variables": {"d": {
            "name": name, "website": f"https://sent.test/{time.time()!r}"}}})
        conn.request("POST", "/graphql", body, headers)
        reply = json.loads(conn.getresponse().read())
        if reply.get("errors"):
            failed += 1
        else:
            written += 1
            acks[name] = time.time()
    result.put((written, failed, time.time() - start_at, acks))


async def subscriber(base: str, token: str, ready: asyncio.Event, out: list[tuple[int, str, float, float]],
                     stop: asyncio.Event) -> None:
    url = base.replace("http://", "ws://") + "/graphql/ws"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        json.loads(await ws.recv())
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
        ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            frame = json.loads(raw)
            change = frame["payload"]["data"]["modelChanges"]
            data = change["data"]
            out.append((change["position"], data["name"], float(data["website"].rsplit("/", 1)[1]), now))


async def main_async(args: argparse.Namespace, base: str, token: str) -> dict[str, Any]:
    stop = asyncio.Event()
    received: list[list[tuple[int, str, float, float]]] = [[] for _ in range(args.subscribers)]
    readies = [asyncio.Event() for _ in range(args.subscribers)]
    subs = [asyncio.create_task(subscriber(base, token, readies[i], received[i], stop)) for i in range(args.subscribers)]
    for ready in readies:
        await ready.wait()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 2.0
    writers = args.workers * args.writers_per_worker
    procs = [context.Process(target=writer, args=(base, token, w % args.workers, k, args.rate / writers,
                                                  args.seconds, start_at, results)) for k, w in enumerate(range(writers))]
    for proc in procs:
        proc.start()
    loop = asyncio.get_running_loop()
    outcomes = [await loop.run_in_executor(None, results.get) for _ in procs]
    for proc in procs:
        proc.join()
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*subs, return_exceptions=True)
    written = sum(o[0] for o in outcomes)
    failed = sum(o[1] for o in outcomes)
    total = written + failed
    elapsed = max(o[2] for o in outcomes)
    acks = {name: at for o in outcomes for name, at in o[3].items()}
    pairs = []
    everything: list[float] = []
    since_ack: list[float] = []
    lost = dup = 0
    for i, events in enumerate(received):
        positions = [p for p, _, _, _ in events]
        dup += len(positions) - len(set(positions))
        lost += max(0, written - len(set(positions)))
        for w in range(args.workers):
            delays = [(now - sent_at) * 1000 for _, name, sent_at, now in events if name.startswith(f"w{w}-")]
            after_ack = [(now - acks[name]) * 1000 for _, name, _, now in events
                         if name.startswith(f"w{w}-") and name in acks]
            everything += delays
            since_ack += after_ack
            pairs.append({"subscriber": i, "writer_worker": w, "events": len(delays), "p50_ms": round(pct(delays, .5), 2),
                          "p99_ms": round(pct(delays, .99), 2), "max_ms": round(max(delays, default=float("nan")), 2),
                          "after_ack_p99_ms": round(pct(after_ack, .99), 2)})
    return {"rate_target": args.rate, "rate_reached": round(total / elapsed, 1), "written": written, "failed": failed,
            "lost": lost, "duplicated": dup, "pairs": pairs,
            "p50_ms": round(statistics.median(everything), 2) if everything else None,
            "p99_ms": round(pct(everything, .99), 2), "max_ms": round(max(everything, default=float("nan")), 2),
            "after_ack_p50_ms": round(pct(since_ack, .5), 2), "after_ack_p99_ms": round(pct(since_ack, .99), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--writers-per-worker", type=int, default=2, help="writer processes pinned to each worker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atomo-cluster-bench-") as folder:
        port = free_port()
        env = dict(os.environ, ADMIN_EMAIL=ADMIN_EMAIL, ADMIN_PASSWORD=ADMIN_PASSWORD, RATE_LIMIT_RPS="0",
                   LOGIN_RATE_LIMIT_ATTEMPTS="100000")
        log = open(Path(folder) / "server.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "atomo", "--project", folder, "serve", "--port", str(port),
                                 "--workers", str(args.workers)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_health(base + "/health", proc, time.perf_counter())
            time.sleep(2.0 if args.workers > 1 else 0)       # every worker listening
            token = httpx.post(base + "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["token"]
            result = asyncio.run(main_async(args, base, token))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            log.close()
    print(f"workers {args.workers}, subscribers {args.subscribers}, target {args.rate:.0f} events/s for "
          f"{args.seconds:.0f} s: reached {result['rate_reached']:.0f}/s, {result['written']} written, "
          f"{result['failed']} failed, lost {result['lost']}, duplicated {result['duplicated']}")
    print(f"request sent -> event delivered: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
          f"max {result['max_ms']} ms")
    print(f"writer's answer received -> event delivered elsewhere (negative: delivered first): p50 "
          f"{result['after_ack_p50_ms']} ms, p99 {result['after_ack_p99_ms']} ms")
    for pair in result["pairs"]:
        print(f"  subscriber {pair['subscriber']} <- writes on worker {pair['writer_worker']}: {pair['events']} events, "
              f"p50 {pair['p50_ms']} ms, p99 {pair['p99_ms']} ms, max {pair['max_ms']} ms, "
              f"after the answer p99 {pair['after_ack_p99_ms']} ms")


if __name__ == "__main__":
    main()
