"""Realtime frames (realtime chapter §2, §3, §7): client frames in, server frames out.

``parse_frame`` turns one WebSocket message into a ``Request`` or raises ``BadFrame`` (the socket
stays open; the caller answers an ``error`` frame). ``Outgoing`` is one server frame shared by every
recipient of a fan-out: it is encoded at most once per encoding (JSON text or MessagePack binary)
and the ASGI send message itself is shared. Payloads cross encodings: MessagePack binary values
reach JSON clients as base64 strings and timestamps as RFC 3339 strings.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack
import msgspec

OPS = frozenset({"subscribe", "unsubscribe", "publish", "presence", "session_join", "session_leave",
                 "to_coordinator", "to_members", "ping"})
CHANNEL_OPS = frozenset({"subscribe", "unsubscribe", "publish", "presence"})
SESSION_OPS = frozenset({"session_join", "session_leave", "to_coordinator", "to_members"})
PAYLOAD_OPS = frozenset({"publish", "to_coordinator", "to_members"})
MAX_NAME = 200
MAX_REF = 64
MAX_DEPTH = 64


class BadFrame(Exception):
    def __init__(self, reason: str, ref: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Request:
    op: str
    name: str | None = None         # channel or session
    payload: Any = None
    ref: Any = None


def _valid_name(value: Any) -> bool:
    return (isinstance(value, str) and 1 <= len(value) <= MAX_NAME
            and not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value))


def _check_keys(value: Any, depth: int = 0) -> None:
    """MessagePack maps must have string keys all the way down (and nest at most MAX_DEPTH levels);
    timestamps must be datetimes (years 1-9999) so that they have an RFC 3339 form for JSON clients."""
    if depth > MAX_DEPTH:
        raise BadFrame(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadFrame("map keys must be strings")
            if isinstance(item, dict | list):
                _check_keys(item, depth + 1)
            elif isinstance(item, msgpack.Timestamp):
                _check_timestamp(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                _check_keys(item, depth + 1)
            elif isinstance(item, msgpack.Timestamp):
                _check_timestamp(item)


def _check_timestamp(value: msgpack.Timestamp) -> None:
    try:
        value.to_datetime()
    except (OverflowError, ValueError, OSError):
        raise BadFrame("timestamp out of range") from None


def decode(message: dict[str, Any], encoding: str) -> Any:
    text, data = message.get("text"), message.get("bytes")
    if text is not None:
        # imported here: the supervisor of a group uses this module's frames without the HTTP layer
        from atomo.http.errors import HttpError
        from atomo.http.request_context import parse_json
        try:
            return parse_json(text, MAX_DEPTH)
        except HttpError:
            raise BadFrame("not valid JSON") from None
    if data is None:
        raise BadFrame("empty frame")
    if encoding != "msgpack":
        raise BadFrame("binary frames need encoding=msgpack")
    try:   # timestamps (-1) stay Timestamp objects (checked below); every other extension type is refused
        value = msgpack.unpackb(data, raw=False, strict_map_key=False, timestamp=0, ext_hook=_no_extensions)
    except Exception:
        raise BadFrame("not valid MessagePack") from None
    _check_keys(value)
    return value


def _no_extensions(code: int, data: bytes) -> Any:
    raise ValueError(f"MessagePack extension type {code} is not supported")


def parse_frame(message: dict[str, Any], encoding: str) -> Request:
    frame = decode(message, encoding)
    if not isinstance(frame, dict):
        raise BadFrame("frame must be an object")
    ref = frame.get("ref")
    if ref is not None and not _valid_ref(ref):
        raise BadFrame(f"ref must be a string or number of at most {MAX_REF} characters")
    op = frame.get("op")
    if not isinstance(op, str):
        raise BadFrame("op is missing", ref)
    if op not in OPS:
        raise BadFrame(f"unknown op {op[:64]!r}", ref)
    name = None
    if op in CHANNEL_OPS or op in SESSION_OPS:
        field = "channel" if op in CHANNEL_OPS else "session"
        name = frame.get(field)
        if name is None:
            raise BadFrame(f"{field} is missing", ref)
        if not _valid_name(name):
            raise BadFrame(f"{field} must be 1-{MAX_NAME} characters without control characters", ref)
    if op in PAYLOAD_OPS and "payload" not in frame:
        raise BadFrame("payload is missing", ref)
    return Request(op, name, frame.get("payload"), ref)


def _valid_ref(ref: Any) -> bool:
    if isinstance(ref, bool):
        return False
    if isinstance(ref, str):
        return len(ref) <= MAX_REF
    if isinstance(ref, int | float):
        return len(repr(ref)) <= MAX_REF
    return False


# -- server frames -----------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, msgpack.Timestamp):
        return value.to_datetime().astimezone(UTC).isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


_json_encoder = msgspec.json.Encoder(enc_hook=_json_default)


def encode_json(frame: dict[str, Any]) -> str:
    try:
        return _json_encoder.encode(frame).decode("utf-8")
    except (TypeError, OverflowError, msgspec.EncodeError):  # very large integers, odd values
        return json.dumps(frame, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def encode_msgpack(frame: dict[str, Any]) -> bytes:
    try:
        return msgpack.packb(frame, use_bin_type=True, datetime=True)  # type: ignore[no-any-return]
    except (OverflowError, TypeError, ValueError):   # integers beyond 64 bits (from JSON publishers)
        return msgpack.packb(_portable(frame), use_bin_type=True)  # type: ignore[no-any-return]


def _portable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value)
    if isinstance(value, datetime | msgpack.Timestamp):
        return _json_default(value)
    return value


class Outgoing:
    """One server frame; ``message(encoding)`` is the ASGI send message, built once per encoding."""

    __slots__ = ("frame", "_json", "_msgpack")

    def __init__(self, frame: dict[str, Any]) -> None:
        self.frame = frame
        self._json: dict[str, Any] | None = None
        self._msgpack: dict[str, Any] | None = None

    def message(self, encoding: str) -> dict[str, Any]:
        if encoding == "msgpack":
            if self._msgpack is None:
                self._msgpack = {"type": "websocket.send", "bytes": encode_msgpack(self.frame)}
            return self._msgpack
        if self._json is None:
            self._json = {"type": "websocket.send", "text": encode_json(self.frame)}
        return self._json


def error_frame(code: str, message: str, *, ref: Any = None, channel: str | None = None,
                session: str | None = None) -> Outgoing:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if channel is not None:
        frame["channel"] = channel
    if session is not None:
        frame["session"] = session
    if ref is not None:
        frame["ref"] = ref
    return Outgoing(frame)


def frame(type_: str, ref: Any = None, **fields: Any) -> Outgoing:
    body: dict[str, Any] = {"type": type_, **fields}
    if ref is not None:
        body["ref"] = ref
    return Outgoing(body)
