"""Jobs benchmark (issue 6): `atomo serve` as a subprocess, load over HTTP.

1. Enqueue throughput: `POST /jobs` (admin JWT) at 1 and 8 keep-alive connections (wrk when installed).
2. Lease throughput at 1 and 8 concurrent workers:
   - lease only: `POST /jobs/lease` with capacity 1 against a deep queue (wrk when installed);
   - the worker cycle: each worker leases one job and completes it (lease -> complete), raw asyncio
     HTTP/1.1 keep-alive clients in this process.
3. End-to-end latency from a triggering write to job start: a worker long-polls `/jobs/lease`
   (`waitSecs` 30) while this process creates records over GraphQL one at a time; latency = write
   request sent -> lease response with that record's action job received (p50/p99).

    python bench/jobs_bench.py [--seconds 5] [--latency-samples 200] [--generator auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.benchutil import free_port, wait_for_health  # noqa: E402
from bench.loadgen import Request, _read_response, resolve_generator, run_load  # noqa: E402

ADMIN_PASSWORD = "Bench-admin-pass-42"
SCHEMA = """export interface Item { id: string; name: string }
export const schema = {
  models: { Item: { events: { created: [{ action: 'process' }] } } },
  actions: { process: { input: { pick: { model: 'Item', fields: ['id', 'name'] } } } },
}
export default schema
"""
CREATE = 'mutation($d: JSON!) { create(model: "Item", data: $d) }'
DEPTH_PER_SECOND = 4000          # queued jobs kept ahead of a lease run, per second of run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Conn:
    """One keep-alive HTTP/1.1 connection sending JSON requests."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items())

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        status, payload = await _read_response(self.reader)
        return status, json.loads(payload) if payload else None

    def close(self) -> None:
        self.writer.close()


