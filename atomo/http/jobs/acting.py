"""Who a worker call runs as (jobs chapter §8): the ``actor`` of the worker CRUD API and the worker events API.

Both route sets build their ``Caller`` here, so the rules are the same for a record and for an event stream:

- ``actor.userId``: that user (role and tenant binding loaded from the database; unknown or inactive
  -> 403) with the user's own tenant scope (auth chapter §8: a ``tenantId`` other than a bound user's
  tenant -> 403; only an unbound admin may pick one; an unbound non-admin sees untenanted rows);
- no ``userId``: principal ``worker:<workerId>`` with the reserved role ``system``, scoped to
  ``tenantId`` if given: it satisfies ``authenticated`` and rules listing ``system``, never ``owner(f)``.

A worker bound to a tenant (created by a tenant-scoped admin) never leaves it: ``tenantId`` must be
absent or that tenant, an actor bound to another tenant is refused, and every call is scoped to it.
``origin`` (1 to 100 characters) is stamped on the events the call writes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from atomo.auth.principal import Caller, Principal
from atomo.auth.rbac import UNRESTRICTED, Access
from atomo.auth.scope import MAX_TENANT_LENGTH, caller_for
from atomo.auth.users import find_by_id
from atomo.data.service import DataService
from atomo.errors import BadRequestError, PermissionDeniedError, ValidationError
from atomo.http.jobs.inputs import AnyRequest, Plane, text
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


def query_json(request: AnyRequest, key: str) -> Any:
    """A JSON query parameter (``actor``, ``where``, ``orderBy``); absent or empty -> None, invalid -> 400."""
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequestError(f"query parameter {key} must be JSON") from None


class Acting:
    """``await acting(worker, actor, origin)`` -> ``(data service, caller)`` of one worker call.

    Without a user the data service is a ``SystemRoleData`` view of the current one (kept while the
    current data service and its writer stay the same: ``atomo dev`` may swap them)."""

    def __init__(self, plane: Plane) -> None:
        self.plane = plane
        self._views: dict[int, SystemRoleData] = {}

    async def __call__(self, worker: WorkerIdentity, actor: Any, origin: Any) -> tuple[DataService, Caller]:
        caller = await self.caller(worker, actor, origin)
        data = self.plane.data
        if caller.principal.role == SYSTEM_ROLE and caller.principal.user_id == f"worker:{worker.id}":
            view = self._views.get(id(data))
            if view is None or view.writer is not data.writer:
                self._views.clear()
                view = self._views[id(data)] = SystemRoleData(data)
            data = view
        return data, caller

    async def caller(self, worker: WorkerIdentity, actor: Any, origin: Any) -> Caller:
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
        user = await self.plane.db.read(lambda conn: find_by_id(conn, user_id), inline=True)
        if user is None or not user.is_active:
            raise PermissionDeniedError(f"actor '{user_id}' is not an active user")
        principal = Principal(user_id=user.id, email=user.email, role=user.role.lower(), tenant_binding=user.tenant_id)
        # the user's own scope rules (auth §8): a bound user stays in its tenant, an unbound non-admin in
        # untenanted rows; under a bound worker, ``tenant`` is the worker's tenant
        return replace(caller_for(principal, tenant, field="actor tenantId"), origin=origin)
