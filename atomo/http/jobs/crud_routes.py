"""The worker CRUD API (jobs chapter §8): ``/api/worker/crud/{model}[/{id}]`` with ``X-Worker-Token``.

Order: worker token (401) -> capability ``crud:<Model>:<op>`` (403) -> model exists (404) -> actor.
Every call goes through the data service with a ``Caller`` built from the actor, so RBAC, row rules,
tenancy and soft deletes apply exactly as in GraphQL, and ``origin`` is stamped on the events:

- ``actor.userId``: that user (role and tenant binding loaded from the database; unknown or inactive
  -> 403) with the user's own tenant scope (auth chapter §8: a ``tenantId`` other than a bound user's
  tenant -> 403; only an unbound admin may pick one; an unbound non-admin sees untenanted rows);
- no ``userId``: principal ``worker:<workerId>`` with the reserved role ``system``, scoped to
  ``tenantId`` if given: it satisfies ``authenticated`` and rules listing ``system``, never ``owner(f)``.

A worker bound to a tenant (created by a tenant-scoped admin) never leaves it: ``tenantId`` must be
absent or that tenant, an actor bound to another tenant is refused, and every call is scoped to it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from litestar import Response, delete, get, patch, post
from litestar.handlers import HTTPRouteHandler

from atomo.auth.principal import Caller, Principal
from atomo.auth.rbac import UNRESTRICTED, Access
from atomo.auth.scope import MAX_TENANT_LENGTH, caller_for
from atomo.auth.users import find_by_id
from atomo.data.service import DataService
from atomo.errors import BadRequestError, NotFoundError, PermissionDeniedError, ValidationError
from atomo.http.jobs.inputs import AnyRequest, Plane, json_response, query_int, require_object, text
from atomo.jobs.workers import WorkerIdentity
from atomo.schema.model import Model

SYSTEM_ROLE = "system"
MAX_ORIGIN = 100


class SystemRoleData(DataService):
    """The data service seen by a worker acting without a user: ``owner(f)`` alternatives never apply."""

    def __init__(self, base: DataService) -> None:  # shares the base's schema, database and writer
        self.__dict__.update(base.__dict__)

    def access(self, model: Model, operation: str, caller: Caller) -> Access:
        decided = super().access(model, operation, caller)
        if decided.unrestricted:
            return UNRESTRICTED
        if decided.same_tenant is None:
            raise PermissionDeniedError.for_action(model.name, operation)
        return Access(False, same_tenant=decided.same_tenant)


def _query_json(request: AnyRequest, key: str) -> Any:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequestError(f"query parameter {key} must be JSON") from None


def crud_handlers(plane: Plane) -> list[HTTPRouteHandler]:
    system_views: dict[int, SystemRoleData] = {}

    async def authorize(request: AnyRequest, model_name: str, op: str) -> tuple[WorkerIdentity, str]:
        worker = await plane.worker(request)
        if not worker.allows_crud(model_name, op):
            raise PermissionDeniedError(f"worker lacks crud capability for {model_name}.{op}")
        model = plane.schema.model(model_name)
        if model is None:
            raise NotFoundError(f"model '{model_name}' not found")
        return worker, model.name

    async def acting(worker: WorkerIdentity, actor: Any, origin: Any) -> tuple[DataService, Caller]:
        caller = await _caller(worker, actor, origin)
        data = plane.data
        if caller.principal.role == SYSTEM_ROLE and caller.principal.user_id == f"worker:{worker.id}":
            view = system_views.get(id(data))
            if view is None or view.writer is not data.writer:
                system_views.clear()
                view = system_views[id(data)] = SystemRoleData(data)
            data = view
        return data, caller

    async def _caller(worker: WorkerIdentity, actor: Any, origin: Any) -> Caller:
        if origin is not None and (not isinstance(origin, str) or not 1 <= len(origin) <= MAX_ORIGIN):
            raise ValidationError.single("origin", f"origin must be 1 to {MAX_ORIGIN} characters", "type")
        if actor is None:
            actor = {}
        if not isinstance(actor, dict):
            raise ValidationError.single("actor", "actor must be an object {userId?, tenantId?}", "type")
        user_id = text(actor, "userId")
        tenant = actor.get("tenantId")
        if tenant is not None and (not isinstance(tenant, str) or not 1 <= len(tenant) <= MAX_TENANT_LENGTH):
            raise ValidationError.single("actor.tenantId", f"tenantId must be 1 to {MAX_TENANT_LENGTH} characters",
                                         "invalid_tenant")
        bound = worker.tenant_id
        if bound is not None:
            if tenant is not None and tenant != bound:
                raise PermissionDeniedError("actor tenantId is outside this worker's tenant")
            tenant = bound
        if user_id is None:
            principal = Principal(user_id=f"worker:{worker.id}", role=SYSTEM_ROLE)
            return Caller(principal=principal, tenant=tenant, origin=origin)
        user = await plane.db.read(lambda conn: find_by_id(conn, user_id), inline=True)
        if user is None or not user.is_active:
            raise PermissionDeniedError(f"actor '{user_id}' is not an active user")
        principal = Principal(user_id=user.id, email=user.email, role=user.role.lower(), tenant_binding=user.tenant_id)
        # the user's own scope rules (auth §8): a bound user stays in its tenant, an unbound non-admin in
        # untenanted rows; under a bound worker, ``tenant`` is the worker's tenant
        return replace(caller_for(principal, tenant, field="actor tenantId"), origin=origin)

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
        data, caller = await acting(worker, _query_json(request, "actor"), None)
        records = await data.records(name, where=_query_json(request, "where"),
                                     order_by=_query_json(request, "orderBy"),
                                     limit=query_int(request, "limit", 50, 1, 200),
                                     offset=query_int(request, "offset", 0, 0, 2**62), caller=caller)
        return json_response(records)

    @get("/api/worker/crud/{model:str}/{record_id:str}", name="worker-crud-get")
    async def find_one(request: AnyRequest, model: str, record_id: str) -> Response[Any]:
        worker, name = await authorize(request, model, "read")
        data, caller = await acting(worker, _query_json(request, "actor"), None)
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
