"""The worker CRUD API (jobs chapter §8): ``/api/worker/crud/{model}[/{id}]`` with ``X-Worker-Token``.

Order: worker token (401) -> capability ``crud:<Model>:<op>`` (403) -> model exists (404) -> actor.
Every call goes through the data service with a ``Caller`` built from the actor (``atomo.http.jobs.acting``,
shared with the worker events API), so RBAC, row rules, tenancy and soft deletes apply exactly as in
GraphQL, and ``origin`` is stamped on the events.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler

from atomo.errors import NotFoundError, PermissionDeniedError, ValidationError
from atomo.http.jobs.acting import Acting, query_json
from atomo.http.jobs.inputs import AnyRequest, Plane, json_response, query_int, require_object
from atomo.jobs.workers import WorkerIdentity


def crud_handlers(plane: Plane, shared: Acting | None = None) -> list[HTTPRouteHandler]:
    acting = shared or Acting(plane)

    async def authorize(request: AnyRequest, model_name: str, op: str) -> tuple[WorkerIdentity, str]:
        worker = await plane.worker(request)
        if not worker.allows_crud(model_name, op):
            raise PermissionDeniedError(f"worker lacks crud capability for {model_name}.{op}")
        model = plane.schema.model(model_name)
        if model is None:
            raise NotFoundError(f"model '{model_name}' not found")
        return worker, model.name

    async def write_body(request: AnyRequest, *, required: bool) -> dict[str, Any]:
        body = require_object(await plane.body(request, empty={}))
        if required and not isinstance(body.get("data"), dict):
            raise ValidationError.single("data", "data must be an object", "type")
        version = body.get("expectedVersion")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ValidationError.single("expectedVersion", "expectedVersion must be an integer", "type")
        return body

    @post("/api/worker/crud/{model:str}", name="worker-crud-create")
    async def create(request: AnyRequest, model: str) -> Response[Any]:
        worker, name = await authorize(request, model, "create")
        body = await write_body(request, required=True)
        data, caller = await acting(worker, body.get("actor"), body.get("origin"))
        return json_response(await data.create(name, body["data"], caller=caller), 201)

    @get("/api/worker/crud/{model:str}", name="worker-crud-list")
    async def find_many(request: AnyRequest, model: str) -> Response[Any]:
        worker, name = await authorize(request, model, "read")
        data, caller = await acting(worker, query_json(request, "actor"), None)
        records = await data.records(name, where=query_json(request, "where"),
                                     order_by=query_json(request, "orderBy"),
                                     limit=query_int(request, "limit", 50, 1, 200),
                                     offset=query_int(request, "offset", 0, 0, 2**62), caller=caller)
        return json_response(records)

    @get("/api/worker/crud/{model:str}/{record_id:str}", name="worker-crud-get")
    async def find_one(request: AnyRequest, model: str, record_id: str) -> Response[Any]:
        worker, name = await authorize(request, model, "read")
        data, caller = await acting(worker, query_json(request, "actor"), None)
        record = await data.record(name, record_id, caller=caller)
        if record is None:
            raise NotFoundError(f"{name} {record_id} not found")
        return json_response(record)

    @patch("/api/worker/crud/{model:str}/{record_id:str}", name="worker-crud-update")
    async def update(request: AnyRequest, model: str, record_id: str) -> Response[Any]:
        worker, name = await authorize(request, model, "update")
        body = await write_body(request, required=True)
        data, caller = await acting(worker, body.get("actor"), body.get("origin"))
        record = await data.update(name, id=record_id, data=body["data"], expected_version=body.get("expectedVersion"),
                                   caller=caller)
        return json_response(record)

    @delete("/api/worker/crud/{model:str}/{record_id:str}", name="worker-crud-delete", status_code=200)
    async def remove(request: AnyRequest, model: str, record_id: str) -> Response[Any]:
        worker, name = await authorize(request, model, "delete")
        body = await write_body(request, required=False)
        data, caller = await acting(worker, body.get("actor"), body.get("origin"))
        count = await data.delete(name, id=record_id, expected_version=body.get("expectedVersion"), caller=caller)
        return json_response({"deleted": count})

    @post("/api/worker/crud/{model:str}/{record_id:str}/blocks/{field:str}", name="worker-crud-blocks",
          status_code=200)
    async def block_ops(request: AnyRequest, model: str, record_id: str, field: str) -> Response[Any]:
        """Block operations on one Blocks field (content chapter §3): ``{"ops": [...], "expectedVersion"?,
        "actor"?, "origin"?}``, applied in order in one transaction; capability ``update``."""
        worker, name = await authorize(request, model, "update")
        body = await write_body(request, required=False)
        data, caller = await acting(worker, body.get("actor"), body.get("origin"))
        done = await data.block_ops(name, record_id, field, body.get("ops"),
                                    expected_version=body.get("expectedVersion"), caller=caller)
        return json_response(done)

    return [create, find_many, find_one, update, remove, block_ops]
