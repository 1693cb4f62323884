"""Static analysis of a parsed, validated document: operation type, depth, complexity, introspection.

Run once per distinct query text (the engine caches the result with the parsed document):

- depth: the deepest field nesting, a root field being 1; fragments (named and inline) are expanded
  and add no level of their own;
- complexity: the number of selected fields with fragments expanded (a fragment spread twice counts
  twice), every field counting 1, ``__typename`` included, introspection subtrees excluded;
- introspection: whether ``__schema`` or ``__type`` is selected anywhere (``__typename`` is not
  introspection). Introspection has its own switch and its own budget: the fields under
  ``__schema``/``__type`` (expanded the same way) are bounded by ``INTROSPECTION_MAX_COMPLEXITY``
  rather than by the data complexity limit, because the standard introspection query that GraphiQL
  and code generators send selects 220 fields, over the default limit of 200. Depth applies to all.

Named fragments are measured once and memoised, so deeply shared fragments cost linear time.
The module also holds the document-text helpers the engine applies before and after parsing.
"""
# ruff: noqa: E402  (tartiflette is imported after import_tartiflette(), see atomo.graphql)

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from atomo.graphql import import_tartiflette

import_tartiflette()

from tartiflette.language.ast import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
)

from atomo.schema.suggest import hinted

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
INTROSPECTION_MAX_COMPLEXITY = 2000


@dataclass(frozen=True)
class OperationInfo:
    type: str                 # "query" | "mutation" | "subscription"
    name: str | None
    depth: int
    complexity: int
    introspection: bool
    location: dict[str, int] | None = None
    introspection_complexity: int = 0


@dataclass(frozen=True)
class _Measure:
    depth: int
    complexity: int              # fields outside introspection subtrees
    introspection: int           # fields inside them (the __schema/__type field included)


_EMPTY = _Measure(0, 0, 0)


class _Analyzer:
    def __init__(self, fragments: dict[str, Any]) -> None:
        self.fragments = fragments
        self.memo: dict[str, _Measure] = {}
        self.active: set[str] = set()

    def selection_set(self, selection_set: Any) -> _Measure:
        if selection_set is None:
            return _EMPTY
        depth = complexity = introspection = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.selection_set(selection.selection_set)
                depth = max(depth, inner.depth + 1)
                if selection.name.value in INTROSPECTION_FIELDS:
                    introspection += inner.complexity + inner.introspection + 1
                else:
                    complexity += inner.complexity + 1
                    introspection += inner.introspection
                continue
            if isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
            else:  # pragma: no cover - the parser produces nothing else
                continue
            depth = max(depth, inner.depth)
            complexity += inner.complexity
            introspection += inner.introspection
        return _Measure(depth, complexity, introspection)

    def fragment(self, name: str) -> _Measure:
        known = self.memo.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.active:  # unknown or cyclic: validation reports it
            return _EMPTY
        self.active.add(name)
        try:
            measure = self.selection_set(definition.selection_set)
        finally:
            self.active.discard(name)
        self.memo[name] = measure
        return measure


