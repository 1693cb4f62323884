"""The SDL of the typed per-model API (Atomo-Python extension), served next to the generic one.

For each model (names in ``atomo.schema.graphql_names``): the object type with every field typed,
its relations as fields, create/update/where/orderBy inputs, a page and an event type, and the root
fields. ``typed_sdl(schema)`` returns the whole text as one extension block of the engine; the
descriptions come from the ``/** */`` comments of ``schema.ts``. Nothing here runs a query: the
resolvers are ``typed_resolvers.py``.
"""

from __future__ import annotations

from atomo.schema.graphql_names import ModelNames, enum_name, model_names, typed_relations
from atomo.schema.model import Field, Model, Schema

SHARED_SDL = '''\
"""A date and time: the canonical ISO 8601 UTC text Atomo stores (e.g. 2026-12-05T10:00:00.000000+00:00)."""
scalar DateTime

enum SortOrder {
  asc
  desc
}

"""How text filters compare: contains/startsWith/endsWith always ignore case; insensitive makes
equals, not, in and notIn ignore case too."""
enum QueryMode {
  default
  insensitive
}

input StringFilter {
  equals: String
  not: String
  in: [String]
  notIn: [String]
  contains: String
  startsWith: String
  endsWith: String
  gt: String
  gte: String
  lt: String
  lte: String
  isNull: Boolean
  mode: QueryMode
}

input NumberFilter {
  equals: Float
  not: Float
  in: [Float]
  notIn: [Float]
  gt: Float
  gte: Float
  lt: Float
  lte: Float
  isNull: Boolean
}

input DateTimeFilter {
  equals: DateTime
  not: DateTime
  in: [DateTime]
  notIn: [DateTime]
  gt: DateTime
  gte: DateTime
  lt: DateTime
  lte: DateTime
  isNull: Boolean
}

input BooleanFilter {
  equals: Boolean
  not: Boolean
  isNull: Boolean
}

input JSONFilter {
  contains: JSON
  isNull: Boolean
}
'''

SYSTEM_OUTPUT = (
    ("createdAt", "DateTime!", "When the record was created."),
    ("updatedAt", "DateTime!", "When the record was last changed."),
    ("deletedAt", "DateTime", "When the record was soft-deleted (null while it is live)."),
    ("tenantId", "String", "The tenant the record belongs to."),
    ("_version", "Int!", "The record's version: 1 after create, +1 per change (optimistic concurrency)."),
)
SYSTEM_FILTERS = (("createdAt", "DateTimeFilter"), ("updatedAt", "DateTimeFilter"),
                  ("deletedAt", "DateTimeFilter"), ("tenantId", "StringFilter"), ("_version", "NumberFilter"))
_SCALARS = {"number": "Float", "boolean": "Boolean", "datetime": "DateTime", "array": "JSON", "json": "JSON",
            "blocks": "JSON"}
_FILTERS = {"Float": "NumberFilter", "Boolean": "BooleanFilter", "DateTime": "DateTimeFilter", "JSON": "JSONFilter"}


def field_type(model: Model, field: Field) -> str:
    """The named GraphQL type of a declared field (without ``!``)."""
    if field.primary:
        return "ID"
    return enum_name(model, field) or _SCALARS.get(field.kind, "String")


def filter_type(model: Model, field: Field) -> str:
    named = field_type(model, field)
    if named == "ID":
        return "StringFilter"
    if enum_name(model, field):
        return f"{named}Filter"
    return _FILTERS.get(named, "StringFilter")


def required_on_create(field: Field) -> bool:
    return field.required and not (field.has_default or field.default_now or field.auto_update)


def description(text: str | None, indent: str = "") -> str:
    """A block-string description line (empty without text)."""
    if not text:
        return ""
    body = text.replace("\\", "\\\\").replace('"""', '\\"""')
    return f'{indent}"""{body}"""\n'


def _object_type(schema: Schema, model: Model, names: ModelNames) -> str:
    lines = [description(model.doc), f"type {names.type} {{\n"]
    for f in model.fields:
        if f.primary:
            lines.append(description(f.doc, "  ") + "  id: ID!\n")
        elif not f.is_system_timestamp:
            lines.append(description(f.doc, "  ") + f"  {f.key}: {field_type(model, f)}\n")
    for key, type_, doc in SYSTEM_OUTPUT:
        declared = model.field(key)
        lines.append(description(declared.doc if declared and declared.doc else doc, "  ") + f"  {key}: {type_}\n")
    for relation in typed_relations(model):
        target = schema.model(relation.model)
        if target is None:
            continue
        other = model_names(target)
        if relation.type == "hasMany":
            lines.append(f"  {relation.name}(where: {other.where}, orderBy: [{other.order_by}!], limit: Int, "
                         f"offset: Int): [{other.type}!]!\n")
        else:
            lines.append(f"  {relation.name}: {other.type}\n")
    lines.append("}\n")
    return "".join(lines)


