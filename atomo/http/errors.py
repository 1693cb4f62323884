"""Error bodies of the HTTP surface (auth chapter §1).

REST routes answer ``{"error": {"code", "message", "details"?}}``; ``/graphql`` transport
rejections answer the GraphQL shape ``{"errors": [{"message", "extensions": {"code"}}]}``. A 500
never carries internals: the message is fixed and ``X-Request-ID`` links it to the server log.
Litestar's exception handlers that use these shapes are in ``exception_handlers``.
"""

from __future__ import annotations

from typing import Any

from litestar import Response

from atomo.errors import AtomoError

REST_INTERNAL_MESSAGE = "internal error"
GRAPHQL_INTERNAL_MESSAGE = "Internal server error"
CODE_OF_STATUS = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 406: "NOT_ACCEPTABLE", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE",
}
MESSAGE_OF_STATUS = {
    400: "bad request", 401: "authentication required", 403: "permission denied", 404: "not found",
    405: "method not allowed", 406: "not acceptable", 409: "conflict", 413: "request body is too large",
    415: "unsupported media type", 429: "too many requests", 503: "service unavailable",
}


class HttpError(AtomoError):
    """A transport-level rejection with its own status and code (413, 415, 406, 405, ...)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, details)
        self.status = status
        self.code = code
        self.headers = headers or {}


def error_headers(exc: AtomoError) -> dict[str, str]:
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if exc.status == 429 and isinstance(exc.details, dict) and "retryAfter" in exc.details:
        headers.setdefault("Retry-After", str(exc.details["retryAfter"]))
    return headers


def rest_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def graphql_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": code}
    if details is not None:
        extensions["details"] = details
    return {"errors": [{"message": message, "extensions": extensions}]}


def rest_error(status: int, code: str, message: str, details: Any = None,
               headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(rest_body(code, message, details), status_code=status, headers=headers,
                    media_type="application/json")


def rest_error_from(exc: AtomoError) -> Response[Any]:
    status = exc.status if 400 <= exc.status < 600 else 500
    if exc.internal:
        return rest_error(500, "INTERNAL_ERROR", REST_INTERNAL_MESSAGE)
    return rest_error(status, exc.code, exc.message, exc.details, error_headers(exc))


def is_graphql_path(path: str) -> bool:
    """Paths whose errors take the GraphQL shape: ``/graphql`` and ``/graphql/ws`` (not the GraphiQL files)."""
    return path == "/graphql" or (path.startswith("/graphql/") and not path.startswith("/graphql/static/"))
