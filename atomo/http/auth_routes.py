"""Routes under ``/auth`` (auth chapter §5). This release of the module: ``POST /auth/login``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from atomo.auth.login import parse_credentials
from atomo.errors import BadRequestError
from atomo.http.errors import HttpError
from atomo.http.request_context import is_json_content_type, parse_json

if TYPE_CHECKING:
    from atomo.http.app import AppContext


async def read_json(request: Request[Any, Any, Any], limit: int) -> Any:
    """The JSON body (None when empty): 413 over ``limit``, 415 without a JSON content type, 400 if invalid."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    if not size:
        return None
    if not is_json_content_type(request.headers.get("content-type")):
        raise HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "expected Content-Type: application/json")
    try:
        return parse_json(b"".join(chunks))
    except HttpError as exc:
        raise BadRequestError(exc.message) from None


def auth_handlers(ctx: AppContext) -> list[HTTPRouteHandler]:
    @post("/auth/login", status_code=200, name="auth-login")
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        body = await read_json(request, ctx.settings.max_body_bytes)
        email, password = parse_credentials({} if body is None else body)
        if ctx.logins is None:
            raise HttpError(503, "SERVICE_UNAVAILABLE", "the server is starting")
        result = await ctx.logins.login(email, password, ip_address=request.client.host if request.client else None,
                                        user_agent=request.headers.get("user-agent"))
        return Response(result.body(), status_code=200, media_type="application/json")

    return [login]
