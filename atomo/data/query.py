"""`where`, `orderBy` and page arguments compiled to parameterised SQL (graphql.md §5-§7).

Identifiers come only from the model and are double-quoted; every client value is a bound
parameter. Each compiled leaf is true, false or NULL, where NULL always means "no match"; `NOT`
maps NULL to false before negating, so `NOT w` matches exactly the rows `w` does not.

Text operators fold case with Python's `str.casefold` through the SQL function `atomo_fold`
(registered by `register_functions`) and use `instr`/`substr`, so `%` and `_` are literal.

Size bounds keep every accepted filter inside SQLite's limits (expression depth 1000, 32766 bound
variables by default): a filter has at most `max_terms` terms (`ATOMO_MAX_FILTER_TERMS`; every
leaf condition and every AND/OR/NOT counts 1), its `in`/`notIn` lists hold at most
`MAX_LIST_VALUES` values each and `MAX_FILTER_VALUES` together, and long AND/OR chains are
emitted as balanced trees (`_chain`), so the expression depth grows with the logarithm of the
term count rather than with the count (SQLite parses `a OR b OR c` left-deep).
"""

from __future__ import annotations

import sqlite3
from typing import Any, NoReturn

from atomo.errors import ValidationError
from atomo.schema.model import JSON_KINDS, SYSTEM_COLUMNS, Model
from atomo.schema.suggest import hinted
from atomo.storage.records import (
    Column,
    canonical_datetime,
    codec_for,
    is_finite_number,
    storable_number,
    storable_text,
)

MAX_DEPTH = 8
MAX_LIST_VALUES = 1000
MAX_FILTER_VALUES = 10_000      # values of every in/notIn list of one filter together
DEFAULT_MAX_TERMS = 500         # ATOMO_MAX_FILTER_TERMS
MAX_PARAMETERS = 32_000         # bound values of one filter; SQLite's default limit is 32766
_FLAT_CHAIN = 32                # longer AND/OR chains are split into a balanced tree
_ALIASES = {"eq": "equals", "neq": "not", "like": "contains"}
_COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_TEXT_OPERATORS = ("contains", "startsWith", "endsWith")
_OPERATORS = frozenset({"equals", "not", "in", "notIn", "isNull", *_COMPARISONS, *_TEXT_OPERATORS})
_VALUE_NAMES = {"number": "a number", "boolean": "a boolean", "datetime": "a date-time"}


def register_functions(conn: sqlite3.Connection) -> None:
    """Register the SQL functions compiled filters use (call on every connection)."""
    conn.create_function("atomo_fold", 1, _fold, deterministic=True)


def _fold(value: Any) -> str | None:
    if value is None:
        return None
    return value.casefold() if isinstance(value, str) else str(value).casefold()


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fail(field: str | None, message: str, code: str = "invalid_filter") -> NoReturn:
    raise ValidationError.single(field, message, code)


def _unknown_field(name: Any, model_name: str, columns: dict[str, Column], code: str,
                   extra: tuple[str, ...] = ()) -> NoReturn:
    """Fail for a key that names no field, suggesting the closest record keys (message and `suggestions`)."""
    keys = [*dict.fromkeys(c.key for c in columns.values()), *extra]
    message, found = hinted(f"{name} is not a field of {model_name}", str(name), keys)
    detail: dict[str, Any] = {"field": str(name), "message": message, "code": code}
    if found:
        detail["suggestions"] = found
    raise ValidationError(message, [detail])


# ---------------------------------------------------------------------------------------- where

class _Dialect:
    """What differs in a compiled filter between SQLite (the default) and PostgreSQL (issue 21; the connection
    there also maps ``IS NOT ?`` and ``instr``)."""

    def __init__(self, true: str, false: str, postgres: bool) -> None:
        self.true, self.false, self.postgres = true, false, postgres


_SQLITE = _Dialect("1", "0", postgres=False)
_POSTGRES = _Dialect("TRUE", "FALSE", postgres=True)
DIALECTS = {"sqlite": _SQLITE, "postgres": _POSTGRES}