async def worker_cycle(host: str, port: int, token: str, queue: str, workers: int, seconds: float) -> float:
    """Jobs/s completed by ``workers`` concurrent lease -> complete loops."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def run() -> None:
        nonlocal done
        conn = await Conn(host, port, {"X-Worker-Token": token}).open()
        try:
            while time.perf_counter() < deadline:
                status, body = await conn.post("/jobs/lease", {"queues": [queue], "capacity": 1})
                assert status == 200 and body["jobs"], (status, body)
                job = body["jobs"][0]
                status, _ = await conn.post(f"/jobs/{job['id']}/complete", {"leaseId": job["leaseId"], "result": 1})
                assert status == 204, status
                done += 1
        finally:
            conn.close()
    started = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(workers)))
    return done / (time.perf_counter() - started)


async def trigger_latency(host: str, port: int, jwt: str, token: str, samples: int) -> list[float]:
    """Seconds from sending a create to a long-polling worker receiving its action job."""
    writer = await Conn(host, port, {"Authorization": f"Bearer {jwt}"}).open()
    worker = await Conn(host, port, {"X-Worker-Token": token}).open()
    latencies = []
    try:
        for i in range(samples):
            poll = asyncio.create_task(worker.post("/jobs/lease", {"queues": ["actions"], "waitSecs": 30}))
            await asyncio.sleep(0.01)              # the long poll is waiting on the server
            sent = time.perf_counter()
            status, created = await writer.post("/graphql", {"query": CREATE, "variables": {"d": {"name": f"i{i}"}}})
            assert status == 200 and "errors" not in created, created
            status, body = await poll
            latencies.append(time.perf_counter() - sent)
            [job] = body["jobs"]
            assert job["payload"]["recordId"] == created["data"]["create"]["id"]
            await worker.post(f"/jobs/{job['id']}/complete", {"leaseId": job["leaseId"]})
    finally:
        writer.close()
        worker.close()
    return latencies


def enqueue_request(jwt: str, queue: str) -> Request:
    body = json.dumps({"queue": queue, "kind": "bench", "payload": {"n": 1}})
    return Request("POST", "/jobs", {"Authorization": f"Bearer {jwt}", "Content-Type": "application/json"}, body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--generator", default="auto", choices=["auto", "wrk", "python"])
    args = parser.parse_args()
    generator = resolve_generator(args.generator)
    results: dict[str, Any] = {"generator": generator}
    with tempfile.TemporaryDirectory(prefix="atomo-jobs-bench-") as folder:
        project = Path(folder)
        (project / "schema.ts").write_text(SCHEMA, encoding="utf-8")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMO_", "RATE_LIMIT"))}
        env.update({"ADMIN_PASSWORD": ADMIN_PASSWORD, "RATE_LIMIT_RPS": "0", "ATOMO_NO_PROGRESS": "1",
                    "LOG_LEVEL": "warning", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
        command = [sys.executable, "-m", "atomo", "--project", str(project), "serve", "--port", str(port)]
        t0 = time.perf_counter()
        server = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_health(base + "/health", server, t0)
            jwt = httpx.post(base + "/auth/login", json={"email": "admin@example.com",
                                                         "password": ADMIN_PASSWORD}).json()["token"]
            admin = {"Authorization": f"Bearer {jwt}"}
            token = httpx.post(base + "/jobs/workers", json={"name": "bench", "queues": ["*"]},
                               headers=admin).json()["token"]
            for c in (1, 8):
                run = run_load(base, enqueue_request(jwt, "bench"), concurrency=c, seconds=args.seconds,
                               generator=generator, label=f"enqueue-c{c}")
                results[f"enqueue_c{c}"] = run.as_dict()
                print(f"enqueue  POST /jobs          c={c}: {run.rps:8,.0f} jobs/s   p50 {run.p50_ms:6.2f} ms   "
                      f"p99 {run.p99_ms:6.2f} ms   bad {run.bad_responses} errors {run.transport_errors}")
            lease = Request("POST", "/jobs/lease", {"X-Worker-Token": token, "Content-Type": "application/json"},
                            json.dumps({"queues": ["bench"], "capacity": 1}))

            def queued() -> int:
                return int(httpx.get(base + "/jobs/stats", headers=admin).json()["byStatus"]["queued"])

            def deep_queue() -> None:
                """Refill (unmeasured) so a run never sees an empty queue (empty leases are cheaper)."""
                while queued() < DEPTH_PER_SECOND * args.seconds:
                    run_load(base, enqueue_request(jwt, "bench"), concurrency=8, seconds=args.seconds,
                             generator=generator, label="prefill")

            for c in (1, 8):
                deep_queue()
                run = run_load(base, lease, concurrency=c, seconds=args.seconds, generator=generator,
                               label=f"lease-c{c}")
                assert queued() > 0, "the queue ran dry during the run"
                results[f"lease_c{c}"] = run.as_dict()
                print(f"lease    POST /jobs/lease    c={c}: {run.rps:8,.0f} jobs/s   p50 {run.p50_ms:6.2f} ms   "
                      f"p99 {run.p99_ms:6.2f} ms   bad {run.bad_responses} errors {run.transport_errors}")
            for c in (1, 8):
                deep_queue()
                rate = asyncio.run(worker_cycle("127.0.0.1", port, token, "bench", c, args.seconds))
                results[f"cycle_c{c}"] = rate
                print(f"worker   lease -> complete   workers={c}: {rate:8,.0f} jobs/s")
            latencies = asyncio.run(trigger_latency("127.0.0.1", port, jwt, token, args.latency_samples))
            ms = [x * 1000 for x in latencies]
            results["trigger_latency_ms"] = {"p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms)}
            print(f"latency  write -> job start (long poll), {len(ms)} samples: p50 {percentile(ms, 50):.2f} ms   "
                  f"p99 {percentile(ms, 99):.2f} ms   max {max(ms):.2f} ms")
            print(json.dumps(results, default=str))
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
