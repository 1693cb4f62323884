"""Notifications between the processes of one server: the worker's end of the relay.

A ``Bus`` is made by every runtime; alone (one process) ``send`` does nothing and nothing arrives, so
the single-process server pays one attribute read per notification. In a group, ``connect`` opens the
supervisor's relay socket; ``send(kind, payload)`` reaches every other worker's handlers of ``kind``
(``to=``: one worker; ``to=SUPERVISOR``: the supervisor's), in the order sent. Handlers run on the event
loop and get ``(payload, sender)``. ``ask(kind, payload)`` collects the answers of the other workers
(``answer(kind, fn)``), for what is summed at read time (``/metrics``).

Delivery is at most once and best effort: a worker that is restarting misses what was sent meanwhile.
Everything sent over the bus is therefore a wake-up or a replica update that can be rebuilt (the event
feed re-reads the log; presence is re-sent by the supervisor on ``hello``), never the only copy of data.
When the relay closes (the supervisor is gone), ``lost`` callbacks run: a worker then stops.

Interest: frames sent after every write (``feed.tail``, ``jobs.arrived``) cost each process a wake-up, and
at a thousand writes a second nobody may be listening. A ``Want`` says when this process wants ``kind``
(something waits for it here, and ``LINGER_SECS`` after); the bus tells the others (``bus.want``), and
``send_wanted`` sends only to the workers that want ``kind`` (none: nothing is sent). A worker that
(re)connects says ``bus.hello``: the others forget what it wanted before and tell it what they want; the
relay says ``bus.gone`` when a worker's connection ends. A ``Want`` that turns on calls its ``started``
callback: the process looks at the log or the table itself once, for what was sent before the others
knew.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from atomo.cluster.frames import ALL, SUPERVISOR, FrameError, pack, read_frame

log = logging.getLogger("atomo.cluster")
Handler = Callable[[Any, int], Any]
_ASK, _REPLY = "bus.ask", "bus.reply"
WANT, HELLO, GONE = "bus.want", "bus.hello", "bus.gone"
LINGER_SECS = 5.0                  # a Want stays on this long after its last waiter (no flapping)
WRITE_BUFFER_MAX = 256 << 20       # a relay that stopped reading: frames are dropped past this (logged)


class Bus:
    def __init__(self, index: int | None = None, size: int = 1) -> None:
        self.index = index
        self.size = size
        self._handlers: dict[str, list[Handler]] = {}
        self._answers: dict[str, Callable[[Any], Awaitable[Any] | Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._asks: dict[int, tuple[list[Any], asyncio.Event, int]] = {}
        self._ids = itertools.count(1)
        self.lost: list[Callable[[], None]] = []
        self.dropped = 0
        self._wanted: set[str] = set()                  # kinds this process wants now
        self._wanting: dict[str, set[int]] = {}         # kind -> the other workers that want it

    @property
    def clustered(self) -> bool:
        return self._writer is not None

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    def off(self, kind: str, handler: Handler) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._handlers[kind].remove(handler)

    def answer(self, kind: str, fn: Callable[[Any], Awaitable[Any] | Any]) -> None:
        self._answers[kind] = fn

    def send(self, kind: str, payload: Any = None, *, to: int = ALL) -> None:
        if self.clustered:
            self._deliver(kind, to, payload)

    def _deliver(self, kind: str, to: int, payload: Any) -> None:
        """Put one frame on the way (the relay's socket here; ``PgBus``: a NOTIFY)."""
        writer = self._writer
        if writer is None:
            return
        if writer.transport.get_write_buffer_size() > WRITE_BUFFER_MAX:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("the relay is not reading: %d frame(s) dropped", self.dropped)
            return
        writer.write(pack(kind, to, payload))

    def send_wanted(self, kind: str, payload: Any = None) -> None:
        """``send`` to the workers that want ``kind`` only."""
        peers = self._wanting.get(kind)
        if not peers or not self.clustered:
            return
        if len(peers) == self.size - 1:
            self.send(kind, payload)
        else:
            for peer in tuple(peers):
                self.send(kind, payload, to=peer)

    def want(self, kind: str, on: bool) -> None:
        """This process starts (or stops) wanting ``kind`` from the others (see ``Want``)."""
        if on == (kind in self._wanted):
            return
        (self._wanted.add if on else self._wanted.discard)(kind)
        self.send(WANT, [kind, on])

    def _peer_wants(self, sender: int, kind: str, on: bool) -> None:
        peers = self._wanting.setdefault(kind, set())
        (peers.add if on else peers.discard)(sender)

    def _forget_peer(self, sender: int) -> None:
        for peers in self._wanting.values():
            peers.discard(sender)

    async def ask(self, kind: str, payload: Any = None, *, timeout: float = 2.0) -> list[Any]:
        """The answers of the other workers to ``kind`` (those that answered within ``timeout``)."""
        if self._writer is None or self.size < 2:
            return []
        ask_id = next(self._ids)
        answers: list[Any] = []
        done = asyncio.Event()
        self._asks[ask_id] = (answers, done, self.size - 1)
        self.send(_ASK, [ask_id, kind, payload])
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            log.warning("%d of %d workers answered %s in %.1f s", len(answers), self.size - 1, kind, timeout)
        finally:
            self._asks.pop(ask_id, None)
        return answers

    # -- the connection ------------------------------------------------------------------------------
    async def connect(self, path: Path) -> None:
        reader, writer = await asyncio.open_unix_connection(str(path))
        self._writer = writer
        self.send("hello", self.index, to=SUPERVISOR)
        self.send(HELLO)
        for kind in self._wanted:
            self.send(WANT, [kind, True])
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader), name="atomo-bus")

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
            self._reader_task = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                frame = await read_frame(reader)
                if frame is None:
                    break
                self._dispatch(*frame)
        except (OSError, FrameError) as exc:
            log.error("the relay connection failed: %s", exc)
        writer, self._writer = self._writer, None
        if writer is not None:              # not closed by us: the supervisor is gone
            writer.close()
            for callback in list(self.lost):
                try:
                    callback()
                except Exception:
                    log.exception("relay-lost callback failed")

    def _dispatch(self, kind: str, sender: int, payload: Any) -> None:
        if kind == _ASK:
            ask_id, asked, body = payload
            fn = self._answers.get(asked)
            if fn is not None:
                asyncio.get_running_loop().create_task(self._reply(sender, ask_id, fn, body))
            return
        if kind == _REPLY:
            ask_id, value = payload
            pending = self._asks.get(ask_id)
            if pending is not None:
                answers, done, expected = pending
                answers.append(value)
                if len(answers) >= expected:
                    done.set()
            return
        if kind == WANT:
            self._peer_wants(sender, str(payload[0]), bool(payload[1]))
            return
        if kind == HELLO:                   # a (re)started worker: what it wanted before is void; tell it ours
            self._forget_peer(sender)
            for wanted in self._wanted:
                self.send(WANT, [wanted, True], to=sender)
            return
        if kind == GONE:
            self._forget_peer(int(payload))
            return
        for handler in self._handlers.get(kind, ()):
            try:
                handler(payload, sender)
            except Exception:
                log.exception("relay handler for %s failed", kind)

    async def _reply(self, sender: int, ask_id: int, fn: Callable[[Any], Any], body: Any) -> None:
        try:
            value = fn(body)
            if asyncio.iscoroutine(value):
                value = await value
        except Exception:
            log.exception("answering %s failed", ask_id)
            return
        self.send(_REPLY, [ask_id, value], to=sender)


class Want:
    """This process wants ``kind`` while ``active()`` is true, and ``LINGER_SECS`` after. ``touch()`` when
    something starts waiting; ``started()`` runs each time the want turns on (look for what the others sent
    before they knew). Alone (no relay) it does nothing."""

    def __init__(self, bus: Bus, kind: str, active: Callable[[], bool], started: Callable[[], None] | None = None,
                 *, linger: float = LINGER_SECS) -> None:
        self.bus = bus
        self.kind = kind
        self.active = active
        self.started = started
        self.linger = linger
        self.on = False
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def touch(self) -> None:
        if not self.bus.clustered:
            return
        loop = asyncio.get_running_loop()
        self._last = loop.time()
        if self.on:
            return
        self.on = True
        self.bus.want(self.kind, True)
        self._timer = loop.call_later(self.linger, self._check)
        if self.started is not None:
            self.started()

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        if self.active():
            self._last = loop.time()
        idle = loop.time() - self._last
        if idle >= self.linger or not self.bus.clustered:
            self.on = False
            self._timer = None
            self.bus.want(self.kind, False)
            return
        self._timer = loop.call_later(self.linger - idle, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