def compile_where(model: Model, where: Any, params: list[Any], *, max_terms: int = DEFAULT_MAX_TERMS,
                  dialect: str = "sqlite") -> str:
    """An SQL boolean expression for `where` (None = everything); values are appended to `params`."""
    d = DIALECTS[dialect]
    if where is None:
        return d.true
    size = _Size(max_terms)
    sql = _where(codec_for(model).by_name, model.name, where, params, 0, size, d)
    if len(params) > MAX_PARAMETERS:
        _fail("where", f"where has more than {MAX_PARAMETERS} values")
    return sql


class _Size:
    """Terms and list values counted so far in one filter; compiling stops at the first one over."""

    __slots__ = ("max_terms", "terms", "values")

    def __init__(self, max_terms: int) -> None:
        self.max_terms = max_terms
        self.terms = self.values = 0

    def term(self) -> None:
        self.terms += 1
        if self.terms > self.max_terms:
            _fail("where", f"where has more than {self.max_terms} terms (ATOMO_MAX_FILTER_TERMS)")

    def list_values(self, count: int) -> None:
        self.values += count
        if self.values > MAX_FILTER_VALUES:
            _fail("where", f"where has more than {MAX_FILTER_VALUES} in/notIn values")


def _where(columns: dict[str, Column], model_name: str, where: Any, params: list[Any], depth: int,
           size: _Size, d: _Dialect) -> str:
    if not isinstance(where, dict):
        _fail(None, "where must be an object")
    parts = []
    for key, value in where.items():
        if key in ("AND", "OR", "NOT"):
            if depth >= MAX_DEPTH:
                _fail(key, f"where nests {key} deeper than {MAX_DEPTH} levels")
            size.term()
            if key == "NOT" and isinstance(value, dict):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(w, dict) for w in value):
                _fail(key, f"{key} must be {'an object or ' if key == 'NOT' else ''}an array of objects")
            subs = [_where(columns, model_name, w, params, depth + 1, size, d) for w in value]
            if key == "OR":
                parts.append(_chain(subs, "OR") if subs else d.false)
            elif key == "AND":
                parts.append(_all(subs, d))
            else:
                parts.append(f"NOT coalesce({_all(subs, d)}, {d.false})")
            continue
        col = columns.get(key) if isinstance(key, str) else None
        if col is None:
            _unknown_field(key, model_name, columns, "invalid_filter", ("AND", "OR", "NOT"))
        operators = value if isinstance(value, dict) else {"equals": value}
        insensitive = False
        if "mode" in operators:
            operators = dict(operators)
            insensitive = _insensitive(col, operators.pop("mode"))
        for op, arg in operators.items():
            size.term()
            parts.append(_condition(col, op, arg, params, size, d, insensitive))
    return _all(parts, d)


def _all(parts: list[str], d: _Dialect = _SQLITE) -> str:
    if not parts:
        return d.true
    return parts[0] if len(parts) == 1 else _chain(parts, "AND")


def _chain(parts: list[str], op: str) -> str:
    """``(a OP b OP ...)``; past ``_FLAT_CHAIN`` parts, halves nested in parentheses (a balanced tree)."""
    if len(parts) <= _FLAT_CHAIN:
        return "(" + f" {op} ".join(parts) + ")"
    middle = len(parts) // 2
    return f"({_chain(parts[:middle], op)} {op} {_chain(parts[middle:], op)})"


def _insensitive(col: Column, mode: Any) -> bool:
    """`mode: insensitive` makes equals/not/in/notIn of a text field ignore case (the text operators
    always do); `default` (or null) keeps exact comparison."""
    if mode is not None and mode not in ("default", "insensitive"):
        _fail(col.key, f"{col.key}.mode must be default or insensitive")
    if mode == "insensitive" and (col.kind in ("number", "boolean", "datetime") or col.kind in JSON_KINDS):
        _fail(col.key, f"{col.key} is not text: mode does not apply")
    return mode == "insensitive"


