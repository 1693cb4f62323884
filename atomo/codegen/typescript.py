"""`generated/atomo.ts` (client SDK chapter §4): record, create and update types per model, `AtomoTypes`,
`ModelEventMap`, action input/result types with `ActionHandlers`, and `schemaHash`; then the types of the typed
GraphQL API (`typed_api`, from the names and helpers `schema.graphql`'s typed part is made of: enums as
string-literal unions, the filter, where, orderBy, create and update inputs, page and event types, and
`TypedQueries`/`TypedMutations`/`TypedSubscriptions`, each root field's `args` and `result`). A model's record
interface is the typed object type too: its relations are optional properties. `/** */` docs of schema.ts become
JSDoc. Stable order: models and actions as declared, fields in declaration order, then the system fields."""

from __future__ import annotations

import json
import re
from typing import Any

from atomo.codegen.meta import schema_hash
from atomo.graphql.typed_sdl import SYSTEM_FILTERS, SYSTEM_OUTPUT, field_type, filter_type, required_on_create
from atomo.schema.graphql_names import ModelNames, enum_name, model_names, typed_relations
from atomo.schema.model import Action, Field, Model, Relationship, Schema

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


def jsdoc(text: str | None, indent: str = "") -> list[str]:
    """The lines of a JSDoc comment (none without text)."""
    if not text:
        return []
    lines = text.replace("*/", "*\\/").splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


_SYSTEM_TS = {"createdAt": "string", "updatedAt": "string", "deletedAt": "string | null",
              "tenantId": "string | null", "_version": "number"}


def _relation_property(schema: Schema, r: Relationship) -> list[str]:
    target = schema.model(r.model)
    if target is None:                  # typed_sdl leaves it out too
        return []
    if r.type == "hasMany":
        doc = (f"The {target.name} records whose `{r.foreign_key}` is this record's id (typed API, when "
               "selected).")
        return [*jsdoc(doc, "  "), f"  {_key(r.name)}?: {target.name}[]"]
    doc = f"The related {target.name} (`{r.foreign_key}`; typed API, when selected)."
    return [*jsdoc(doc, "  "), f"  {_key(r.name)}?: {target.name} | null"]


def record_interface(m: Model, schema: Schema | None = None) -> str:
    """The record of a model: what the generic API returns, and the typed object type (with ``schema``, its
    relations as optional properties)."""
    lines = [*jsdoc(m.doc), f"export interface {m.name} {{"]
    for f in m.fields:
        if f.is_system_timestamp:
            continue
        lines += jsdoc(f.doc, "  ")
        lines.append(f"  {_key(f.key)}: {value_type(f)}{' | null' if _nullable(f) else ''}")
    for key, _, _ in SYSTEM_OUTPUT:
        declared = m.field(key)         # a declared createdAt/updatedAt may have a doc
        lines += jsdoc(declared.doc if declared is not None else None, "  ")
        lines.append(f"  {key}: {_SYSTEM_TS[key]}")
    if schema is not None:
        for r in typed_relations(m):
            lines += _relation_property(schema, r)
    lines.append("}")
    return "\n".join(lines)


def create_interface(m: Model) -> str:
    lines = [f"export interface {m.name}Create {{"]
    for f in m.fields:
        if f.is_system_timestamp:
            continue
        lines += jsdoc(f.doc, "  ")
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
        out += [record_interface(m, schema), create_interface(m), f"export type {m.name}Update = Partial<{m.name}Create>",
                ""]
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
    out += typed_api(schema)
    return "\n".join(out) + "\n"


# -- the typed GraphQL API -----------------------------------------------------------------------------

