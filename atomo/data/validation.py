"""Input normalisation and the field rules of schema.md §7 (everything that needs no database).

`normalize_input` turns a client's `data` object into a dict keyed by record key with normalised
JSON values, or raises `ValidationError` listing every problem. Unique indexes, `belongsTo`
references and `@@check` rules need the database and are checked by the data service.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from atomo.content.blocks import normalize_blocks
from atomo.errors import ValidationError
from atomo.schema.model import TEXT_KINDS, Field, Model, Rule
from atomo.schema.suggest import hinted
from atomo.storage.records import (
    Column,
    canonical_datetime,
    codec_for,
    is_finite_number,
    now_iso,
    storable_text,
)

MAX_ID_LENGTH = 255
MAX_EXACT_INT = 2**53 - 1       # every JSON client (JavaScript included) reads integers up to this exactly
_READ_ONLY = frozenset({"deletedAt", "tenantId", "_version"})
_READ_ONLY_ON_UPDATE = _READ_ONLY | {"id", "createdAt"}
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_URL = re.compile(r"https?://[^\s/?#]+", re.IGNORECASE)
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_TYPE_NAMES = {"number": "a number", "boolean": "a boolean", "array": "an array", "json": "a JSON value"}

Detail = dict[str, Any]


def _detail(field: str | None, message: str, code: str) -> Detail:
    return {"field": field, "message": message, "code": code}


def normalize_input(model: Model, data: Any, *, mode: str, current: dict[str, Any] | None = None,
                    now: str | None = None) -> dict[str, Any]:
    """Validate and normalise `data` for a create or an update of `model`.

    Returns {record key: normalised value} in record order. On create every declared field is
    present (default, `now` for defaultNow/autoUpdate fields, `[]` for absent array/Blocks fields,
    else null); `id`, `createdAt`, `updatedAt` only when given. On update only the given keys.
    `current` is the stored record (its Blocks values are the base for block revisions).
    """
    if mode not in ("create", "update"):
        raise ValueError(f"mode must be 'create' or 'update', not {mode!r}")
    if not isinstance(data, dict):
        raise ValidationError.single(None, "data must be an object", "type")
    now = now or now_iso()
    given, details = _resolve_keys(model, data, mode)
    out: dict[str, Any] = {}
    for col in codec_for(model).columns:
        if col.system:
            if given.get(col.key) is not None:
                out[col.key] = _system_value(col, given[col.key], details)
            continue
        field = col.field
        assert field is not None
        if col.key in given:
            value = given[col.key]
        elif mode == "update":
            continue
        elif field.has_default:
            value = copy.deepcopy(field.default)
        elif field.default_now or field.auto_update:
            value = now
        elif field.required:
            details.append(_detail(col.key, f"{col.key} is required", "required"))
            continue
        else:
            out[col.key] = [] if field.kind in ("array", "blocks") else None
            continue
        previous = current.get(col.key) if current else None
        out[col.key] = _field_value(field, col.key, value, previous, now, details)
    if details:
        raise ValidationError(details=details)
    return out


def _resolve_keys(model: Model, data: dict[Any, Any], mode: str) -> tuple[dict[str, Any], list[Detail]]:
    """{record key: value} of the input; unknown, duplicate and read-only keys become details."""
    by_name = codec_for(model).by_name
    read_only = _READ_ONLY if mode == "create" else _READ_ONLY_ON_UPDATE
    given: dict[str, Any] = {}
    spelling: dict[str, str] = {}
    details: list[Detail] = []
    for name, value in data.items():
        col = by_name.get(name) if isinstance(name, str) else None
        if col is None:
            details.append(_unknown_field(model, name, read_only))
        elif col.key in spelling:
            details.append(_detail(col.key, f"{col.key} is given twice (as {spelling[col.key]} and {name})",
                                   "duplicate_key"))
        elif col.key in read_only:
            spelling[col.key] = name
            details.append(_detail(col.key, f"{col.key} is read-only", "read_only"))
        else:
            spelling[col.key] = name
            given[col.key] = value
    return given, details


def _unknown_field(model: Model, name: Any, read_only: frozenset[str]) -> Detail:
    """The `unknown_field` detail, suggesting the closest writable keys (in the message and `suggestions`)."""
    keys = [c.key for c in codec_for(model).columns if c.key not in read_only]
    message, found = hinted(f"{name} is not a field of {model.name}", str(name), keys)
    detail = _detail(str(name), message, "unknown_field")
    if found:
        detail["suggestions"] = found
    return detail


def _system_value(col: Column, value: Any, details: list[Detail]) -> Any:
    """`id` (a non-empty string of at most 255 characters) or a createdAt/updatedAt date-time."""
    key = col.key
    if key == "id":
        if not isinstance(value, str) or not storable_text(value):
            details.append(_detail(key, f"{key} must be text", "type"))
        elif value == "":
            details.append(_detail(key, f"{key} must be at least 1 characters", "min_length"))
        elif len(value) > MAX_ID_LENGTH:
            details.append(_detail(key, f"{key} must be at most {MAX_ID_LENGTH} characters", "max_length"))
        return value
    try:
        return canonical_datetime(value)
    except ValueError:
        details.append(_detail(key, f"{key} must be a date-time", "type"))
        return value


def _field_value(field: Field, key: str, value: Any, previous: Any, now: str,
                 details: list[Detail]) -> Any:
    """The normalised value of one declared field; its problems are appended to `details`."""
    if value is None:
        if field.required:
            details.append(_detail(key, f"{key} is required", "required"))
        return None
    if isinstance(value, str):
        if field.trim:
            value = value.strip()
        if field.lowercase:
            value = value.lower()
    kind = field.kind
    if kind == "blocks":
        if not is_json_value(value):
            details.append(_detail(key, f"{key} must be a JSON value", "type"))
            return value
        value, problems = normalize_blocks(key, value, previous if isinstance(previous, list) else None, now)
        if problems:
            details.extend(problems)
            return value
    elif kind == "datetime":
        try:
            value = canonical_datetime(value)
        except ValueError:
            details.append(_detail(key, f"{key} must be a date-time", "type"))
            return value
    elif not _fits_type(kind, value):
        name = "text" if kind in TEXT_KINDS else _TYPE_NAMES[kind]
        details.append(_detail(key, f"{key} must be {name}", "type"))
        return value
    elif kind == "number" and type(value) is int and not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
        details.append(_detail(key, f"{key} must be an integer from -{MAX_EXACT_INT} to {MAX_EXACT_INT} (2^53-1: "
                                    "larger integers are not exact in JSON clients and SQLite REAL)", "out_of_range"))
        return value
    for rule in field.rules:
        problem = _rule_problem(rule, key, value)
        if problem is not None:
            details.append(problem)
    return value


def _fits_type(kind: str, value: Any) -> bool:
    if kind in TEXT_KINDS:
        return isinstance(value, str) and storable_text(value)
    if kind == "number":
        return is_finite_number(value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list) and is_json_value(value)
    return is_json_value(value)


def is_json_value(value: Any) -> bool:
    """A value JSON can represent and SQLite can store: None, storable str, bool, int, finite float,
    list and str-keyed dict."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            if not storable_text(v):
                return False
        elif v is None or t is bool or t is int:
            continue
        elif t is float:
            if not math.isfinite(v):
                return False
        elif t is list:
            stack.extend(v)
        elif t is dict:
            if not all(type(k) is str and storable_text(k) for k in v):
                return False
            stack.extend(v.values())
        else:
            return False
    return True


