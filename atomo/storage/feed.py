"""The event feed: committed events, in position order, to any number of cursors.

Fed after every local commit and by a poll of the log (events appended by other processes). It
keeps the last ``ring_size`` events in memory; a cursor behind the ring reads from the file, so a
slow subscriber lags instead of losing events, and a resumed one gets no gap and no duplicate.

Several worker processes (``atomo serve --workers N``): positions are given inside the write transaction
and SQLite lets one transaction write at a time, so the log has one global order whoever commits, and a
read sees a gapless prefix of it. After each local commit the feed tells the other workers its last
position on the bus (``feed.tail``), to the workers that want it: a feed wants it while a cursor waits
(and a few seconds after; ``atomo.cluster.bus.Want``), so writes on a server without subscribers send no
frame. A feed told of a later position reads the log up to it (one read, shared by every cursor waiting)
— or, when no cursor is waiting, only moves its tail there and empties the ring (the ring is a cache: a
cursor behind it reads the file). A feed that wants nothing is not told: its tail may lag, so "now" for a
new cursor (``now()``) is read from the log, the poll only moves the tail (no decoding of the other
workers' events), and when a cursor starts waiting the feed reads the log once more (commits sent
before the others knew). The poll stays as the fallback for writers outside the group.

``reset(tail)`` follows a database restore (``Runtime.reset``): the ring and pending events are dropped,
the tail goes back to the restored log's last position, and every ``iterate``/``subscribe`` open at that
moment ends (positions after the restored tail are written again, so an old cursor would skip them).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from atomo.cluster.bus import Bus, Want
from atomo.storage.database import Database
from atomo.storage.events import StoredEvent, last_position, read_all
from atomo.storage.tally import Tally

log = logging.getLogger("atomo.feed")
READ_BATCH = 500


class EventFeed:
    def __init__(self, db: Database, *, ring_size: int = 10000, poll_ms: int = 1000, bus: Bus | None = None) -> None:
        self.db = db
        self.bus = bus or Bus()
        self.ring_size = ring_size
        self.poll_secs = poll_ms / 1000
        self._ring: list[StoredEvent] = []
        self._positions: list[int] = []
        self.tail = 0                      # every event with position <= tail has been ingested
        self.appended = Tally()            # events this process committed since start, by model (/metrics)
        self._waiting = 0                  # cursors waiting in wait()
        self._remote_tail = 0              # the last position another worker said it committed
        self._following = False
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._pending: list[StoredEvent] = []
        self._draining = False
        self._background: set[asyncio.Task[None]] = set()     # drains, follows, looks: kept until done
        self.listeners: list[Callable[[list[StoredEvent]], None]] = []
        self.closed = False                # after close(): waits return and iterations end
        self.generation = 0                # raised by reset(): waits of the earlier state return, iterations end
        # in a group: told of the other workers' commits while a cursor waits here (and LINGER_SECS after)
        self.want = Want(self.bus, "feed.tail", lambda: self._waiting > 0 or bool(self.listeners), self._look)

    async def start(self) -> None:
        self.tail = await self.db.read(last_position)
        self.db.after_commit.append(self._on_commit)
        self.bus.on("feed.tail", self._on_remote_tail)
        self._poller = asyncio.create_task(self._poll(), name="atomo-event-poll")

    async def close(self) -> None:
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._on_commit in self.db.after_commit:
            self.db.after_commit.remove(self._on_commit)
        self.bus.off("feed.tail", self._on_remote_tail)
        self.want.close()
        self.closed = True
        self._changed.set()

    def reset(self, tail: int) -> None:
        """The database was restored: forget what was ingested, continue from ``tail`` (synchronous, on the
        loop, before any later commit reaches ``_on_commit``)."""
        self.generation += 1
        self._ring = []
        self._positions = []
        self._pending = []
        self.tail = tail
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- ingestion ---------------------------------------------------------------------------
    def _on_commit(self, results: list[Any]) -> None:
        count = len(self._pending)
        for value in results:
            events = getattr(value, "events", value)
            if isinstance(events, list) and events and isinstance(events[0], StoredEvent):
                self._pending.extend(events)
        if len(self._pending) > count:
            add = self.appended.add
            for event in self._pending[count:]:
                add(event.model or "none")
            self.bus.send_wanted("feed.tail", max(e.position for e in self._pending[count:]))
        if self._pending and not self._draining:
            self._draining = True
            if self._extends_tail(self._pending) and not self._lock.locked():
                self._drain_now()
            else:
                self._spawn(self._drain())

    def _extends_tail(self, batch: list[StoredEvent]) -> bool:
        """``batch`` (in position order) starts right after the tail and has no hole: another worker's commit
        between two local ones leaves one, and the ring must stay contiguous."""
        return batch[0].position == self.tail + 1 and batch[-1].position - batch[0].position == len(batch) - 1

    def _drain_now(self) -> None:
        batch, self._pending = self._pending, []
        self._draining = False
        self._add(batch)

    async def _drain(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            self._draining = False
            batch = sorted((e for e in batch if e.position > self.tail), key=lambda e: e.position)
            if not batch:
                return
            if self._extends_tail(batch):
                self._add(batch)
            elif self._waiting or self.listeners:         # another process wrote before or between them: the
                await self._catch_up(batch[-1].position)  # log has every event up to the last, in order
            else:
                self._skip_to(batch[-1].position)

    async def _catch_up(self, before: int | None = None) -> None:
        def batch(conn: Any, after: int) -> list[StoredEvent]:
            return read_all(conn, after=after, limit=READ_BATCH, before=before)
        generation = self.generation
        while True:
            tail = self.tail
            events = await self.db.read(functools.partial(batch, after=tail))
            if generation != self.generation:            # read before a reset: stale
                return
            self._add(events)
            if len(events) < READ_BATCH:
                return

    def _add(self, events: list[StoredEvent]) -> None:
        fresh = [e for e in events if e.position > self.tail]
        if not fresh:
            return
        self._ring.extend(fresh)
        self._positions.extend(e.position for e in fresh)
        self.tail = fresh[-1].position
        if len(self._ring) > 2 * self.ring_size:
            del self._ring[: -self.ring_size]
            del self._positions[: -self.ring_size]
        for listener in self.listeners:
            try:
                listener(fresh)
            except Exception:
                log.exception("event listener failed")
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_remote_tail(self, position: int, sender: int) -> None:
        """Another worker committed up to ``position``: follow the log there (coalesced)."""
        self._remote_tail = max(self._remote_tail, position)
        if position > self.tail and not self._following:
            self._following = True
            self._spawn(self._follow())

    async def _follow(self) -> None:
        try:
            async with self._lock:
                while self._remote_tail > self.tail and not self.closed:
                    if not self._waiting and not self.listeners:
                        self._skip_to(self._remote_tail)
                        return
                    before = self.tail
                    await self._catch_up()
                    if self.tail == before:        # not visible yet (or a reset): the poll picks it up
                        return
        except Exception:
            log.exception("following the log failed")
        finally:
            self._following = False

    def _skip_to(self, position: int) -> None:
        """Nobody waits: the tail moves without reading the events, and the ring (no longer contiguous up to
        the tail) is emptied; a later cursor reads what it needs from the file."""
        self._ring = []
        self._positions = []
        self.tail = position
        self._changed.set()
        self._changed = asyncio.Event()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_secs)
            try:
                if self.bus.clustered and not self.want.on:
                    await self.now()           # nobody waits here: the tail moves, nothing is decoded
                    continue
                async with self._lock:
                    await self._catch_up()
            except Exception:
                log.exception("event poll failed")

    def known_now(self) -> int | None:
        """The tail when it is the log's last position as far as this process can tell at once (alone, or told
        of the other workers' commits); None when ``now()`` must read it."""
        return self.tail if not self.bus.clustered or self.want.on else None

    async def now(self) -> int:
        """The log's last position: the tail, or in a group when this feed is not told of the other workers'
        commits (nobody waited lately), read from the log (the tail moves there)."""
        known = self.known_now()
        if known is not None:
            return known
        generation = self.generation
        position: int = await self.db.read(last_position)
        if generation == self.generation:
            self._on_remote_tail(position, -1)
        return max(position, self.tail)

    def _look(self) -> None:
        """The want turned on: commits the other workers made before they knew are read from the log now and
        once more shortly (a want travels while they commit)."""
        loop = asyncio.get_running_loop()
        for delay in (0.0, 0.05):
            loop.call_later(delay, lambda: self._spawn(self._look_once()))

    def _spawn(self, work: Any) -> None:
        """Run ``work`` as a task the feed holds until it ends (the loop keeps only a weak reference)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _look_once(self) -> None:
        try:
            self._on_remote_tail(await self.db.read(last_position), -1)
        except Exception:
            log.exception("reading the log's last position failed")

    # -- cursors -----------------------------------------------------------------------------
    async def events_after(self, cursor: int, limit: int = READ_BATCH) -> list[StoredEvent]:
        """Events with position > cursor that have been ingested, from memory when possible."""
        if cursor >= self.tail:
            return []
        if self._positions and self._positions[0] <= cursor + 1:
            i = bisect.bisect_right(self._positions, cursor)
            return self._ring[i:i + limit]
        tail = self.tail
        return await self.db.read(lambda conn: read_all(conn, after=cursor, limit=limit, before=tail))

    async def wait(self, cursor: int) -> None:
        """Until an event with position > cursor is ingested (or the feed is closed, or reset)."""
        generation = self.generation
        self._waiting += 1
        self.want.touch()
        try:
            while cursor >= self.tail and not self.closed and generation == self.generation:
                await self._changed.wait()
        finally:
            self._waiting -= 1

    def iterate(self, after: int | None = None, *, model: str | None = None,
                stream: str | None = None) -> AsyncIterator[StoredEvent]:
        """Events after ``after`` (default: from the first step) until the feed closes or is reset after this
        call."""
        return self._iterate(after, model, stream, self.generation)

    async def _iterate(self, after: int | None, model: str | None, stream: str | None,
                       generation: int) -> AsyncIterator[StoredEvent]:
        cursor = await self.now() if after is None else after
        while True:
            batch = await self.events_after(cursor)
            if generation != self.generation:
                return
            if not batch:
                if self.closed:
                    return
                await self.wait(cursor)
                continue
            for event in batch:
                cursor = event.position
                if model is not None and event.model != model:
                    continue
                if stream is not None and event.stream != stream:
                    continue
                yield event

    @contextlib.asynccontextmanager
    async def subscribe(self, after: int | None = None, *, model: str | None = None,
                        stream: str | None = None) -> AsyncIterator[AsyncIterator[StoredEvent]]:
        iterator = self.iterate(after, model=model, stream=stream)
        try:
            yield iterator
        finally:
            await iterator.aclose()  # type: ignore[attr-defined]