TYPED_SHARED = """\
/** A date and time: the canonical ISO 8601 UTC text Atomo stores (e.g. 2026-12-05T10:00:00.000000+00:00). */
export type DateTime = string
export type SortOrder = 'asc' | 'desc'
/**
 * How text filters compare: contains/startsWith/endsWith always ignore case; insensitive makes
 * equals, not, in and notIn ignore case too.
 */
export type QueryMode = 'default' | 'insensitive'
export type EventType = 'CREATED' | 'UPDATED' | 'DELETED' | 'CUSTOM' | 'RESTORED' | 'HARD_DELETED'

/** One operation of applyBlockOps (content chapter §3). */
export interface BlockOpInput {
  op: string
  blockId?: string | null
  block?: JsonValue | null
  position?: number | null
  after?: string | null
  expectedRev?: number | null
}
export interface BlockOpResult {
  block: Record<string, unknown> | null
  index: number | null
}

export interface PageInfo {
  totalCount: number
  hasNextPage: boolean
  hasPreviousPage: boolean
  pageSize: number
  offset: number
}

export interface StringFilter {
  equals?: string | null
  not?: string | null
  in?: (string | null)[] | null
  notIn?: (string | null)[] | null
  contains?: string | null
  startsWith?: string | null
  endsWith?: string | null
  gt?: string | null
  gte?: string | null
  lt?: string | null
  lte?: string | null
  isNull?: boolean | null
  mode?: QueryMode | null
}

export interface NumberFilter {
  equals?: number | null
  not?: number | null
  in?: (number | null)[] | null
  notIn?: (number | null)[] | null
  gt?: number | null
  gte?: number | null
  lt?: number | null
  lte?: number | null
  isNull?: boolean | null
}

export interface DateTimeFilter {
  equals?: DateTime | null
  not?: DateTime | null
  in?: (DateTime | null)[] | null
  notIn?: (DateTime | null)[] | null
  gt?: DateTime | null
  gte?: DateTime | null
  lt?: DateTime | null
  lte?: DateTime | null
  isNull?: boolean | null
}

export interface BooleanFilter {
  equals?: boolean | null
  not?: boolean | null
  isNull?: boolean | null
}

export interface JSONFilter {
  contains?: JsonValue | null
  isNull?: boolean | null
}
"""

_GRAPHQL_TS = {"ID": "string", "String": "string", "Float": "number", "Int": "number", "Boolean": "boolean",
               "DateTime": "DateTime"}


def input_type(m: Model, f: Field) -> str:
    """The TypeScript type of a declared field in the typed create/update inputs: its GraphQL input type, narrowed
    where the GraphQL type is ``JSON`` (blocks, arrays, json) or ``String`` with options."""
    named = field_type(m, f)
    if enum_name(m, f):
        return named
    if f.kind == "blocks":
        return "BlockInput[]"
    if named in ("JSON", "String"):
        return value_type(f)
    return _GRAPHQL_TS[named]


def _enum_types(m: Model) -> list[str]:
    out = []
    for f in m.fields:
        name = enum_name(m, f)
        if name and f.options:
            out += [f"export type {name} = {' | '.join(_literal(o) for o in f.options)}",
                    f"export interface {name}Filter {{", f"  equals?: {name} | null", f"  not?: {name} | null",
                    f"  in?: ({name} | null)[] | null", f"  notIn?: ({name} | null)[] | null",
                    "  isNull?: boolean | null", "}", ""]
    return out


def _interface(name: str, properties: list[str]) -> list[str]:
    return [f"export interface {name} {{", *properties, "}", ""]


def _model_inputs(m: Model, n: ModelNames) -> list[str]:
    declared = m.data_fields
    create = ["  id?: string | null", "  createdAt?: DateTime | null", "  updatedAt?: DateTime | null"]
    update = ["  updatedAt?: DateTime | null"]
    for f in declared:
        docs = jsdoc(f.doc, "  ")
        required = required_on_create(f)
        create += [*docs, f"  {_key(f.key)}{'' if required else '?'}: {input_type(m, f)}{'' if required else ' | null'}"]
        update += [*docs, f"  {_key(f.key)}?: {input_type(m, f)} | null"]
    where = [f"  AND?: {n.where}[] | null", f"  OR?: {n.where}[] | null", f"  NOT?: {n.where}[] | null",
             "  id?: StringFilter | null"]
    where += [f"  {_key(f.key)}?: {filter_type(m, f)} | null" for f in declared]
    where += [f"  {key}?: {filter_} | null" for key, filter_ in SYSTEM_FILTERS]
    order = ["  id?: SortOrder | null"]
    order += [f"  {_key(f.key)}?: SortOrder | null" for f in declared if not f.is_json]
    order += [f"  {key}?: SortOrder | null" for key, _ in SYSTEM_FILTERS]
    page = [f"  data: {n.type}[]", "  pageInfo: PageInfo"]
    event = ["  eventType: EventType", "  modelName: string", "  eventId: string", f"  data: {n.type}",
             f"  previousData: {n.type} | null", "  timestamp: string", "  actor: string | null", "  position: number",
             "  blockOp: Record<string, unknown> | null"]
    return [*_interface(n.create_input, create), *_interface(n.update_input, update), *_interface(n.where, where),
            *_interface(n.order_by, order), *_interface(n.page_type, page), *_interface(n.event_type, event)]