def _inputs(model: Model, names: ModelNames) -> str:
    declared = [f for f in model.data_fields]
    create = [f"input {names.create_input} {{\n", "  id: ID\n", "  createdAt: DateTime\n", "  updatedAt: DateTime\n"]
    create += [description(f.doc, "  ") + f"  {f.key}: {field_type(model, f)}{'!' if required_on_create(f) else ''}\n"
               for f in declared]
    update = [f"input {names.update_input} {{\n", "  updatedAt: DateTime\n"]
    update += [description(f.doc, "  ") + f"  {f.key}: {field_type(model, f)}\n" for f in declared]
    where = [f"input {names.where} {{\n", f"  AND: [{names.where}!]\n", f"  OR: [{names.where}!]\n",
             f"  NOT: [{names.where}!]\n", "  id: StringFilter\n"]
    where += [f"  {f.key}: {filter_type(model, f)}\n" for f in declared]
    where += [f"  {key}: {type_}\n" for key, type_ in SYSTEM_FILTERS]
    order = [f"input {names.order_by} {{\n", "  id: SortOrder\n"]
    order += [f"  {f.key}: SortOrder\n" for f in declared if not f.is_json]
    order += [f"  {key}: SortOrder\n" for key, _ in SYSTEM_FILTERS]
    return "".join(part + "}\n\n" for part in ("".join(create), "".join(update), "".join(where), "".join(order)))


def _enums(model: Model) -> str:
    out = []
    for f in model.fields:
        name = enum_name(model, f)
        if name and f.options:
            values = "".join(f"  {option}\n" for option in f.options)
            out.append(f"enum {name} {{\n{values}}}\n\n")
            out.append(f"input {name}Filter {{\n  equals: {name}\n  not: {name}\n  in: [{name}]\n  notIn: [{name}]\n"
                       "  isNull: Boolean\n}\n\n")
    return "".join(out)


def _page_and_event(names: ModelNames) -> str:
    return (f"type {names.page_type} {{\n  data: [{names.type}!]!\n  pageInfo: PageInfo!\n}}\n\n"
            f"type {names.event_type} {{\n  eventType: EventType!\n  modelName: String!\n  eventId: String!\n"
            f"  data: {names.type}!\n  previousData: {names.type}\n  timestamp: String!\n  actor: String\n"
            "  position: Int!\n  blockOp: JSONObject\n}\n\n")


def _block_types(model: Model, names: ModelNames) -> str:
    """The Blocks-field enum and the typed results of the block mutations (models with Blocks fields)."""
    if not names.blocks:
        return ""
    values = "".join(f"  {f.key}\n" for f in model.data_fields if f.kind == "blocks")
    return (f"enum {names.block_field} {{\n{values}}}\n\n"
            f"type {names.block_change} {{\n  block: JSONObject\n  index: Int\n  version: Int!\n"
            f"  record: {names.type}!\n}}\n\n"
            f"type {names.block_ops_change} {{\n  changes: [BlockOpResult!]!\n  version: Int!\n"
            f"  record: {names.type}!\n}}\n\n")


def _block_roots(n: ModelNames) -> list[str]:
    if not n.blocks:
        return []
    target = f"id: ID!, field: {n.block_field}!"
    return [f"  {n.block_mutation('insert')}({target}, block: JSON!, position: Int, after: String, "
            f"expectedVersion: Int): {n.block_change}!\n",
            f"  {n.block_mutation('update')}({target}, blockId: String!, block: JSON!, expectedVersion: Int, "
            f"expectedRev: Int): {n.block_change}!\n",
            f"  {n.block_mutation('move')}({target}, blockId: String!, position: Int, after: String, "
            f"expectedVersion: Int): {n.block_change}!\n",
            f"  {n.block_mutation('remove')}({target}, blockId: String!, expectedVersion: Int, expectedRev: Int): "
            f"{n.block_change}!\n",
            f"  {n.block_mutation('apply')}({target}, ops: [BlockOpInput!]!, expectedVersion: Int): "
            f"{n.block_ops_change}!\n"]


def _roots(models: list[tuple[Model, ModelNames]]) -> str:
    query, mutation, subscription = [], [], []
    for model, n in models:
        page_args = f"where: {n.where}, orderBy: [{n.order_by}!]"
        query += [f"  \"The {model.name} with this id, or null.\"\n  {n.one}(id: ID!): {n.type}\n",
                  f"  {n.many}({page_args}, limit: Int, offset: Int): [{n.type}!]!\n",
                  f"  {n.page}({page_args}, limit: Int = 20, offset: Int = 0): {n.page_type}!\n",
                  f"  {n.count}(where: {n.where}): Int!\n"]
        mutation += [f"  {n.mutation('create')}(data: {n.create_input}!): {n.type}!\n",
                     f"  {n.mutation('update')}(id: ID!, data: {n.update_input}!, expectedVersion: Int): {n.type}!\n",
                     f"  \"Soft-deletes the record; the number of records deleted (0 or 1).\"\n"
                     f"  {n.mutation('delete')}(id: ID!, expectedVersion: Int): Int!\n",
                     f"  {n.mutation('restore')}(id: ID!): Int!\n",
                     f"  {n.mutation('hardDelete')}(id: ID!): Int!\n", *_block_roots(n)]
        subscription += [f"  {n.changes}(after: Int): {n.event_type}!\n"]
    return ("extend type Query {\n" + "".join(query) + "}\n\n" + "extend type Mutation {\n" + "".join(mutation)
            + "}\n\n" + "extend type Subscription {\n" + "".join(subscription) + "}\n")


def typed_sdl(schema: Schema) -> str:
    """The typed API's SDL for ``schema`` (empty without models)."""
    if not schema.models:
        return ""
    models = [(m, model_names(m)) for m in schema.models]
    parts = [SHARED_SDL, "\n"]
    for model, names in models:
        parts += [_enums(model), _object_type(schema, model, names), "\n", _inputs(model, names),
                  _page_and_event(names), _block_types(model, names)]
    parts.append(_roots(models))
    return "".join(parts)
