"""The supervisor's end of the bus: a Unix socket in the group's private folder that forwards frames.

Each worker connects once, says ``hello`` with its index, and from then on every frame it sends goes to
every other connected worker (``ALL``), to one worker, or to the supervisor's own handlers
(``SUPERVISOR``: presence and sessions bookkeeping, readiness). Frames from one worker reach each peer
in the order sent. When a worker's connection ends (it exited, or was killed), ``gone`` callbacks run
with its index, so replicas of its state (presence) are dropped everywhere; ``joined`` callbacks run when
a worker says ``hello`` (a restarted worker is sent the current state there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atomo.cluster.frames import ALL, SUPERVISOR, FrameError, pack, read_frame

log = logging.getLogger("atomo.cluster")
Handler = Callable[[Any, int], None]


class Relay:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.workers: dict[int, asyncio.StreamWriter] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self.joined: list[Callable[[int], None]] = []
        self.gone: list[Callable[[int], None]] = []
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def on(self, kind: str, handler: Handler) -> None:
        """``handler(payload, sender)`` for frames a worker addresses to the supervisor."""
        self._handlers.setdefault(kind, []).append(handler)

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self.workers.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(OSError):
            self.path.unlink()

    def send_to(self, index: int, kind: str, payload: Any = None) -> None:
        writer = self.workers.get(index)
        if writer is not None and not writer.is_closing():
            writer.write(pack(kind, SUPERVISOR, payload))

    def broadcast(self, kind: str, payload: Any = None, *, exclude: int | None = None) -> None:
        frame = pack(kind, SUPERVISOR, payload)
        for index, writer in list(self.workers.items()):
            if index != exclude and not writer.is_closing():
                writer.write(frame)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        index: int | None = None
        try:
            first = await read_frame(reader)
            if first is None or first[0] != "hello" or not isinstance(first[2], int):
                return
            index = first[2]
            old = self.workers.get(index)
            if old is not None:
                old.close()
            self.workers[index] = writer
            self._call(self.joined, index)
            while True:
                frame = await read_frame(reader)
                if frame is None:
                    break
                self._route(index, *frame)
        except (OSError, FrameError) as exc:
            log.warning("relay connection of worker %s failed: %s", index, exc)
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            if index is not None and self.workers.get(index) is writer:
                del self.workers[index]
                self.broadcast("bus.gone", index)     # the others forget what it wanted (atomo.cluster.bus)
                self._call(self.gone, index)

    def _route(self, sender: int, kind: str, to: int, payload: Any) -> None:
        if to == SUPERVISOR:
            for handler in self._handlers.get(kind, ()):
                try:
                    handler(payload, sender)
                except Exception:
                    log.exception("relay handler for %s failed", kind)
            return
        frame = pack(kind, sender, payload)
        if to == ALL:
            for index, writer in list(self.workers.items()):
                if index != sender and not writer.is_closing():
                    writer.write(frame)
        else:
            target = self.workers.get(to)
            if target is not None and not target.is_closing():
                target.write(frame)

    @staticmethod
    def _call(callbacks: list[Callable[[int], None]], index: int) -> None:
        for callback in list(callbacks):
            try:
                callback(index)
            except Exception:
                log.exception("relay callback failed")
