"""What the jobs routes share: the services of a running server, callers and workers, body fields.

Bodies follow the REST rules of the auth chapter (413, 415, 400 ``BAD_REQUEST`` for invalid JSON);
fields that are missing or mistyped are 400 ``VALIDATION_ERROR``; numbers with a documented range are
clamped into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response

from atomo.auth.principal import Caller
from atomo.errors import BadRequestError, PermissionDeniedError, UnauthenticatedError, ValidationError
from atomo.http.errors import HttpError
from atomo.http.request_context import read_json
from atomo.jobs.service import Jobs, can_read, clamp, is_admin
from atomo.jobs.workers import WorkerIdentity

if TYPE_CHECKING:
    from atomo.data.service import DataService
    from atomo.http.services import Services
    from atomo.schema import Schema
    from atomo.storage.database import Database

AnyRequest = Request[Any, Any, Any]


class Plane:
    """The services one group of routes needs: the jobs subsystem, the schema being served, callers."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.jobs: Jobs = services.jobs
        self.db: Database = services.db

    @property
    def schema(self) -> Schema:
        return self.services.current.schema       # `atomo dev` may swap it

    @property
    def data(self) -> DataService:
        return self.services.current.data

    async def caller(self, request: AnyRequest) -> Caller:
        return await self.services.auth.caller_for_scope(request.scope)   # X-Tenant-ID as UTF-8 (Litestar: latin-1)

    async def user(self, request: AnyRequest) -> Caller:
        caller = await self.caller(request)
        if not caller.principal.authenticated:
            raise UnauthenticatedError("authentication required")
        return caller

    async def admin(self, request: AnyRequest) -> Caller:
        caller = await self.user(request)
        if not is_admin(caller.principal):
            raise PermissionDeniedError("admin access required")
        return caller

    async def worker(self, request: AnyRequest) -> WorkerIdentity:
        return await self.jobs.workers.authenticate(request.headers.get("x-worker-token"))

    async def visible_job(self, job_id: str, caller: Caller) -> Any:
        row = await self.jobs.queue.find(job_id)
        if row is None or not can_read(row, caller):
            raise HttpError(404, "NOT_FOUND", f"job '{job_id}' not found")
        return row

    async def body(self, request: AnyRequest, *, empty: Any = None) -> Any:
        body = await read_json(request, self.services.settings.max_body_bytes)
        return empty if body is None else body


def json_response(body: Any, status: int = 200) -> Response[Any]:
    return Response(body, status_code=status, media_type="application/json")


def no_content() -> Response[Any]:
    return Response(None, status_code=204)


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError.single(None, "body must be a JSON object", "type")
    return body


def number(body: dict[str, Any], key: str, default: float | None) -> float | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError.single(key, f"{key} must be a number", "type")
    return float(value)


def clamped(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = number(body, key, default)
    assert value is not None
    return clamp(int(value), low, high)


def text(body: dict[str, Any], key: str, *, required: bool = False, max_length: int | None = None) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ValidationError.single(key, f"{key} must be a{' non-empty' if required else ''} string", "type")
    if max_length is not None and len(value) > max_length:
        raise ValidationError.single(key, f"{key} must be at most {max_length} characters", "too_long")
    return value


def query_int(request: AnyRequest, key: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequestError(f"query parameter {key} must be a number") from None
    if value != value:
        raise BadRequestError(f"query parameter {key} must be a number")
    return clamp(int(max(min(value, 1e12), -1e12)), low, high)
