"""Root fields resolved without tartiflette's per-field machinery, when a document allows it.

Most requests are one or a few root fields that return scalars (``records``, ``create``, ``count``,
... all ``JSON``/``JSONObject``/``Int``) with literal or variable arguments. For those, tartiflette's
resolver chain (argument coercers per argument, directive wrappers, output coercers, one ``await``
per layer) costs more than the data service call. A ``RootPlan`` is made once per cached document and
operation: for each root field its response key, resolver, argument sources (the literal node, the
variable, or the default) and a synchronous output check. Executing it is a loop of resolver calls.

An object-typed root field (the typed API's ``contact``, ``contacts``, ``createContact``, pages) is
planned when its selection is plain fields of the result dict, nested objects included: its check
is then a projection of the dict (``_completion``) with tartiflette's own output coercers per
leaf. A document gets no plan (and goes through tartiflette) when any selection is a fragment, has a
directive (``@skip``/``@include``), repeats a response key, selects a field with a resolver of its own
(a relation) or with arguments, has no resolver here, or has an argument whose literal is not a
plain value. The results are the same either way: the document was validated and
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
from atomo.storage.records import canonical_datetime

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
        if type(selection) is not FieldNode or selection.directives:
            return None
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        resolver = resolvers.get(f"{root.name}.{name}")
        if key in keys or resolver is None or name not in root.implemented_fields:
            return None
        keys.add(key)
        definition = root.implemented_fields[name]
        check = _completion(schema, definition.graphql_type, selection.selection_set, resolvers)
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


def _completion(schema: Any, graphql_type: Any, selection_set: Any, resolvers: Mapping[str, Any]) -> Any:
    """A field's synchronous completion: a leaf check without a selection set, else the projection of
    the object type's selection inside the same non-null/list wrappers; None when tartiflette must
    complete it."""
    if selection_set is None:
        return _leaf_checker(graphql_type)
    return _leaf_checker(graphql_type, lambda named: _projection(schema, named, selection_set, resolvers))


def _projection(schema: Any, object_type: Any, selection_set: Any, resolvers: Mapping[str, Any]) -> Any:
    """The completion of an object type (the typed API's records, pages) whose selection is plain fields
    read from the result dict, or None (a field with its own resolver such as a relation, arguments,
    directives, fragments, abstract types)."""
    fields = getattr(object_type, "implemented_fields", None)
    if fields is None or getattr(object_type, "is_abstract_type", False) is True:
        return None
    parts: list[tuple[str, str, Any]] = []
    seen: set[str] = set()
    for selection in selection_set.selections:
        if type(selection) is not FieldNode or selection.directives or selection.arguments:
            return None
        name = selection.name.value
        key = selection.alias.value if selection.alias else name
        if key in seen:
            return None
        seen.add(key)
        if name == "__typename":
            parts.append((key, name, object_type.name, _CONSTANT))
            continue
        definition = fields.get(name)
        if definition is None or f"{object_type.name}.{name}" in resolvers:
            return None
        check = _completion(schema, definition.graphql_type, selection.selection_set, resolvers)
        if check is None:
            return None
        parts.append((key, name, check, _passes(definition.graphql_type) if selection.selection_set is None else 0))
    projection = tuple(parts)

    def project(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict:
            raise TypeError(f"Expected an object for {object_type.name}")
        out = {}
        for key, name, check, passes in projection:
            if passes is _CONSTANT:
                out[key] = check
                continue
            v = value.get(name)
            out[key] = v if (passes and (type(v) is str or (v is None and passes is _NULLABLE_TEXT))) else check(v)
        return out
    return project


_CONSTANT = object()
_TEXT, _NULLABLE_TEXT = 1, 2
_TEXT_SCALARS = frozenset({"String", "ID", "DateTime"})


def _passes(graphql_type: Any) -> int:
    """Leaves whose output coercion returns a text value unchanged (String, ID, our DateTime): such a
    value (and null, when the field is nullable) is taken without calling the coercer."""
    nullable = not graphql_type.is_non_null_type
    named = graphql_type if nullable else graphql_type.wrapped_type
    if getattr(named, "kind", None) != "SCALAR" or named.name not in _TEXT_SCALARS or getattr(named, "directives", None):
        return 0
    return _NULLABLE_TEXT if nullable else _TEXT


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
_INF = float("inf")


def _is_int(v: Any) -> bool:
    return type(v) is int and -_INT32 <= v < _INT32


_ACCEPTS: dict[str, Any] = {
    "JSON": lambda v: True, "JSONObject": lambda v: type(v) is dict, "String": lambda v: type(v) is str,
    "Int": _is_int, "Boolean": lambda v: type(v) is bool,
}
VariablePlan = tuple[tuple[str, Any, bool, Any], ...]   # (name, accepts, non_null, default or _ABSENT)


MAX_INPUT_DEPTH = 16      # deeper input values are left to tartiflette's coercion (and its errors)


def _input_acceptor(schema: Any, name: str, made: dict[str, Any]) -> Any:
    """``value, depth -> bool``: whether a variable value of the named input type is already what
    tartiflette's coercion would give (so it can be taken as given), for the types the typed API uses:
    input objects without field defaults, lists, enums, String/ID/Int/Float/Boolean/JSON and a
    canonical ``DateTime``. None for a type this cannot judge (custom scalars, defaults, directives)."""
    if name in made:
        return made[name]
    simple = _ACCEPTS.get(name)
    if simple is not None:
        return lambda v, depth: simple(v)
    if name == "ID":
        return lambda v, depth: type(v) is str
    if name == "Float":
        return lambda v, depth: (type(v) is float or type(v) is int) and v == v and v not in (_INF, -_INF)
    if name == "DateTime":
        return _canonical_datetime_text
    graphql_type = schema.find_type(name) if schema is not None and schema.has_type(name) else None
    if graphql_type is None or getattr(graphql_type, "directives", None):
        return None
    if graphql_type.kind == "ENUM":
        names = frozenset(graphql_type._value_map)
        return lambda v, depth: type(v) is str and v in names
    if graphql_type.kind != "INPUT_OBJECT":
        return None
    fields: dict[str, Any] = {}
    required: list[str] = []

    def accepts(value: Any, depth: int) -> bool:
        if type(value) is not dict or depth > MAX_INPUT_DEPTH:
            return False
        for key, item in value.items():
            check = fields.get(key)
            if check is None or not check(item, depth + 1):
                return False
        return all(value.get(key) is not None for key in required)
    made[name] = accepts            # before the fields: input types refer to themselves (AND/OR/NOT)
    for field_name, field in graphql_type.input_fields.items():
        if field.default_value is not None or field.directives:
            made[name] = None
            return None
        check = _type_acceptor(schema, field.gql_type, made)
        if check is None:
            made[name] = None
            return None
        fields[field_name] = check
        if type(field.gql_type).__name__ == "GraphQLNonNull":
            required.append(field_name)
    return accepts


def _type_acceptor(schema: Any, node: Any, made: dict[str, Any]) -> Any:
    """The acceptor of a type (``[DealStage!]``, ``ContactWhere``): null allowed unless non-null. ``node``
    is a variable's type node or an input field's type (a name, or tartiflette's list/non-null wrapper)."""
    kind = type(node).__name__
    if kind in ("NonNullTypeNode", "GraphQLNonNull"):
        inner = _type_acceptor(schema, node.type if kind == "NonNullTypeNode" else node.gql_type, made)
        return None if inner is None else (lambda v, depth: v is not None and inner(v, depth))
    if kind in ("ListTypeNode", "GraphQLList"):
        item = _type_acceptor(schema, node.type if kind == "ListTypeNode" else node.gql_type, made)
        if item is None:
            return None
        return lambda v, depth: v is None or (type(v) is list and all(item(i, depth + 1) for i in v))
    if kind == "NamedTypeNode":
        name = node.name.value
    elif isinstance(node, str):
        name = node
    else:
        return None
    named = _input_acceptor(schema, name, made)
    if named is None:
        return None
    return lambda v, depth: v is None or named(v, depth)


def _canonical_datetime_text(value: Any, depth: int) -> bool:
    if type(value) is not str:
        return False
    try:
        return canonical_datetime(value) == value
    except ValueError:
        return False


def plan_variables(operation: Any, schema: Any = None) -> VariablePlan | None:
    """How to take an operation's variables as given, or None when one needs tartiflette's coercion
    (custom scalars, input types with defaults or directives; without ``schema``: anything but the
    plain scalars). A value that is not already of its type is left to tartiflette per request."""
    plan = []
    made: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        node, non_null = definition.type, False
        if type(node).__name__ == "NonNullTypeNode":
            node, non_null = node.type, True
        accepts = _ACCEPTS.get(node.name.value) if type(node).__name__ == "NamedTypeNode" else None
        if accepts is None and schema is not None:
            deep = _type_acceptor(schema, node, made)
            accepts = None if deep is None else (lambda v, _deep=deep: _deep(v, 0))
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
