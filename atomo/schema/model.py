"""Immutable objects that describe a parsed schema: models, fields, rules, access, actions.

Everything downstream (storage, data service, GraphQL) reads these; nothing mutates them.
Both schema.ts syntaxes (interface + metadata object, builder DSL) produce the same objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Field kinds, as reported by /meta/schema.
TEXT_KINDS = frozenset({"text", "email", "url", "select", "relation", "file"})
JSON_KINDS = frozenset({"array", "blocks", "json"})
KINDS = TEXT_KINDS | JSON_KINDS | {"number", "boolean", "datetime"}

# System columns every model table has, in record order after the declared fields.
SYSTEM_KEYS = ("createdAt", "updatedAt", "deletedAt", "tenantId", "_version")
SYSTEM_COLUMNS = {"createdAt": "created_at", "updatedAt": "updated_at", "deletedAt": "deleted_at",
                  "tenantId": "tenant_id", "_version": "_version"}
RESERVED_TABLES = frozenset({"events", "users", "sessions", "jobs", "workers"})
OPERATIONS = ("create", "read", "update", "delete")


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


def snake_case(name: str) -> str:
    """Column name of a field: `firstName` -> `first_name`, `HTTPStatus` -> `http_status`."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    s = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return s.lower()


def camel_case(column: str) -> str:
    """Record key of a column: `first_name` -> `firstName`; a leading `_` is kept."""
    prefix = "_" if column.startswith("_") else ""
    parts = [p for p in column.lstrip("_").split("_") if p != ""]
    if not parts:
        return column
    return prefix + parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


@dataclass(frozen=True)
class Rule:
    """One validation rule: `required`, `email`, `url`, `numeric`, `min`, `max`, `in`, `exists`."""

    name: str
    arg: Any = None  # min/max: number; in: tuple[str, ...]; exists: (table, column)

    def source(self) -> str:
        if self.name == "in":
            return "in:" + ",".join(self.arg)
        if self.name == "exists":
            return "exists:" + ",".join(self.arg)
        if self.arg is None:
            return self.name
        arg = int(self.arg) if isinstance(self.arg, float) and self.arg.is_integer() else self.arg
        return f"{self.name}:{arg}"


@dataclass(frozen=True)
class Field:
    name: str                      # as declared (e.g. `firstName`)
    column: str                    # snake_case column (e.g. `first_name`)
    key: str                       # record key, camelCase of the column
    kind: str                      # one of KINDS
    optional: bool = True
    default: Any = NO_DEFAULT      # a JSON literal, or NO_DEFAULT
    default_now: bool = False      # builder .defaultNow()
    auto_update: bool = False      # builder .autoUpdate()
    unique: bool = False
    index: bool = False
    primary: bool = False          # the `id` field
    options: tuple[str, ...] | None = None   # select / enum / union values
    target: str | None = None      # relation: target model name
    rules: tuple[Rule, ...] = ()   # every rule that applies (implicit `required`, `in`, `email`, ...)
    trim: bool = False
    lowercase: bool = False
    item_type: str | None = None   # for arrays: element TS type as written (informational)
    line: int = 0
    col: int = 0
    doc: str | None = None         # the `/** ... */` comment before the field (GraphQL description)

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    @property
    def is_json(self) -> bool:
        return self.kind in JSON_KINDS

    @property
    def is_text(self) -> bool:
        return self.kind in TEXT_KINDS

    @property
    def is_system_timestamp(self) -> bool:
        return self.key in ("createdAt", "updatedAt")

    @property
    def required(self) -> bool:
        return any(r.name == "required" for r in self.rules)

    @property
    def sql_type(self) -> str:
        if self.kind == "number":
            return "NUMERIC"
        if self.kind == "boolean":
            return "INTEGER"
        return "TEXT"


@dataclass(frozen=True)
class Alternative:
    """One `|`-separated alternative of an access rule."""

    kind: str                      # 'public' | 'authenticated' | 'role' | 'owner' | 'sameTenant'
    value: str | None = None       # role name (lower case) or owner field name

    @property
    def row_level(self) -> bool:
        return self.kind in ("owner", "sameTenant")

    def source(self) -> str:
        if self.kind == "role":
            return str(self.value)
        if self.kind == "owner":
            return f"owner({self.value})"
        return self.kind


@dataclass(frozen=True)
class AccessRule:
    alternatives: tuple[Alternative, ...]

    def source(self) -> str:
        return "|".join(a.source() for a in self.alternatives)


@dataclass(frozen=True)
class Relationship:
    name: str
    type: str                      # 'belongsTo' | 'hasMany' | 'hasOne'
    model: str                     # target model name
    foreign_key: str               # field name (record key) holding the reference


@dataclass(frozen=True)
class Condition:
    """All set parts must hold (ANDed)."""

    changed_any: tuple[str, ...] | None = None
    field_equals: tuple[tuple[str, Any], ...] | None = None


