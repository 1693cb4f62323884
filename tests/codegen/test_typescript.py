"""atomo.ts's typed-API types agree with schema.graphql: every typed input and object type, enum and root field of
the served SDL has its TypeScript twin with the same properties, a property optional exactly where GraphQL allows
null (inputs, arguments) and never optional where GraphQL promises a value (outputs); docs become JSDoc.

The SDL is read with graphql-core, the TypeScript with the few patterns atomo_ts writes (tsc checks it compiles:
tests/cli/test_codegen.py)."""

from __future__ import annotations

import re

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

from atomo.codegen import atomo_ts, generate_files
from atomo.graphql.served import served_sdl
from atomo.schema import load_schema, parse_schema
from atomo.schema.graphql_names import model_names, typed_relations
from atomo.schema.model import Schema
from tests.cli.test_codegen import GOLDEN
from tests.conftest import SAMPLE

# relations of every kind, an enum, a select that is no enum, Blocks, JSON, arrays, datetimes, multi-line docs
SECOND = """\
export enum Priority { Low = 'low', High = 'high' }

/**
 * A piece of work with tasks and one brief.
 * Second line of the doc.
 */
export interface Project {
  id: string
  /** The project's display name. */
  name: string                 // @unique
  priority: Priority           // @default('low')
  body?: Block[]
  budget?: number
  active?: boolean
  startsAt?: Date
  status?: 'to do' | 'done'
  labels?: string[]
  extra?: Record<string, unknown>
}

export interface Task {
  id: string
  title: string
  projectId: string
  done?: boolean
}

export interface Brief {
  id: string
  projectId: string
  summary: string
}

export const schema = {
  models: {
    Project: {
      relationships: {
        tasks: { type: 'hasMany', model: 'Task', foreignKey: 'projectId' },
        brief: { type: 'hasOne', model: 'Brief', foreignKey: 'projectId' },
      },
    },
    Task: { relationships: { project: { type: 'belongsTo', model: 'Project', foreignKey: 'projectId' } } },
    Brief: { relationships: { project: { type: 'belongsTo', model: 'Project', foreignKey: 'projectId' } } },
  },
}
export default schema
"""

SCHEMAS = {"crm": lambda: load_schema(SAMPLE / "schema.ts"),
           "actions": lambda: load_schema(GOLDEN / "actions" / "schema.ts"),
           "second": lambda: parse_schema(SECOND)}
SHARED_OUTPUTS = {"PageInfo"}
ROOTS = {"Query": "TypedQueries", "Mutation": "TypedMutations", "Subscription": "TypedSubscriptions"}
PROPERTY = re.compile(r"^  (\w+)(\??): (.+)$", re.M)
INTERFACE = re.compile(r"^export interface (\w+) \{\n(.*?)^\}", re.M | re.S)
ALIAS = re.compile(r"^export type (\w+) = (.+)$", re.M)
OPERATION = re.compile(r"^  (\w+): \{(?: args: \{ (.*?) \}; result: (.+) \}|\n    args: \{ (.*?) \}\n    result: (.+)\n  \})$",
                       re.M)


def interfaces(ts: str) -> dict[str, dict[str, tuple[bool, str]]]:
    """interface -> property -> (optional, type), JSDoc lines skipped."""
    return {name: {p: (q == "?", t) for p, q, t in PROPERTY.findall(body)} for name, body in INTERFACE.findall(ts)}


def args_of(text: str) -> dict[str, bool]:
    """`a: T; b?: U` -> {a: False, b: True} (optional)."""
    pairs = [part.split(": ", 1)[0] for part in text.split("; ")] if text else []
    return {p.rstrip("?"): p.endswith("?") for p in pairs}


def key_target(gql_type: object) -> str:
    """The named type under ``!`` and ``[]``."""
    while hasattr(gql_type, "of_type"):
        gql_type = gql_type.of_type
    return str(gql_type.name)  # type: ignore[attr-defined]


def typed_type_names(schema: Schema, built: GraphQLSchema) -> set[str]:
    names = set()
    for model in schema.models:
        n = model_names(model)
        names |= set(n.types())
    names |= {name for name, t in built.type_map.items() if name.endswith("Filter")}
    return names


