"""The append-only event log: table definition, append (inside a write unit), and reads."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgpack
import msgspec

from atomo.errors import ConflictError, ValidationError
from atomo.storage.pg_log import NEXT_POSITION, on_postgres

EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events (
  position       INTEGER PRIMARY KEY,
  event_id       TEXT    NOT NULL UNIQUE,
  stream         TEXT    NOT NULL,
  stream_version INTEGER NOT NULL,
  type           TEXT    NOT NULL,
  model          TEXT,
  record_id      TEXT,
  data           NOT NULL,
  previous_data,
  actor          TEXT,
  tenant_id      TEXT,
  origin         TEXT,
  recorded_at    TEXT    NOT NULL,
  metadata,
  UNIQUE (stream, stream_version)
);
CREATE INDEX IF NOT EXISTS idx_events_model_position  ON events (model, position);
CREATE INDEX IF NOT EXISTS idx_events_tenant_position ON events (tenant_id, position);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
"""

MODEL_EVENT_TYPES = frozenset({"Created", "Updated", "Deleted", "Restored", "HardDeleted",
                               "BlockInserted", "BlockUpdated", "BlockMoved", "BlockRemoved"})
_CUSTOM_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,99}\Z")
# the columns of a StoredEvent, in row_to_event's order
EVENT_COLUMNS = ("position, event_id, stream, stream_version, type, model, record_id, data, previous_data, "
                 "actor, tenant_id, origin, recorded_at, metadata")


@dataclass(frozen=True)
class NewEvent:
    type: str
    data: Any
    previous_data: Any = None
    metadata: Any = None            # a JSON object about the event (correlation ids, ...), custom events only


@dataclass(frozen=True)
class StoredEvent:
    position: int
    event_id: str
    stream: str
    stream_version: int
    type: str
    model: str | None
    record_id: str | None
    data: Any
    previous_data: Any
    actor: str | None
    tenant_id: str | None
    origin: str | None
    recorded_at_text: str
    metadata: Any = None

    @property
    def recorded_at(self) -> datetime:
        """The timestamp as a timezone-aware UTC datetime."""
        return datetime.fromisoformat(self.recorded_at_text)

    def to_graphql(self) -> dict[str, Any]:
        return {"position": self.position, "eventId": self.event_id, "stream": self.stream,
                "streamVersion": self.stream_version, "type": self.type, "model": self.model,
                "recordId": self.record_id, "data": self.data, "previousData": self.previous_data,
                "actor": self.actor, "tenantId": self.tenant_id, "origin": self.origin,
                "recordedAt": self.recorded_at_text, "metadata": self.metadata}


_decode_json = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode      # compact JSON, several times faster than the json module


def _dump_json(value: Any) -> str:
    return _encode_json(value).decode("utf-8")


class _RandomPool(threading.local):
    buffer: bytearray

    def __init__(self) -> None:
        self.buffer = bytearray()


_POOL = _RandomPool()
os.register_at_fork(after_in_child=lambda: _POOL.__init__())


def uuid7() -> str:
    """A lowercase time-ordered UUID (version 7, RFC 9562): 48 bits of Unix milliseconds, then 74 random
    bits from the same pool as ``uuid4``.

    Record, event and job ids: new keys land at the right edge of the primary-key and id indexes
    instead of on random pages, so a batch of creates dirties a few pages rather than one per row
    (library creates at c64 on a 100k-row table: 8,500/s with UUIDv4, 17,000-18,000/s with UUIDv7).
    The creation time they reveal is the record's ``createdAt`` anyway; 74 random bits keep them
    unguessable.
    """
    buffer = _POOL.buffer
    if len(buffer) < 10:
        buffer = _POOL.buffer = bytearray(os.urandom(4096))
    b = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big"))
    b += buffer[-10:]
    del buffer[-10:]
    b[6] = (b[6] & 0x0F) | 0x70
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid4() -> str:
    """A lowercase UUID v4 string from the OS CSPRNG, read 4 KiB at a time (per thread).

    One `os.urandom` call per 256 ids: the call releases the GIL, and on the writer thread every
    GIL release is a hand-over to the event loop, so fewer releases mean more writes per second.
    """
    buffer = _POOL.buffer
    if len(buffer) < 16:
        buffer = _POOL.buffer = bytearray(os.urandom(4096))
    b = buffer[-16:]
    del buffer[-16:]
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def encode(value: Any, encoding: str) -> Any:
    if value is None:
        return None
    if encoding == "msgpack":
        return msgpack.packb(value, use_bin_type=True)
    return _dump_json(value)


def decode(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes):
        return msgpack.unpackb(value, raw=False)
    try:
        return _decode_json(value)
    except msgspec.DecodeError:       # what msgspec refuses and older builds may have written (NaN)
        return json.loads(value)


def row_to_event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(position=row[0], event_id=row[1], stream=row[2], stream_version=row[3], type=row[4],
                       model=row[5], record_id=row[6], data=decode(row[7]), previous_data=decode(row[8]),
                       actor=row[9], tenant_id=row[10], origin=row[11], recorded_at_text=row[12],
                       metadata=decode(row[13]) if len(row) > 13 else None)


def split_stream(stream: str) -> tuple[str | None, str | None]:
    model, sep, record_id = stream.partition("/")
    if sep and model and record_id:
        return model, record_id
    return None, None