@dataclass(frozen=True)
class ActionBinding:
    action: str
    conditions: tuple[Condition, ...] = ()   # all must hold


@dataclass(frozen=True)
class CompositeIndex:
    name: str                      # uq_<table>_<a>_<b> / idx_<table>_<a>_<b> / uq_<table>_<col>
    columns: tuple[str, ...]
    unique: bool
    where: str | None = None


@dataclass(frozen=True)
class Check:
    name: str                      # chk_<table>_<hash8>
    expr: str                      # normalised SQLite expression over columns


@dataclass(frozen=True)
class Model:
    name: str
    table: str
    fields: tuple[Field, ...]      # declared fields in order; `id` first (implied if missing)
    access: Mapping[str, AccessRule | None] = field(default_factory=dict)  # create/read/update/delete
    relationships: tuple[Relationship, ...] = ()
    events: Mapping[str, tuple[ActionBinding, ...]] = field(default_factory=dict)  # created/updated/deleted
    ui: Any = None
    indexes: tuple[CompositeIndex, ...] = ()   # every index (single-column @unique/@index included)
    checks: tuple[Check, ...] = ()
    line: int = 0
    graphql_name: str | None = None  # the typed API's collection name (`graphqlName`), else camelCase(table)
    doc: str | None = None         # the `/** ... */` comment before the model (GraphQL description)
    col: int = 0                   # column of the model's name (with `line`: where its diagnostics point)

    def field(self, name_or_key: str) -> Field | None:
        """The declared field named by its name, record key, or column (either spelling)."""
        for f in self.fields:
            if name_or_key in (f.name, f.key, f.column):
                return f
        return None

    @property
    def data_fields(self) -> tuple[Field, ...]:
        """Declared fields stored in their own columns, without id and managed timestamps."""
        return tuple(f for f in self.fields if not f.primary and not f.is_system_timestamp)

    @property
    def belongs_to(self) -> tuple[Relationship, ...]:
        return tuple(r for r in self.relationships if r.type == "belongsTo")

    def rule(self, operation: str) -> AccessRule | None:
        return self.access.get(operation)


@dataclass(frozen=True)
class Action:
    name: str
    input: Any = None              # {'pick': {'model', 'fields'}} | {'object': {...}} | None
    returns: Any = None            # dict spec or None; callable iff not None
    source_model: str | None = None  # builder `.from(table)` resolved to a model name

    @property
    def callable(self) -> bool:
        return self.returns is not None


@dataclass(frozen=True)
class ChannelRule:
    pattern: str
    record: str | None = None
    subscribe: AccessRule | None = None
    publish: AccessRule | None = None


@dataclass(frozen=True)
class StreamRule:
    """Access to custom event streams whose names match ``pattern`` (same patterns as channels)."""

    pattern: str
    append: AccessRule | None = None
    read: AccessRule | None = None


# Every diagnostic code and its severity (schema chapter §10). Errors stop `serve`/`dev` and make
# `schema check` exit 4: each marks something Atomo would otherwise silently read differently from
# what the file says (a typo'd type, option, call, method or annotation; a value it cannot evaluate).
# Warnings are harmless: the file means the same to Atomo with or without the flagged construct.
SEVERITY = {
    "syntax": "error", "mixed-syntax": "error", "invalid-name": "error", "duplicate": "error",
    "invalid-rule": "error", "reference": "error", "invalid-check": "error", "unknown-type": "error",
    "unknown-property": "error", "unknown-call": "error", "unknown-method": "error", "unknown-annotation": "error",
    "unsupported-syntax": "error", "name-clash": "error",
    "ignored-syntax": "warning", "implied-id": "warning", "key-rename": "warning", "ui-field": "warning",
}


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    col: int
    severity: str                  # 'error' | 'warning'
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}[{self.code}]: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.col, "severity": self.severity,
                "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Schema:
    models: tuple[Model, ...]
    actions: tuple[Action, ...] = ()
    channels: tuple[ChannelRule, ...] = ()
    user_columns: Mapping[str, str] = field(default_factory=dict)  # builtins.users.columns
    syntax: str = "interface"      # 'interface' | 'builder'
    path: str = "schema.ts"
    diagnostics: tuple[Diagnostic, ...] = ()
    streams: tuple[StreamRule, ...] = ()

    def model(self, name: str) -> Model | None:
        index = self.__dict__.get("_by_name")
        if index is None:  # built once; the dataclass is frozen, so set it directly
            index = {m.name: m for m in self.models}
            object.__setattr__(self, "_by_name", index)
        return index.get(name)

    def model_by_table(self, table: str) -> Model | None:
        for m in self.models:
            if m.table == table:
                return m
        return None

    def action(self, name: str) -> Action | None:
        for a in self.actions:
            if a.name == name:
                return a
        return None

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")
