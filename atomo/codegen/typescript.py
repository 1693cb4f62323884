"""`generated/atomo.ts` (client SDK chapter §4): record, create and update types per model, `AtomoTypes`,
`ModelEventMap`, action input/result types with `ActionHandlers`, and `schemaHash`. Stable order: models and
actions as declared, fields in declaration order, then the system fields."""

from __future__ import annotations

import json
import re
from typing import Any

from atomo.codegen.meta import schema_hash
from atomo.schema.model import Action, Field, Model, Schema

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_SCALARS = {"string": "string", "number": "number", "boolean": "boolean", "object": "Record<string, unknown>",
            "array": "unknown[]", "any": "unknown"}
_ITEMS = {"string": "string", "number": "number", "boolean": "boolean"}

PRELUDE = """\
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/** A content block (content chapter): `id` and `type`, plus the keys of its type. */
export interface Block { id: string; type: string; [key: string]: unknown }
/** A block in create/update input: the server fills a missing `id`. */
export interface BlockInput { id?: string; type: string; [key: string]: unknown }
"""

EVENTS = """\
export type ModelName = keyof AtomoTypes['models']
export type ActionName = keyof AtomoTypes['actions']

interface ModelEventBase<M extends string> {
  modelName: M
  eventId: string
  timestamp: string
  actor: string | null
  position: number
  blockOp: Record<string, unknown> | null
}
/** One `modelChanges` event. RESTORED carries only the id. */
export type ModelEvent<M extends string, T> =
  | (ModelEventBase<M> & { eventType: 'CREATED' | 'UPDATED' | 'DELETED' | 'HARD_DELETED'; data: T;
      previousData: T | null })
  | (ModelEventBase<M> & { eventType: 'RESTORED'; data: { id: string }; previousData: null })

/** The job payload an action handler receives (jobs chapter §2 and §3). */
export interface ActionPayload<A extends ActionName> {
  action: A
  event: 'created' | 'updated' | 'deleted' | 'harddeleted' | 'direct'
  model?: ModelName
  eventId?: string
  input: AtomoTypes['actions'][A]['input']
  actor: string | null
  tenantId: string | null
  timestamp: string
  origin: string | null
  recordId?: string
  position?: number
}
type Awaitable<T> = T | Promise<T>
/** One handler per action, for the worker SDK: `worker.on(name, handlers[name])`. */
export type ActionHandlers = {
  [A in ActionName]: (payload: ActionPayload<A>) => Awaitable<AtomoTypes['actions'][A]['returns']>
}
"""


def _key(name: str) -> str:
    return name if _IDENT.match(name) else json.dumps(name)


def _pascal(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p) or "Action"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def value_type(f: Field) -> str:
    if f.options is not None:
        return " | ".join(_literal(o) for o in f.options) or "string"
    if f.kind == "number":
        return "number"
    if f.kind == "boolean":
        return "boolean"
    if f.kind == "blocks":
        return "Block[]"
    if f.kind == "array":
        return f"{_ITEMS.get(f.item_type or '', 'JsonValue')}[]"
    if f.kind == "json":
        return "JsonValue"
    return "string"


def _nullable(f: Field) -> bool:
    return not (f.primary or f.required or f.has_default or f.kind in ("array", "blocks"))


def record_interface(m: Model) -> str:
    lines = [f"export interface {m.name} {{"]
    for f in m.fields:
        if f.is_system_timestamp:
            continue
        lines.append(f"  {_key(f.key)}: {value_type(f)}{' | null' if _nullable(f) else ''}")
    lines += ["  createdAt: string", "  updatedAt: string", "  deletedAt: string | null", "  tenantId: string | null",
              "  _version: number", "}"]
    return "\n".join(lines)


def create_interface(m: Model) -> str:
    lines = [f"export interface {m.name}Create {{"]
    for f in m.fields:
        if f.is_system_timestamp:
            continue
        if f.primary:
            lines.append(f"  {_key(f.key)}?: string")
            continue
        kind = "BlockInput[]" if f.kind == "blocks" else (
            f"{m.name}[{_literal(f.key)}]" if f.options is not None else value_type(f))
        if f.required and not f.has_default:
            lines.append(f"  {_key(f.key)}: {kind}")
        else:
            lines.append(f"  {_key(f.key)}?: {kind}{' | null' if _nullable(f) else ''}")
    lines.append("}")
    return "\n".join(lines)


def _spec_type(spec: Any) -> str:
    if not isinstance(spec, dict) or not spec:
        return "Record<string, unknown>"
    parts = []
    for key, kind in spec.items():
        text = str(kind) if isinstance(kind, str) else "any"
        optional = text.endswith("?")
        parts.append(f"{_key(str(key))}{'?' if optional else ''}: {_SCALARS.get(text.rstrip('?'), 'unknown')}")
    return "{ " + "; ".join(parts) + " }"


def action_input(schema: Schema, a: Action) -> str:
    spec = a.input if isinstance(a.input, dict) else {}
    if "pick" in spec and isinstance(spec["pick"], dict):
        model = schema.model(str(spec["pick"].get("model")))
        if model is not None:
            keys = []
            for name in spec["pick"].get("fields") or []:
                f = model.field(str(name))
                keys.append(f.key if f is not None else str(name))
            known = [k for k in keys if k in {f.key for f in model.fields} | {"createdAt", "updatedAt"}]
            return f"Pick<{model.name}, {' | '.join(_literal(k) for k in known)}>" if known else model.name
    if "object" in spec:
        return _spec_type(spec["object"])
    if a.source_model and schema.model(a.source_model) is not None:
        return a.source_model
    return "Record<string, unknown>"


def action_types(schema: Schema) -> tuple[list[str], list[str]]:
    declarations, entries = [], []
    for a in schema.actions:
        base = _pascal(a.name)
        declarations.append(f"export type {base}Input = {action_input(schema, a)}")
        result = _spec_type(a.returns) if a.returns is not None else "unknown"
        declarations.append(f"export type {base}Result = {result}")
        entries.append(f"    {_key(a.name)}: {{ input: {base}Input; returns: {base}Result }}")
    return declarations, entries


def _block(name: str, entries: list[str]) -> list[str]:
    return [f"  {name}: {{", *entries, "  }"] if entries else [f"  {name}: {{}}"]


def atomo_ts(schema: Schema, source: str = "schema.ts") -> str:
    out = [f"// Generated by `atomo codegen` from {source}; do not edit (run `atomo codegen` again).", "", PRELUDE]
    for m in schema.models:
        out += [record_interface(m), create_interface(m), f"export type {m.name}Update = Partial<{m.name}Create>", ""]
    declarations, action_entries = action_types(schema)
    if declarations:
        out += [*declarations, ""]
    out.append("export interface AtomoTypes {")
    out += _block("models", [f"    {_key(m.name)}: {m.name}" for m in schema.models])
    out += _block("create", [f"    {_key(m.name)}: {m.name}Create" for m in schema.models])
    out += _block("update", [f"    {_key(m.name)}: {m.name}Update" for m in schema.models])
    out += _block("actions", action_entries)
    out += ["}", ""]
    events = [f"  {_key(m.name)}: ModelEvent<{_literal(m.name)}, {m.name}>" for m in schema.models]
    out += ["export interface ModelEventMap {", *events, "}", "", EVENTS]
    out.append("/** SHA-256 of the `GET /meta/schema` body: equals its ETag while the server runs this schema. */")
    out.append(f"export const schemaHash = '{schema_hash(schema)}'")
    return "\n".join(out) + "\n"
