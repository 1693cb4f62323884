"""Rate and login limits shared by the instances on one PostgreSQL (issue 21), through the database.

The limiters decide synchronously, in the request path, so a database round trip per request is out. Each
instance keeps its token buckets in memory (``SyncedBuckets``, a ``TokenBuckets``) and decides on them; every
``INTERVAL`` seconds ``PgLimits`` sends the tokens each bucket kind took (and gave back) per key since the last
round to the unlogged table ``_atomo_rate`` in one statement per kind, where PostgreSQL refills and charges the
one global bucket of the key (its clock, capacity and rate) and answers its tokens, which replace the local
bucket's (less what was taken meanwhile). So the limit holds for the server as a whole: a key's requests on
several instances drain one bucket, and an instance lets through at most one interval's worth of requests
above it before it hears of the others'. A bucket never falls below minus its capacity (a debt of one window).
The keys used here lately that were not in the round are read back too (what the others took of them), so an
instance never lives on an old view of a key. At most ``MAX_KEYS_PER_ROUND`` keys per kind travel each way;
rows idle for two windows are deleted now and then. The table is made by the boot (``atomo.storage.platform``).

``reset``/``clear`` (``POST /__test__/reset``, a successful login's ``give_back``) work locally at once; a
reset travels as a refill of the global bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Hashable
from typing import Any

from atomo import clock as process_clock
from atomo.cluster.pg_bus import async_connect, live_connection
from atomo.cluster.tasks import stop_task
from atomo.http.ratelimit import TokenBuckets

log = logging.getLogger("atomo.http")
INTERVAL = 0.25
MAX_KEYS_PER_ROUND = 5000
MAX_PENDING = 200_000       # keys waiting for a round (the database away): past this, new keys stay local
_RESET = float("inf")       # a pending "refill the bucket" (reset)

# tokens taken per key (negative: given back) -> the global bucket, refilled on PostgreSQL's clock, charged, floored
_CHARGE = """
INSERT INTO _atomo_rate AS b (kind, key, tokens, at)
SELECT %(kind)s, d.key, least(%(cap)s, greatest(%(cap)s - d.n, -%(cap)s)), extract(epoch FROM clock_timestamp())
  FROM unnest(%(keys)s::text[], %(taken)s::float8[]) AS d(key, n)
ON CONFLICT (kind, key) DO UPDATE SET
  tokens = greatest(least(%(cap)s, least(%(cap)s, b.tokens + (EXCLUDED.at - b.at) * %(rate)s)
                                   - (%(cap)s - EXCLUDED.tokens)), -%(cap)s),
  at = EXCLUDED.at
RETURNING key, tokens
"""
_READ = """
SELECT key, least(%(cap)s, tokens + (extract(epoch FROM clock_timestamp()) - at) * %(rate)s)
  FROM _atomo_rate WHERE kind = %(kind)s AND key = ANY(%(keys)s::text[])