def _number_text(n: Any) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _rule_problem(rule: Rule, key: str, value: Any) -> Detail | None:
    """The detail for `value` failing `rule`, or None. Null passes every rule but `required`."""
    name = rule.name
    if name == "required":
        ok = value is not None and value != ""
        return None if ok else _detail(key, f"{key} is required", "required")
    if value is None:
        return None
    if name == "email":
        ok = isinstance(value, str) and _EMAIL.fullmatch(value) is not None
        return None if ok else _detail(key, f"{key} must be a valid email", "email")
    if name == "url":
        ok = isinstance(value, str) and _URL.match(value) is not None
        return None if ok else _detail(key, f"{key} must be a valid URL", "url")
    if name == "numeric":
        ok = is_finite_number(value) or (isinstance(value, str) and _DECIMAL.fullmatch(value) is not None)
        return None if ok else _detail(key, f"{key} must be numeric", "numeric")
    if name == "in":
        options = tuple(rule.arg or ())
        ok = value in options if isinstance(value, str) else (
            is_finite_number(value) and _number_text(value) in options)
        return None if ok else _detail(key, f"{key} must be one of: {','.join(options)}", "in")
    if name in ("min", "max"):
        return _bound_problem(name, rule.arg, key, value)
    return None  # `exists` (checked against the database) and unknown rules


def _bound_problem(name: str, bound: Any, key: str, value: Any) -> Detail | None:
    if not is_finite_number(bound):
        return None
    n = _number_text(bound)
    word = "least" if name == "min" else "most"
    if isinstance(value, str):
        measure, code, message = len(value), "length", f"{key} must be at {word} {n} characters"
    elif is_finite_number(value):
        measure, code, message = value, "value", f"{key} must be at {word} {n}"
    elif isinstance(value, list):
        measure, code, message = len(value), "items", f"{key} must have at {word} {n} items"
    else:
        return None
    ok = measure >= bound if name == "min" else measure <= bound
    return None if ok else _detail(key, message, f"{name}_{code}")
