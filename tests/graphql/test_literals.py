"""The JSON scalar: variables, inline literals, nested variables (graphql chapter §2)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomo import Atomo
from atomo.auth.principal import SYSTEM_CALLER
from atomo.config import load_settings
from atomo.graphql.engine import GraphQLEngine, SchemaExtension
from tests.graphql.conftest import Runner


async def echo(parent: Any, args: dict[str, Any], ctx: Any, info: Any) -> Any:
    return {"value": args.get("value", "<absent>")}


ECHO = SchemaExtension(sdl="extend type Query { echo(value: JSON): JSONObject! }", resolvers={"Query.echo": echo})


async def echo_engine() -> GraphQLEngine:
    return await GraphQLEngine.build(None, load_settings({}), extensions=[ECHO])


async def run_echo(engine: GraphQLEngine, literal: str, variables: dict[str, Any] | None = None,
                   definitions: str = "") -> Any:
    query = f"query Q{definitions} {{ echo(value: {literal}) }}" if definitions else f"{{ echo(value: {literal}) }}"
    outcome = await engine.execute(query, variables, None, service=None, caller=SYSTEM_CALLER)  # type: ignore[arg-type]
    assert not outcome.document_error and "errors" not in outcome.body, outcome.body
    return outcome.body["data"]["echo"]["value"]


async def test_inline_literals_become_python_values() -> None:
    engine = await echo_engine()
    literal = '{ a: 1, b: -2.5, c: "text", d: true, e: false, f: null, g: [1, "x", [null]], h: BARE, i: {} }'
    assert await run_echo(engine, literal) == {"a": 1, "b": -2.5, "c": "text", "d": True, "e": False, "f": None,
                                               "g": [1, "x", [None]], "h": "BARE", "i": {}}
    assert await run_echo(engine, "desc") == "desc"
    assert await run_echo(engine, "[]") == []
    assert await run_echo(engine, '"""block\n  string"""') == "block\nstring"
    assert await run_echo(engine, "12345678901234567890") == 12345678901234567890


async def test_nested_variables_are_substituted() -> None:
    engine = await echo_engine()
    value = await run_echo(engine, '{ id: { equals: $id }, list: [$n, { deep: $obj }], missing: $absent }',
                           {"id": "p-1", "n": 3, "obj": {"k": [1]}},
                           "($id: String, $n: Int, $obj: JSON, $absent: String)")
    assert value == {"id": {"equals": "p-1"}, "list": [3, {"deep": {"k": [1]}}], "missing": None}
    defaulted = await run_echo(engine, "{ x: $x }", {}, '($x: Int = 7)')
    assert defaulted == {"x": 7}


async def test_whole_variable_and_null() -> None:
    engine = await echo_engine()
    payload = {"a": [1, {"b": None}], "c": "ü"}
    assert await run_echo(engine, "$v", {"v": payload}, "($v: JSON)") == payload
    assert await run_echo(engine, "$v", {"v": None}, "($v: JSON)") is None
    assert await run_echo(engine, "null") is None


async def test_undefined_nested_variable_is_a_document_error() -> None:
    engine = await echo_engine()
    outcome = await engine.execute("{ echo(value: { a: $nope }) }", {}, None, service=None,  # type: ignore[arg-type]
                                   caller=SYSTEM_CALLER)
    assert outcome.document_error and "data" not in outcome.body
    assert outcome.body["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"


def graphql_literal(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {graphql_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(graphql_literal(v) for v in value) + "]"
    return "null" if value is None else json.dumps(value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda f: f != int(f))
    | st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON_VALUES)
async def test_literals_and_variables_agree(value: Any) -> None:
    engine = await echo_engine()
    from_literal = await run_echo(engine, graphql_literal(value))
    from_variable = await run_echo(engine, "$v", {"v": value}, "($v: JSON)")
    assert from_literal == value == from_variable


async def test_inline_where_with_nested_variable_reaches_the_data_layer(gql: Runner, crm: Atomo) -> None:
    query = 'query Q($id: String!) { records(model: "Contact", where: { id: { equals: $id } }) }'
    data = await gql.data(query, {"id": "p-2"})
    assert [r["id"] for r in data["records"]] == ["p-2"]
    query = ('query Q($stage: String) '
             '{ count(model: "Deal", where: { OR: [{ stage: $stage }, { value: { gte: 0 } }] }) }')
    assert (await gql.data(query, {"stage": "won"}))["count"] == 4
    order = await gql.data('{ records(model: "Company", orderBy: { name: desc }) }')
    names = [r["name"] for r in order["records"]]
    assert names == sorted(names, reverse=True)


async def test_concurrent_requests_keep_their_own_variables() -> None:
    engine = await echo_engine()
    values = await asyncio.gather(*(run_echo(engine, "{ n: $n }", {"n": i}, "($n: Int)") for i in range(50)))
    assert values == [{"n": i} for i in range(50)]


async def test_nul_characters_are_refused_not_truncated() -> None:
    engine = await echo_engine()
    for query in ['{ echo(value: "a\\u0000b") }', '{ echo(value: "a") }\x00 garbage']:
        outcome = await engine.execute(query, None, None, service=None, caller=SYSTEM_CALLER)  # type: ignore[arg-type]
        assert outcome.document_error and list(outcome.body) == ["errors"]
        message = outcome.body["errors"][0]["message"]
        assert "NUL" in message or "\\u0000" in message, message
    assert await run_echo(engine, "$v", {"v": "a\x00b"}, "($v: JSON)") == "a\x00b"
