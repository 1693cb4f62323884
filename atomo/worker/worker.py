"""The Python worker: lease, run handlers with auto-heartbeat, report the outcome (jobs chapter §11).

- The loop leases up to ``concurrency - in_flight`` jobs and sleeps ``poll_interval`` when idle or
  after an error; ``stop()`` stops leasing and awaits the handlers in flight.
- Outcome: the handler's return value is sent to ``complete``; an exception -> ``fail`` with
  ``retryable = not isinstance(exc, NonRetryableError)``; no handler for the kind -> ``fail``
  ``no handler for kind '<kind>'``, not retryable. A 409 on complete or fail is swallowed.
- Heartbeats run every ``heartbeat_secs`` (default ``max(1, visibility_secs // 3)``); a 409 on a
  heartbeat or progress call sets ``ctx.lease_lost``. Plain (non-async) handlers run in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .client import CrudClient, JobsClient, LeasedJob, LeaseLostError, actor_of

log = logging.getLogger("atomo.worker")
Handler = Callable[["JobContext"], Any]
ErrorHook = Callable[[BaseException], None]


class NonRetryableError(Exception):
    """Raised by a handler: the job fails without further attempts."""


class JobContext:
    def __init__(self, client: JobsClient, job: LeasedJob, crud: CrudClient, visibility_secs: int) -> None:
        self.job = job
        self.crud = crud
        self.lease_lost = asyncio.Event()
        self._client = client
        self._visibility = visibility_secs

    async def heartbeat(self) -> None:
        try:
            await self._client.heartbeat(self.job.id, self.job.lease_id, visibility_secs=self._visibility)
        except LeaseLostError:
            self.lease_lost.set()
            raise

    async def progress(self, percent: float | None = None, message: str | None = None, data: Any = None) -> None:
        try:
            await self._client.progress(self.job.id, self.job.lease_id, percent=percent, message=message, data=data,
                                        visibility_secs=self._visibility)
        except LeaseLostError:
            self.lease_lost.set()
            raise


def _default_error(exc: BaseException) -> None:
    log.error("worker error: %s", exc, exc_info=exc)


async def _heartbeats(ctx: JobContext, every: float, on_error: ErrorHook) -> None:
    while not ctx.lease_lost.is_set():
        await asyncio.sleep(every)
        try:
            await ctx.heartbeat()
        except LeaseLostError:
            return
        except Exception as exc:
            on_error(exc)


async def handle_job(client: JobsClient, job: LeasedJob, handler: Handler | None, *, crud: CrudClient | None = None,
                     visibility_secs: int = 30, heartbeat_secs: float | None = None,
                     on_error: ErrorHook | None = None) -> None:
    """Run one leased job to its outcome (complete or fail), heartbeating while the handler runs."""
    on_error = on_error or _default_error
    if crud is None:
        origin = job.payload.get("action") if job.queue == "actions" and isinstance(job.payload, dict) else None
        crud = CrudClient(client.url, client.headers["x-worker-token"], actor=actor_of(job.payload),
                          default_origin=origin, http_client=client.http)
    ctx = JobContext(client, job, crud, visibility_secs)
    try:
        if handler is None:
            await client.fail(job.id, job.lease_id, f"no handler for kind '{job.kind}'", retryable=False)
            return
        beating = asyncio.create_task(_heartbeats(ctx, heartbeat_secs or max(1, visibility_secs // 3), on_error))
        try:
            if inspect.iscoroutinefunction(handler):
                result = await handler(ctx)
            else:
                result = await asyncio.to_thread(handler, ctx)
                if inspect.isawaitable(result):
                    result = await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            beating.cancel()
            message = str(exc) or type(exc).__name__
            await client.fail(job.id, job.lease_id, message, retryable=not isinstance(exc, NonRetryableError))
            return
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
        await client.complete(job.id, job.lease_id, result)
    except LeaseLostError:
        pass
    except Exception as exc:
        on_error(exc)


class Worker:
    def __init__(self, url: str, token: str, queues: list[str], *, concurrency: int = 1, visibility_secs: int = 30,
                 heartbeat_secs: float | None = None, poll_interval: float = 1.0, wait_secs: float = 0,
                 on_error: ErrorHook | None = None, http_client: httpx.AsyncClient | None = None) -> None:
        self.url, self.token, self.queues = url, token, list(queues)
        self.concurrency = max(1, int(concurrency))
        self.visibility_secs = visibility_secs
        self.heartbeat_secs = heartbeat_secs or max(1, visibility_secs // 3)
        self.poll_interval = poll_interval
        self.wait_secs = wait_secs
        self.on_error = on_error or _default_error
        self.handlers: dict[str, Handler] = {}
        self._http = http_client
        self._client: JobsClient | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False

    def on(self, kind: str, handler: Handler | None = None) -> Any:
        """Register ``handler`` for ``kind``; without a handler, a decorator."""
        if handler is None:
            def register(fn: Handler) -> Handler:
                self.handlers[kind] = fn
                return fn
            return register
        self.handlers[kind] = handler
        return self

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        self._stopping = False
        self._wake = asyncio.Event()
        self._client = JobsClient(self.url, self.token, self._http)
        self._loop_task = asyncio.create_task(self._loop(), name="atomo-worker-loop")

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _loop(self) -> None:
        assert self._client is not None
        while not self._stopping:
            free = self.concurrency - len(self._in_flight)
            if free <= 0:
                await self._pause(3600)
                continue
            try:
                jobs = await self._client.lease(self.queues, capacity=free, visibility_secs=self.visibility_secs,
                                                wait_secs=self.wait_secs)
            except Exception as exc:
                self.on_error(exc)
                await self._pause(self.poll_interval)
                continue
            for job in jobs:
                task = asyncio.create_task(handle_job(self._client, job, self.handlers.get(job.kind),
                                                      visibility_secs=self.visibility_secs,
                                                      heartbeat_secs=self.heartbeat_secs, on_error=self.on_error))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if not jobs:
                await self._pause(self.poll_interval)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop leasing, then await the handlers in flight (cancelled after ``timeout`` seconds)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_until_stopped(self) -> None:
        """Start, wait for SIGINT/SIGTERM, stop cleanly."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        await self.start()
        try:
            await stop.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()

    def run(self) -> None:
        """Blocking: runs until SIGINT/SIGTERM, then stops cleanly."""
        asyncio.run(self.run_until_stopped())


def create_worker(url: str, token: str, queues: list[str], concurrency: int = 1, visibility_secs: int = 30,
                  heartbeat_secs: float | None = None, poll_interval: float = 1.0, wait_secs: float = 0,
                  on_error: ErrorHook | None = None, http_client: httpx.AsyncClient | None = None,
                  handlers: Mapping[str, Handler] | None = None) -> Worker:
    worker = Worker(url, token, queues, concurrency=concurrency, visibility_secs=visibility_secs,
                    heartbeat_secs=heartbeat_secs, poll_interval=poll_interval, wait_secs=wait_secs,
                    on_error=on_error, http_client=http_client)
    for kind, handler in (handlers or {}).items():
        worker.on(kind, handler)
    return worker

