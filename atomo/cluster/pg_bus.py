"""The bus between server instances on one PostgreSQL (issue 21): ``LISTEN``/``NOTIFY`` instead of a relay.

Several ``atomo serve`` instances on one database (behind a load balancer) have no supervisor to relay
frames between them; the database does it. A ``PgBus`` is a ``Bus`` whose frames are notifications on one
channel (one per project schema): ``send`` queues ``pg_notify(channel, frame)`` on a sending connection
(frames go out in the order sent), and a listening connection dispatches what the other instances sent to
the same handlers as the relay's frames, so the feed's ``feed.tail``, job arrivals, interest (``Want``) and
the rest work unchanged. An instance is known by a random id (``index``); frames it sent itself, and frames
addressed to another instance, are skipped. PostgreSQL delivers a notification after the sending transaction
commits (here: each is its own), to every listener, in order per sender.

A frame is MessagePack in base64 (notifications are text). One over PostgreSQL's 8,000-byte notification limit
(a large realtime publish) goes through the database: it is inserted into the unlogged table ``_atomo_bus``
(made by the boot, ``atomo.storage.platform``) and the notification carries ``@<id>``; receivers read it from
there, in order with the other frames; rows older than a minute are deleted as new ones come. Frames over
``MAX_STORED`` bytes, and frames past ``OUTBOX_MAX`` (or ``OUTBOX_BYTES``) waiting for a stalled database, are
dropped and counted
(``dropped``).
Instances never say goodbye when killed: a dead instance's interest lingers with the others (they notify for
nobody) until a process with its id says ``bus.hello`` again, which cannot happen; the cost is a few
notifications, never a missed one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import secrets
from typing import Any

import msgpack

from atomo.cluster.bus import HELLO, WANT, Bus
from atomo.cluster.frames import ALL
from atomo.cluster.tasks import stop_task

log = logging.getLogger("atomo.cluster")
MAX_PAYLOAD = 7999
MAX_STORED = 2 * 1024 * 1024     # a frame stored in _atomo_bus (a realtime publish is at most 1 MiB)
BUS_TABLE_DDL = ("CREATE UNLOGGED TABLE IF NOT EXISTS _atomo_bus (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
                 " body bytea NOT NULL, at timestamptz NOT NULL DEFAULT now())")
OUTBOX_MAX = 10_000       # frames waiting for the sending connection (a stalled database): past this, dropped
OUTBOX_BYTES = 64 << 20   # ... and their bytes (large frames are up to MAX_STORED each)
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")


async def async_connect(url: str) -> Any:
    """An autocommit ``psycopg.AsyncConnection`` (the bus's and the shared limits' own sessions)."""
    import psycopg
    return await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10)


async def live_connection(conn: Any, url: str) -> Any:
    """``conn``, or a new connection to ``url`` when the server dropped it (a restart, a failover)."""
    if conn is None or conn.closed or conn.broken:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        conn = await async_connect(url)
    return conn


class PgBus(Bus):
    def __init__(self, url: str, channel: str = "atomo_bus") -> None:
        if not _CHANNEL.fullmatch(channel):
            raise ValueError(f"invalid notification channel {channel!r}")
        super().__init__(index=secrets.randbelow(1 << 31), size=0)
        self.url = url
        self.channel = channel
        self._listener: Any = None
        self._sender: Any = None
        self._fetcher: Any = None       # reads stored frames (opened on the first one)
        self._outbox: asyncio.Queue[str | bytes] | None = None
        self._stored = 0
        self._queued_bytes = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def clustered(self) -> bool:
        return self._listener is not None

    async def _open_listener(self) -> None:
        self._listener = await async_connect(self.url)
        await self._listener.execute(f'LISTEN "{self.channel}"')

    async def _live(self, conn: Any) -> Any:
        return await live_connection(conn, self.url)

    async def start(self) -> None:
        await self._open_listener()
        self._sender = await async_connect(self.url)
        self._outbox = asyncio.Queue(maxsize=OUTBOX_MAX)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="atomo-pg-listen"),
                       loop.create_task(self._send_all(), name="atomo-pg-notify")]
        self.send(HELLO)
        for kind in self._wanted:
            self.send(WANT, [kind, True])

    async def close(self) -> None:
        for task in self._tasks:
            await stop_task(task)
        self._tasks = []
        for conn in (self._listener, self._sender, self._fetcher):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._listener = self._sender = self._fetcher = None

    def send_wanted(self, kind: str, payload: Any = None) -> None:
        """One notification reaches every instance: sent once when any instance wants ``kind``."""
        if self._wanting.get(kind) and self.clustered:
            self.send(kind, payload)

    def _deliver(self, kind: str, to: int, payload: Any) -> None:
        raw = msgpack.packb([kind, self.index, to, payload], use_bin_type=True)
        frame: str | bytes = raw
        if len(raw) > MAX_STORED:
            self.dropped += 1
            log.warning("a %s frame of %d bytes is too large for the bus: dropped", kind, len(raw))
            return
        if len(raw) * 4 // 3 + 4 <= MAX_PAYLOAD:
            frame = base64.b64encode(raw).decode("ascii")
        assert self._outbox is not None
        try:
            if self._queued_bytes + len(frame) > OUTBOX_BYTES:
                raise asyncio.QueueFull
            self._outbox.put_nowait(frame)
            self._queued_bytes += len(frame)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("the database is not taking notifications: %d frame(s) dropped", self.dropped)

    async def _send_all(self) -> None:
        assert self._outbox is not None
        while True:
            frames = [await self._outbox.get()]
            while not self._outbox.empty() and len(frames) < 64:
                frames.append(self._outbox.get_nowait())
            self._queued_bytes -= sum(len(frame) for frame in frames)
            try:
                self._sender = await self._live(self._sender)
                texts: list[str] = []
                for frame in frames:       # in order: a stored frame's notification goes after the ones before it
                    if isinstance(frame, str):
                        texts.append(frame)
                        continue
                    await self._notify(texts)
                    texts = ["@" + str(await self._store(frame))]
                await self._notify(texts)
            except Exception as exc:
                self.dropped += len(frames)
                log.error("notifying the other instances failed (%d frame(s) lost): %s", len(frames), exc)

    async def _notify(self, texts: list[str]) -> None:
        """Several notifications in one round trip (those of one statement keep their order)."""
        if texts:
            await self._sender.execute("SELECT " + ", ".join(["pg_notify(%s, %s)"] * len(texts)),
                                       [v for text in texts for v in (self.channel, text)])

    async def _store(self, raw: bytes) -> int:
        self._stored += 1
        if self._stored % 64 == 0:
            await self._sender.execute("DELETE FROM _atomo_bus WHERE at < now() - interval '1 minute'")
        cursor = await self._sender.execute("INSERT INTO _atomo_bus (body) VALUES (%s) RETURNING id", [raw])
        row = await cursor.fetchone()
        return int(row[0])

    async def _stored_frame(self, ident: str) -> bytes | None:
        self._fetcher = await self._live(self._fetcher)
        cursor = await self._fetcher.execute("SELECT body FROM _atomo_bus WHERE id = %s", [int(ident)])
        row = await cursor.fetchone()
        return bytes(row[0]) if row is not None else None

    async def _listen(self) -> None:
        """Dispatch the other instances' frames; a dropped listening session is opened again (backing off up to
        5 s), then this instance says hello and what it wants again. What was notified meanwhile is lost: the
        feed's poll of the log covers the events (``ATOMO_EVENT_POLL_MS``), and realtime presence is resent by the
        others' answers to the hello."""
        delay = 0.1
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listening for the other instances failed (%s): connecting again", exc)
            while True:
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
                try:
                    with contextlib.suppress(Exception):
                        await self._listener.close()
                    await self._open_listener()
                    break
                except Exception as exc:
                    log.warning("PostgreSQL is not reachable for notifications yet: %s", exc)
            delay = 0.1
            self.send(HELLO)
            for kind in self._wanted:
                self.send(WANT, [kind, True])

    async def _listen_once(self) -> None:
        async for note in self._listener.notifies():
            try:
                if note.payload.startswith("@"):
                    raw = await self._stored_frame(note.payload[1:])
                    if raw is None:          # deleted already (a minute old): nothing to deliver
                        continue
                else:
                    raw = base64.b64decode(note.payload)
                kind, sender, to, payload = msgpack.unpackb(raw, raw=False)
            except Exception:
                log.warning("an unreadable notification on %s was ignored", self.channel)
                continue
            if sender == self.index or (to != ALL and to != self.index):
                continue
            self._dispatch(kind, sender, payload)
        raise ConnectionError("the notification stream ended")
