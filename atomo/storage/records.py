"""JSON values <-> SQLite column values, and the record shape of a model's row.

A record is a JSON object in a fixed key order (graphql.md §3): `id`, the declared fields in schema
order, then `createdAt`, `updatedAt`, `deletedAt`, `tenantId`, `_version`. Storage follows
schema.md §4: text as TEXT, numbers NUMERIC (integral values come back as ints), booleans 0/1,
date-times as canonical UTC text, JSON/array/Blocks values as compact JSON text.

`codec_for(model)` builds, once per model object, the column list and converters every read and
write of that model uses; `record_from_row` runs for every returned row, so it is kept lean.
"""

from __future__ import annotations

import json
import math
import operator
import re
import sqlite3
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec

from atomo import clock
from atomo.schema.model import SYSTEM_COLUMNS, Field, Model

_INT64 = 2**63
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?",
    re.ASCII,
)


_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00", re.ASCII)


# the current time in the canonical form `2026-06-08T10:00:00.123456+00:00`, from the process clock
now_iso = clock.now_iso


def canonical_datetime(value: str) -> str:
    """Canonical UTC text of an RFC 3339 date-time (offset, `Z`, or none = UTC) or a bare date.

    Seconds may be omitted (`2026-06-08T10:00`); fractions beyond microseconds are truncated.
    Raises ValueError for anything else.
    """
    m = _DATETIME.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"not a date-time: {value!r}")
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    offset = UTC
    if sign is not None:
        delta = timedelta(hours=int(off_h), minutes=int(off_m))
        if delta >= timedelta(hours=24):
            raise ValueError(f"bad offset in date-time: {value!r}")
        offset = timezone(-delta if sign == "-" else delta)
    try:
        dt = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                      int(second or 0), micro, tzinfo=offset)
        return dt.astimezone(UTC).isoformat(timespec="microseconds")
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a date-time: {value!r}") from exc


def storable_number(value: float) -> float:
    """An int when integral and within SQLite's 64-bit range, else the float."""
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else float(value)
    if value.is_integer() and -_INT64 <= value < _INT64:
        return int(value)
    return value


_encode_json = msgspec.json.Encoder().encode
_dump_json_slow = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def dump_json(value: Any) -> str:
    """Compact JSON text of a validated JSON value (UTF-8, no ASCII escaping), as the event log writes it.

    msgspec: about ten times faster than the json module on a large value (a 500-block document, 106 KB:
    76 µs against 800 µs). Its text differs from the json module's only in float exponents (``1e16`` for
    ``1e+16``), which ``projections rebuild --check`` compares as the same value.
    """
    try:
        return _encode_json(value).decode("utf-8")
    except (TypeError, ValueError):   # not plain JSON data (only reachable from unvalidated library input)
        return _dump_json_slow(value)  # type: ignore[no-any-return]


def to_column(field: Field, value: Any) -> Any:
    """The stored form of an (already validated) JSON value of `field`."""
    return _to_column(field.kind, value)


