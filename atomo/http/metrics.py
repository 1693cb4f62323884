"""``GET /metrics`` (configuration chapter §3): Prometheus text format 0.0.4, one registry per app.

Imported by ``atomo.app`` only, so ``prometheus_client`` is loaded when a server starts, never by the CLI
commands that do not serve. Each app has its own ``CollectorRegistry`` (not the library's global one):
the library and the tests run several servers in one process.

Two kinds of series:

- measured on the request path, with ``prometheus_client`` metrics: ``http_requests_total`` and
  ``http_request_duration_seconds`` (``HttpObserver``, called by the outermost wrapper), and the
  GraphQL ones (``GraphQLMetrics``). The labelled children are cached, so a request costs a dict look-up,
  one counter increment and one histogram observation. Every label value is bounded: the route is the
  route template (``unmatched`` when there is none, never the raw path), an unknown method is
  ``OTHER``, and at most ``MAX_OPERATIONS`` GraphQL operation names get their own series (then ``other``).
- read at scrape time by ``StateCollector`` from plain counters kept by the lower layers (the writer's
  ``WriterStats``, the feed, the job queue, the realtime hub, the limiters) and from two bounded queries
  (a reader's ``SELECT 1`` for ``db_up``, and the jobs counts by queue and status).

In a group (``atomo serve --workers N``) the scraped worker adds the other workers' series to its own
(``atomo.http.group_metrics``).
"""

from __future__ import annotations

import hmac
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, disable_created_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from atomo._version import __version__
from atomo.errors import UnauthenticatedError
from atomo.http.group_metrics import answer_with, gather
from atomo.storage.database import BATCH_BUCKETS, SECONDS_BUCKETS
from atomo.storage.tally import MAX_KEYS, OTHER

if TYPE_CHECKING:
    from atomo.http.ratelimit import RateLimitMiddleware
    from atomo.http.services import Services

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"    # the text format generate_latest writes
MAX_OPERATIONS = MAX_KEYS                          # distinct GraphQL operation names with their own series
UNMATCHED = "unmatched"                            # the route of a request no route answers (404)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_QUEUES = MAX_KEYS

disable_created_metrics()    # no *_created series: the spec lists none (process-wide, like the library's own switch)


class HttpObserver:
    """Called once per HTTP request by the outermost wrapper with its status and start time: the request
    counter and histogram (cached children by (method, route, status)), and the access log line."""

    def __init__(self, registry: CollectorRegistry, route_of: Callable[[Any], str]) -> None:
        self.total = Counter("http_requests", "HTTP requests by method, route template and status",
                             ("method", "route", "status"), registry=registry)
        self.seconds = Histogram("http_request_duration_seconds", "HTTP request duration by method and route",
                                 ("method", "route"), buckets=SECONDS_BUCKETS, registry=registry)
        self.route_of = route_of
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def route(self, scope: Any) -> str:
        template = scope.get("path_template")
        if template is not None:
            return template  # type: ignore[no-any-return]
        if scope["path"] == "/graphql":      # answered before Litestar's router (atomo.app.graphql_first)
            return "/graphql"
        return self.route_of(scope)          # not routed: a 404, 405, 413, 429 or preflight (rare)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._child(key)
        pair[0].inc()
        pair[1].observe(seconds)

    def _child(self, key: tuple[str, str, int]) -> tuple[Any, Any]:
        method, route, status = key
        shown = method if method in METHODS else OTHER
        pair = (self.total.labels(shown, route, str(status)), self.seconds.labels(shown, route))
        if method in METHODS:                # routes are templates and statuses 3 digits: the keys are bounded
            self._children[key] = pair
        return pair