def _condition(col: Column, name: Any, arg: Any, params: list[Any], size: _Size, d: _Dialect,
               insensitive: bool = False) -> str:
    op = _ALIASES.get(name, name) if isinstance(name, str) else None
    key = col.key
    if op not in _OPERATORS:
        _fail(key, f"unknown operator '{name}' on {key}")
    if col.kind in JSON_KINDS and op not in ("contains", "isNull"):
        _fail(key, f"{key} accepts only the operators contains and isNull")
    c = quote_identifier(col.column)
    if insensitive and op in ("equals", "not", "in", "notIn"):
        if op in ("in", "notIn"):
            if not isinstance(arg, list):
                _fail(key, f"{key}.{name} must be an array")
            arg = [v.casefold() if isinstance(v, str) else v for v in arg]
        elif isinstance(arg, str):
            arg = arg.casefold()
        c = _folded(c, d)
    if op == "isNull":
        if not isinstance(arg, bool):
            _fail(key, f"{key}.{name} must be true or false")
        return f"{c} IS NULL" if arg else f"{c} IS NOT NULL"
    if op in ("equals", "not"):
        if arg is None:
            return f"{c} IS NULL" if op == "equals" else f"{c} IS NOT NULL"
        params.append(_operand(col, name, arg))
        return f"{c} = ?" if op == "equals" else f"{c} IS NOT ?"
    if op in _COMPARISONS:
        params.append(_operand(col, name, arg))
        return f"{c} {_COMPARISONS[op]} ?"
    if op in _TEXT_OPERATORS:
        return _text_condition(col, c, op, name, arg, params, d)
    return _list_condition(col, c, op, name, arg, params, size, d)