def check_stream_name(stream: str) -> None:
    if not isinstance(stream, str) or not 1 <= len(stream) <= 200 or any(ord(c) < 32 or ord(c) == 127 for c in stream):
        raise ValidationError.single("stream", "stream must be 1-200 characters without control characters",
                                     "invalid_stream")


def check_custom_type(type_: str) -> None:
    if not isinstance(type_, str) or not _CUSTOM_TYPE.match(type_) or type_ in MODEL_EVENT_TYPES:
        raise ValidationError.single("type", f"invalid custom event type {type_!r}", "invalid_event_type")


def stream_version(conn: sqlite3.Connection, stream: str) -> int:
    row = conn.execute("SELECT max(stream_version) FROM events WHERE stream = ?", (stream,)).fetchone()
    return int(row[0] or 0)


AfterAppend = Callable[[sqlite3.Connection, "StoredEvent"], None]


class EventAppender:
    """Appends events inside a write unit. Holds the encoding; knows nothing of models.

    ``after_append``: functions called with ``(conn, event)`` right after each event is inserted, inside the
    same write transaction (every append path goes through ``append``): the custom projections of the
    project's hooks (``atomo.hooks.projections``). One that raises fails the unit: nothing is appended."""

    def __init__(self, encoding: str = "json") -> None:
        self.encoding = encoding
        self.after_append: list[AfterAppend] = []

    def append(self, conn: sqlite3.Connection, stream: str, version: int, type_: str, data: Any,
               previous: Any, *, actor: str | None, tenant_id: str | None, origin: str | None,
               recorded_at: str, model: str | None = None, record_id: str | None = None,
               metadata: Any = None) -> StoredEvent:
        event_id = uuid7()
        if on_postgres(conn):                  # no rowid: the position is given under the write lock
            position = conn.execute(
                f"INSERT INTO events (position, event_id, stream, stream_version, type, model, record_id, data,"
                f" previous_data, actor, tenant_id, origin, recorded_at, metadata) VALUES ({NEXT_POSITION},"
                f" ?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING position",
                (event_id, stream, version, type_, model, record_id, encode(data, self.encoding),
                 encode(previous, self.encoding), actor, tenant_id, origin, recorded_at,
                 encode(metadata, self.encoding))).fetchone()[0]
        elif metadata is None:
            position = conn.execute(
                "INSERT INTO events (event_id, stream, stream_version, type, model, record_id, data, previous_data,"
                " actor, tenant_id, origin, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (event_id, stream, version, type_, model, record_id, encode(data, self.encoding),
                 encode(previous, self.encoding), actor, tenant_id, origin, recorded_at)).lastrowid
        else:
            position = conn.execute(
                "INSERT INTO events (event_id, stream, stream_version, type, model, record_id, data, previous_data,"
                " actor, tenant_id, origin, recorded_at, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (event_id, stream, version, type_, model, record_id, encode(data, self.encoding),
                 encode(previous, self.encoding), actor, tenant_id, origin, recorded_at,
                 encode(metadata, self.encoding))).lastrowid
        event = StoredEvent(position=int(position or 0), event_id=event_id, stream=stream, stream_version=version,
                            type=type_, model=model, record_id=record_id, data=data, previous_data=previous,
                            actor=actor, tenant_id=tenant_id, origin=origin, recorded_at_text=recorded_at,
                            metadata=metadata)
        for after in self.after_append:
            after(conn, event)
        return event

    def append_many(self, conn: sqlite3.Connection, stream: str, events: Iterable[NewEvent],
                    expected_version: int | None, *, actor: str | None, tenant_id: str | None,
                    origin: str | None, recorded_at: str) -> list[StoredEvent]:
        current = stream_version(conn, stream)
        if expected_version is not None and expected_version != current:
            raise ConflictError(f"stream {stream} is at version {current}, not {expected_version}",
                                current_version=current, expected_version=expected_version)
        model, record_id = split_stream(stream)
        stored = []
        for event in events:
            current += 1
            stored.append(self.append(conn, stream, current, event.type, event.data, event.previous_data,
                                      actor=actor, tenant_id=tenant_id, origin=origin, recorded_at=recorded_at,
                                      model=model, record_id=record_id, metadata=event.metadata))
        return stored


def read_all(conn: sqlite3.Connection, *, after: int = 0, limit: int | None = 100, model: str | None = None,
             tenant_id: str | None = None, before: int | None = None, untenanted: bool = False) -> list[StoredEvent]:
    """Events after ``after`` in position order; ``tenant_id`` keeps one tenant's, ``untenanted`` those
    without a tenant."""
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ?"
    params: list[Any] = [after]
    if before is not None:
        sql += " AND position <= ?"
        params.append(before)
    if model is not None:
        sql += " AND model = ?"
        params.append(model)
    if tenant_id is not None:
        sql += " AND tenant_id = ?"
        params.append(tenant_id)
    elif untenanted:
        sql += " AND tenant_id IS NULL"
    sql += " ORDER BY position"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row_to_event(r) for r in conn.execute(sql, params)]


def read_stream(conn: sqlite3.Connection, stream: str, *, from_version: int = 1,
                limit: int | None = None) -> list[StoredEvent]:
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND stream_version >= ? ORDER BY stream_version"
    params: list[Any] = [stream, from_version]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [row_to_event(r) for r in conn.execute(sql, params)]


def last_position(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])