def analyze(document: Any) -> dict[str | None, OperationInfo]:
    """Every operation of ``document`` by name (``None`` for an anonymous one)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    analyzer = _Analyzer(fragments)
    operations: dict[str | None, OperationInfo] = {}
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        name = definition.name.value if definition.name else None
        measure = analyzer.selection_set(definition.selection_set)
        location = definition.location.collect_value() if definition.location is not None else None
        operations[name] = OperationInfo(definition.operation_type, name, measure.depth, measure.complexity,
                                         measure.introspection > 0, location, measure.introspection)
    return operations


def select_operation(operations: dict[str | None, OperationInfo], operation_name: str | None) -> OperationInfo | None:
    """The operation GraphQL would run: the named one, or the only one when no name is given."""
    if operation_name:
        return operations.get(operation_name)
    if len(operations) == 1:
        return next(iter(operations.values()))
    return None


def limit_errors(info: OperationInfo, *, max_depth: int, max_complexity: int, introspection: bool) -> list[str]:
    """Messages for every limit the operation exceeds (empty when it may run)."""
    errors = []
    if info.depth > max_depth:
        errors.append(f"Query depth {info.depth} exceeds the maximum depth of {max_depth}")
    if info.complexity > max_complexity:
        errors.append(f"Query complexity {info.complexity} exceeds the maximum complexity of {max_complexity}")
    if info.introspection and not introspection:
        errors.append("GraphQL introspection is disabled")
    elif info.introspection_complexity > INTROSPECTION_MAX_COMPLEXITY:
        errors.append(f"Introspection complexity {info.introspection_complexity} exceeds the maximum of "
                      f"{INTROSPECTION_MAX_COMPLEXITY}")
    return errors


# -- document text -------------------------------------------------------------------------------
_SYNTAX = re.compile(r"^(\d+)\.(\d+)(?:-\d+(?:\.\d+)?)?:\s*(.*)$", re.S)


_TOKENS = re.compile(r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*')
_ESCAPES = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u([0-9a-f]{4})|\\.", re.I)


class UnsupportedText(ValueError):
    """Text the C parser cannot read faithfully (NUL characters)."""


def _unescape(match: re.Match[str]) -> str:
    high, low, single = match.groups()
    if single is not None and int(single, 16) == 0:
        raise UnsupportedText("Syntax Error: \\u0000 is not supported in string literals; pass the value "
                              "in variables")
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + (int(low, 16) - 0xDC00))
    if single is not None and 0x80 <= int(single, 16) and not 0xD800 <= int(single, 16) <= 0xDFFF:
        return chr(int(single, 16))
    return match.group(0)


def decode_unicode_escapes(query: str) -> str:
    """Replace non-ASCII ``\\uXXXX`` escapes in (non-block) strings with the character itself.

    libgraphqlparser emits such escapes as raw non-UTF-8 bytes, which tartiflette then fails to read;
    the character itself parses correctly and means the same."""
    def in_string(token: re.Match[str]) -> str:
        text = token.group(0)
        if text.startswith('"""') or not text.startswith('"'):
            return text
        return _ESCAPES.sub(_unescape, text)
    return _TOKENS.sub(in_string, query)


def error_message_and_locations(error: Any) -> tuple[str, list[dict[str, int]] | None]:
    """Message and locations of a tartiflette parse/validation/variable error (syntax errors located)."""
    try:
        value = error.coerce_value()
        message, locations = str(value.get("message")), value.get("locations") or None
    except Exception:  # pragma: no cover - defensive: tartiflette errors always coerce
        message, locations = str(error), None
    syntax = _SYNTAX.match(message) if not locations else None
    if syntax:  # libgraphqlparser: "1.28: syntax error, unexpected EOF"
        text = syntax.group(3)
        message = "Syntax Error: " + (text[len("syntax error, "):] if text.startswith("syntax error, ") else text)
        locations = [{"line": int(syntax.group(1)), "column": int(syntax.group(2))}]
    return message, locations


# -- messages of unknown names ----------------------------------------------------------------------
_UNKNOWN_FIELD = re.compile(r"Field (\S+) doesn't exist on (\S+)\Z")
_UNKNOWN_ARGUMENT = re.compile(r"Provided Argument < (\S+) > doesn't exist on field < (\w+)\.(\w+) >\.\Z")
_UNKNOWN_INPUT_FIELD = re.compile(r"Unknown Input Field < (\S+) > in < (\w+) > Input Object\Z")
Message = tuple[str, list[dict[str, int]] | None]


def _fields_of(schema: Any, type_name: str) -> list[str]:
    definition = schema.type_definitions.get(type_name)
    fields = getattr(definition, "implemented_fields", None) or getattr(definition, "input_fields", None) or {}
    return [name for name in fields if not name.startswith("__")]


def _with_suggestion(message: str, schema: Any) -> str:
    names: list[str] = []
    if (m := _UNKNOWN_FIELD.match(message) or _UNKNOWN_INPUT_FIELD.match(message)) is not None:
        names = _fields_of(schema, m.group(2))
    elif (m := _UNKNOWN_ARGUMENT.match(message)) is not None:
        definition = schema.type_definitions.get(m.group(2))
        field = (getattr(definition, "implemented_fields", None) or {}).get(m.group(3))
        names = list(getattr(field, "arguments", None) or {})
    if m is None:
        return message
    shaped, found = hinted(message.removesuffix("."), m.group(1), names)
    return shaped if found else message


def suggest_names(messages: list[Message], schema: Any) -> list[Message]:
    """Validation messages with "Did you mean 'x'?" after unknown fields, arguments and input fields
    (names of the baked tartiflette `schema`), without the follow-up errors tartiflette reports under
    an unknown field ("Field x doesn't exist on Root": its parent already has an error). Error path only."""
    kept = [(m, loc) for m, loc in messages if not (m.endswith(" doesn't exist on Root") and m.startswith("Field "))]
    return [(_with_suggestion(message, schema), locations) for message, locations in kept or messages]
