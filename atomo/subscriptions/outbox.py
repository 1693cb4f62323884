"""The outbound side of one ``/graphql/ws`` socket (graphql chapter §10): a bounded queue, one writer.

A subscription is a cursor over the event log, so a client that reads slowly must slow the cursor
down, not grow the server. Before it reads events from the feed, a subscription ``reserve``s room for
the messages they may become (at most ``RESERVE`` at a time); every other message (acks, pongs,
errors, query results) waits in ``put`` while the queue is full, so the receive loop of a client that
stops reading stops too. The queue holds at most ``limit`` messages (reserved places included) and
about ``limit_bytes`` bytes; once full it opens again at half, so that places are reserved in batches.

Messages go out in order: at once while the socket takes them (the ASGI ``send`` completes without
suspending), else through a writer task. A client that takes nothing for ``stall_secs`` while
messages wait is a slow consumer: ``on_stall`` is called once (the socket then ``close``s with 4408,
dropping what is queued: nothing is skipped silently, the client resumes with ``after``).
``close`` queues the close frame after the queued messages (or instead of them).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from atomo.realtime.connection import finish

Send = Callable[[dict[str, Any]], Awaitable[None]]
LIMIT = 256
LIMIT_BYTES = 1 << 20
RESERVE = 64


class Outbox:
    def __init__(self, send: Send, *, stall_secs: float, on_stall: Callable[[], None], limit: int = LIMIT,
                 limit_bytes: int = LIMIT_BYTES) -> None:
        self._send = send
        self.stall_secs = stall_secs
        self._on_stall = on_stall
        self.limit = limit
        self.limit_bytes = limit_bytes
        self._queue: deque[dict[str, Any]] = deque()
        self._bytes = 0
        self._reserved = 0
        self._room = asyncio.Event()
        self._room.set()
        self._writer: asyncio.Task[None] | None = None   # set while a send waits for the client
        self._progress = 0.0                # loop time of the writer's start or of its last completed send
        self._watch: asyncio.TimerHandle | None = None
        self.closing = False                # a close frame is queued (or the client is gone): nothing more
        self.gone = False                   # a send failed: the client went away

    # -- in ------------------------------------------------------------------------------------------
    async def put(self, text: str) -> None:
        """Queue one message, waiting while the queue is full (ignored once closing)."""
        while not self._room.is_set():
            await self._room.wait()
        if not self.closing:
            self._push({"type": "websocket.send", "text": text}, len(text))

    async def reserve(self, most: int = RESERVE) -> int:
        """Wait for room, then reserve up to ``most`` places (0 once closing)."""
        while not self._room.is_set():
            await self._room.wait()
        if self.closing:
            return 0
        count = max(1, min(most, self.limit - len(self._queue) - self._reserved))
        self._reserved += count
        self._check_full()
        return count

    def put_reserved(self, text: str) -> None:
        """Queue one message in a reserved place."""
        if self._reserved:
            self._reserved -= 1
        if not self.closing:
            self._push({"type": "websocket.send", "text": text}, len(text))

    def release(self, count: int) -> None:
        """Give back reserved places that were not used."""
        self._reserved = max(0, self._reserved - count)
        self._reopen()

    def close(self, code: int, reason: str, *, discard: bool = False) -> None:
        """Queue the close frame: after the queued messages, or instead of them (``discard``)."""
        if self.closing:
            return
        self.closing = True
        if discard:
            self._queue.clear()
            self._bytes = 0
        self._reserved = 0
        self._room.set()                    # waiters see `closing` and give up
        self._push({"type": "websocket.close", "code": code, "reason": reason}, 0)

    async def flushed(self) -> None:
        """Until the writer is done (the close frame sent, or the client gone); waiting is cancellable."""
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            await asyncio.wait([writer])

    def stop(self) -> None:
        """The connection is over: drop everything and stop writing."""
        self.closing = True
        self._queue.clear()
        self._bytes = self._reserved = 0
        self._room.set()
        if self._writer is not None:
            self._writer.cancel()
        self._disarm()

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- out -----------------------------------------------------------------------------------------
    def _push(self, message: dict[str, Any], size: int) -> None:
        if self._writer is not None:
            self._queue.append(message)
            self._bytes += size
            self._check_full()
            return
        coro = self._send(message)
        try:
            awaited = coro.send(None)  # type: ignore[attr-defined]
        except StopIteration:       # the socket took it: no task, no wake-up
            return
        except Exception:           # the client went away: the receive loop ends the connection
            self._gone()
            return
        loop = asyncio.get_running_loop()
        self._progress = loop.time()
        self._writer = loop.create_task(self._drain(coro, awaited), name="atomo-gql-writer")
        self._arm()

    async def _drain(self, coro: Any, awaited: Any) -> None:
        queue, loop = self._queue, asyncio.get_running_loop()
        try:
            await finish(coro, awaited)
            self._progress = loop.time()
            while queue:
                message = queue.popleft()
                self._bytes -= len(message.get("text") or "")
                self._reopen()
                await self._send(message)
                self._progress = loop.time()
        except asyncio.CancelledError:
            raise
        except Exception:
            self._gone()
        finally:
            self._writer = None
            self._disarm()

    def _check_full(self) -> None:
        if len(self._queue) + self._reserved >= self.limit or self._bytes >= self.limit_bytes:
            self._room.clear()

    def _reopen(self) -> None:
        if not self._room.is_set() and (len(self._queue) + self._reserved <= self.limit // 2
                                        and self._bytes <= self.limit_bytes // 2):
            self._room.set()

    def _gone(self) -> None:
        self.gone = self.closing = True
        self._queue.clear()
        self._bytes = self._reserved = 0
        self._room.set()

    # -- the slow-consumer watch ---------------------------------------------------------------------
    def _arm(self) -> None:
        if self._watch is None:
            self._watch = asyncio.get_running_loop().call_at(self._progress + self.stall_secs, self._check)

    def _disarm(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _check(self) -> None:
        self._watch = None
        if self._writer is None:
            return
        due = self._progress + self.stall_secs
        if asyncio.get_running_loop().time() < due:
            self._watch = asyncio.get_running_loop().call_at(due, self._check)
            return
        if not self.closing:
            self._on_stall()
        elif self._queue:                   # already closing: only the close frame is worth keeping
            last = self._queue[-1]
            self._queue.clear()
            self._bytes = 0
            if last["type"] == "websocket.close":
                self._queue.append(last)
