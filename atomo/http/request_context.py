"""Who is calling and in which tenant scope; the request id (auth chapter §3, §8, §10).

- ``Authorization: Bearer <jwt>`` (scheme case-insensitive). No header: anonymous. A header that is
  present but fails verification: 401 ``invalid or expired token``, never anonymous.
- Every verification checks the token, then the session and the user in one indexed query on a
  reader connection (session live, user active; role/email/tenant from the user row).
- ``X-Tenant-ID`` (UTF-8; invalid is 400): empty or over 128 characters is 400 VALIDATION_ERROR; the scope rules are
  ``atomo.auth.scope.caller_for`` (bound users: their tenant; unbound admins and anonymous callers:
  the header; unbound non-admin users: untenanted rows, a header is 403).
- ``X-Request-ID``: echoed when it is 1-128 characters of ``[A-Za-z0-9._-]``, else a new UUIDv4.
- Bodies: read with a size cap (413 while streaming), decoded as JSON (400, also for NaN or more
  than 64 levels of nesting).
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

import msgspec

from atomo.auth.authenticator import TokenAuthenticator
from atomo.auth.principal import ANONYMOUS, Caller, Principal
from atomo.auth.scope import caller_for
from atomo.auth.tokens import INVALID_TOKEN
from atomo.errors import BadRequestError, UnauthenticatedError, ValidationError
from atomo.http.errors import HttpError
from atomo.http.logs import CURRENT_USER_ID, access_log
from atomo.storage.events import uuid4

if TYPE_CHECKING:
    from litestar import Request

REQUEST_ID_KEY = "atomo.request_id"
MAX_JSON_DEPTH = 64
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_decode = msgspec.json.Decoder().decode


class Disconnected(Exception):
    """The client went away while the body was being read."""


def header(scope: Any, name: bytes) -> str | None:
    """The first value of a header (``name`` in lower case) from an ASGI scope, or None. Decoded as
    UTF-8 (what clients send for text); invalid bytes become U+FFFD, which no identifier matches."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("utf-8", "replace")
    return None


def tenant_header(value: bytes | None) -> str | None:
    """An ``X-Tenant-ID`` value as text: UTF-8 (a tenant like ``tënant`` is sent that way; ASGI servers
    and Litestar hand over raw bytes or latin-1); invalid UTF-8 -> 400 VALIDATION_ERROR."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError.single("X-Tenant-ID", "X-Tenant-ID must be valid UTF-8", "invalid_tenant") from None


def request_id(scope: Any) -> str:
    """The request's id: the incoming valid ``X-Request-ID`` or a new UUIDv4 (cached in the scope)."""
    rid = scope.get(REQUEST_ID_KEY)
    if rid is None:
        incoming = header(scope, b"x-request-id")
        rid = incoming if incoming is not None and _REQUEST_ID.fullmatch(incoming) else uuid4()
        scope[REQUEST_ID_KEY] = rid
    return rid  # type: ignore[no-any-return]


async def request_id_hook(message: Any, scope: Any) -> None:
    """``before_send`` hook: every HTTP response carries ``X-Request-ID``."""
    if message.get("type") != "http.response.start":
        return
    headers = message.setdefault("headers", [])
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers)
    for key, _ in headers:
        if key.lower() == b"x-request-id":
            return
    headers.append((b"x-request-id", request_id(scope).encode("latin-1")))


# -- request bodies ------------------------------------------------------------------------------
def is_json_content_type(value: str | None) -> bool:
    """``application/json``, optionally with a UTF-8 charset."""
    if value is None:
        return False
    kind, *params = value.split(";")
    if kind.strip().lower() != "application/json":
        return False
    for param in params:
        key, _, charset = param.partition("=")
        if key.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


async def read_body(receive: Any, limit: int) -> bytes:
    """The whole body of an ASGI request; 413 as soon as it grows over ``limit``."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise Disconnected
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {limit} bytes")
    if not message.get("more_body"):
        return body
    chunks, size = [body], len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "PAYLOAD_TOO_LARGE", f"request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode a JSON document; 400 when it is not JSON (NaN/Infinity included) or nests too deep."""
    try:
        value = _decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):
        try:  # msgspec refuses some valid documents (very large integers): let the stdlib decide
            value = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise HttpError(400, "VALIDATION_ERROR", "request body is not valid JSON") from None
    if _nesting_exceeds(raw, value, max_depth):
        raise HttpError(400, "VALIDATION_ERROR", f"JSON nested deeper than {max_depth} levels")
    return value


def _nesting_exceeds(raw: bytes | str, value: Any, limit: int) -> bool:
    opening = (b"{", b"[") if isinstance(raw, bytes) else ("{", "[")
    if raw.count(opening[0]) + raw.count(opening[1]) <= limit:  # type: ignore[arg-type]
        return False  # cannot nest deeper than the number of brackets
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


async def read_json(request: Request[Any, Any, Any], limit: int) -> Any:
    """The JSON body of a REST route (None when empty): 413 over ``limit``, 415 without a JSON content
    type, 400 ``BAD_REQUEST`` if invalid."""
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


# -- credentials and tenancy ---------------------------------------------------------------------
def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthenticatedError(INVALID_TOKEN)
    return token


class Authenticator(TokenAuthenticator):
    """Turns request headers into a ``Caller``; raises the documented 400/401/403 errors. Token verification,
    the principal cache and the auth epoch are ``atomo.auth.authenticator.TokenAuthenticator``'s."""

    def reset(self) -> None:
        """The database was restored (``Runtime.reset``): nothing cached may outlive it, and the auth epoch went
        back too, so the next lookup reads it again."""
        self.cache.clear()
        self._epoch = -1
        self._epoch_checked = float("-inf")

    async def principal(self, authorization: str | None) -> Principal:
        if authorization is None:
            return ANONYMOUS
        principal = await self.principal_for_token(bearer_token(authorization))
        if principal.user_id is not None and access_log.isEnabledFor(logging.DEBUG):
            CURRENT_USER_ID.set(principal.user_id)      # the access line's userId (this request's task)
        return principal

    async def caller(self, authorization: str | None, tenant_header: str | None) -> Caller:
        principal = await self.principal(authorization)
        return caller_for(principal, tenant_header)

    async def caller_for_scope(self, scope: Any) -> Caller:
        authorization = tenant = None
        for key, value in scope.get("headers", ()):
            if key == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif key == b"x-tenant-id" and tenant is None:
                tenant = value
        return await self.caller(authorization, tenant_header(tenant))
