"""Routes under ``/auth`` (auth chapter §5): login, refresh, me, logout and the opt-in register.

Every route reads JSON with the REST body rules (413 over ``ATOMO_MAX_BODY_BYTES``, 415 without a
JSON content type, 400 for invalid or too deeply nested JSON) and answers errors with the REST
error body. ``/auth/login`` is guarded by the login limiter (per IP and email, per account and per IP),
which refuses before the password is checked; the client IP is ``Services.client_address`` (trusted
proxies only). Emails over 254 characters are refused (400) before any other work. ``/auth/register``
is mounted only when ``ATOMO_ENABLE_SELF_REGISTRATION`` is on (else the route does not exist: 404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from atomo.auth.login import parse_credentials
from atomo.auth.principal import Principal
from atomo.auth.refresh import logout as revoke_sessions
from atomo.auth.refresh import parse_refresh_token, refresh
from atomo.auth.registration import register
from atomo.auth.users import find_by_id
from atomo.errors import UnauthenticatedError, ValidationError
from atomo.http.request_context import read_json

if TYPE_CHECKING:
    from atomo.http.services import Services

LOGGED_OUT = {"message": "Logged out successfully"}


def _json(body: Any) -> Response[Any]:
    return Response(body, status_code=200, media_type="application/json")


def auth_handlers(services: Services) -> list[HTTPRouteHandler]:
    settings, db, auth, tokens = services.settings, services.db, services.auth, services.tokens

    def client(request: Request[Any, Any, Any]) -> str:
        return services.client_address(request.scope)

    async def caller(request: Request[Any, Any, Any]) -> Principal:
        principal = await auth.principal(request.headers.get("authorization"))
        if not principal.authenticated:
            raise UnauthenticatedError("authentication required")
        return principal

    @post("/auth/login", status_code=200, name="auth-login")
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await read_json(request, settings.max_body_bytes)
        email, password = parse_credentials({} if body is None else body)
        ip, limiter = client(request), services.login_limiter
        limiter.acquire(ip, email)
        try:
            result = await services.logins.login(email, password, ip_address=ip,
                                                 user_agent=request.headers.get("user-agent"))
        except UnauthenticatedError:
            limiter.failed()
            raise                       # a failed attempt keeps its tokens
        except BaseException:
            limiter.not_counted(ip, email)
            raise
        limiter.succeeded(ip, email)
        return _json(result.body())

    @post("/auth/refresh", status_code=200, name="auth-refresh")
    async def refresh_route(request: Request[Any, Any, Any]) -> Response[Any]:
        token = parse_refresh_token(await read_json(request, settings.max_body_bytes))
        result = await refresh(db, tokens, token, session_ttl_secs=settings.session_ttl_secs,
                               on_revoked=lambda session_id: auth.cache.forget(session_id=session_id))
        return _json(result.body())

    @get("/auth/me", name="auth-me")
    async def me(request: Request[Any, Any, Any]) -> Response[Any]:
        principal = await caller(request)
        user_id = principal.user_id or ""
        user = await db.read(lambda conn: find_by_id(conn, user_id), inline=True)
        if user is None:
            raise UnauthenticatedError("invalid or expired token")
        return _json(user.public())

    @post("/auth/logout", status_code=200, name="auth-logout")
    async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
        principal = await caller(request)
        body = await read_json(request, settings.max_body_bytes)
        everywhere = False
        if body is not None:
            if not isinstance(body, dict):
                raise ValidationError.single(None, "body must be a JSON object", "type")
            everywhere = body.get("all", False)
            if not isinstance(everywhere, bool):
                raise ValidationError.single("all", "all must be a boolean", "type")
        assert principal.user_id is not None
        if everywhere:
            auth.cache.forget(user_id=principal.user_id)
        else:
            auth.cache.forget(session_id=principal.session_id)
        await revoke_sessions(db, user_id=principal.user_id, session_id=principal.session_id,
                              everywhere=everywhere)
        return _json(LOGGED_OUT)

    handlers: list[HTTPRouteHandler] = [login, refresh_route, me, logout]
    if settings.enable_self_registration:
        @post("/auth/register", status_code=200, name="auth-register")
        async def register_route(request: Request[Any, Any, Any]) -> Response[Any]:
            body = await read_json(request, settings.max_body_bytes)
            result = await register(db, tokens, services.registration, {} if body is None else body,
                                    session_ttl_secs=settings.session_ttl_secs, ip_address=client(request),
                                    user_agent=request.headers.get("user-agent"))
            return _json(result.body())
        handlers.append(register_route)
    return handlers
