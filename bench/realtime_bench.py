"""Realtime fan-out benchmark (issue 5): `atomo serve` as a subprocess, real WebSocket clients in a few
worker processes.

1. Channel fan-out: N realtime subscribers (default 1,000) on one channel; a publisher sends messages one
   at a time (spaced) and we measure publish -> last delivery latency (p50/p99 over the messages), then a
   burst of messages for deliveries per second.
2. modelChanges fan-out: M GraphQL subscribers (default 500, graphql-transport-ws) on one model; records
   are created over HTTP one at a time and we measure create request -> last delivery latency.

Clients offer permessage-deflate like browsers do (the server negotiates it); BENCH_NO_DEFLATE=1 makes
them not offer it. Times are CLOCK_MONOTONIC (system-wide, so comparable across the worker processes). The per-IP
connection cap is lifted for the run (ATOMO_REALTIME_MAX_CONN_PER_IP=0) and the general limiter is off.

    python bench/realtime_bench.py [--subscribers 1000] [--gql-subscribers 500] [--workers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.benchutil import free_port, wait_for_health  # noqa: E402
from bench.wsclient import Client  # noqa: E402

ADMIN_PASSWORD = "Bench-admin-pass-42"
CREATE = 'mutation($d: JSON!) { create(model: "Item", data: $d) }'
SCHEMA = "export interface Item { id: string; name: string; seq?: number }\nexport default { models: {} }\n"


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# -- worker processes ------------------------------------------------------------------------------
def _seq(data: bytes, marker: bytes = b'"seq":') -> int:
    start = data.index(marker) + len(marker)
    end = start
    while data[end:end + 1].isdigit():
        end += 1
    return int(data[start:end])


async def _open_all(count: int, open_one: Any) -> list[Client]:
    gate = asyncio.Semaphore(50)

    async def guarded() -> Client:
        async with gate:
            return await open_one()  # type: ignore[no-any-return]
    return list(await asyncio.gather(*(guarded() for _ in range(count))))


async def _measure(clients: list[Client], kind: bytes, conn: Any) -> None:
    """Record, per sequence number, the latest arrival among this worker's clients."""
    last: dict[int, float] = {}
    counts = {"received": 0, "dropped": 0}

    def on_text(data: bytes) -> None:
        if kind in data:
            t = now()
            seq = _seq(data)
            if t > last.get(seq, 0.0):
                last[seq] = t
            counts["received"] += 1
        elif b'"dropped"' in data:
            counts["dropped"] += json.loads(data)["count"]
    for client in clients:
        client.on_text = on_text
    conn.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)      # "done"
    conn.send({"last": last, **counts})
    for client in clients:
        client.close()


async def _realtime_worker(url: str, count: int, conn: Any) -> None:
    async def open_one() -> Client:
        client = await Client.connect(url)
        await client.recv()                                                # welcome
        client.send({"op": "subscribe", "channel": "bench"})
        while (await client.recv())["type"] != "presence":
            pass
        return client
    await _measure(await _open_all(count, open_one), b'"type":"message"', conn)


async def _gql_worker(url: str, token: str, count: int, conn: Any) -> None:
    query = 'subscription { modelChanges(model: "Item") { position data } }'

    async def open_one() -> Client:
        client = await Client.connect(url, ["graphql-transport-ws"])
        client.send({"type": "connection_init", "payload": {"authorization": token}})
        await client.recv()                                                # connection_ack
        client.send({"type": "subscribe", "id": "1", "payload": {"query": query}})
        client.send({"type": "subscribe", "id": "2", "payload": {"query": "{ __typename }"}})
        while (await client.recv())["type"] != "complete":                 # the subscription is registered
            pass
        return client
    await _measure(await _open_all(count, open_one), b'"type":"next"', conn)


def _run_worker(kind: str, args: tuple[Any, ...]) -> None:
    try:
        import uvloop
        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(_realtime_worker(*args) if kind == "realtime" else _gql_worker(*args))


def start_workers(kind: str, total: int, workers: int, make_args: Any) -> list[tuple[Any, Any]]:
    ctx = mp.get_context("spawn")
    started = []
    for i in range(workers):
        share = total // workers + (1 if i < total % workers else 0)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_run_worker, args=(kind, (*make_args(), share, child)), daemon=True)
        proc.start()
        started.append((proc, parent))
    for _, parent in started:
        if not parent.poll(180):
            raise RuntimeError("a worker did not connect its clients within 180 s")
        assert parent.recv() == "ready"
    return started


def collect(started: list[tuple[Any, Any]]) -> tuple[dict[int, float], int, int]:
    last: dict[int, float] = {}
    received = dropped = 0
    for proc, parent in started:
        parent.send("done")
        result = parent.recv()
        received += result["received"]
        dropped += result["dropped"]
        for seq, t in result["last"].items():
            if t > last.get(seq, 0.0):
                last[seq] = t
        proc.join(30)
    return last, received, dropped