def _to_column(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "number":
        return storable_number(value)
    if kind == "boolean":
        return 1 if value else 0
    if kind == "datetime":
        # values reaching storage were normalised already; skip the parse for the canonical form
        return value if _CANONICAL.fullmatch(value) else canonical_datetime(value)
    if kind in ("array", "blocks", "json"):
        return dump_json(value)
    return value


def _number_from_column(value: Any) -> Any:
    if type(value) is float:
        return int(value) if value.is_integer() and -_INT64 <= value < _INT64 else value
    if isinstance(value, str):  # a value SQLite could not convert (left by an old column type)
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return _number_from_column(float(value))
        except ValueError:
            return value
    return value


def _null(_value: Any) -> None:
    return None


_decode_json = msgspec.json.Decoder().decode


def _json_from_column(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return _decode_json(value)           # msgspec: several times faster than json.loads
    except (msgspec.DecodeError, ValueError):
        try:                                  # what msgspec refuses (NaN, huge integers)
            return json.loads(value)
        except ValueError:
            return value


_READERS: dict[str, Callable[[Any], Any] | None] = {
    "number": _number_from_column, "boolean": bool, "array": _json_from_column,
    "blocks": _json_from_column, "json": _json_from_column,
}


def from_column(field: Field, value: Any) -> Any:
    """The JSON value of a stored column value of `field`."""
    reader = _READERS.get(field.kind)
    if value is None or reader is None:
        return value
    return reader(value)


@dataclass(frozen=True)
class Column:
    """One column of a model table as records see it (declared field or system column)."""

    key: str                   # record key
    column: str                # SQL column
    kind: str                  # a field kind; system columns: text, datetime or number
    field: Field | None        # the declared field, None for undeclared system columns
    system: bool               # id, createdAt, updatedAt, deletedAt, tenantId, _version


_SYSTEM_KINDS = {"createdAt": "datetime", "updatedAt": "datetime", "deletedAt": "datetime",
                 "tenantId": "text", "_version": "number"}


class RecordCodec:
    """Per-model column list, name lookup and converters (build with `codec_for`)."""

    def __init__(self, model: Model) -> None:
        declared = {f.key: f for f in model.fields}
        primary = next((f for f in model.fields if f.primary), None)
        cols = [Column("id", primary.column if primary else "id", "text", primary, True)]
        cols += [Column(f.key, f.column, f.kind, f, False) for f in model.data_fields]
        cols += [Column(k, SYSTEM_COLUMNS[k], _SYSTEM_KINDS[k], declared.get(k), True)
                 for k in SYSTEM_COLUMNS]
        self.model_name = model.name
        self.columns: tuple[Column, ...] = tuple(cols)
        self.by_key: dict[str, Column] = {c.key: c for c in cols}
        # every spelling: record key, column, declared name (declared fields win over system aliases)
        self.by_name: dict[str, Column] = {}
        for c in reversed(cols):
            for name in (c.key, c.column, c.field.name if c.field else c.key):
                self.by_name[name] = c
        self._readers = tuple((c.key, c.column, _READERS.get(c.kind)) for c in cols)
        self._plans: dict[tuple[str, ...], tuple[tuple[str, int, Callable[[Any], Any] | None], ...]] = {}

    def record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        if isinstance(row, sqlite3.Row):  # positional access through a plan per column list
            names = tuple(row.keys())
            plan = self._plans.get(names) or self._plan(names)
            for key, index, reader in plan:
                value = row[index]
                if reader is not None and value is not None:
                    value = reader(value)
                out[key] = value
            return out
        get = row.get
        for key, column, reader in self._readers:
            value = get(column)
            if reader is not None and value is not None:
                value = reader(value)
            out[key] = value
        return out

    def records(self, cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
        """Every row of an executed ``SELECT`` whose cursor yields plain tuples (``row_factory`` None):
        the column plan is made once per query, each record is one ``dict(zip(...))`` plus the
        conversions of the columns that need one."""
        plan = self._plan(tuple(d[0] for d in cursor.description))
        keys = tuple(key for key, _, _ in plan)
        pick = operator.itemgetter(*(index for _, index, _ in plan))
        if len(plan) == 1:
            single = pick
            pick = lambda row: (single(row),)  # noqa: E731
        convert = tuple((key, reader) for key, _, reader in plan if reader is not None)   # _null: absent
        out = []
        for row in cursor:
            record = dict(zip(keys, pick(row), strict=True))
            for key, reader in convert:
                value = record[key]
                if value is not None:
                    record[key] = reader(value)
            out.append(record)
        return out

    def _plan(self, names: tuple[str, ...]) -> tuple[tuple[str, int, Callable[[Any], Any] | None], ...]:
        """(key, index, reader) per record key; a column absent from the row reads as null."""
        index = {name: i for i, name in enumerate(names)}
        cached = self._plans.get(names)
        if cached is not None:
            return cached
        plan = tuple((key, index[column], reader) if column in index else (key, 0, _null)
                     for key, column, reader in self._readers)
        if len(self._plans) >= 64:  # a few SELECT shapes per model are expected; never grow unbounded
            self._plans.clear()
        self._plans[names] = plan
        return plan

    def column_values(self, data: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in data.items():
            col = self.by_name.get(name)
            if col is None:
                raise ValueError(f"{name} is not a column of {self.model_name}")
            out[col.column] = _to_column(col.kind, value)
        return out


# One codec per model object. Models are immutable but not hashable (they hold dicts), so the
# cache is keyed by id() and entries leave with their model.
_CODECS: dict[int, tuple[weakref.ref[Model], RecordCodec]] = {}


def codec_for(model: Model) -> RecordCodec:
    entry = _CODECS.get(id(model))
    if entry is not None and entry[0]() is model:
        return entry[1]
    codec = RecordCodec(model)
    _CODECS[id(model)] = (weakref.ref(model), codec)
    weakref.finalize(model, _CODECS.pop, id(model), None)
    return codec


def record_from_row(model: Model, row: Mapping[str, Any]) -> dict[str, Any]:
    """The record of a stored row (column name -> value); undeclared columns are ignored."""
    return codec_for(model).record(row)


def column_values(model: Model, record_or_patch: Mapping[str, Any]) -> dict[str, Any]:
    """Stored values keyed by column, for a record or patch keyed by record key (any spelling)."""
    return codec_for(model).column_values(record_or_patch)


def is_finite_number(value: Any) -> bool:
    """A JSON number: int or float, not bool, not NaN/infinity."""
    if type(value) is int:
        return True
    return type(value) is float and math.isfinite(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(value: str) -> bool:
    """False for text SQLite cannot store as UTF-8: lone surrogates (JSON may escape them)."""
    return value.isascii() or _SURROGATE.search(value) is None


def fetch_records(conn: sqlite3.Connection, codec: RecordCodec, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """The records of a ``SELECT *`` on a model table (rows read as plain tuples; PostgreSQL's rows are tuples)."""
    if not isinstance(conn, sqlite3.Connection):
        return codec.records(conn.execute(sql, params))
    cursor = conn.cursor()
    cursor.row_factory = None
    return codec.records(cursor.execute(sql, params))