@pytest.mark.parametrize("case", sorted(SCHEMAS))
def test_typed_typescript_matches_the_served_sdl(case: str) -> None:
    schema = SCHEMAS[case]()
    built = build_schema(served_sdl(schema))
    ts = atomo_ts(schema)
    found = interfaces(ts)
    relations = {m.name: {r.name for r in typed_relations(m) if schema.model(r.model)} for m in schema.models}
    aliases = dict(ALIAS.findall(ts))
    checked = 0
    for name in sorted(typed_type_names(schema, built) | SHARED_OUTPUTS):
        gql_type = built.type_map[name]
        assert name in found, f"no TypeScript interface {name}"
        props = found[name]
        assert set(props) == set(gql_type.fields), name
        for key, field in gql_type.fields.items():
            optional, _ = props[key]
            nullable = not isinstance(field.type, GraphQLNonNull)
            if isinstance(gql_type, GraphQLInputObjectType):
                assert optional == nullable, f"{name}.{key}: optional in TypeScript iff nullable in GraphQL"
            else:
                assert isinstance(gql_type, GraphQLObjectType)
                relation = key in relations.get(name, ())
                assert optional == relation, f"{name}.{key}: only relations are optional"
                if relation:          # typed with its target model: a list for hasMany, else nullable
                    assert props[key][1] == (f"{key_target(field.type)}[]" if field.args
                                             else f"{key_target(field.type)} | null"), props[key]
                elif not nullable:
                    assert not props[key][1].endswith("| null"), f"{name}.{key} is never null"
            checked += 1
    for name, gql_type in built.type_map.items():
        if isinstance(gql_type, GraphQLEnumType) and name not in ("EventType",) and not name.startswith("__"):
            literals = set(re.findall(r"'([^']*)'", aliases[name]))
            assert literals == set(gql_type.values), name
    assert set(re.findall(r"'([^']*)'", aliases["EventType"])) == set(built.type_map["EventType"].values)
    # the root fields: one entry per typed field, the same arguments, optional iff nullable
    for root, ts_name in ROOTS.items():
        body = re.search(rf"^export interface {ts_name} \{{\n(.*?)^\}}", ts, re.M | re.S)
        assert body is not None
        operations = {m[0]: (m[1] or m[3], m[2] or m[4]) for m in OPERATION.findall(body.group(1))}
        typed = {f for model in schema.models for f in model_names(model).root_fields()[root]}
        assert set(operations) == typed, root
        gql_root = built.get_type(root)
        assert isinstance(gql_root, GraphQLObjectType)
        for field_name, (args, result) in operations.items():
            field = gql_root.fields[field_name]
            assert args_of(args) == {a: not isinstance(arg.type, GraphQLNonNull) for a, arg in field.args.items()}, \
                f"{root}.{field_name}"
            assert result.endswith(" | null") == (not isinstance(field.type, GraphQLNonNull)), f"{root}.{field_name}"
    assert checked > 50


def test_docs_become_jsdoc_and_relations_are_typed() -> None:
    ts = atomo_ts(parse_schema(SECOND))
    assert "/**\n * A piece of work with tasks and one brief.\n * Second line of the doc.\n */\nexport interface Project {" \
        in ts
    assert "  /** The project's display name. */\n  name: string\n" in ts
    assert "  /** The project's display name. */\n  name: string\n  priority?: ProjectPriority | null\n" in ts  # create
    project = interfaces(ts)["Project"]
    assert project["tasks"] == (True, "Task[]") and project["brief"] == (True, "Brief | null")
    assert interfaces(ts)["Task"]["project"] == (True, "Project | null")
    assert "export type ProjectPriority = 'low' | 'high'" in ts
    create = interfaces(ts)["ProjectCreateInput"]
    assert create["status"] == (True, "'to do' | 'done' | null")       # a select that is no GraphQL enum: String
    assert create["body"] == (True, "BlockInput[] | null") and create["labels"] == (True, "string[] | null")
    assert create["extra"] == (True, "JsonValue | null") and create["startsAt"] == (True, "DateTime | null")
    assert interfaces(ts)["ProjectWhere"]["priority"] == (True, "ProjectPriorityFilter | null")
    assert "labels" not in interfaces(ts)["ProjectOrderBy"]


def test_a_schema_without_models_has_no_typed_section() -> None:
    ts = atomo_ts(parse_schema("export const schema = { models: {} }\nexport default schema\n"))
    assert "TypedQueries" not in ts and "StringFilter" not in ts


def test_generated_files_are_the_served_sdl_and_atomo_ts() -> None:
    schema = load_schema(SAMPLE / "schema.ts")
    files = generate_files(schema)
    assert files["schema.graphql"].endswith(served_sdl(schema))
    assert files["atomo.ts"] == atomo_ts(schema)
