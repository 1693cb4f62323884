"""The outermost HTTP wrapper (auth chapter §10): request id, security headers, CORS, body limits.

One ASGI wrapper around the whole application, so it also covers unknown routes, 405s, 429s and
errors. Per request it scans the request headers once, and adds precomputed header lines to the
response start (skipping any the handler already set).

- Security headers: nosniff, ``Referrer-Policy: no-referrer`` and the CSP (``CSP`` or the default)
  on every response; HSTS only on requests that came over HTTPS: the ASGI ``scheme`` is ``https``, or
  a trusted proxy (``ATOMO_TRUSTED_PROXIES``, decided by ``ClientAddress``) says ``X-Forwarded-Proto:
  https``. None of them with ``DISABLE_SECURITY_HEADERS``. ``X-Request-ID`` on every response.
- CORS from ``CORS_ORIGINS``: ``*`` allows any origin, otherwise an exact match is echoed (with
  ``Vary: Origin``); preflights (OPTIONS with ``Origin`` and ``Access-Control-Request-Method``) are
  answered here with 204 and ``Access-Control-Max-Age: 600``; ``X-Request-ID`` and ``Retry-After``
  are exposed to scripts. Credentials are not allowed.
- Body size: ``Content-Length`` over the route's limit (``GRAPHQL_MAX_BODY_BYTES`` on ``/graphql``,
  else ``ATOMO_MAX_BODY_BYTES``) is 413 before the application runs; bodies without a length are
  counted while they are read (``/graphql`` counts its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from atomo.config import Settings
from atomo.errors import ConfigError
from atomo.http.errors import HttpError, graphql_body, is_graphql_path, rest_body
from atomo.http.logs import LOG_REQUEST_ID, access_log, log_access
from atomo.http.request_context import _REQUEST_ID, REQUEST_ID_KEY
from atomo.storage.events import uuid4

if TYPE_CHECKING:
    from atomo.http.ratelimit import ClientAddress

# font-src: GraphiQL's stylesheet embeds its fonts (Roboto, Fira Code) as data: URLs
DEFAULT_CSP = ("default-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "script-src 'self' 'unsafe-inline' 'unsafe-eval'")
HSTS = "max-age=63072000; includeSubDomains; preload"
HSTS_HEADER = (b"strict-transport-security", HSTS.encode("latin-1"))
PREFLIGHT_MAX_AGE = b"600"
EXPOSED = (b"access-control-expose-headers", b"X-Request-ID, Retry-After")
ALL_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
_encode = msgspec.json.Encoder().encode


def security_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """The security headers of every response (HSTS is added per request, over HTTPS only)."""
    if settings.disable_security_headers:
        return []
    csp = settings.csp if settings.csp else DEFAULT_CSP
    if not csp.isascii() or "\n" in csp or "\r" in csp:
        raise ConfigError("CSP must be a single line of ASCII text")
    return [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
            (b"content-security-policy", csp.encode("latin-1"))]


def new_request_id() -> str:
    """A random UUIDv4 from the pooled CSPRNG of the storage layer (no system call per request)."""
    return uuid4()


class SecurityMiddleware:
    """The outermost ASGI wrapper: see the module docstring."""

    def __init__(self, app: Any, settings: Settings, client_address: ClientAddress | None = None, *,
                 observe: Callable[[Any, int, float], None] | None = None) -> None:
        self.app = app
        self.observe = observe       # per request: metrics and the access line (``RequestObserver``)
        self.log_request_id = settings.log_format == "json"     # error lines carry the request id as a field
        self.headers = security_headers(settings)
        self.hsts = not settings.disable_security_headers
        if client_address is None:
            from atomo.http.ratelimit import ClientAddress  # ratelimit imports this module
            client_address = ClientAddress(settings)
        self.client_address = client_address
        self.names = frozenset(name for name, _ in self.headers) | {b"vary", b"access-control-allow-origin",
                                                                    b"access-control-expose-headers",
                                                                    HSTS_HEADER[0]}
        self._extra: dict[bytes | None, list[tuple[bytes, bytes]]] = {}
        origins = settings.cors_origins
        self.any_origin = "*" in origins
        self.origins = frozenset(o.encode("latin-1") for o in origins if o != "*")
        self.max_body = settings.max_body_bytes
        self.graphql_max_body = settings.graphql_max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = length = rid = preflight = None
        proto: list[bytes] | None = None
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"content-length":
                length = value
            elif key == b"x-request-id":
                rid = value.decode("latin-1")
            elif key == b"access-control-request-method":
                preflight = value
            elif key == b"x-forwarded-proto":
                proto = [value] if proto is None else [*proto, value]
        if rid is None or not _REQUEST_ID.fullmatch(rid):
            rid = new_request_id()
        scope[REQUEST_ID_KEY] = rid
        if self.log_request_id:
            LOG_REQUEST_ID.set(rid)      # this request's own task: nothing to reset
        status = 500                     # what the server answers when the application fails to
        started = time.perf_counter() if self.observe is not None else 0.0
        try:
            extra = self._extra.get(origin) or self.extra_headers(origin)
            if self.hsts and (scope.get("scheme") in ("https", "wss") or (proto and self.forwarded_https(scope, proto))):
                extra = [*extra, HSTS_HEADER]
            if preflight is not None and origin is not None and scope["method"] == "OPTIONS":
                status = 204
                await self.preflight(scope, send, [(b"x-request-id", rid.encode("latin-1")), *extra], origin)
                return
            graphql = is_graphql_path(scope["path"])
            limit = self.graphql_max_body if graphql else self.max_body
            if length is not None:
                if length.isdigit() and int(length) > limit:
                    status = 413
                    await self.too_large(send, [(b"x-request-id", rid.encode("latin-1")), *extra], limit, graphql)
                    return
            elif not graphql and scope["method"] not in ("GET", "HEAD"):
                receive = _limited(receive, limit)
            names = self.names

            async def send_with_headers(message: Any) -> None:
                if message["type"] == "http.response.start":
                    nonlocal status
                    status = message["status"]
                    headers = list(message.get("headers") or ())
                    present = {name.lower() for name, _ in headers}
                    if b"x-request-id" not in present:
                        headers.append((b"x-request-id", rid.encode("latin-1")))
                    if present.isdisjoint(names):
                        headers += extra
                    else:
                        headers += [(n, v) for n, v in extra if n not in present or n == b"vary"]
                    message["headers"] = headers
                await send(message)

            await self.app(scope, receive, send_with_headers)
        finally:
            if self.observe is not None:
                self.observe(scope, status, started)

    def forwarded_https(self, scope: Any, values: list[bytes]) -> bool:
        """Whether a trusted proxy (the socket peer is in ``ATOMO_TRUSTED_PROXIES``) says the request came
        over HTTPS: an ``X-Forwarded-Proto`` entry is ``https``. Any entry counts (a chain of proxies may
        append ``http`` after the TLS end): HSTS over plain HTTP is ignored by browsers (RFC 6797 §8.1),
        while a missing one on HTTPS is a real loss."""
        client = scope.get("client")
        known = self.client_address.hop(client[0]) if client else None
        if known is None or not known[1]:
            return False
        return any(entry.strip().lower() == b"https" for value in values for entry in value.split(b","))

    def extra_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """The header lines added to every response for a request from ``origin`` (cached)."""
        extra = list(self.headers)
        if origin is not None:
            extra += self.cors_headers(origin)
        elif not self.any_origin:
            extra.append((b"vary", b"Origin"))
        if origin is None or origin in self.origins:
            self._extra[origin] = extra     # keys from the configuration only, never a client's choice
        return extra

    def cors_headers(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        if self.any_origin:
            return [(b"access-control-allow-origin", b"*"), EXPOSED]
        if origin in self.origins:
            return [(b"access-control-allow-origin", origin), (b"vary", b"Origin"), EXPOSED]
        return [(b"vary", b"Origin")]

    async def preflight(self, scope: Any, send: Any, extra: list[tuple[bytes, bytes]], origin: bytes) -> None:
        headers = list(extra)
        if self.any_origin or origin in self.origins:
            requested = b""
            for key, value in scope["headers"]:
                if key == b"access-control-request-headers":
                    requested = value
            headers += [(b"access-control-allow-methods", ALL_METHODS),
                        (b"access-control-max-age", PREFLIGHT_MAX_AGE)]
            if requested:
                headers.append((b"access-control-allow-headers", requested))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def too_large(self, send: Any, extra: list[tuple[bytes, bytes]], limit: int, graphql: bool) -> None:
        message = f"request body is larger than {limit} bytes"
        shape = graphql_body if graphql else rest_body
        body = _encode(shape("PAYLOAD_TOO_LARGE", message))
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii")),
                   (b"connection", b"close"), *extra]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _limited(receive: Any, limit: int) -> Any:
    """``receive`` that raises 413 once more than ``limit`` body bytes have arrived."""
    size = 0

    async def limited_receive() -> Any:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {limit} bytes")
        return message
    return limited_receive


class RequestObserver:
    """After each HTTP request: ``http_requests_total`` and ``http_request_duration_seconds`` (``record``:
    method, route template, status, seconds), and at ``LOG_LEVEL=debug`` the access line."""

    def __init__(self, record: Callable[[str, str, int, float], None], route: Callable[[Any], str],
                 client_address: Callable[[Any], str]) -> None:
        self.record = record
        self.route = route
        self.client_address = client_address

    def __call__(self, scope: Any, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = self.route(scope)
        self.record(scope["method"], route, status, seconds)
        if access_log.isEnabledFor(logging.DEBUG):
            log_access(scope["method"], route, status, seconds, self.client_address(scope), scope[REQUEST_ID_KEY])
