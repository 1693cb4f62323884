"""Mutable drafts both syntax readers fill in; `assemble.finish` turns them into the immutable model."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from atomo.schema.annotations import Annotation
from atomo.schema.model import NO_DEFAULT, AccessRule, Rule, camel_case, snake_case


@dataclass
class FieldDraft:
    name: str
    at: Any
    kind: str = "json"
    optional: bool = True
    default: Any = NO_DEFAULT
    default_at: Any = None
    default_now: bool = False
    auto_update: bool = False
    unique: bool = False
    index: bool = False
    primary: bool = False            # builder `.id()`
    trim: bool = False
    lowercase: bool = False
    options: tuple[str, ...] | None = None
    target_table: str | None = None  # builder relation('<table>')
    target_at: Any = None
    item_type: str | None = None
    rules: list[Rule] = field(default_factory=list)    # explicit rules, in order
    target: str | None = None
    column: str = ""
    doc: str | None = None           # the `/** */` comment before the field


@dataclass
class RelationDraft:
    name: str
    type: str
    model: str
    foreign_key: str
    at: Any


@dataclass
class ConditionDraft:
    at: Any
    changed_any: list[str] | None = None
    field_equals: list[tuple[str, Any]] | None = None


@dataclass
class BindingDraft:
    event: str
    action: str
    at: Any
    conditions: list[ConditionDraft] = field(default_factory=list)


@dataclass
class ModelDraft:
    name: str
    at: Any
    table: str | None = None
    table_at: Any = None
    fields: list[FieldDraft] = field(default_factory=list)
    access: dict[str, AccessRule | None] = field(default_factory=dict)
    access_at: dict[str, Any] = field(default_factory=dict)
    relationships: list[RelationDraft] = field(default_factory=list)
    bindings: list[BindingDraft] = field(default_factory=list)
    ui: Any = None
    ui_names: list[tuple[str, str, Any]] = field(default_factory=list)  # (ui key, field name, position)
    annotations: list[Annotation] = field(default_factory=list)
    listed_without_id: bool = False
    graphql_name: str | None = None  # the `graphqlName` option (`@@graphqlName` is read in assemble)
    graphql_name_at: Any = None
    doc: str | None = None           # the `/** */` comment before the model's declaration


@dataclass
class ActionDraft:
    name: str
    at: Any
    input: Any = None
    returns: Any = None
    from_table: str | None = None
    pick_fields: list[str] | None = None   # builder `.input([...])`


@dataclass
class ChannelDraft:
    pattern: str
    at: Any
    record: str | None = None
    subscribe: AccessRule | None = None
    publish: AccessRule | None = None


@dataclass
class StreamDraft:
    pattern: str
    at: Any
    append: AccessRule | None = None
    read: AccessRule | None = None


@dataclass
class Drafts:
    models: list[ModelDraft] = field(default_factory=list)
    actions: list[ActionDraft] = field(default_factory=list)
    streams: list[StreamDraft] = field(default_factory=list)
    channels: list[ChannelDraft] = field(default_factory=list)
    user_columns: list[tuple[str, Any, Any]] = field(default_factory=list)   # (column, type, position)


@lru_cache(maxsize=8192)
def spellings(name: str) -> tuple[str, str, str]:
    """(name, column, record key) of a field name."""
    column = snake_case(name)
    return name, column, camel_case(column)


def find(fields: list[FieldDraft], name: str) -> FieldDraft | None:
    """A draft field named by its name, column or record key."""
    for f in fields:
        if name in spellings(f.name):
            return f
    return None