def _block_types(m: Model, n: ModelNames) -> list[str]:
    """The Blocks-field union and the typed block mutation results (models with Blocks fields)."""
    if not n.blocks:
        return []
    fields = " | ".join(_literal(f.key) for f in m.data_fields if f.kind == "blocks")
    change = ["  block: Record<string, unknown> | null", "  index: number | null", "  version: number",
              f"  record: {n.type}"]
    ops = ["  changes: BlockOpResult[]", "  version: number", f"  record: {n.type}"]
    return [f"export type {n.block_field} = {fields}", *_interface(n.block_change, change),
            *_interface(n.block_ops_change, ops)]


def _block_operations(n: ModelNames) -> list[str]:
    if not n.blocks:
        return []
    target = f"id: string; field: {n.block_field}"
    version = "expectedVersion?: number | null"
    place = "position?: number | null; after?: string | null"
    return [*_operation(n.block_mutation("insert"), f"{target}; block: JsonValue; {place}; {version}", n.block_change),
            *_operation(n.block_mutation("update"), f"{target}; blockId: string; block: JsonValue; {version}; "
                        "expectedRev?: number | null", n.block_change),
            *_operation(n.block_mutation("move"), f"{target}; blockId: string; {place}; {version}", n.block_change),
            *_operation(n.block_mutation("remove"), f"{target}; blockId: string; {version}; expectedRev?: number | null",
                        n.block_change),
            *_operation(n.block_mutation("apply"), f"{target}; ops: BlockOpInput[]; {version}", n.block_ops_change)]


def _operation(name: str, args: str, result: str, doc: str | None = None) -> list[str]:
    line = f"  {name}: {{ args: {{ {args} }}; result: {result} }}"
    if len(line) > 120:
        return [*jsdoc(doc, "  "), f"  {name}: {{", f"    args: {{ {args} }}", f"    result: {result}", "  }"]
    return [*jsdoc(doc, "  "), line]


def _operations(models: list[tuple[Model, ModelNames]]) -> list[str]:
    queries, mutations, subscriptions = [], [], []
    for m, n in models:
        read = f"where?: {n.where} | null; orderBy?: {n.order_by}[] | null; limit?: number | null; offset?: number | null"
        queries += [*_operation(n.one, "id: string", f"{n.type} | null", f"The {m.name} with this id, or null."),
                    *_operation(n.many, read, f"{n.type}[]"),
                    *_operation(n.page, read, n.page_type, "limit defaults to 20, offset to 0."),
                    *_operation(n.count, f"where?: {n.where} | null", "number")]
        mutations += [*_operation(n.mutation("create"), f"data: {n.create_input}", n.type),
                      *_operation(n.mutation("update"), f"id: string; data: {n.update_input}; expectedVersion?: "
                                  "number | null", n.type),
                      *_operation(n.mutation("delete"), "id: string; expectedVersion?: number | null", "number",
                                  "Soft-deletes the record; the number of records deleted (0 or 1)."),
                      *_operation(n.mutation("restore"), "id: string", "number"),
                      *_operation(n.mutation("hardDelete"), "id: string", "number"), *_block_operations(n)]
        subscriptions += _operation(n.changes, "after?: number | null", n.event_type)
    doc = "/** The {} fields of the typed API: `args` are a field's arguments, `result` its value. */"
    return [doc.format("query"), *_interface("TypedQueries", queries), doc.format("mutation"),
            *_interface("TypedMutations", mutations), doc.format("subscription"),
            *_interface("TypedSubscriptions", subscriptions)]


def typed_api(schema: Schema) -> list[str]:
    """The lines of the typed API's types (none without models), after the rest of atomo.ts."""
    if not schema.models:
        return []
    models = [(m, model_names(m)) for m in schema.models]
    out = ["", "// The typed GraphQL API of schema.graphql: its enums, inputs, page and event types, and the arguments",
           "// and results of its root fields (TypedQueries, TypedMutations, TypedSubscriptions). Its object types are",
           "// the record interfaces above.", "", TYPED_SHARED]
    for m, n in models:
        out += [*_enum_types(m), *_model_inputs(m, n), *_block_types(m, n)]
    out += _operations(models)
    return out[:-1] if out[-1] == "" else out