"""
_REFILL = """
INSERT INTO _atomo_rate (kind, key, tokens, at)
SELECT %(kind)s, k, %(cap)s, extract(epoch FROM clock_timestamp()) FROM unnest(%(keys)s::text[]) AS k
ON CONFLICT (kind, key) DO UPDATE SET tokens = EXCLUDED.tokens, at = EXCLUDED.at
"""


def key_text(key: Hashable) -> str:
    return key if isinstance(key, str) else repr(key)


class SyncedBuckets(TokenBuckets):
    """``TokenBuckets`` whose takes are also counted for ``PgLimits`` to send, and whose state it refreshes."""

    __slots__ = ("kind", "pending")

    def __init__(self, kind: str, capacity: int, window_secs: float, *,
                 clock: Callable[[], float] = process_clock.monotonic) -> None:
        super().__init__(capacity, window_secs, clock=clock)
        self.kind = kind
        self.pending: dict[Hashable, float] = {}   # key -> tokens taken since the last round (_RESET: refill)

    def _count(self, key: Hashable, n: float) -> None:
        if key not in self.pending and len(self.pending) >= MAX_PENDING:
            return
        before = self.pending.get(key, 0.0)
        self.pending[key] = before if before == _RESET else before + n

    def take(self, key: Hashable, now: float | None = None) -> float:
        """As ``TokenBuckets.take``; a refused take goes in the round too (0 taken), so that a refill elsewhere
        (a reset, or tokens given back) reaches this instance."""
        wait = super().take(key, now)
        self._count(key, 1.0 if wait == 0.0 else 0.0)
        return wait

    def give_back(self, key: Hashable) -> None:
        super().give_back(key)
        self._count(key, -1.0)

    def reset(self, key: Hashable) -> None:
        super().reset(key)
        self.pending[key] = _RESET

    def clear(self) -> None:
        for key in self._buckets:
            self.pending[key] = _RESET
        super().clear()

    def recent(self) -> list[Hashable]:
        """The keys of the local buckets, least recently used first."""
        return list(self._buckets)

    def settle(self, answered: dict[Hashable, float]) -> None:
        """The global tokens answered for the keys of a round, less what was taken here since."""
        now = self.clock()
        buckets = self._buckets
        for key, tokens in answered.items():
            since = self.pending.get(key, 0.0)
            if since == _RESET:
                continue
            bucket = buckets.get(key)
            if bucket is None:
                self._evict(now)
                bucket = buckets[key] = [self.capacity, now]
            bucket[0], bucket[1] = min(self.capacity, tokens) - since, now


class PgLimits:
    """The instance's end of the shared limits: makes ``SyncedBuckets`` and keeps them in step with the database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.kinds: list[SyncedBuckets] = []
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    def buckets(self, kind: str, capacity: int, window_secs: float) -> SyncedBuckets:
        made = SyncedBuckets(kind, capacity, window_secs)
        self.kinds.append(made)
        return made

    async def start(self) -> None:
        self._conn = await async_connect(self.url)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="atomo-pg-limits")

    async def close_task(self) -> None:
        """Stop the rounds (``sync`` still works when called)."""
        await stop_task(self._task)
        self._task = None

    async def close(self) -> None:
        await self.close_task()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:          # the database is away: limits stay local until it is back
                log.warning("sharing rate limits through PostgreSQL failed: %s", exc)

    async def _execute(self, sql: str, params: Any) -> Any:
        """``sql`` on the limits' session; once more on a new session when the server had dropped it while idle (a
        charge that had committed before the cut counts twice: stricter for one round, never looser)."""
        import psycopg
        try:
            return await self._conn.execute(sql, params)
        except psycopg.OperationalError:
            if not (self._conn.closed or self._conn.broken):
                raise
            self._conn = await live_connection(self._conn, self.url)
            return await self._conn.execute(sql, params)

    async def sync(self) -> None:
        """One round: every kind's pending takes to the database, its answers into the local buckets (a session the
        server dropped is opened again first; while it cannot be, the limits stay local)."""
        self._conn = await live_connection(self._conn, self.url)
        self.rounds += 1
        if self.rounds % 240 == 0:            # about a minute: forget keys idle for two windows
            for kind in self.kinds:
                await self._execute("DELETE FROM _atomo_rate WHERE kind = %s AND at < extract(epoch FROM"
                                         " clock_timestamp()) - %s", [kind.kind, 2 * kind.window])
        for kind in self.kinds:
            await self._charge(kind)
            await self._refresh(kind)

    async def _refresh(self, kind: SyncedBuckets) -> None:
        """The global state of the keys used here lately (the last ``MAX_KEYS_PER_ROUND``) and not in this round:
        what the other instances took of them."""
        recent = [key for key in itertools.islice(reversed(kind.recent()), MAX_KEYS_PER_ROUND)
                  if key not in kind.pending]
        if not recent:
            return
        keys = {key_text(key): key for key in recent}
        cursor = await self._execute(_READ, {"kind": kind.kind, "keys": list(keys), "cap": kind.capacity,
                                                  "rate": kind.rate})
        kind.settle({keys[row[0]]: float(row[1]) for row in await cursor.fetchall()})

    async def _charge(self, kind: SyncedBuckets) -> None:
        """What was taken here since the last round: charged to the global buckets, whose state comes back."""
        if kind.pending:
            sent = {key: kind.pending.pop(key) for key in list(kind.pending)[:MAX_KEYS_PER_ROUND]}
            keys = {key_text(key): key for key in sent}
            refills = [text for text, key in keys.items() if sent[key] == _RESET]
            if refills:
                await self._execute(_REFILL, {"kind": kind.kind, "keys": refills, "cap": kind.capacity})
            charged = [(text, sent[key]) for text, key in keys.items() if sent[key] != _RESET]
            if charged:
                cursor = await self._execute(_CHARGE, {
                    "kind": kind.kind, "keys": [t for t, _ in charged], "taken": [n for _, n in charged],
                    "cap": kind.capacity, "rate": kind.rate})
                kind.settle({keys[row[0]]: float(row[1]) for row in await cursor.fetchall()})
