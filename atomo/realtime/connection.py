"""One realtime socket: its principal, bounded outbound queue, writer task and throttles (§6).

Frames to a client go through ``push``: sent at once while the socket takes them, else queued; a full
queue drops the **newest** frame and counts it, so a slow client never slows the sender or the other
recipients. While a send waits for the socket, a writer task drains the queue into the ASGI
``send``; when frames were lost and the queue has room again it sends ``{"type":"dropped","count":n}``.
Closing (4403 session ended, 1001 shutdown, 1009 too large) stops the writer and sends the close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from atomo.auth.principal import Principal
from atomo.realtime.protocol import Outgoing, frame

log = logging.getLogger("atomo.realtime")
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Throttle:
    """A token bucket of one connection: ``burst`` tokens, refilled at ``per_sec``."""

    __slots__ = ("capacity", "rate", "tokens", "stamp")

    def __init__(self, burst: int, per_sec: float) -> None:
        self.capacity = float(burst)
        self.rate = float(per_sec)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Stats:
    """Counters of ``GET /realtime/health`` (the active_* ones are computed by the hub)."""

    __slots__ = ("messages_published", "messages_delivered", "dropped_frames", "connections_opened",
                 "connections_closed", "rate_limited")

    def __init__(self) -> None:
        self.messages_published = 0
        self.messages_delivered = 0
        self.dropped_frames = 0
        self.connections_opened = 0
        self.connections_closed = 0
        self.rate_limited = 0           # refusals: join/publish throttles, the per-IP connection cap (/metrics)


class Connection:
    __slots__ = ("principal", "pid", "ip", "encoding", "channels", "sessions", "joins", "publishes",
                 "stats", "_send", "_queue", "_limit", "_writer", "_lost", "_burst", "closed", "__weakref__")

    def __init__(self, send: Send, *, principal: Principal, pid: str, ip: str, encoding: str, queue_limit: int,
                 joins: Throttle, publishes: Throttle, stats: Stats) -> None:
        self.principal = principal
        self.pid = pid                      # the id peers see: user id or anon:<uuid>
        self.ip = ip
        self.encoding = encoding
        self.channels: set[str] = set()
        self.sessions: set[str] = set()
        self.joins = joins
        self.publishes = publishes
        self.stats = stats
        self._send = send
        self._queue: deque[dict[str, Any]] = deque()
        self._limit = queue_limit
        self._writer: asyncio.Task[None] | None = None     # set while a send is waiting for the socket
        self._lost = 0
        self._burst = -1                     # the fan-out round of the last frame sent at once
        self.closed = False

    # -- outbound ------------------------------------------------------------------------------
    def push(self, out: Outgoing, burst: int | None = None) -> bool:
        """Send or queue a frame; False (and counted) when the queue is full or the socket closed.

        With nothing queued the ASGI ``send`` is stepped at once: when the socket can take the frame it
        completes without suspending (no task, no wake-up per recipient). When it has to wait (the
        client is slow), a writer task finishes it and drains the queue; meanwhile frames queue up to
        the limit, and the newest are dropped and counted beyond it. ``burst`` is the hub's fan-out
        round (one event-loop iteration): a second frame in the same round is queued and written just
        after, back to back with the ones that follow, so that bursts reach the client in few reads."""
        if self.closed:
            return False
        if self._writer is None:
            if burst is None or burst != self._burst:
                self._burst = -1 if burst is None else burst
                return self._send_now(out.message(self.encoding))
            self._queue.append(out.message(self.encoding))
            self._writer = asyncio.get_running_loop().create_task(self._drain(None, None), name="atomo-rt-writer")
            return True
        if len(self._queue) >= self._limit:
            self._lost += 1
            self.stats.dropped_frames += 1
            return False
        self._queue.append(out.message(self.encoding))
        return True

    def _send_now(self, message: dict[str, Any]) -> bool:
        coro = self._send(message)
        try:
            awaited = coro.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            return True
        except Exception:             # the client went away: the receive loop ends the connection
            self.closed = True
            return False
        self._writer = asyncio.get_running_loop().create_task(self._drain(coro, awaited), name="atomo-rt-writer")
        return True

    async def _drain(self, coro: Any, awaited: Any) -> None:
        queue, send = self._queue, self._send
        try:
            if coro is not None:
                await finish(coro, awaited)
            while queue and not self.closed:
                await send(queue.popleft())
                if self._lost and len(queue) < self._limit:
                    lost, self._lost = self._lost, 0
                    await send(frame("dropped", count=lost).message(self.encoding))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed = True
        finally:
            self._writer = None

    @property
    def queued(self) -> int:
        return len(self._queue)

    # -- closing -------------------------------------------------------------------------------
    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        await self.stop()
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def close_soon(self, code: int, reason: str = "") -> None:
        if not self.closed:
            task = asyncio.get_running_loop().create_task(self.close(code, reason))
            task.add_done_callback(_ignore)

    async def stop(self) -> None:
        self.closed = True
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        self._queue.clear()

    # -- liveness (atomo.realtime.liveness.LiveSocket) -------------------------------------------
    def session_ended(self) -> None:
        self.close_soon(4403, "login session ended")

    def principal_changed(self, principal: Principal) -> None:
        self.principal = principal          # role changes count for later access checks

    def server_closing(self) -> None:
        self.close_soon(1001, "server shutting down")


async def finish(coro: Any, awaited: Any) -> None:
    """Run to completion a coroutine that was stepped by hand and suspended on ``awaited`` (what a task
    would do: wait until that future is done, then resume the coroutine)."""
    try:
        while True:
            if awaited is None:
                await asyncio.sleep(0)
            else:
                awaited._asyncio_future_blocking = False
                await asyncio.wait([awaited])
            awaited = coro.send(None)
    except StopIteration:
        return
    except asyncio.CancelledError:
        coro.close()
        raise


def _ignore(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
