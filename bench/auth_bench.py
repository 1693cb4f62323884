"""Cost of auth, access rules and the request guards.

(a) req/s of GraphQL ``records(limit: 20)`` through the HTTP server subprocess, closed loop over
    keep-alive connections (``wrk`` with a generated Lua script; see ``loadgen.py``):
    - ``public/anon``: a ``read: 'public'`` model, no Authorization header (no token work at all);
    - ``no rule/auth``: a model without rules (default ``authenticated``) with a JWT (HS256 check +
      session/user query + decision);
    - ``role passes``: ``read: 'manager|owner(ownerId)'`` as a manager (decision: unrestricted);
    - ``owner filter``: the same model as a sales user (row filter ``owner_id = ?`` added to the SQL);
      with ``@index`` on ownerId SQLite picks that index and sorts the user's rows for the default
      order, so this case measures the query plan more than the rule check;
    - ``owner, no idx``: the same rules on a model without that index (the default-order index is
      walked and rows filtered until 20 match).
    Each model holds ``--rows`` rows (half of the guarded ones owned by the sales user). The server
    runs once with the general rate limiter off (RATE_LIMIT_RPS=0) and once on (a huge capacity, so
    every request is checked but none refused).
(b) in-process micro-benchmarks of the guards: ``TokenBuckets.take`` (hot key, new keys), client IP
    resolution, and the whole per-request overhead of the outer ASGI wrappers (security headers,
    CORS, request id, body limit, rate limiter) around a trivial app.

(a') the same cases in-process through the whole ASGI app (no sockets, no load generator sharing the
    cores): microseconds of server CPU per request, steadier than (a) on a busy machine.

Prints numbers; asserts nothing. Usage: python bench/auth_bench.py [--seconds 5] [--rows 2000]
[--concurrency 8] [--requests 2000] [--generator auto|wrk|python] [--only http|asgi|micro]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchutil import free_port, wait_for_health  # noqa: E402
from loadgen import Request, resolve_generator, run_load  # noqa: E402

from atomo import Atomo  # noqa: E402
from atomo.config import load_settings  # noqa: E402

PASSWORD = "Bench-pass-42"
SCHEMA = """
export interface Open { id: string; name: string; ownerId?: string   // @index
}
export interface Plain { id: string; name: string; ownerId?: string  // @index
}
export interface Guarded { id: string; name: string; ownerId?: string  // @index
}
export interface Unindexed { id: string; name: string; ownerId?: string }
export const schema = { models: {
  Open: { access: { read: 'public' } },
  Guarded: { access: { read: 'manager|owner(ownerId)', create: 'manager|owner(ownerId)' } },
  Unindexed: { access: { read: 'manager|owner(ownerId)', create: 'manager|owner(ownerId)' } },
} }
export default schema
"""


async def prefill(project: Path, rows: int) -> None:
    async with Atomo(project, settings=load_settings({})) as app:
        sales, _ = await app.users.create("sales@bench.test", PASSWORD, role="sales")
        await app.users.create("manager@bench.test", PASSWORD, role="manager")
        sem = asyncio.Semaphore(128)

        async def one(model: str, i: int) -> None:
            async with sem:
                owner = sales.id if i % 2 == 0 else "someone-else"
                await app.create(model, {"name": f"{model.lower()} {i}", "ownerId": owner})
        await asyncio.gather(*(one(m, i) for m in ("Open", "Plain", "Guarded", "Unindexed")
                               for i in range(rows)))


class Server:
    def __init__(self, project: Path, limiter: bool) -> None:
        self.project = project
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMO_", "RATE_LIMIT", "LOGIN_RATE"))}
        env.update(ADMIN_PASSWORD=PASSWORD, RATE_LIMIT_RPS="10000000" if limiter else "0",
                   LOGIN_RATE_LIMIT_ATTEMPTS="100000", PYTHONPATH=str(REPO))
        self.log = open(project / f"server-{self.port}.log", "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "atomo", "--project", str(project), "serve", "--port",
                                      str(self.port)], cwd=project, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_health(self.base_url + "/health", self.proc, started)

    def token(self, email: str) -> str:
        reply = httpx.post(self.base_url + "/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
        reply.raise_for_status()
        return str(reply.json()["token"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def read_request(model: str, token: str | None) -> Request:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = f'{{"query": "{{ records(model: \\"{model}\\", limit: 20) }}"}}'
    return Request("POST", "/graphql", headers, body)


def check(server: Server, request: Request) -> None:
    reply = httpx.post(server.base_url + request.path, content=request.body, headers=request.headers, timeout=30)
    body = reply.json()
    assert reply.status_code == 200 and "errors" not in body and len(body["data"]["records"]) == 20, reply.text


CASES = {"public/anon": ("Open", None), "no rule/auth": ("Plain", "sales"), "role passes": ("Guarded", "manager"),
         "owner filter": ("Guarded", "sales"), "owner, no idx": ("Unindexed", "sales")}


def http_bench(project: Path, args: argparse.Namespace) -> None:
    """Both servers (limiter off / on) stay up; each case runs on one, then at once on the other."""
    generator = resolve_generator(args.generator)
    print(f"(a) records(limit: 20) over POST /graphql, {generator}, c={args.concurrency}, {args.seconds:.0f} s "
          f"each, {args.rows} rows per model")
    print(f"    {'case':<14} {'limiter':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  bad")
    servers = [Server(project, limiter=False), Server(project, limiter=True)]
    try:
        for name, (model, who) in CASES.items():
            for server in servers:
                token = server.token(f"{who}@bench.test") if who else None
                request = read_request(model, token)
                check(server, request)
                run_load(server.base_url, request, concurrency=args.concurrency, seconds=1, generator=generator)
                result = run_load(server.base_url, request, concurrency=args.concurrency, seconds=args.seconds,
                                  generator=generator, label=name.replace("/", "-").replace(" ", "-").replace(",", ""))
                limiter = "on" if server is servers[1] else "off"
                print(f"    {name:<14} {limiter:<8} {result.rps:>9.0f} {result.p50_ms:>8.2f} {result.p99_ms:>8.2f}  "
                      f"{result.bad_responses + result.transport_errors}")
    finally:
        for server in servers:
            server.stop()


async def asgi_bench(project: Path, requests: int) -> None:
    """The same cases driven in-process through the whole ASGI app (no sockets): server CPU per request."""
    from atomo.app import create_app
    from atomo.http.services import start_services
    from atomo.project import resolve_project
    settings = load_settings({"ADMIN_PASSWORD": PASSWORD, "RATE_LIMIT_RPS": "10000000"})
    services = await start_services(settings, resolve_project(settings, project_dir=str(project)))
    app = create_app(services)
    tokens = {who: (await services.logins.login(f"{who}@bench.test", PASSWORD)).token for who in ("sales", "manager")}

    async def call(model: str, token: str | None) -> None:
        body = read_request(model, token).body.encode()
        headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if token:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 3000)}
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        statuses = []

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
        await app(scope, receive, send)
        assert statuses == [200], statuses

    print(f"(a') the same requests in-process through the ASGI app, limiter on (best of 3 x {requests}):")
    try:
        for name, (model, who) in CASES.items():
            token = tokens[who] if who else None
            for _ in range(200):
                await call(model, token)
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(requests):
                    await call(model, token)
                best = min(best, (time.perf_counter() - started) / requests)
            print(f"    {name:<14} {best * 1e6:7.0f} us/request")
    finally:
        await services.close()


# -- (b) in-process ------------------------------------------------------------------------------
def per_call_ns(fn: Any, number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e9


def micro_bench() -> None:
    from atomo.config import Settings
    from atomo.http.ratelimit import ClientAddress, RateLimitMiddleware, TokenBuckets
    from atomo.http.security import SecurityMiddleware

    client_address = ClientAddress(Settings())

    print("(b) guards in-process (best of 5)")
    buckets = TokenBuckets(10_000_000, 60)
    buckets.take("127.0.0.1")
    print(f"    TokenBuckets.take, same key          {per_call_ns(lambda: buckets.take('127.0.0.1'), 200_000):7.0f} ns")
    keys = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(200_000)]
    fresh = TokenBuckets(100, 60, max_keys=50_000)
    it = iter(keys * 10)
    print(f"    TokenBuckets.take, new key (evicting) {per_call_ns(lambda: fresh.take(next(it)), 200_000):7.0f} ns")
    peer = {"headers": [(b"host", b"x"), (b"content-type", b"application/json")], "client": ("127.0.0.1", 1)}
    forwarded = {"headers": [(b"host", b"x"), (b"x-forwarded-for", b"203.0.113.9, 10.0.0.1")],
                 "client": ("127.0.0.1", 1)}

    def ip_of(scope: dict[str, Any]) -> str:
        scope.pop("atomo.client_ip", None)
        return client_address(scope)
    print(f"    client_ip, socket peer               {per_call_ns(lambda: ip_of(peer), 200_000):7.0f} ns")
    print(f"    client_ip, X-Forwarded-For (cached)  {per_call_ns(lambda: ip_of(forwarded), 200_000):7.0f} ns")
    hops = iter([f"2001:db8::{i:x}" for i in range(300_000)])
    cost = per_call_ns(lambda: client_address.hop(next(hops)), 50_000)
    print(f"    ClientAddress.hop, uncached v6       {cost:7.0f} ns")
    asyncio.run(_asgi_overhead(lambda app, buckets: RateLimitMiddleware(app, buckets, client_address), TokenBuckets,
                               SecurityMiddleware))


async def _asgi_overhead(rate_cls: Any, buckets_cls: Any, security_cls: Any) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    body = {"type": "http.response.body", "body": b"{}"}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(dict(start, headers=list(start["headers"])))
        await send(body)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    settings = load_settings({})
    wrapped = security_cls(rate_cls(app, buckets_cls(10_000_000, 60)), settings)
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", b"60"),
               (b"authorization", b"Bearer x.y.z"), (b"origin", b"http://localhost:3000")]

    async def timed(target: Any, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": headers,
                     "client": ("127.0.0.1", 1)}
            await target(scope, receive, send)
        return (time.perf_counter() - t0) / n * 1e9
    n = 100_000
    bare = min([await timed(app, n) for _ in range(3)])
    full = min([await timed(wrapped, n) for _ in range(3)])
    print(f"    ASGI wrappers (security+CORS+rate limit) per request: {full - bare:7.0f} ns "
          f"(bare app {bare:.0f} ns, wrapped {full:.0f} ns)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000, help="in-process requests per case")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--only", choices=("http", "asgi", "micro"), default=None)
    args = parser.parse_args()
    if args.only in (None, "http", "asgi"):
        with tempfile.TemporaryDirectory(prefix="atomo-auth-bench-") as folder:
            project = Path(folder)
            (project / "schema.ts").write_text(SCHEMA)
            asyncio.run(prefill(project, args.rows))
            if args.only != "asgi":
                http_bench(project, args)
            if args.only != "http":
                asyncio.run(asgi_bench(project, args.requests))
    if args.only in (None, "micro"):
        micro_bench()


if __name__ == "__main__":
    main()
