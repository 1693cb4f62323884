"""The `GET /meta/schema` document (configuration chapter §3), as a pure function of the parsed schema.

``meta_schema_bytes`` is the exact response body; its SHA-256 hex is the ``ETag`` and the
``schemaHash`` that ``atomo codegen`` writes, so the HTTP layer must serve these bytes unchanged.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from atomo.schema.model import AccessRule, ActionBinding, ChannelRule, Condition, Field, Model, Schema

SYSTEM_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("createdAt", "created_at", "datetime"), ("updatedAt", "updated_at", "datetime"),
    ("deletedAt", "deleted_at", "datetime"), ("tenantId", "tenant_id", "text"), ("_version", "_version", "number"),
)
OPERATIONS = ("create", "read", "update", "delete")
BINDING_KEYS = ("created", "updated", "deleted")


def field_type(f: Field) -> str:
    return "relation" if f.target else f.kind


def field_json(f: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "column": f.column, "type": field_type(f),
                           "required": bool(f.primary or f.required)}
    if f.primary or f.unique:
        out["unique"] = True
    if f.has_default:
        out["default"] = f.default
    if f.options is not None:
        out["options"] = list(f.options)
    if f.target:
        out["target"] = f.target
    if f.index:
        out["index"] = True
    validation = "|".join(r.source() for r in f.rules if r.name != "required")
    if validation:
        out["validation"] = validation
    return out


def _rule(rule: AccessRule | None) -> str | None:
    return rule.source() if rule is not None else None


def _condition(c: Condition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.changed_any is not None:
        out["changedAny"] = list(c.changed_any)
    if c.field_equals is not None:
        out["fieldEquals"] = {k: v for k, v in c.field_equals}
    return out


def _binding(b: ActionBinding) -> dict[str, Any]:
    out: dict[str, Any] = {"action": b.action}
    if len(b.conditions) == 1:
        out["condition"] = _condition(b.conditions[0])
    elif b.conditions:
        out["condition"] = [_condition(c) for c in b.conditions]
    return out


def model_json(m: Model) -> dict[str, Any]:
    declared = [field_json(f) for f in m.fields if not f.is_system_timestamp]
    system = [{"name": name, "column": column, "type": kind, "required": False, "system": True}
              for name, column, kind in SYSTEM_FIELDS]
    events = {key: [_binding(b) for b in m.events.get(key, ())] for key in BINDING_KEYS if m.events.get(key)}
    return {
        "name": m.name, "tableName": m.table, "fields": declared + system,
        "access": {op: _rule(m.access.get(op)) for op in OPERATIONS},
        "relationships": {r.name: {"type": r.type, "model": r.model, "foreignKey": r.foreign_key}
                          for r in m.relationships},
        "events": events,
        "ui": m.ui,
    }


def _channel(c: ChannelRule) -> dict[str, Any]:
    out: dict[str, Any] = {"pattern": c.pattern}
    if c.record is not None:
        out["record"] = c.record
    out["subscribe"] = _rule(c.subscribe)
    out["publish"] = _rule(c.publish)
    return out


def meta_schema(schema: Schema) -> dict[str, Any]:
    actions = []
    for a in schema.actions:
        entry: dict[str, Any] = {"name": a.name, "callable": a.callable, "input": a.input}
        if a.returns is not None:
            entry["returns"] = a.returns
        actions.append(entry)
    out = {"models": [model_json(m) for m in schema.models], "actions": actions,
           "channels": [_channel(c) for c in schema.channels]}
    if schema.streams:   # event-stream rules (Atomo-Python extension): listed only when the schema declares some
        out["streams"] = [{"pattern": r.pattern, "append": _rule(r.append), "read": _rule(r.read)}
                          for r in schema.streams]
    return out


def meta_schema_bytes(schema: Schema) -> bytes:
    """The response body of `GET /meta/schema`: compact JSON, keys in document order, UTF-8."""
    return json.dumps(meta_schema(schema), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def schema_hash(schema: Schema) -> str:
    """The ETag of `GET /meta/schema` and `schemaHash` of the generated types."""
    return hashlib.sha256(meta_schema_bytes(schema)).hexdigest()