class GraphQLMetrics:
    """``graphql_requests_total{operation,status}`` and ``graphql_request_duration_seconds{operation}``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter("graphql_requests", "GraphQL requests by operation name and outcome",
                             ("operation", "status"), registry=registry)
        self.seconds = Histogram("graphql_request_duration_seconds", "GraphQL request duration by operation",
                                 ("operation",), buckets=SECONDS_BUCKETS, registry=registry)
        self._children: dict[tuple[str, bool], tuple[Any, Any]] = {}
        self._names: set[str] = set()

    def observe(self, operation: str | None, ok: bool, seconds: float) -> None:
        key = (operation or "anonymous", ok)
        pair = self._children.get(key)
        if pair is None:
            pair = self._child(key)
        pair[0].inc()
        pair[1].observe(seconds)

    def _child(self, key: tuple[str, bool]) -> tuple[Any, Any]:
        name, ok = key
        names = self._names
        if name not in names:
            if len(names) >= MAX_OPERATIONS:
                name = OTHER                 # a client choosing names does not grow memory
            else:
                names.add(name)
        pair = (self.total.labels(name, "ok" if ok else "error"), self.seconds.labels(name))
        if name == key[0]:
            self._children[key] = pair
        return pair


def _jobs_now(conn: sqlite3.Connection) -> tuple[list[tuple[str, str, int]], float | None]:
    rows = conn.execute("SELECT queue, status, count(*) FROM jobs WHERE status IN ('queued', 'leased', 'dead')"
                        " GROUP BY queue, status ORDER BY queue LIMIT ?", (3 * MAX_QUEUES,)).fetchall()
    oldest = conn.execute("SELECT min(created_at) FROM jobs WHERE status = 'queued'").fetchone()[0]
    age = None if oldest is None else (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds()
    return [(str(q), str(s), int(n)) for q, s, n in rows], age


def _ping(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT 1").fetchone()[0])


class StateCollector:
    """The series read at scrape time (a ``prometheus_client`` custom collector). ``refresh`` runs the two
    queries on a reader first (async); ``collect`` then reads in-memory counters only."""

    def __init__(self, services: Services, hub: Any, subscriptions: Callable[[], int],
                 limiter: Callable[[], RateLimitMiddleware | None]) -> None:
        self.services = services
        self.hub = hub
        self.subscriptions = subscriptions
        self.limiter = limiter
        self._db_up = 0.0
        self._ping = 0.0
        self._jobs: list[tuple[str, str, int]] = []
        self._oldest: float | None = None

    async def refresh(self) -> None:
        db = self.services.db
        started = time.perf_counter()
        try:
            await db.read(_ping, inline=True)
            self._db_up = 1.0
        except Exception:
            self._db_up = 0.0
        self._ping = time.perf_counter() - started
        try:
            await self.services.runtime.feed.now()      # in a group the tail may lag while nobody subscribes
        except Exception:
            pass
        try:
            self._jobs, self._oldest = await db.read(_jobs_now)
        except Exception:
            self._jobs, self._oldest = [], None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        services = self.services
        settings, db, runtime = services.settings, services.db, services.runtime
        yield _gauge("db_up", "1 when the last database ping succeeded", self._db_up)
        yield _gauge("db_ping_duration_seconds", "duration of the last database ping", self._ping)
        info = GaugeMetricFamily("atomo_build_info", "build of this server (always 1)", labels=("version", "commit"))
        info.add_metric((settings.version or __version__, settings.git_sha), 1.0)
        yield info
        yield _gauge("atomo_workers_scraped", "processes whose series this answer adds up (--workers N)", 1.0)

        stats = db.stats
        yield CounterMetricFamily("db_write_transactions", "write transactions committed by the writer",
                                  value=stats.transactions)
        yield _histogram("db_write_batch_size", "writes per write transaction (group commit)", BATCH_BUCKETS,
                         stats.batch_buckets, float(stats.units))
        yield _histogram("db_write_commit_duration_seconds", "duration of a write transaction, BEGIN to COMMIT",
                         SECONDS_BUCKETS, stats.commit_buckets, stats.commit_seconds)
        yield _gauge("db_write_queue_depth", "writes waiting for the writer", float(db.queue_depth))
        try:
            wal = float(os.path.getsize(db.wal_path))
        except OSError:
            wal = 0.0
        yield _gauge("db_wal_bytes", "size of the write-ahead log file", wal)
        checkpoints = CounterMetricFamily("db_checkpoints", "WAL checkpoints by result (ok, busy, error)",
                                          labels=("result",))
        for result, n in sorted(db.checkpoint_results().items()):
            checkpoints.add_metric((result,), n)
        yield checkpoints

        feed = runtime.feed
        appended = CounterMetricFamily("events_appended", "events appended to the log since start, by model",
                                       labels=("model",))
        for model, n in sorted(feed.appended.snapshot().items(), key=str):
            appended.add_metric((str(model),), n)
        yield appended
        yield _gauge("events_last_position", "position of the last event in the log", float(feed.tail))

        yield _gauge("graphql_subscriptions_active", "running /graphql/ws subscriptions", float(self.subscriptions()))
        hub = self.hub
        s = hub.stats if hub is not None else None
        yield _gauge("realtime_connections_active", "open /realtime/ws connections",
                     float(len(hub.connections)) if hub else 0.0)
        yield _gauge("realtime_channels_active", "realtime channels with members", float(len(hub.channels)) if hub else 0.0)
        yield _gauge("realtime_sessions_active", "realtime sessions", float(len(hub.sessions)) if hub else 0.0)
        for name, doc, value in (
                ("realtime_messages_published", "realtime messages published", s.messages_published if s else 0),
                ("realtime_messages_delivered", "realtime frames delivered to connections",
                 s.messages_delivered if s else 0),
                ("realtime_dropped_frames", "realtime frames dropped (full outbound queue)", s.dropped_frames if s else 0)):
            yield CounterMetricFamily(name, doc, value=value)

        limited = CounterMetricFamily("rate_limited", "requests refused by a rate limiter", labels=("limiter",))
        middleware = self.limiter()
        outcomes = services.login_limiter.outcomes
        limited.add_metric(("general",), middleware.limited if middleware is not None else 0)
        limited.add_metric(("login",), outcomes["limited"])
        limited.add_metric(("realtime",), s.rate_limited if s else 0)
        yield limited
        logins = CounterMetricFamily("auth_logins", "POST /auth/login attempts by outcome", labels=("outcome",))
        for outcome in ("success", "failure", "limited"):
            logins.add_metric((outcome,), outcomes[outcome])
        yield logins

        yield from self.jobs()

    def jobs(self) -> Iterator[Metric]:
        jobs = self.services.jobs
        queue = jobs.queue
        enqueued: dict[Any, int] = queue.enqueued.snapshot()
        for name, n in jobs.dispatcher.enqueued.snapshot().items():
            enqueued[name] = enqueued.get(name, 0) + n
        family = CounterMetricFamily("jobs_enqueued", "jobs enqueued since start, by queue", labels=("queue",))
        for name, n in sorted(enqueued.items(), key=str):
            family.add_metric((str(name),), n)
        yield family
        family = CounterMetricFamily("jobs_finished", "job attempts finished since start, by queue and outcome",
                                     labels=("queue", "outcome"))
        for key, n in sorted(queue.finished.snapshot().items(), key=str):
            assert isinstance(key, tuple)
            family.add_metric((str(key[0]), str(key[1])), n)
        yield family
        family = CounterMetricFamily("jobs_reclaimed", "expired job leases reclaimed since start, by queue",
                                     labels=("queue",))
        for name, n in sorted(queue.reclaimed.snapshot().items(), key=str):
            family.add_metric((str(name),), n)
        yield family
        by_status: dict[str, GaugeMetricFamily] = {
            status: GaugeMetricFamily(f"jobs_{status}", f"jobs {status} now, by queue", labels=("queue",))
            for status in ("queued", "leased", "dead")}
        for name, status, n in self._jobs:
            by_status[status].add_metric((name,), float(n))
        yield from by_status.values()
        yield _gauge("jobs_oldest_queued_seconds", "age of the oldest queued job (0 when none)",
                     max(0.0, self._oldest) if self._oldest is not None else 0.0)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _histogram(name: str, doc: str, bounds: tuple[float, ...], counts: list[int], total: float) -> HistogramMetricFamily:
    """A histogram from non-cumulative bucket counts (the last is +Inf)."""
    cumulative, buckets = 0, []
    for bound, n in zip((*bounds, float("inf")), list(counts), strict=True):
        cumulative += n
        buckets.append((floatToGoString(bound), float(cumulative)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


class Metrics:
    """The metrics of one app: its registry, the request-path recorders and the scrape-time collector."""

    def __init__(self, services: Services, *, route_of: Callable[[Any], str], hub: Any,
                 subscriptions: Callable[[], int]) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=False)
        self.http = HttpObserver(registry, route_of)
        self.graphql = GraphQLMetrics(registry)
        self.rate_limiter: RateLimitMiddleware | None = None      # set by atomo.app.wrap_asgi
        self.state = StateCollector(services, hub, subscriptions, lambda: self.rate_limiter)
        registry.register(self.state)   # type: ignore[arg-type]
        ProcessCollector(registry=registry)
        self.token = services.settings.metrics_token
        self.bus = services.runtime.bus
        answer_with(self.bus, registry)

    async def scrape(self) -> bytes:
        await self.state.refresh()
        return generate_latest(await gather(self.bus, self.registry))


def metrics_handlers(metrics: Metrics) -> list[HTTPRouteHandler]:
    token = metrics.token

    @get("/metrics", name="metrics")
    async def scrape(request: Request[Any, Any, Any]) -> Response[bytes]:
        if token:            # ATOMO_METRICS_TOKEN: Authorization: Bearer <token>, compared in constant time
            scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                raise UnauthenticatedError("a valid metrics token is required")
        return Response(await metrics.scrape(), media_type=CONTENT_TYPE, status_code=200)

    return [scrape]