# -- the benchmark ---------------------------------------------------------------------------------
async def realtime_fanout(base: str, token: str, subscribers: int, workers: int, messages: int,
                          burst: int, spacing: float) -> dict[str, Any]:
    import websockets
    url = base.replace("http://", "ws://") + f"/realtime/ws?token={token}"
    started = start_workers("realtime", subscribers, workers, lambda: (url,))
    sent: dict[int, float] = {}
    async with websockets.connect(url) as publisher:
        await publisher.recv()
        for seq in range(messages):                                     # one fan-out at a time
            sent[seq] = now()
            await publisher.send(json.dumps({"op": "publish", "channel": "bench", "payload": {"seq": seq}}))
            await asyncio.sleep(spacing)
        await asyncio.sleep(1.0)
        burst_start = now()
        for seq in range(messages, messages + burst):                   # back to back
            sent[seq] = now()
            await publisher.send(json.dumps({"op": "publish", "channel": "bench", "payload": {"seq": seq}}))
        await asyncio.sleep(3.0)
    last, received, dropped = collect(started)
    latencies = [(last[s] - sent[s]) * 1000 for s in range(messages) if s in last]
    burst_end = max((last[s] for s in range(messages, messages + burst) if s in last), default=burst_start)
    burst_received = received - len(latencies) * subscribers
    return {"subscribers": subscribers, "messages": messages, "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies), "mean_ms": statistics.mean(latencies),
            "burst_messages": burst, "burst_deliveries": burst_received, "dropped": dropped,
            "deliveries_per_s": burst_received / max(1e-9, burst_end - burst_start),
            "expected_deliveries": (messages + burst) * subscribers, "received": received}


async def gql_fanout(base: str, token: str, subscribers: int, workers: int, creates: int,
                     spacing: float) -> dict[str, Any]:
    url = base.replace("http://", "ws://") + "/graphql/ws"
    started = start_workers("gql", subscribers, workers, lambda: (url, token))
    sent: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for seq in range(creates):
            sent[seq] = now()
            response = await http.post("/graphql", json={"query": CREATE, "variables": {"d": {"name": f"n{seq}",
                                                                                               "seq": seq}}})
            assert "errors" not in response.json(), response.text
            await asyncio.sleep(spacing)
        await asyncio.sleep(2.0)
    last, received, _ = collect(started)
    latencies = [(last[s] - sent[s]) * 1000 for s in range(creates) if s in last]
    return {"subscribers": subscribers, "creates": creates, "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies), "received": received,
            "expected": creates * subscribers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--gql-subscribers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--creates", type=int, default=50)
    parser.add_argument("--spacing-ms", type=float, default=200.0, help="pause between single publishes/creates")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atomo-rt-bench-") as folder:
        project = Path(folder)
        (project / "schema.ts").write_text(SCHEMA, encoding="utf-8")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMO_", "RATE_LIMIT"))}
        env.update({"ADMIN_PASSWORD": ADMIN_PASSWORD, "RATE_LIMIT_RPS": "0", "ATOMO_REALTIME_MAX_CONN_PER_IP": "0",
                    "ATOMO_REALTIME_PUBLISH_BURST": "100000", "ATOMO_REALTIME_PUBLISH_PER_SEC": "100000",
                    "ATOMO_NO_PROGRESS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        command = [sys.executable, "-m", "atomo", "--project", str(project), "serve", "--port", str(port)]
        t0 = time.perf_counter()
        server = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_health(base + "/health", server, t0)
            token = httpx.post(base + "/auth/login", json={"email": "admin@example.com",
                                                           "password": ADMIN_PASSWORD}).json()["token"]
            fan = asyncio.run(realtime_fanout(base, token, args.subscribers, args.workers, args.messages, args.burst,
                                             args.spacing_ms / 1000))
            print(f"realtime fan-out: {fan['subscribers']} subscribers, {fan['messages']} messages one at a time: "
                  f"publish -> last delivery p50 {fan['p50_ms']:.1f} ms, p99 {fan['p99_ms']:.1f} ms, "
                  f"max {fan['max_ms']:.1f} ms")
            print(f"realtime burst: {fan['burst_messages']} messages back to back -> {fan['burst_deliveries']} "
                  f"deliveries at {fan['deliveries_per_s']:,.0f} messages/s delivered "
                  f"(dropped {fan['dropped']}; received {fan['received']} of {fan['expected_deliveries']})")
            gql = asyncio.run(gql_fanout(base, token, args.gql_subscribers, args.workers, args.creates,
                                        args.spacing_ms / 1000))
            print(f"modelChanges fan-out: {gql['subscribers']} subscribers, {gql['creates']} creates: "
                  f"create -> last delivery p50 {gql['p50_ms']:.1f} ms, p99 {gql['p99_ms']:.1f} ms, "
                  f"max {gql['max_ms']:.1f} ms (received {gql['received']} of {gql['expected']})")
            print(json.dumps({"realtime": fan, "model_changes": gql}))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
            if server.stderr is not None:
                server.stderr.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
