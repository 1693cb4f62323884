"""``GET``/``POST /graphql`` (graphql chapter §1): a raw ASGI handler, so the hot path stays small.

Order of checks: method (405) -> GraphiQL for browsers -> ``Accept`` (406) -> ``Content-Type``
(415) -> body size on ``Content-Length`` and while reading (413) -> JSON and parameters (400) ->
mutation over GET (405) -> token and tenant (401/400/403) -> execution (200, 400 for document errors
under ``application/graphql-response+json``, 401 when an anonymous request only met
``UNAUTHENTICATED``). Every answer is GraphQL-shaped and carries ``X-Request-ID``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import msgspec
from litestar import asgi
from litestar.handlers import ASGIRouteHandler

from atomo.auth.principal import Caller
from atomo.errors import AtomoError
from atomo.http.errors import GRAPHQL_INTERNAL_MESSAGE, HttpError, error_headers, graphql_body
from atomo.http.idempotency import REPLAYED, parse_key
from atomo.http.request_context import Disconnected, is_json_content_type, parse_json, read_body, request_id, tenant_header

if TYPE_CHECKING:
    from atomo.http.metrics import GraphQLMetrics
    from atomo.http.services import Services

log = logging.getLogger("atomo.http")

JSON = "application/json"
GRAPHQL_JSON = "application/graphql-response+json"
_CONTENT_TYPE = {JSON: b"application/json; charset=utf-8",
                 GRAPHQL_JSON: b"application/graphql-response+json; charset=utf-8"}
_BEARER = [(b"www-authenticate", b"Bearer")]
_encode = msgspec.json.Encoder().encode
OPERATION_KEY = "atomo.graphql_operation"     # scope: (operation name or None, answered without errors)


_NO_OPERATION = (None, False)


def _bad_request(message: str) -> HttpError:
    return HttpError(400, "VALIDATION_ERROR", message)


# -- content negotiation ---------------------------------------------------------------------
def _media_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        kind, *params = part.split(";")
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        ranges.append((kind.strip().lower(), q))
    return ranges


def _negotiate(accept: str | None) -> str | None:
    """The supported media type ranked highest (q-value, then order); ``*/*`` and absent -> JSON."""
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, int, int] | None = None
    chosen = None
    ranges = _media_ranges(accept)
    for preference, media in enumerate((JSON, GRAPHQL_JSON)):
        match: tuple[int, float, int] | None = None   # (specificity, q, position)
        for position, (kind, q) in enumerate(ranges):
            specificity = 3 if kind == media else 2 if kind == "application/*" else 1 if kind == "*/*" else 0
            if specificity and (match is None or specificity > match[0]):
                match = (specificity, q, position)
        if match is None or match[1] <= 0:
            continue
        key = (match[1], -match[2], -preference)
        if best is None or key > best:
            best, chosen = key, media
    return chosen


_NEGOTIATED: dict[str | None, str | None] = {}
MAX_CACHED_ACCEPT = 256     # longer Accept values are negotiated every time, never kept as keys


def negotiate(accept: str | None) -> str | None:
    """``_negotiate``, cached for at most 256 distinct short ``Accept`` values (clients send a few)."""
    try:
        return _NEGOTIATED[accept]
    except KeyError:
        result = _negotiate(accept)
        if len(_NEGOTIATED) < 256 and (accept is None or len(accept) <= MAX_CACHED_ACCEPT):
            _NEGOTIATED[accept] = result
        return result


def wants_html(accept: str | None) -> bool:
    return accept is not None and any(kind == "text/html" and q > 0 for kind, q in _media_ranges(accept))


def _has_query(query_string: bytes) -> bool:
    return any(part.split(b"=", 1)[0] == b"query" for part in query_string.split(b"&"))


