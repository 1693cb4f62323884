"""Root fields resolved without tartiflette's per-field machinery, when a document allows it.

Most requests are one or a few root fields that return scalars (``records``, ``create``, ``count``,
... all ``JSON``/``JSONObject``/``Int``) with literal or variable arguments. For those, tartiflette's
resolver chain (argument coercers per argument, directive wrappers, output coercers, one ``await``
per layer) costs more than the data service call. A ``RootPlan`` is made once per cached document and
operation: for each root field its response key, resolver, argument sources (the literal node, the
variable, or the default) and a synchronous output check. Executing it is a loop of resolver calls.

A document gets no plan (and goes through tartiflette) when any root selection is a fragment, has a
directive (``@skip``/``@include``), repeats a response key, returns an object type (a selection set:
``paginatedRecords``, ``history``, introspection), has no resolver here, or has an argument whose
literal is not a plain value. The results are the same either way: the document was validated and
its variables coerced before, the argument values are read as ``literal_value`` reads them for the
``JSON`` scalar, and errors are located on the field as tartiflette locates them.
"""
# ruff: noqa: E402

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atomo.graphql import import_tartiflette

import_tartiflette()

from tartiflette.language.ast import FieldNode, VariableNode

from atomo.graphql.scalars import _leaf_checker, literal_value

_ABSENT = object()


@dataclass(frozen=True, slots=True)
class FieldPlan:
    key: str                                    # the response key (alias or name)
    resolver: Any
    arguments: tuple[tuple[str, Any, Any], ...]  # (name, value node or None, default or _ABSENT)
    check: Any                                  # the output completion: value -> value, raises on a bad one
    non_null: bool
    location: dict[str, int] | None


def plan_root(schema: Any, operation: Any, resolvers: Mapping[str, Any]) -> tuple[FieldPlan, ...] | None:
    """The plan of ``operation``'s root fields, or None when tartiflette must execute it."""
    root = schema.get_operation_root_type(operation)
    plans: list[FieldPlan] = []
    keys: set[str] = set()
    for selection in operation.selection_set.selections:
        if type(selection) is not FieldNode or selection.directives or selection.selection_set is not None:
            return None
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        resolver = resolvers.get(f"{root.name}.{name}")
        if key in keys or resolver is None or name not in root.implemented_fields:
            return None
        keys.add(key)
        definition = root.implemented_fields[name]
        check = _leaf_checker(definition.graphql_type)
        if check is None:
            return None
        given = {a.name.value: a.value for a in selection.arguments or ()}
        arguments = []
        for arg_name, argument in definition.arguments.items():
            node = given.get(arg_name)
            default = _ABSENT if argument.default_value is None else literal_value(argument.default_value, None)
            if node is not None:
                try:
                    literal_value(node, {})            # a plain value (variables are read per request)
                except (TypeError, ValueError):
                    return None
            if node is not None or default is not _ABSENT:
                arguments.append((arg_name, node, default))
        location = selection.location
        plans.append(FieldPlan(key, resolver, tuple(arguments), check, definition.graphql_type.is_non_null_type,
                               {"line": location.line, "column": location.column} if location else None))
    return tuple(plans)


def arguments_of(plan: FieldPlan, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The field's arguments for one request's coerced variables (an absent variable is an absent
    argument: its default, if it has one)."""
    args: dict[str, Any] = {}
    for name, node, default in plan.arguments:
        if node is None or (type(node) is VariableNode and node.name.value not in variables):
            if default is not _ABSENT:
                args[name] = default
            continue
        args[name] = literal_value(node, variables)
    return args


# -- variables ------------------------------------------------------------------------------------
_INT32 = 2**31


def _is_int(v: Any) -> bool:
    return type(v) is int and -_INT32 <= v < _INT32


_ACCEPTS: dict[str, Any] = {
    "JSON": lambda v: True, "JSONObject": lambda v: type(v) is dict, "String": lambda v: type(v) is str,
    "Int": _is_int, "Boolean": lambda v: type(v) is bool,
}
VariablePlan = tuple[tuple[str, Any, bool, Any], ...]   # (name, accepts, non_null, default or _ABSENT)


def plan_variables(operation: Any) -> VariablePlan | None:
    """How to take an operation's variables as given, or None when one needs tartiflette's coercion
    (lists, input objects, enums, Float, ID, custom scalars)."""
    plan = []
    for definition in operation.variable_definitions or ():
        node, non_null = definition.type, False
        if type(node).__name__ == "NonNullTypeNode":
            node, non_null = node.type, True
        accepts = _ACCEPTS.get(node.name.value) if type(node).__name__ == "NamedTypeNode" else None
        if accepts is None:
            return None
        default = _ABSENT
        if definition.default_value is not None:
            try:
                default = literal_value(definition.default_value, None)
            except (TypeError, ValueError):
                return None
            if default is not None and not accepts(default):
                return None
        plan.append((definition.variable.name.value, accepts, non_null, default))
    return tuple(plan)


def take_variables(plan: VariablePlan, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The variable values when every one is already of its type (the common case), else None: then
    tartiflette's coercion runs and reports the problems in its words."""
    values: dict[str, Any] = {}
    for name, accepts, non_null, default in plan:
        if name in raw:
            value = raw[name]
            if value is None:
                if non_null:
                    return None
            elif not accepts(value):
                return None
            values[name] = value
        elif default is not _ABSENT:
            values[name] = default
        elif non_null:
            return None
    return values
