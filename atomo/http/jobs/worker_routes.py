"""The worker plane (``X-Worker-Token``, jobs chapter §6): lease, heartbeat, progress, complete, fail.

A lease belongs to the token that took it: a call for a job whose lease the token does not hold
(unknown id, another worker's lease, finished, cancelled or reclaimed) is 409 ``LEASE_LOST``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, post
from litestar.handlers import HTTPRouteHandler

from atomo.errors import PermissionDeniedError, ValidationError
from atomo.http.jobs.inputs import AnyRequest, Plane, clamped, json_response, no_content, number, require_object, text

MAX_MESSAGE = 1000
MAX_DELAY_SECS = 86400


def _visibility(body: dict[str, Any]) -> int:
    return clamped(body, "visibilitySecs", 30, 1, 86400)


async def _watch_disconnect(request: AnyRequest, gone: asyncio.Event) -> None:
    """Long polls: notice a client that went away (its body is read, so the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    gone.set()


def worker_handlers(plane: Plane) -> list[HTTPRouteHandler]:
    async def held(request: AnyRequest) -> tuple[Any, dict[str, Any], str]:
        worker = await plane.worker(request)
        body = require_object(await plane.body(request, empty={}))
        lease_id = text(body, "leaseId", required=True)
        assert lease_id is not None
        return worker, body, lease_id

    @post("/jobs/lease", name="jobs-lease")
    async def lease_jobs(request: AnyRequest) -> Response[Any]:
        worker = await plane.worker(request)
        body = require_object(await plane.body(request, empty={}))
        queues = body.get("queues")
        if not isinstance(queues, list) or not queues or not all(isinstance(q, str) and q for q in queues):
            raise ValidationError.single("queues", "queues must be a non-empty list of queue names", "type")
        for queue in queues:
            if not worker.allows_queue(queue):
                raise PermissionDeniedError(f"worker not authorized for queue '{queue}'")
        wait = clamped(body, "waitSecs", 0, 0, 30)
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(request, gone)) if wait else None
        try:
            jobs = await plane.jobs.queue.lease(worker, list(dict.fromkeys(queues)),
                                                capacity=clamped(body, "capacity", 1, 1, 100),
                                                visibility_secs=_visibility(body), wait_secs=wait, gone=gone)
        finally:
            if watcher is not None:
                watcher.cancel()
        return json_response({"jobs": jobs})

    @post("/jobs/{job_id:str}/heartbeat", name="jobs-heartbeat")
    async def heartbeat(request: AnyRequest, job_id: str) -> Response[Any]:
        worker, body, lease_id = await held(request)
        await plane.jobs.queue.heartbeat(worker, job_id, lease_id, _visibility(body))
        return no_content()

    @post("/jobs/{job_id:str}/progress", name="jobs-progress")
    async def progress(request: AnyRequest, job_id: str) -> Response[Any]:
        worker, body, lease_id = await held(request)
        percent = number(body, "percent", None)
        if percent is not None and not 0 <= percent <= 100:
            raise ValidationError.single("percent", "percent must be between 0 and 100", "range")
        message = text(body, "message", max_length=MAX_MESSAGE)
        shown = None if percent is None else (int(percent) if percent.is_integer() else percent)
        await plane.jobs.queue.progress(worker, job_id, lease_id, _visibility(body), shown, message, body.get("data"))
        return no_content()

    @post("/jobs/{job_id:str}/complete", name="jobs-complete")
    async def complete(request: AnyRequest, job_id: str) -> Response[Any]:
        worker, body, lease_id = await held(request)
        await plane.jobs.queue.complete(worker, job_id, lease_id, body.get("result"))
        return no_content()

    @post("/jobs/{job_id:str}/fail", name="jobs-fail")
    async def fail(request: AnyRequest, job_id: str) -> Response[Any]:
        worker, body, lease_id = await held(request)
        error = body.get("error")
        if error is None:
            error = ""
        if not isinstance(error, str):
            raise ValidationError.single("error", "error must be a string", "type")
        retryable = body.get("retryable", False)
        if not isinstance(retryable, bool):
            raise ValidationError.single("retryable", "retryable must be a boolean", "type")
        delay = number(body, "delaySecs", None)
        delay_secs = None if delay is None else int(max(0.0, min(delay, MAX_DELAY_SECS)))
        outcome = await plane.jobs.queue.fail(worker, job_id, lease_id, error=error, retryable=retryable,
                                              delay_secs=delay_secs)
        return json_response(outcome)

    return [lease_jobs, heartbeat, progress, complete, fail]
