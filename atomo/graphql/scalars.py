"""The ``JSON`` and ``JSONObject`` scalars.

Inline literals become Python values: objects -> dicts, lists -> lists, strings/numbers/booleans/null
as themselves, bare enum-like names -> strings. Variables nested inside an inline literal
(``where: { id: { equals: $id } }``) are substituted: tartiflette hands ``parse_literal`` only the
AST node, so the engine publishes the request's coerced variables in ``CURRENT_VARIABLES`` while an
operation executes. During document validation no variables are published and a nested variable
reads as ``None`` (validation only asks whether the literal is acceptable).
"""
# ruff: noqa: E402  (tartiflette is imported after import_tartiflette(), see atomo.graphql)

from __future__ import annotations

from contextvars import ContextVar
from functools import partial
from typing import Any

from atomo.graphql import import_tartiflette

import_tartiflette()

from tartiflette.constants import UNDEFINED_VALUE
from tartiflette.language.ast import (
    BooleanValueNode,
    EnumValueNode,
    FloatValueNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    StringValueNode,
    VariableNode,
)

from atomo.storage.records import canonical_datetime  # noqa: E402

CURRENT_VARIABLES: ContextVar[dict[str, Any] | None] = ContextVar("atomo_graphql_variables", default=None)


def literal_value(node: Any, variables: dict[str, Any] | None) -> Any:
    """The Python value of a GraphQL value literal; nested variables read from ``variables``."""
    cls = type(node)
    if cls is StringValueNode or cls is EnumValueNode:
        return node.value
    if cls is ObjectValueNode:
        return {f.name.value: literal_value(f.value, variables) for f in node.fields}
    if cls is ListValueNode:
        return [literal_value(v, variables) for v in node.values]
    if cls is IntValueNode:
        return int(node.value)
    if cls is FloatValueNode:
        return float(node.value)
    if cls is BooleanValueNode:
        value = node.value
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if cls is NullValueNode:
        return None
    if cls is VariableNode:
        return None if variables is None else variables.get(node.name.value)
    raise TypeError(f"unsupported literal {cls.__name__}")


class JSONScalar:
    """``scalar JSON``: any JSON value."""

    def coerce_output(self, value: Any) -> Any:
        return value

    def coerce_input(self, value: Any) -> Any:
        return value

    def parse_literal(self, ast: Any) -> Any:
        try:
            return literal_value(ast, CURRENT_VARIABLES.get())
        except (TypeError, ValueError):
            return UNDEFINED_VALUE


