"""Users administration under ``/auth/users`` (issue 19): list, create, change role or activity.

Admins only (anonymous 401 ``UNAUTHENTICATED``, other roles 403 ``PERMISSION_DENIED``), inside the
caller's tenant scope (auth chapter §8): a tenant-bound admin sees, creates and changes only users of
its tenant (another tenant's user is 404, creating one in another tenant 403); an unbound admin manages
every user, or one tenant's with ``X-Tenant-ID``. Bodies follow the REST body rules (``read_json``);
errors are the REST error body.

- ``GET /auth/users?limit=100&offset=0&q=`` -> ``{"users": [...], "total": N}``, newest first, ``q``
  an email substring, ``limit`` 1-500;
- ``POST /auth/users`` ``{"email", "password"?, "role", "tenantId"?, "firstName"?, "lastName"?}`` -> 201
  the user; without ``password`` one is generated and answered once as ``password``; a taken email is 409;
- ``PATCH /auth/users/{id}`` ``{"role"?, "isActive"?}`` -> the user. A changed role or activity revokes
  the user's sessions at once (``Users.change``); an admin cannot change its own role or deactivate itself.

A user is answered without its password hash: ``id, email, role, tenantId, isActive, firstName,
lastName, createdAt``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, patch, post
from litestar.handlers import HTTPRouteHandler

from atomo.auth.principal import Caller
from atomo.auth.scope import check_tenant
from atomo.auth.users import User, check_role, normalize_email
from atomo.errors import PermissionDeniedError, UnauthenticatedError, ValidationError
from atomo.http.request_context import read_json

if TYPE_CHECKING:
    from atomo.http.services import Services

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_NAME_LENGTH = 200
MAX_QUERY_LENGTH = 254
CREATE_FIELDS = frozenset({"email", "password", "role", "tenantId", "firstName", "lastName"})
PATCH_FIELDS = frozenset({"role", "isActive"})


def user_body(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "role": user.role, "tenantId": user.tenant_id,
            "isActive": user.is_active, "firstName": user.first_name, "lastName": user.last_name,
            "createdAt": user.created_at}


def _json(body: Any, status: int = 200) -> Response[Any]:
    return Response(body, status_code=status, media_type="application/json")


def _problem(field: str | None, message: str, code: str) -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


def _object(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError.single(None, "body must be a JSON object", "type")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(details=[_problem(k, f"unknown field {k!r}", "unknown_field") for k in unknown])
    return body


def _int_param(request: Request[Any, Any, Any], name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ValidationError.single(name, f"{name} must be an integer {bound}", "invalid")
    return value


def _checked(problems: list[dict[str, Any]], check: Callable[[], Any]) -> Any:
    """``check()``, its validation problems added to ``problems`` (None then)."""
    try:
        return check()
    except ValidationError as error:
        problems.extend(error.details or [])
        return None


def _tenant(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError.single("tenantId", "tenantId must be a string", "type")
    return check_tenant(value, "tenantId")


def _name(body: dict[str, Any], key: str, problems: list[dict[str, Any]]) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH:
        problems.append(_problem(key, f"{key} must be a string of at most {MAX_NAME_LENGTH} characters", "invalid"))
        return ""
    return value.strip()


def users_handlers(services: Services, on_changed: Callable[[str], None] | None = None) -> list[HTTPRouteHandler]:
    """The routes; ``on_changed(user_id)`` runs after a user's role or activity changed (open sockets)."""
    settings, auth, users = services.settings, services.auth, services.runtime.users

    async def admin(request: Request[Any, Any, Any]) -> Caller:
        caller = await auth.caller_for_scope(request.scope)
        if not caller.principal.authenticated:
            raise UnauthenticatedError("authentication required")
        if (caller.principal.role or "") != "admin":
            raise PermissionDeniedError("admin access required")
        return caller

    @get("/auth/users", name="auth-users-list")
    async def list_users(request: Request[Any, Any, Any]) -> Response[Any]:
        caller = await admin(request)
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0, None)
        query = request.query_params.get("q") or ""
        if len(query) > MAX_QUERY_LENGTH:
            raise ValidationError.single("q", f"q must be at most {MAX_QUERY_LENGTH} characters", "invalid")
        page, total = await users.page(limit=limit, offset=offset, query=query, tenant_scope=caller.tenant_scope)
        return _json({"users": [user_body(u) for u in page], "total": total})

    @post("/auth/users", name="auth-users-create")
    async def create_user(request: Request[Any, Any, Any]) -> Response[Any]:
        caller = await admin(request)
        body = _object(await read_json(request, settings.max_body_bytes), CREATE_FIELDS)
        problems: list[dict[str, Any]] = []
        email = _checked(problems, lambda: normalize_email(body.get("email")))
        role: str | None = None
        if body.get("role") is None:
            problems.append(_problem("role", "role is required", "required"))
        else:
            role = _checked(problems, lambda: check_role(body["role"]))
        password = body.get("password")
        if password is not None:
            _checked(problems, lambda: users.check_password(password))
        tenant = _checked(problems, lambda: _tenant(body.get("tenantId")))
        first_name, last_name = _name(body, "firstName", problems), _name(body, "lastName", problems)
        if problems or role is None:
            raise ValidationError(details=problems)
        scoped, scope_tenant = caller.tenant_scope
        if scoped:
            if tenant is not None and tenant != scope_tenant:
                raise PermissionDeniedError("you may create users of your tenant only")
            tenant = scope_tenant
        user, generated = await users.create(email, password, role=role, tenant_id=tenant,
                                             first_name=first_name, last_name=last_name)
        answer = user_body(user)
        if generated is not None:
            answer["password"] = generated
        return _json(answer, 201)

    @patch("/auth/users/{user_id:str}", name="auth-users-update")
    async def update_user(request: Request[Any, Any, Any], user_id: str) -> Response[Any]:
        caller = await admin(request)
        body = _object(await read_json(request, settings.max_body_bytes), PATCH_FIELDS)
        problems: list[dict[str, Any]] = []
        role = None if body.get("role") is None else _checked(problems, lambda: check_role(body["role"]))
        is_active = body.get("isActive")
        if is_active is not None and not isinstance(is_active, bool):
            problems.append(_problem("isActive", "isActive must be a boolean", "type"))
        if problems:
            raise ValidationError(details=problems)
        if user_id == caller.principal.user_id:
            if is_active is False:
                raise ValidationError.single("isActive", "you cannot deactivate yourself", "self")
            if role is not None and role != caller.principal.role:
                raise ValidationError.single("role", "you cannot change your own role", "self")
        user = await users.change(user_id, role=role, is_active=is_active, visible=caller.sees_tenant)
        if on_changed is not None:
            on_changed(user.id)
        return _json(user_body(user))

    return [list_users, create_user, update_user]
