"""A project's whole event log and accounts as one portable file (`atomo export` / `atomo import`).

The file is NDJSON, UTF-8, one JSON object per line, every line ending with ``\\n``:

- line 1, the header: ``{"format": "atomo-export", "version": 1, "events": N, "users": M, "lastPosition": P,
  "exportedAt": "...", "source": "sqlite"|"postgres"}``; positions are gap-free, so ``P == N``;
- one line per event in position order: ``{"kind": "event", "position": 1, "event_id": ..., ...}`` with every
  column of ``events``. The payload columns (``data``, ``previous_data``, ``metadata``) are kept as stored: JSON
  text as a JSON string (``"data": "{\\"title\\":…}"``), MessagePack bytes in base64 under the name with
  ``_b64`` (``"data_b64": "gqV0…"``). Nothing is decoded and re-encoded, so the imported rows are the exported
  ones byte for byte, whatever the two backends;
- one line per row of ``users``: ``{"kind": "user", "row": {column: value}}`` with the columns as stored
  (a ``bytes`` value as ``{"$b64": "..."}``).

Not in the file: the model tables (rebuilt from the log on arrival), sessions (every user logs in again),
jobs and workers, idempotency keys, applied migration files (the target applies the project's own at boot).

``export_log`` runs inside a read transaction of its caller (one snapshot) and reads the log by keyset pages
of ``BATCH`` positions; ``import_unit`` is a write unit that refuses a target with events or users, then
checks every line (shape, positions 1, 2, 3… without gaps, the header's counts) while it inserts in batches,
all in the unit's one transaction: a problem anywhere rolls everything back.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from atomo.errors import AtomoError, ConfigError
from atomo.storage.database import is_driver_error
from atomo.storage.events import EVENT_COLUMNS, decode
from atomo.storage.tables import dialect_of, q, table_columns

FORMAT = "atomo-export"
VERSION = 1
BATCH = 2000                       # events (or users) read per page on export, inserted per executemany on import
BATCH_BYTES = 32 << 20             # ... or fewer on import, when their lines add up to this much
MAX_LINE_BYTES = 64 << 20          # a longer line is refused (a payload is far smaller; this bounds memory)
EVENT_FIELDS = tuple(name.strip() for name in EVENT_COLUMNS.split(","))
PAYLOADS = ("data", "previous_data", "metadata")
_TEXT_OR_NULL = ("model", "record_id", "actor", "tenant_id", "origin")
_REQUIRED_TEXT = ("event_id", "stream", "type", "recorded_at")
B64 = "$b64"                       # a bytes value of a users column: {"$b64": "..."}


class TransferError(AtomoError):
    """A refused export file: the message names the line (exit 1)."""


def bad_line(number: int, problem: str) -> TransferError:
    return TransferError(f"line {number}: {problem}; nothing was imported")


@dataclass(frozen=True)
class Header:
    events: int
    users: int
    last_position: int
    exported_at: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class TransferSummary:
    events: int
    users: int
    last_position: int


# -- export ------------------------------------------------------------------------------------------------------
def _line(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _is_bytes(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview))


def _b64(value: Any) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def event_line(row: Any) -> dict[str, Any]:
    """One event row (``EVENT_FIELDS`` order) as its line: payload bytes in base64 under ``<name>_b64``."""
    obj: dict[str, Any] = {"kind": "event"}
    for name, value in zip(EVENT_FIELDS, row, strict=False):
        if name in PAYLOADS and _is_bytes(value):
            obj[name + "_b64"] = _b64(value)
        else:
            obj[name] = value
    if len(row) < len(EVENT_FIELDS):               # a file from before event metadata
        obj["metadata"] = None
    return obj


def _user_value(value: Any) -> Any:
    if _is_bytes(value):
        return {B64: _b64(value)}
    if value is None or isinstance(value, (str, int, float)):
        return value
    return str(value)                              # a PostgreSQL type with no JSON form: its text


def export_log(conn: Any, out: IO[bytes], *, exported_at: str, batch: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> TransferSummary:
    """Write the export file of ``conn``'s database to ``out``. ``conn`` is inside a read transaction (every
    statement here sees one snapshot); events are read ``batch`` (``BATCH``) positions at a time."""
    size = batch or BATCH
    columns = [c.name for c in table_columns(conn, "events")]
    if not columns:
        raise ConfigError("the database has no event log (table events)")
    names = EVENT_FIELDS if "metadata" in columns else EVENT_FIELDS[:-1]
    events, last = conn.execute("SELECT count(*), coalesce(max(position), 0) FROM events").fetchone()
    user_columns = [c.name for c in table_columns(conn, "users")]
    users = int(conn.execute("SELECT count(*) FROM users").fetchone()[0]) if user_columns else 0
    header = {"format": FORMAT, "version": VERSION, "events": int(events), "users": users,
              "lastPosition": int(last), "exportedAt": exported_at, "source": dialect_of(conn)}
    out.write(_line(header))
    sql = f"SELECT {', '.join(names)} FROM events WHERE position > ? ORDER BY position LIMIT ?"
    after = done = 0
    while True:
        rows = conn.execute(sql, (after, size)).fetchall()
        if not rows:
            break
        out.write(b"".join(_line(event_line(row)) for row in rows))
        after = int(rows[-1][0])
        done += len(rows)
        if progress is not None:
            progress(done, int(events))
    if user_columns:
        selected = ", ".join(q(c) for c in user_columns)
        sql = f"SELECT {selected} FROM users WHERE id > ? ORDER BY id LIMIT ?"
        key = ""
        while True:
            rows = conn.execute(sql, (key, size)).fetchall()
            if not rows:
                break
            out.write(b"".join(_line({"kind": "user", "row": {c: _user_value(v) for c, v in zip(user_columns, row,
                                                                                                 strict=True)}})
                               for row in rows))
            key = rows[-1][user_columns.index("id")]
    return TransferSummary(int(events), users, int(last))


# -- import ------------------------------------------------------------------------------------------------------
class LineReader:
    """The lines of an export file as JSON objects, numbered from 1; each at most ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> None:
        self.stream = stream
        self.limit = limit
        self.number = 0
        self.size = 0                  # bytes of the last line read

    def next(self) -> dict[str, Any] | None:
        raw = self.stream.readline(self.limit + 1)
        if not raw:
            return None
        self.number += 1
        self.size = len(raw)
        if not raw.endswith(b"\n"):
            if len(raw) > self.limit:
                raise bad_line(self.number, f"longer than {self.limit >> 20} MiB")
            raise bad_line(self.number, "truncated (the last line does not end with a newline: the file was cut "
                                        "short?)")
        try:
            obj = json.loads(raw)
        except ValueError as exc:          # JSONDecodeError and UnicodeDecodeError
            raise bad_line(self.number, f"not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise bad_line(self.number, "expected a JSON object")
        return obj


def _count(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise bad_line(1, f"the header's {key} must be a whole number >= 0")
    return value


def read_header(reader: LineReader) -> Header:
    """Line 1 of the file, checked: an Atomo export of a version this release reads."""
    obj = reader.next()
    if obj is None:
        raise TransferError("the file is empty: expected an Atomo export (atomo export FILE); nothing was imported")
    if obj.get("format") != FORMAT:
        raise bad_line(1, f"not an Atomo export (the header's format is not {FORMAT!r})")
    if obj.get("version") != VERSION:
        raise bad_line(1, f"export version {obj.get('version')!r} is not supported (this release reads version "
                          f"{VERSION})")
    header = Header(_count(obj, "events"), _count(obj, "users"), _count(obj, "lastPosition"),
                    obj.get("exportedAt"), obj.get("source"))
    if header.last_position != header.events:
        raise bad_line(1, f"the header announces {header.events} events up to position {header.last_position} "
                          "(positions run 1, 2, 3… without gaps)")
    return header


def _payload_kind(conn: Any) -> type | None:
    """What the target's payload columns take: ``str`` (PostgreSQL ``text``), ``bytes`` (``bytea``) or either
    (SQLite's untyped columns: ``None``)."""
    if dialect_of(conn) != "postgres":
        return None
    types = {c.name: c.type for c in table_columns(conn, "events")}
    return bytes if types.get("data") == "bytea" else str


def _payload(obj: dict[str, Any], name: str, number: int, kind: type | None) -> Any:
    text, packed = obj.get(name), obj.get(name + "_b64")
    if name + "_b64" in obj:
        if name in obj:
            raise bad_line(number, f"both {name} and {name}_b64")
        if not isinstance(packed, str):
            raise bad_line(number, f"{name}_b64 must be a base64 string")
        try:
            value: Any = base64.b64decode(packed, validate=True)
        except (binascii.Error, ValueError):
            raise bad_line(number, f"{name}_b64 is not valid base64") from None
    elif name in obj:
        if text is not None and not isinstance(text, str):
            raise bad_line(number, f"{name} must be JSON text (a string) or null")
        value = text
    else:
        raise bad_line(number, f"missing {name} (or {name}_b64)")
    if value is None:
        if name == "data":
            raise bad_line(number, "data must not be null")
        return None
    try:
        decode(value)
    except Exception:
        what = "MessagePack" if isinstance(value, bytes) else "JSON"
        raise bad_line(number, f"{name} is not valid {what}") from None
    if kind is not None and not isinstance(value, kind):
        stored, wanted = ("JSON text", "msgpack") if kind is str else ("MessagePack", "json")
        raise bad_line(number, f"{name} is {'MessagePack' if kind is str else 'JSON text'} but the target's event "
                               f"log stores {stored}: import with ATOMO_EVENT_ENCODING={wanted} into a new schema")
    return value


def event_row(obj: dict[str, Any], number: int, expected: int, kind: type | None) -> tuple[Any, ...]:
    """The ``events`` row of an event line (``EVENT_FIELDS`` order), or a ``TransferError`` naming the line."""
    allowed = {"kind", *EVENT_FIELDS, *(p + "_b64" for p in PAYLOADS)}
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise bad_line(number, f"unknown event field {unknown[0]!r}")
    position = obj.get("position")
    if not isinstance(position, int) or isinstance(position, bool):
        raise bad_line(number, "position must be a whole number")
    if position != expected:
        raise bad_line(number, f"position {position} where {expected} was expected (positions run 1, 2, 3… in "
                               "order without gaps)")
    for name in _REQUIRED_TEXT:
        value = obj.get(name)
        if not isinstance(value, str) or not value:
            raise bad_line(number, f"{name} must be a non-empty string")
    for name in _TEXT_OR_NULL:
        if name not in obj:
            raise bad_line(number, f"missing {name}")
        if obj[name] is not None and not isinstance(obj[name], str):
            raise bad_line(number, f"{name} must be a string or null")
    version = obj.get("stream_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise bad_line(number, "stream_version must be a whole number >= 1")
    payloads = {p: _payload(obj, p, number, kind) for p in PAYLOADS}
    return tuple(payloads[name] if name in payloads else obj[name] for name in EVENT_FIELDS)


def user_row(obj: dict[str, Any], number: int, columns: set[str]) -> dict[str, Any]:
    if set(obj) != {"kind", "row"} or not isinstance(obj["row"], dict):
        raise bad_line(number, 'a user line is {"kind": "user", "row": {column: value, ...}}')
    row: dict[str, Any] = {}
    for name, value in obj["row"].items():
        if name not in columns:
            raise bad_line(number, f"users has no column {name!r} in the target database (is its schema the "
                                   "source project's?)")
        if isinstance(value, dict):
            if set(value) != {B64} or not isinstance(value[B64], str):
                raise bad_line(number, f"users.{name}: an object value must be {{\"{B64}\": \"base64\"}}")
            try:
                value = base64.b64decode(value[B64], validate=True)
            except (binascii.Error, ValueError):
                raise bad_line(number, f"users.{name} is not valid base64") from None
        elif isinstance(value, list):
            raise bad_line(number, f"users.{name} must be a string, a number or null")
        row[name] = value
    if not isinstance(row.get("id"), str) or not row["id"]:
        raise bad_line(number, "a user row needs its id")
    return row


def _insert(conn: Any, sql: str, rows: list[tuple[int, tuple[Any, ...]]]) -> None:
    """``executemany`` of ``(line, row)``s in a savepoint; a row the database refuses (a duplicate id, a missing
    required column) is looked for one by one so the error names its line."""
    conn.execute("SAVEPOINT atomo_import")
    try:
        conn.executemany(sql, [row for _, row in rows])
    except Exception as exc:
        if not is_driver_error(exc):
            raise
        conn.execute("ROLLBACK TO SAVEPOINT atomo_import")
        for number, row in rows:
            try:
                conn.execute(sql, row)
            except Exception as one:
                if not is_driver_error(one):
                    raise
                raise bad_line(number, f"the database refused it: {_first_line(one)}") from None
        raise bad_line(rows[0][0], f"the database refused lines {rows[0][0]}-{rows[-1][0]}: "
                                   f"{_first_line(exc)}") from None
    conn.execute("RELEASE SAVEPOINT atomo_import")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def refuse_non_empty(conn: Any) -> None:
    events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    users = int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
    if events or users:
        raise ConfigError(f"the target database already has {events} events and {users} users: import only into "
                          "an empty database (a new data file, or a new PostgreSQL schema); nothing was imported")


def import_unit(reader: LineReader, header: Header, *, batch: int | None = None,
                progress: Callable[[int], None] | None = None) -> Callable[[sqlite3.Connection], TransferSummary]:
    """A write unit (run it exclusive) that imports the rest of ``reader`` (the lines after ``header``) into an
    empty database, in its one transaction. Every line is checked before its batch (``BATCH`` rows) is inserted;
    any problem raises a ``TransferError`` naming the line, and the writer rolls the whole unit back."""
    size = batch or BATCH

    def unit(conn: sqlite3.Connection) -> TransferSummary:
        refuse_non_empty(conn)
        kind = _payload_kind(conn)
        events_sql = f"INSERT INTO events ({', '.join(EVENT_FIELDS)}) VALUES ({', '.join('?' * len(EVENT_FIELDS))})"
        user_columns = {c.name for c in table_columns(conn, "users")}
        events: list[tuple[int, tuple[Any, ...]]] = []
        users: dict[tuple[str, ...], list[tuple[int, tuple[Any, ...]]]] = {}
        n_events = n_users = pending_bytes = 0

        def flush_events() -> None:
            nonlocal pending_bytes
            pending_bytes = 0
            if events:
                _insert(conn, events_sql, events)
                events.clear()
                if progress is not None:
                    progress(n_events)

        def flush_users() -> None:
            nonlocal pending_bytes
            pending_bytes = 0
            for names, rows in users.items():
                _insert(conn, f"INSERT INTO users ({', '.join(q(n) for n in names)}) VALUES "
                              f"({', '.join('?' * len(names))})", rows)
            users.clear()

        while (obj := reader.next()) is not None:
            number, what = reader.number, obj.get("kind")
            pending_bytes += reader.size
            if what == "event":
                if n_users:
                    raise bad_line(number, "an event after the users (the events come first)")
                if n_events == header.events:
                    raise bad_line(number, f"more events than the {header.events} the header announces")
                n_events += 1
                events.append((number, event_row(obj, number, n_events, kind)))
                if len(events) >= size or pending_bytes >= BATCH_BYTES:
                    flush_events()
            elif what == "user":
                if n_events < header.events:
                    raise bad_line(number, f"a user after {n_events} events, where the header announces "
                                           f"{header.events}")
                if n_users == header.users:
                    raise bad_line(number, f"more users than the {header.users} the header announces")
                if events:
                    flush_events()
                n_users += 1
                row = user_row(obj, number, user_columns)
                group = users.setdefault(tuple(row), [])
                group.append((number, tuple(row.values())))
                if sum(len(g) for g in users.values()) >= size or pending_bytes >= BATCH_BYTES:
                    flush_users()
            else:
                raise bad_line(number, 'expected "kind": "event" or "user"')
        if n_events != header.events or n_users != header.users:
            raise TransferError(f"the file ends at line {reader.number} after {n_events} events and {n_users} users, "
                                f"where its header announces {header.events} and {header.users} (was it cut "
                                "short?); nothing was imported")
        flush_events()
        flush_users()
        return TransferSummary(n_events, n_users, n_events)
    return unit
