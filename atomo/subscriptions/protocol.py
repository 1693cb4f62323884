"""The two GraphQL-over-WebSocket sub-protocols (graphql chapter §10): messages in and out.

``graphql-transport-ws`` (the graphql-ws library): ``connection_init``/``connection_ack``,
``subscribe``, ``next``, ``error``, ``complete``, ``ping``/``pong``. Legacy ``graphql-ws``
(subscriptions-transport-ws): ``connection_init``/``connection_ack``/``connection_error``, ``start``,
``data``, ``error``, ``stop``, ``complete``, ``connection_terminate`` and a ``ka`` keep-alive.
``parse`` raises ``Closing`` with the close code the protocol prescribes for a malformed message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from atomo.http.errors import HttpError
from atomo.http.request_context import parse_json

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"
PROTOCOLS = (TRANSPORT, LEGACY)
CLIENT_TYPES = {
    TRANSPORT: frozenset({"connection_init", "ping", "pong", "subscribe", "complete"}),
    LEGACY: frozenset({"connection_init", "start", "stop", "connection_terminate"}),
}
MAX_ID = 256


class Closing(Exception):
    """Close the socket with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]     # a close reason must fit in a control frame


@dataclass(frozen=True, slots=True)
class Message:
    type: str
    id: Any = None                   # as sent (echoed back); ``key`` is its string form
    payload: Any = None

    @property
    def key(self) -> str:
        return str(self.id)


@dataclass(frozen=True, slots=True)
class Operation:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def choose(offered: list[str]) -> str | None:
    """The sub-protocol to accept: ``graphql-transport-ws`` preferred, then legacy ``graphql-ws``."""
    for protocol in PROTOCOLS:
        if protocol in offered:
            return protocol
    return None


def parse(message: dict[str, Any], protocol: str) -> Message:
    text = message.get("text")
    if text is None:
        raise Closing(4400, "Invalid message received: binary frames are not supported")
    try:
        data = parse_json(text)
    except HttpError:
        raise Closing(4400, "Invalid message received: not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise Closing(4400, "Invalid message received: expected an object with a type")
    kind = data["type"]
    if kind not in CLIENT_TYPES[protocol]:
        raise Closing(4400, f"Invalid message received: unknown type {kind[:40]!r}")
    payload = data.get("payload")
    if kind in ("subscribe", "start", "complete", "stop"):
        op_id = data.get("id")
        valid = (isinstance(op_id, str) and 0 < len(op_id) <= MAX_ID) or (
            protocol == LEGACY and isinstance(op_id, int) and not isinstance(op_id, bool))
        if not valid:
            raise Closing(4400, f"Invalid message received: {kind} needs an id")
        return Message(kind, op_id, payload)
    if kind == "connection_init" and payload is not None and not isinstance(payload, dict):
        raise Closing(4400, "Invalid message received: connection_init payload must be an object")
    return Message(kind, None, payload)


def operation(payload: Any) -> Operation:
    """The GraphQL request of a ``subscribe``/``start`` message (4400 when malformed)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise Closing(4400, "Invalid message received: payload.query must be a string")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise Closing(4400, "Invalid message received: payload.variables must be an object")
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        raise Closing(4400, "Invalid message received: payload.operationName must be a string")
    return Operation(payload["query"], variables, name or None)


# -- server messages ------------------------------------------------------------------------------
_encoder = msgspec.json.Encoder()


def encode(message: dict[str, Any]) -> str:
    try:
        return _encoder.encode(message).decode("utf-8")
    except (TypeError, OverflowError, msgspec.EncodeError):
        return json.dumps(message, default=str, ensure_ascii=False, separators=(",", ":"))


def result_message(protocol: str, op_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"id": op_id, "type": "next" if protocol == TRANSPORT else "data", "payload": result}


def error_message(protocol: str, op_id: Any, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Operation errors: a list in graphql-transport-ws, one error object in the legacy protocol."""
    if protocol == TRANSPORT:
        return {"id": op_id, "type": "error", "payload": errors}
    first: dict[str, Any] = dict(errors[0]) if errors else {"message": "operation failed"}
    if len(errors) > 1:
        first["errors"] = errors
    return {"id": op_id, "type": "error", "payload": first}


def complete_message(op_id: Any) -> dict[str, Any]:
    return {"id": op_id, "type": "complete"}


def next_prefix(protocol: str, op_id: Any, root_key: str) -> tuple[str, str]:
    """The text around one encoded ModelEvent object in a ``next``/``data`` message (spliced per event)."""
    head = encode({"id": op_id, "type": "next" if protocol == TRANSPORT else "data"})[:-1]
    return f'{head},"payload":{{"data":{{{encode({root_key: 0})[1:-2]}', "}}}"