# -- request parameters ------------------------------------------------------------------------
def query_params(query_string: bytes) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, values in parse_qs(query_string.decode("utf-8", "replace"), keep_blank_values=True).items():
        params[key] = values[0]
    for key in ("variables", "extensions"):
        value = params.get(key)
        if isinstance(value, str):
            try:
                params[key] = parse_json(value) if value.strip() else None
            except HttpError:
                raise _bad_request(f"{key} is not valid JSON") from None
    return params


def graphql_params(params: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(params, dict):
        raise _bad_request("request body must be a JSON object (batched requests are not supported)")
    query = params.get("query")
    if query is None:
        raise _bad_request("query is missing")
    if not isinstance(query, str):
        raise _bad_request("query must be a string")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise _bad_request("variables must be an object")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _bad_request("extensions must be an object")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad_request("operationName must be a string")
    return query, variables, operation_name or None


# -- responses ---------------------------------------------------------------------------------
def encode(body: Any) -> bytes:
    try:
        return _encode(body)
    except (TypeError, msgspec.EncodeError, OverflowError):
        return json.dumps(body, default=str, ensure_ascii=False).encode("utf-8")


async def respond(send: Any, status: int, body: bytes, content_type: bytes, rid: str,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii")),
               (b"x-request-id", rid.encode("latin-1"))]
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_error(send: Any, exc: AtomoError, media: str | None, rid: str) -> None:
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error_headers(exc).items()]
    body = encode(graphql_body(exc.code, exc.message))
    await respond(send, exc.status, body, _CONTENT_TYPE[media or JSON], rid, extra)