class JSONObjectScalar(JSONScalar):
    """``scalar JSONObject``: a JSON object (used for results)."""

    def coerce_output(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError("JSONObject cannot represent a non-object value")
        return value

    def coerce_input(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError("JSONObject must be an object")
        return value

    def parse_literal(self, ast: Any) -> Any:
        value = super().parse_literal(ast)
        return value if isinstance(value, dict) else UNDEFINED_VALUE


class DateTimeScalar:
    """``scalar DateTime`` of the typed API: the canonical UTC text records store. Input accepts any
    ISO 8601 date-time the data service accepts and gives its canonical form; output is the text."""

    def coerce_output(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError("DateTime cannot represent a non-text value")
        return value

    def coerce_input(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError("DateTime must be an ISO 8601 date-time string")
        try:
            return canonical_datetime(value)
        except ValueError:
            raise TypeError(f"DateTime cannot represent {value[:40]!r}: not an ISO 8601 date-time") from None

    def parse_literal(self, ast: Any) -> Any:
        if type(ast) is not StringValueNode:
            return UNDEFINED_VALUE
        try:
            return canonical_datetime(ast.value)
        except ValueError:
            return UNDEFINED_VALUE


# -- fast paths (the hot path of every request) ---------------------------------------------------
async def sequential_arguments_coercer(*coroutines: Any) -> list[Any]:
    """Coerce a field's arguments one after another (tartiflette's default gathers them as tasks)."""
    results: list[Any] = []
    for coroutine in coroutines:
        try:
            results.append(await coroutine)
        except Exception as exc:  # noqa: BLE001 - tartiflette expects exceptions as results
            results.append(exc)
    return results


def _require_dict(value: Any) -> Any:
    if type(value) is not dict:
        raise TypeError("JSONObject cannot represent a non-object value")
    return value


def _leaf_checker(graphql_type: Any, named: Any = None) -> Any:
    """A synchronous completion for a type made only of scalars, or None for anything else. ``named``
    completes the named type inside the non-null/list wrappers instead (``root_plan`` passes the
    projection of an object type's selection)."""
    if graphql_type.is_non_null_type:
        inner = _leaf_checker(graphql_type.wrapped_type, named)
        if inner is None:
            return None

        def non_null(value: Any) -> Any:
            if value is None:
                raise TypeError("Cannot return null for a non-nullable field")
            return inner(value)
        non_null.objects = getattr(inner, "objects", False)  # type: ignore[attr-defined]
        return non_null
    if graphql_type.is_list_type:
        item_type = graphql_type.wrapped_type
        if not item_type.is_non_null_type:  # nullable items need per-item error handling: keep tartiflette's
            return None
        item = _leaf_checker(item_type, named)
        if item is None:
            return None
        objects = getattr(item, "objects", False)

        def as_list(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not list:
                raise TypeError("Expected a list")
            if objects:  # [JSONObject!]: one pass, no copy
                for v in value:
                    if type(v) is not dict:
                        raise TypeError("JSONObject cannot represent a non-object value")
                return value
            return [item(v) for v in value]
        return as_list
    return _named_leaf(graphql_type) if named is None else named(graphql_type)


def _named_leaf(graphql_type: Any) -> Any:
    if getattr(graphql_type, "kind", None) == "ENUM":
        return _enum_checker(graphql_type)
    coerce = getattr(graphql_type, "coerce_output", None)
    if coerce is None or getattr(graphql_type, "directives", None):
        return None
    if getattr(coerce, "__func__", None) is JSONObjectScalar.coerce_output:
        def json_object(value: Any) -> Any:
            return None if value is None else _require_dict(value)
        json_object.objects = True  # type: ignore[attr-defined]
        return json_object

    def leaf(value: Any) -> Any:
        return None if value is None else coerce(value)
    return leaf


def _enum_checker(enum_type: Any) -> Any:
    """An enum's output completion when neither it nor its values carry directives: the value itself
    when it is one of the enum's names (tartiflette's enum coercer, without its awaits)."""
    values = getattr(enum_type, "_value_map", None)
    if values is None or getattr(enum_type, "directives", None) or any(v.directives for v in values.values()):
        return None
    names = frozenset(values)

    def enum(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or value not in names:
            raise ValueError(f"Expected value of type {enum_type} but received {type(value)}.")
        return value
    return enum


def install_fast_outputs(schema: Any, type_names: tuple[str, ...] = ("Query", "Mutation")) -> int:
    """Complete scalar-typed root fields synchronously instead of through tartiflette's async coercer
    chain (list -> non-null -> directives -> scalar, one await per item). Same results, same errors
    (a failing completion raises, and tartiflette locates it on the field). Returns how many fields."""
    count = 0
    for type_name in type_names:
        if not schema.has_type(type_name):
            continue
        for field_definition in schema.find_type(type_name).implemented_fields.values():
            checker = _leaf_checker(field_definition.graphql_type)
            resolver = field_definition.resolver
            if checker is None or not isinstance(resolver, partial) or "output_coercer" not in resolver.keywords:
                continue

            async def output_coercer(result: Any, info: Any, execution_context: Any, field_nodes: Any, path: Any,
                                     _check: Any = checker) -> Any:
                return _check(result)
            field_definition.resolver = partial(resolver, output_coercer=output_coercer)
            count += 1
    return count
