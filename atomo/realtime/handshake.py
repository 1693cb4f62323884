"""WebSocket handshake helpers: refusals before the upgrade, query parameters, per-IP connection cap.

A refusal is an HTTP response with the canonical REST error body, sent through the ASGI
``websocket.http.response`` extension (uvicorn has it); a server without it gets a plain close.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import msgspec

from atomo.http.errors import rest_body
from atomo.http.request_context import request_id

_encode = msgspec.json.Encoder().encode
_UNFINISHED = "ASGI callable returned without completing handshake."


class _DenialFilter(logging.Filter):
    """uvicorn logs every handshake refused with an HTTP response (the ASGI denial extension) as an
    error, as if the application had forgotten to answer; those refusals are deliberate here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _UNFINISHED


def quiet_denials() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DenialFilter) for f in logger.filters):
        logger.addFilter(_DenialFilter())


async def deny(scope: Any, send: Any, status: int, code: str, message: str,
               headers: list[tuple[bytes, bytes]] | None = None) -> None:
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = _encode(rest_body(code, message))
    all_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii")),
                   (b"x-request-id", request_id(scope).encode("latin-1")), *(headers or [])]
    await send({"type": "websocket.http.response.start", "status": status, "headers": all_headers})
    await send({"type": "websocket.http.response.body", "body": body})


async def not_websocket(scope: Any, send: Any, path: str) -> None:
    """A plain HTTP request on a WebSocket route: 426 with the REST error body."""
    body = _encode(rest_body("BAD_REQUEST", f"{path} is a WebSocket endpoint: upgrade required"))
    await send({"type": "http.response.start", "status": 426, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii")),
        (b"upgrade", b"websocket"), (b"connection", b"Upgrade")]})
    await send({"type": "http.response.body", "body": body})


def query_params(scope: Any) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def header(scope: Any, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class ConnectionCap:
    """Open connections per client IP; ``limit`` 0 means unlimited."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()

    def acquire(self, ip: str) -> bool:
        if self.limit and self.open[ip] >= self.limit:
            return False
        self.open[ip] += 1
        return True

    def release(self, ip: str) -> None:
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]