def _operand(col: Column, name: str, value: Any) -> Any:
    """The bound form of one comparison value, checked against the column kind."""
    kind = col.kind
    if kind == "number" and is_finite_number(value):
        return storable_number(value)
    if kind == "boolean" and isinstance(value, bool):
        return int(value)
    if kind == "datetime" and isinstance(value, str):
        try:
            return canonical_datetime(value)
        except ValueError:
            pass
    if kind not in ("number", "boolean", "datetime") and isinstance(value, str) and storable_text(value):
        return value
    _fail(col.key, f"{col.key}.{name} needs {_VALUE_NAMES.get(kind, 'text')}, not {_json_type(value)}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        if not storable_text(value):
            return "text with a lone surrogate"
        return repr(value) if len(value) <= 40 else "that text"
    return "an array" if isinstance(value, list) else "an object"


def _text_condition(col: Column, c: str, op: str, name: str, arg: Any, params: list[Any], d: _Dialect) -> str:
    if col.kind in ("number", "boolean"):
        _fail(col.key, f"{col.key} is not text: {name} does not apply")
    if not isinstance(arg, str) or not storable_text(arg):
        _fail(col.key, f"{col.key}.{name} needs text, not {_json_type(arg)}")
    folded = arg.casefold()
    if folded == "":
        return f"{c} IS NOT NULL"
    text = _folded(c, d)
    if op == "contains":
        params.append(folded)
        return f"instr({text}, ?) > 0"
    if op == "startsWith":
        params.extend((len(folded), folded))
        return f"substr({text}, 1, ?) = ?"
    if d.postgres:                      # a negative start is not counted from the end there
        params.extend((len(folded), folded))
        return f"right({text}, ?) = ?"
    params.extend((-len(folded), folded))
    return f"substr({text}, ?) = ?"


def _folded(c: str, d: _Dialect = _SQLITE) -> str:
    """The case-folded text of column `c`. Printable-ASCII values (most rows) fold with the database's
    own lower(), which equals str.casefold() on ASCII; anything else goes through atomo_fold (on PostgreSQL
    ``atomo.storage.pg_fold``; ``::text``: a number or JSON column is folded as its text there too)."""
    if d.postgres:
        return f"(CASE WHEN {c}::text ~ '[^ -~]' THEN atomo_fold({c}::text) ELSE lower({c}::text) END)"
    return f"(CASE WHEN {c} GLOB '*[^ -~]*' THEN atomo_fold({c}) ELSE lower({c}) END)"


def _list_condition(col: Column, c: str, op: str, name: str, arg: Any, params: list[Any], size: _Size,
                    d: _Dialect) -> str:
    """`in`: equals one of the values (null = IS NULL); `notIn`: the exact negation of `in`."""
    if not isinstance(arg, list):
        _fail(col.key, f"{col.key}.{name} must be an array")
    if len(arg) > MAX_LIST_VALUES:
        _fail(col.key, f"{col.key}.{name} has more than {MAX_LIST_VALUES} values")
    size.list_values(len(arg))
    values = [_operand(col, name, v) for v in arg if v is not None]
    has_null = len(values) < len(arg)
    marks = ", ".join("?" * len(values))
    params.extend(values)
    if op == "in":
        terms = ([f"{c} IN ({marks})"] if values else []) + ([f"{c} IS NULL"] if has_null else [])
        return "(" + " OR ".join(terms) + ")" if terms else d.false
    if not arg:
        return d.true
    if not values:
        return f"{c} IS NOT NULL"
    if has_null:
        return f"({c} IS NOT NULL AND {c} NOT IN ({marks}))"
    return f"({c} IS NULL OR {c} NOT IN ({marks}))"


# -------------------------------------------------------------------------------------- orderBy

def compile_order_by(model: Model, order_by: Any, *, dialect: str = "sqlite") -> str:
    """The body of an ORDER BY clause; errors have detail code `invalid_order_by`.

    Object form (keys in insertion order) or array form of `{field, direction}` (direction defaults
    to asc). Empty or None: `createdAt ASC`. `id ASC` always ends the list. SQLite sorts NULLs
    first ascending and last descending, as the spec asks; PostgreSQL is told so (``NULLS FIRST/LAST``).
    """
    nulls = {"ASC": " NULLS FIRST", "DESC": " NULLS LAST"} if dialect == "postgres" else {"ASC": "", "DESC": ""}
    codec = codec_for(model)
    items: list[tuple[Any, Any]] = []
    if isinstance(order_by, dict):
        items = list(order_by.items())
    elif isinstance(order_by, list):
        for entry in order_by:
            if not isinstance(entry, dict) or "field" not in entry or set(entry) - {"field", "direction"}:
                _fail(None, "orderBy entries must be objects {field, direction}", "invalid_order_by")
            items.append((entry["field"], entry.get("direction", "asc")))
    elif order_by is not None:
        _fail(None, "orderBy must be an object or an array", "invalid_order_by")
    terms: list[str] = []
    seen: set[str] = set()
    for name, direction in items:
        col = codec.by_name.get(name) if isinstance(name, str) else None
        if col is None:
            _unknown_field(name, model.name, codec.by_name, "invalid_order_by")
        word = direction.upper() if isinstance(direction, str) else None
        if word not in ("ASC", "DESC"):
            _fail(col.key, f"orderBy direction of {col.key} must be asc or desc", "invalid_order_by")
        if col.column not in seen:
            seen.add(col.column)
            terms.append(f"{quote_identifier(col.column)} {word}{nulls[word]}")
    if not terms:
        seen.add(SYSTEM_COLUMNS["createdAt"])
        terms.append(f"{quote_identifier(SYSTEM_COLUMNS['createdAt'])} ASC")
    id_column = codec.by_key["id"].column
    if id_column not in seen:
        terms.append(f"{quote_identifier(id_column)} ASC")
    return ", ".join(terms)


# ----------------------------------------------------------------------------------- pagination

def check_page(limit: Any, offset: Any, *, max_page_size: int,
               default_limit: int | None) -> tuple[int | None, int]:
    """(limit, offset) after checks: limit 0..max_page_size (None -> default_limit), offset >= 0."""
    if limit is None:
        limit = default_limit
    elif type(limit) is not int or not 0 <= limit <= max_page_size:
        _fail("limit", f"limit must be between 0 and {max_page_size}", "invalid_limit")
    if offset is None:
        offset = 0
    elif type(offset) is not int or offset < 0:
        _fail("offset", "offset must be at least 0", "invalid_offset")
    return limit, offset
