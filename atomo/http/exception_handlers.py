"""Litestar's exception handlers (auth chapter §1): every error leaves in one of the shapes of ``errors``.

An ``AtomoError`` keeps its status, code and details; Litestar's own ``HTTPException`` (unknown route,
405, a parameter that does not parse) gets the code of its status; anything else is a 500 with a fixed
message, logged with the request id. Paths under ``/graphql`` answer the GraphQL shape.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from atomo.errors import AtomoError
from atomo.http.errors import (
    CODE_OF_STATUS,
    GRAPHQL_INTERNAL_MESSAGE,
    MESSAGE_OF_STATUS,
    REST_INTERNAL_MESSAGE,
    error_headers,
    graphql_body,
    is_graphql_path,
    rest_error,
    rest_error_from,
)
from atomo.http.request_context import request_id

log = logging.getLogger("atomo.http")


def _is_graphql(request: Request[Any, Any, Any]) -> bool:
    return is_graphql_path(request.scope.get("path", ""))


def handle_atomo_error(request: Request[Any, Any, Any], exc: AtomoError) -> Response[Any]:
    if exc.internal:
        return handle_unexpected(request, exc)
    if _is_graphql(request):
        return Response(graphql_body(exc.code, exc.message), status_code=exc.status, headers=error_headers(exc),
                        media_type="application/json")
    return rest_error_from(exc)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500 and status != 503:
        return handle_unexpected(request, exc)
    code = CODE_OF_STATUS.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
    message = MESSAGE_OF_STATUS.get(status, "bad request")
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "retry-after")}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if _is_graphql(request):
        return Response(graphql_body(code, message), status_code=status, headers=headers,
                        media_type="application/json")
    return rest_error(status, code, message, None, headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    rid = request_id(request.scope)
    log.error("unexpected error (request %s): %r", rid, exc, exc_info=exc)
    if _is_graphql(request):
        return Response(graphql_body("INTERNAL_ERROR", GRAPHQL_INTERNAL_MESSAGE, {"requestId": rid}),
                        status_code=500, media_type="application/json")
    return rest_error(500, "INTERNAL_ERROR", REST_INTERNAL_MESSAGE)


def exception_handlers() -> dict[Any, Any]:
    return {AtomoError: handle_atomo_error, HTTPException: handle_http_exception, Exception: handle_unexpected}
