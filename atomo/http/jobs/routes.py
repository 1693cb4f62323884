"""Jobs over HTTP: the app plane (JWT), the admin plane (role ``admin``) and direct action invocation.

``jobs_handlers(services)`` returns every jobs route (these, the worker plane, the worker CRUD API and the
worker events API).
Who may subscribe to ``job:<id>`` on the realtime hub, and the frames sent there, are wired by
``atomo.app``.

| Route | Who |
|---|---|
| ``POST /jobs``, ``GET /jobs/{id}``, ``POST /jobs/{id}/cancel`` | any user (jobs they may see) |
| ``POST /api/actions/{name}`` | any user; the action must declare ``returns`` |
| ``/jobs/workers…``, ``GET /jobs/stats``, ``GET /jobs/recent``, ``POST /jobs/{id}/retry`` | admins |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Response, delete, get, post
from litestar.handlers import HTTPRouteHandler

from atomo.errors import ValidationError
from atomo.http.jobs.acting import Acting
from atomo.http.jobs.crud_routes import crud_handlers
from atomo.http.jobs.event_routes import event_handlers
from atomo.http.jobs.inputs import AnyRequest, Plane, json_response, query_int
from atomo.http.jobs.worker_routes import worker_handlers
from atomo.jobs import store
from atomo.jobs.actions import ACTIONS_QUEUE, callable_action, check_object_input, direct_payload
from atomo.jobs.service import MAX_IDEMPOTENCY_KEY, new_app_job, require_user
from atomo.jobs.store import NewJob

if TYPE_CHECKING:
    from atomo.http.services import Services


def app_handlers(plane: Plane) -> list[HTTPRouteHandler]:
    @post("/jobs", name="jobs-enqueue")
    async def enqueue_job(request: AnyRequest) -> Response[Any]:
        caller = await plane.user(request)
        job = new_app_job(await plane.body(request, empty={}), caller)
        job_id, duplicate = await plane.jobs.enqueue(job)
        if duplicate:
            return json_response({"id": job_id, "duplicate": True})
        return json_response({"id": job_id}, 201)

    @get("/jobs/{job_id:str}", name="jobs-get")
    async def get_job(request: AnyRequest, job_id: str) -> Response[Any]:
        row = await plane.visible_job(job_id, await plane.user(request))
        return json_response(store.job_view(row))

    @post("/jobs/{job_id:str}/cancel", name="jobs-cancel")
    async def cancel_job(request: AnyRequest, job_id: str) -> Response[Any]:
        await plane.visible_job(job_id, await plane.user(request))
        return json_response(store.job_view(await plane.jobs.queue.cancel(job_id)))

    @post("/api/actions/{name:str}", name="actions-invoke")
    async def invoke_action(request: AnyRequest, name: str) -> Response[Any]:
        caller = await plane.user(request)
        user_id = require_user(caller)
        action = callable_action(plane.schema, name)
        body = await plane.body(request, empty={})
        check_object_input(action, body)
        wait = query_int(request, "wait", 0, 0, 30)
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise ValidationError.single("Idempotency-Key", f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} "
                                         "characters", "invalid_key")
        job = NewJob(ACTIONS_QUEUE, name, direct_payload(name, body, user_id, caller.tenant), tenant_id=caller.tenant,
                     created_by=user_id, idempotency_key=None if key is None else f"direct:{user_id}:{key}")
        job_id, duplicate = await plane.jobs.enqueue(job)
        out: dict[str, Any] = {"jobId": job_id}
        if duplicate:
            out["duplicate"] = True
        if "wait" in request.query_params:
            row = await plane.jobs.queue.wait_finished(job_id, wait)
            view = store.job_view(row) if row is not None else {}
            out.update(status=view.get("status"), result=view.get("result"), error=view.get("error"))
        return json_response(out)

    return [enqueue_job, get_job, cancel_job, invoke_action]


def admin_handlers(plane: Plane) -> list[HTTPRouteHandler]:
    @post("/jobs/workers", name="jobs-workers-create")
    async def create_worker(request: AnyRequest) -> Response[Any]:
        caller = await plane.admin(request)
        return json_response(await plane.jobs.workers.create(await plane.body(request), caller.tenant), 201)

    @get("/jobs/workers", name="jobs-workers-list")
    async def list_workers(request: AnyRequest) -> Response[Any]:
        caller = await plane.admin(request)
        return json_response({"workers": await plane.jobs.workers.list(caller.tenant_scope)})

    @delete("/jobs/workers/{worker_id:str}", name="jobs-workers-revoke", status_code=204)
    async def revoke_worker(request: AnyRequest, worker_id: str) -> None:
        caller = await plane.admin(request)
        await plane.jobs.queue.revoke_worker(worker_id, caller.tenant_scope)

    @get("/jobs/stats", name="jobs-stats")
    async def job_stats(request: AnyRequest) -> Response[Any]:
        caller = await plane.admin(request)
        return json_response(await plane.jobs.queue.stats(caller.tenant_scope))

    @get("/jobs/recent", name="jobs-recent")
    async def recent_jobs(request: AnyRequest) -> Response[Any]:
        caller = await plane.admin(request)
        status = request.query_params.get("status") or None
        if status is not None and status not in store.STATUSES:
            raise ValidationError.single("status", f"unknown status '{status}' (use {', '.join(store.STATUSES)})",
                                         "invalid_status")
        jobs = await plane.jobs.queue.recent(queue=request.query_params.get("queue") or None, status=status,
                                             limit=query_int(request, "limit", 25, 1, 200),
                                             offset=query_int(request, "offset", 0, 0, 2**62),
                                             scope=caller.tenant_scope)
        return json_response({"jobs": jobs})

    @post("/jobs/{job_id:str}/retry", name="jobs-retry")
    async def retry_job(request: AnyRequest, job_id: str) -> Response[Any]:
        caller = await plane.admin(request)
        await plane.visible_job(job_id, caller)
        return json_response(store.job_view(await plane.jobs.queue.retry(job_id)))

    return [create_worker, list_workers, revoke_worker, job_stats, recent_jobs, retry_job]


def jobs_handlers(services: Services) -> list[HTTPRouteHandler]:
    plane = Plane(services)
    acting = Acting(plane)          # the worker CRUD and events APIs build their callers alike
    return [*app_handlers(plane), *admin_handlers(plane), *worker_handlers(plane), *crud_handlers(plane, acting),
            *event_handlers(plane, acting)]
