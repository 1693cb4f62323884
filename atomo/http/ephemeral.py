"""``atomo serve --ephemeral``: a throw-away server for test suites (in-memory data, instant reset).

``prepare(services)`` runs after the services started and before the server listens: it applies the
project's ``seed.json`` (the bundled sample is seeded by the runtime already, as on every new file), opens a
login session for the seeded admin and returns its access token, then takes the runtime's snapshot. The
admin's session is inside the snapshot, so the token stays valid across resets.

``POST /__test__/reset`` (mounted only with ``--ephemeral``; else 404 like any unknown path) needs that
admin's token (any admin's: 401 without a valid token, 403 for another role). It restores the snapshot
(``Runtime.reset``: data, events and the log position, users, sessions, jobs; the principal cache and open
WebSockets, closed with 1012, follow through the runtime's reset listeners), refills the rate-limit and
login buckets, and answers ``{"ok": true, "position": <the event log's last position>}``.

``POST /__test__/users`` (same guard) makes a user for a test: ``{"role", "tenant"?, "email"?}`` -> 201
``{"id", "email", "role", "tenant", "token"}`` (no password: the token comes from a session opened here).
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from atomo.auth.sessions import Session, create_session
from atomo.auth.users import User, check_role, find_by_email, insert_user, normalize_email
from atomo.errors import ConfigError, PermissionDeniedError, UnauthenticatedError, ValidationError
from atomo.http.request_context import read_json
from atomo.storage.records import now_iso

if TYPE_CHECKING:
    from atomo.http.services import Services

RESET_PATH = "/__test__/reset"
USERS_PATH = "/__test__/users"
NO_PASSWORD = "!no-password"     # not an argon2 hash: logging in as a test user always fails


async def admin_token(services: Services) -> str:
    """An access token of a new login session of the seeded admin (``ADMIN_EMAIL``), without its password."""
    email = services.admin.email
    user = await services.db.read(lambda conn: find_by_email(conn, email)) if email else None
    if user is None or not user.is_active or user.role != "admin":
        raise ConfigError("--ephemeral needs an active admin: set ADMIN_EMAIL (and ADMIN_PASSWORD in production)")
    return await session_token(services, user)


async def session_token(services: Services, user: User) -> str:
    """An access token of a new session of ``user`` (no password involved)."""
    ttl = services.settings.session_ttl_secs

    def unit(conn: sqlite3.Connection) -> Session:
        return create_session(conn, user_id=user.id, ttl_secs=ttl, user_agent="atomo serve --ephemeral")
    session = await services.db.write(unit)
    token, _ = services.tokens.issue(user_id=user.id, email=user.email, role=user.role, session_id=session.id)
    return token


async def prepare(services: Services) -> str:
    """Seed, log the admin in, snapshot: the state every ``POST /__test__/reset`` goes back to. The admin token."""
    runtime = services.runtime
    project = runtime.project
    if runtime.data_file_created and not project.is_sample and project.seed_file is not None:
        runtime.seeded = await runtime.seed_file(project.seed_file)
    token = await admin_token(services)
    await runtime.snapshot()
    return token


async def reset(services: Services) -> int:
    """The data back to the snapshot, and the server's in-memory state with it; the log's last position."""
    position = await services.runtime.reset()      # + principal cache, sockets (the runtime's reset listeners)
    if services.request_buckets is not None:
        services.request_buckets.clear()
    services.login_limiter.clear()
    return position


async def test_user(services: Services, body: Any) -> dict[str, Any]:
    """A new user for a test: ``{"role", "tenant"?, "email"?}`` -> its id, email, role, tenant and an access
    token. It has no password (its token is issued here), so making one costs no argon2 hash."""
    if not isinstance(body, dict):
        raise ValidationError.single(None, "the body must be a JSON object", "type")
    role, tenant, email = body.get("role", "viewer"), body.get("tenant"), body.get("email")
    if not isinstance(role, str) or (tenant is not None and not isinstance(tenant, str)) or \
            (email is not None and not isinstance(email, str)):
        raise ValidationError.single(None, "role, tenant and email must be strings", "type")
    role = check_role(role)
    email = normalize_email(email or f"{role}-{uuid.uuid4().hex[:12]}@test.invalid")
    now = now_iso()
    user = await services.db.write(lambda conn: insert_user(conn, email=email, password_hash=NO_PASSWORD, role=role,
                                                            tenant_id=tenant, first_name="", last_name="", now=now))
    return {"id": user.id, "email": user.email, "role": user.role, "tenant": user.tenant_id,
            "token": await session_token(services, user)}


async def _require_admin(services: Services, request: Request[Any, Any, Any], what: str) -> None:
    principal = await services.auth.principal(request.headers.get("authorization"))
    if not principal.authenticated:
        raise UnauthenticatedError("authentication required")
    if (principal.role or "") != "admin":
        raise PermissionDeniedError(f"only an admin may {what}")


def ephemeral_handlers(services: Services) -> list[HTTPRouteHandler]:
    @post(RESET_PATH, status_code=200, name="test-reset")
    async def reset_route(request: Request[Any, Any, Any]) -> Response[Any]:
        await _require_admin(services, request, "reset the server")
        position = await reset(services)
        return Response({"ok": True, "position": position}, status_code=200, media_type="application/json")

    @post(USERS_PATH, status_code=201, name="test-users")
    async def users_route(request: Request[Any, Any, Any]) -> Response[Any]:
        await _require_admin(services, request, "make test users")
        made = await test_user(services, await read_json(request, services.settings.max_body_bytes))
        return Response(made, status_code=201, media_type="application/json")

    return [reset_route, users_route]
