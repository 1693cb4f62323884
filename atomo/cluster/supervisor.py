"""The supervisor of ``atomo serve --workers N``: starts the workers, keeps them running, stops them.

The caller (``atomo.server``) has reserved the port and booted once (schema, migrations, admin, secret),
so the workers find a ready data file. The supervisor then makes the group's private folder (relay
socket, shared table, writer lock), starts the relay, and starts N workers: each runs the same command
line with the ``atomo.cluster.member`` variables set, listens on the port with its own socket
(``SO_REUSEPORT``: the kernel spreads new connections evenly over the workers' sockets by address hash;
one shared socket would let whichever process wakes first accept a whole burst of connections), serves
it with its own event loop, writer thread and readers, and says ``ready`` on the relay once listening.
The supervisor's own socket is bound with ``SO_REUSEPORT`` but never listens: it keeps the port for
the group (another program cannot take it while a worker restarts) and receives no connections.
Connections waiting in a killed worker's accept queue are reset (the kernel does not move them).

A worker that exits unasked (a crash, ``kill -9``) is started again with the same index after a short
delay (doubling up to ``MAX_RESTART_DELAY`` while it keeps dying within ``STABLE_SECS``); the relay's
``gone`` callbacks have already dropped what it held (presence, connection counts). One that exits
before it was ever ready with the configuration exit code stops the group with that code. SIGTERM or
SIGINT stop the group: every worker gets SIGTERM (it finishes in-flight requests within the grace
period), one that is still running after it (plus ``KILL_AFTER_SECS``) gets SIGKILL, and the supervisor
exits 0. If the supervisor itself is killed, each worker sees the relay close and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from atomo.cluster.member import Member
from atomo.cluster.relay import Relay

log = logging.getLogger("atomo.cluster")
MAX_RESTART_DELAY = 10.0
STABLE_SECS = 30.0
KILL_AFTER_SECS = 5.0
CONFIG_EXIT = 3


def worker_command() -> list[str]:
    """The command line that started this process, to start a worker with (the executable runs itself)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *sys.argv[1:]]
    return [sys.executable, "-m", "atomo", *sys.argv[1:]]


@dataclass
class Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    ready: bool = False
    delay: float = 0.25
    restarts: int = 0


@dataclass
class Supervisor:
    size: int
    sock: socket.socket
    grace_secs: float
    command: list[str] = field(default_factory=worker_command)
    # with the relay before any worker starts: the realtime state kept across workers, the shared table
    prepare: list[Callable[[Relay, Path], None]] = field(default_factory=list)
    gone: list[Callable[[Path, int], None]] = field(default_factory=list)   # a worker's process ended
    on_ready: Callable[[], None] | None = None       # once, when every worker is listening
    workers: list[Worker] = field(default_factory=list)
    stopping: bool = False
    code: int = 0

    async def run(self) -> int:
        folder = Path(tempfile.mkdtemp(prefix="atomo-group-"))
        relay = Relay(folder / "relay.sock")
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        try:
            await relay.start()
            for prepare in self.prepare:
                prepare(relay, folder)
            relay.on("ready", lambda index, sender: self._ready(index, done))
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop, done)
            self.workers = [Worker(i) for i in range(self.size)]
            watchers = [asyncio.create_task(self._keep(w, folder, done)) for w in self.workers]
            await done.wait()
            await self._stop_all()
            await asyncio.gather(*watchers, return_exceptions=True)
            return self.code
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await relay.close()
            shutil.rmtree(folder, ignore_errors=True)

    def stop(self, done: asyncio.Event) -> None:
        if not self.stopping:
            log.info("stopping %d workers", self.size)
        self.stopping = True
        done.set()

    def _ready(self, index: int, done: asyncio.Event) -> None:
        if not 0 <= index < len(self.workers):
            return
        worker = self.workers[index]
        worker.ready = True
        if self.on_ready is not None and all(w.ready for w in self.workers):
            on_ready, self.on_ready = self.on_ready, None
            on_ready()
        elif worker.restarts:
            log.warning("worker %d is serving again (restart %d)", index, worker.restarts)

    async def _keep(self, worker: Worker, folder: Path, done: asyncio.Event) -> None:
        member = Member(index=worker.index, size=self.size, folder=folder, port=self.sock.getsockname()[1])
        env = {**os.environ, **member.environ()}
        while not self.stopping:
            worker.started_at = time.monotonic()
            worker.ready = False
            worker.process = await asyncio.create_subprocess_exec(*self.command, env=env,
                                                                  stdin=asyncio.subprocess.DEVNULL)
            code = await worker.process.wait()
            await asyncio.sleep(0.05)       # Ctrl+C reaches the workers too: let the supervisor's own signal land
            for callback in self.gone:
                try:
                    callback(folder, worker.index)
                except Exception:
                    log.exception("worker-gone callback failed")
            if self.stopping:
                return
            was_ready = worker.ready
            if not was_ready and code == CONFIG_EXIT:
                log.error("worker %d could not start (exit %d): stopping", worker.index, code)
                self.code = code
                self.stop(done)
                return
            how = f"signal {-code}" if code < 0 else f"exit {code}"
            if time.monotonic() - worker.started_at > STABLE_SECS:
                worker.delay = 0.25
            log.error("worker %d (pid %d) ended (%s): starting it again in %.2f s", worker.index,
                      worker.process.pid, how, worker.delay)
            worker.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), worker.delay)
            worker.delay = min(MAX_RESTART_DELAY, worker.delay * 2)

    async def _stop_all(self) -> None:
        running = [w.process for w in self.workers if w.process is not None and w.process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if not running:
            return
        waits = [asyncio.create_task(p.wait()) for p in running]
        _, late = await asyncio.wait(waits, timeout=self.grace_secs + KILL_AFTER_SECS)
        for process in running:
            if process.returncode is None:
                log.error("worker pid %d did not stop in time: killed", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        if late:
            await asyncio.wait(late)
