"""The custom root fields of a project's hooks (``@query`` / ``@mutation`` of ``atomo.hooks``) as a
``SchemaExtension``: ``extend type Query { name(args): returns }`` blocks and their resolvers.

Every field is checked at load, each failure a ``ConfigError`` naming the hook's file and line: its
arguments and type parse as GraphQL (and add exactly one field), its name is not a root field of the rest
of the schema, and the types it names exist (input types for arguments, output types for the result).
"""
# ruff: noqa: E402  (tartiflette is imported after import_tartiflette(), see atomo.graphql)

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from atomo.graphql import import_tartiflette

import_tartiflette()

from tartiflette.language.ast import (
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListTypeNode,
    NonNullTypeNode,
    ObjectTypeDefinitionNode,
    ObjectTypeExtensionNode,
    ScalarTypeDefinitionNode,
    UnionTypeDefinitionNode,
)
from tartiflette.language.parsers.lark import parse_to_document

from atomo.errors import ConfigError
from atomo.graphql.engine import SchemaExtension
from atomo.graphql.resolvers import RequestContext
from atomo.graphql.resolvers import Resolver as ResolverFn
from atomo.graphql.sdl import full_sdl
from atomo.hooks.registry import FieldHook, HookSet
from atomo.schema.suggest import hint

BUILTIN_SCALARS = ("String", "Int", "Float", "Boolean", "ID")
_KINDS = {ScalarTypeDefinitionNode: "scalar", EnumTypeDefinitionNode: "enum", InputObjectTypeDefinitionNode: "input",
          ObjectTypeDefinitionNode: "object", InterfaceTypeDefinitionNode: "interface",
          UnionTypeDefinitionNode: "union"}
INPUT_KINDS = frozenset({"scalar", "enum", "input"})
OUTPUT_KINDS = frozenset({"scalar", "enum", "object", "interface", "union"})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def schema_names(sdl: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The type kinds (name -> scalar/enum/input/object/...) and the root fields (Query/Mutation/Subscription
    -> names) of an SDL text, type extensions included."""
    kinds = dict.fromkeys(BUILTIN_SCALARS, "scalar")
    roots: dict[str, set[str]] = {"Query": set(), "Mutation": set(), "Subscription": set()}
    for definition in parse_to_document(sdl).definitions:
        kind = _KINDS.get(type(definition))
        if kind is not None:
            kinds[definition.name.value] = kind
        if isinstance(definition, ObjectTypeDefinitionNode | ObjectTypeExtensionNode) \
                and definition.name.value in roots:
            roots[definition.name.value].update(f.name.value for f in definition.fields or ())
    return kinds, roots


def _named(type_node: Any) -> str:
    while isinstance(type_node, ListTypeNode | NonNullTypeNode):
        type_node = type_node.type
    return str(type_node.name.value)


def field_sdl(field: FieldHook) -> str:
    lines = []
    if field.description:        # a JSON string is a GraphQL string (escapes included)
        lines.append(f"  {json.dumps(field.description, ensure_ascii=False)}")
    lines.append(f"  {field.name}{f'({field.args})' if field.args else ''}: {field.returns}")
    return "\n".join(lines)


def check_field(field: FieldHook, kinds: dict[str, str], roots: dict[str, set[str]]) -> str:
    """The SDL of one custom field, or a ``ConfigError`` saying what is wrong with it."""
    where = f"{field.source}: {field.describe().partition(' at ')[0]}"
    text = field_sdl(field)
    try:
        document = parse_to_document(f"extend type {field.type_name} {{\n{text}\n}}")
    except Exception as exc:
        raise ConfigError(f"{where}: args {field.args!r} and returns {field.returns!r} are not valid GraphQL: "
                          f"{_first_line(exc)}") from None
    definitions = document.definitions
    fields = list(definitions[0].fields or ()) if len(definitions) == 1 else []
    if not isinstance(definitions[0], ObjectTypeExtensionNode) or len(fields) != 1 or fields[0].name.value != field.name:
        raise ConfigError(f"{where}: args and returns must describe one field (got {field.args!r}, {field.returns!r})")
    node = fields[0]
    if field.name in roots[field.type_name]:
        raise ConfigError(f"{where}: {field.type_name}.{field.name} already exists in the schema; choose another name")
    for argument in node.arguments or ():
        name = _named(argument.type)
        if name not in kinds:
            raise ConfigError(hint(f"{where}: argument {argument.name.value}: unknown type '{name}'", name, kinds))
        if kinds[name] not in INPUT_KINDS:
            raise ConfigError(f"{where}: argument {argument.name.value}: {name} is an {kinds[name]} type, not an "
                              "input type")
    name = _named(node.type)
    if name not in kinds:
        raise ConfigError(hint(f"{where}: returns: unknown type '{name}'", name, kinds))
    if kinds[name] not in OUTPUT_KINDS:
        raise ConfigError(f"{where}: returns: {name} is an input type, not an output type")
    return text


def _resolver(field: FieldHook) -> ResolverFn:
    async def resolve(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.service.hooks.resolve(field, args, ctx.caller, ctx.request_id)
    resolve.__qualname__ = f"custom field {field.type_name}.{field.name}"
    return resolve


def custom_fields_sdl(fields: Sequence[FieldHook], others: Iterable[str] = ()) -> str:
    """The ``extend type Query/Mutation`` blocks of ``fields`` (empty without any), each checked against the base
    SDL and the ``others`` extension texts. Used by the engine (below) and by ``atomo codegen``
    (``atomo.graphql.served``)."""
    if not fields:
        return ""
    kinds, roots = schema_names(full_sdl(others))
    blocks: dict[str, list[str]] = {"Query": [], "Mutation": []}
    for field in fields:
        blocks[field.type_name].append(check_field(field, kinds, roots))
    return "\n\n".join(f"extend type {name} {{\n" + "\n".join(texts) + "\n}" for name, texts in blocks.items() if texts)


def custom_fields_extension(hooks: HookSet, others: Iterable[SchemaExtension] = ()) -> SchemaExtension:
    """The custom fields of ``hooks``, checked against the base SDL and the ``others`` extensions."""
    fields = hooks.fields
    if not fields:
        return SchemaExtension()
    sdl = custom_fields_sdl(fields, (ext.sdl for ext in others))
    return SchemaExtension(sdl, {f"{field.type_name}.{field.name}": _resolver(field) for field in fields})