class GraphQLEndpoint:
    def __init__(self, services: Services, metrics: GraphQLMetrics | None = None) -> None:
        self.services = services
        self.metrics = metrics        # graphql_requests_total, graphql_request_duration_seconds
        self._graphiql: bytes | None = None

    def graphiql(self) -> bytes:
        if self._graphiql is None:
            from atomo.http.graphiql import graphiql_html
            self._graphiql = graphiql_html("/graphql", "/graphql/static").encode("utf-8")
        return self._graphiql

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 4406})
            return
        rid = request_id(scope)
        accept = content_type = authorization = tenant = content_length = idempotency_key = None
        for key, value in scope["headers"]:
            if key == b"accept":
                accept = value.decode("latin-1") if accept is None else f"{accept},{value.decode('latin-1')}"
            elif key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif key == b"x-tenant-id" and tenant is None:
                tenant = value                  # UTF-8, decoded below where a bad value can be answered
            elif key == b"content-length":
                content_length = value
            elif key == b"idempotency-key" and idempotency_key is None:
                idempotency_key = value
        media: str | None = JSON
        try:
            method = scope["method"]
            if method == "OPTIONS":
                await respond(send, 204, b"", b"text/plain", rid, [(b"allow", b"GET, POST, OPTIONS")])
                return
            if method not in ("GET", "POST"):
                raise HttpError(405, "METHOD_NOT_ALLOWED", f"method {method} is not allowed on /graphql",
                                headers={"Allow": "GET, POST"})
            if method == "GET" and wants_html(accept) and not _has_query(scope.get("query_string", b"")):
                await respond(send, 200, self.graphiql(), b"text/html; charset=utf-8", rid)
                return
            media = negotiate(accept)
            if media is None:
                raise HttpError(406, "NOT_ACCEPTABLE",
                                f"supported response media types: {GRAPHQL_JSON}, {JSON}")
        except Exception as exc:
            await self.failed(send, exc, media, rid)
            return
        metrics = self.metrics
        started = time.perf_counter() if metrics is not None else 0.0
        try:
            await self.execute(scope, receive, send, rid, media, method, content_type, content_length,
                               authorization, tenant, idempotency_key)
        except Disconnected:
            return
        except Exception as exc:
            await self.failed(send, exc, media, rid)
        if metrics is not None:
            operation, ok = scope.get(OPERATION_KEY, _NO_OPERATION)
            metrics.observe(operation, ok, time.perf_counter() - started)

    async def execute(self, scope: Any, receive: Any, send: Any, rid: str, media: str, method: str,
                      content_type: str | None, content_length: bytes | None, authorization: str | None,
                      tenant: bytes | None, idempotency_key: bytes | None = None) -> None:
        services = self.services
        current = services.current
        engine = current.engine
        if method == "POST":
            if not is_json_content_type(content_type):
                raise HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "POST /graphql needs Content-Type: application/json")
            limit = services.settings.graphql_max_body_bytes
            if content_length is not None and content_length.isdigit() and int(content_length) > limit:
                raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {limit} bytes")
            params = parse_json(await read_body(receive, limit))
        else:
            params = query_params(scope.get("query_string", b""))
        query, variables, operation_name = graphql_params(params)
        scope[OPERATION_KEY] = (operation_name, False)      # until answered without errors
        is_mutation = (method == "GET" or idempotency_key is not None) and \
            engine.operation_type(query, operation_name) == "mutation"
        if method == "GET" and is_mutation:
            raise HttpError(405, "METHOD_NOT_ALLOWED", "mutations need POST", headers={"Allow": "POST"})
        key = parse_key(idempotency_key) if idempotency_key is not None else None
        caller = await services.auth.caller(authorization, tenant_header(tenant))
        if key is not None and is_mutation:
            claim = services.idempotency.claim(caller, key, query, variables, operation_name)
            keyed = dataclasses.replace(caller, idempotency=claim)

            async def keyed_answer() -> tuple[int, bytes]:
                status, body, _ = await self.answer(engine, current.data, query, variables, operation_name, keyed, rid,
                                                    media, scope)
                return status, body
            status, body, replayed = await services.idempotency.run(claim, keyed_answer)
            extra = [REPLAYED] if replayed else None
        else:
            status, body, extra = await self.answer(engine, current.data, query, variables, operation_name, caller, rid,
                                                    media, scope)
        await respond(send, status, body, _CONTENT_TYPE[media], rid, extra)

    @staticmethod
    async def answer(engine: Any, data: Any, query: str, variables: Any, operation_name: str | None, caller: Caller,
                     rid: str, media: str, scope: Any = None) -> tuple[int, bytes, list[tuple[bytes, bytes]] | None]:
        """Execute and encode: the status, the body, extra headers (401's WWW-Authenticate). The operation's
        name (from the document when the request names none) and outcome go to ``scope`` for the metrics."""
        outcome = await engine.execute(query, variables, operation_name, service=data, caller=caller, request_id=rid)
        if scope is not None:
            scope[OPERATION_KEY] = (outcome.operation_name or operation_name, "errors" not in outcome.body)
        if outcome.document_error:
            return (400 if media == GRAPHQL_JSON else 200), encode(outcome.body), None
        if outcome.all_unauthenticated and not caller.principal.authenticated:
            return 401, encode(outcome.body), _BEARER
        return 200, encode(outcome.body), None

    async def failed(self, send: Any, exc: Exception, media: str | None, rid: str) -> None:
        if isinstance(exc, AtomoError) and not exc.internal:
            await respond_error(send, exc, media, rid)
        else:
            await self.internal_error(send, exc, media, rid)

    async def internal_error(self, send: Any, exc: BaseException, media: str | None, rid: str) -> None:
        log.error("GET/POST /graphql failed (request %s): %r", rid, exc, exc_info=exc)
        body = encode(graphql_body("INTERNAL_ERROR", GRAPHQL_INTERNAL_MESSAGE, {"requestId": rid}))
        try:
            await respond(send, 500, body, _CONTENT_TYPE[media or JSON], rid)
        except Exception:  # the response had already started; nothing more can be said
            pass


def graphql_handler(endpoint: GraphQLEndpoint) -> ASGIRouteHandler:
    """The Litestar route of ``/graphql`` (the app also sends HTTP requests there directly)."""
    return asgi("/graphql", copy_scope=False, name="graphql")(endpoint)
