"""Planned root fields (atomo/graphql/root_plan.py) answer exactly as tartiflette's execution does: the
same documents run through both paths give the same bodies (data, errors, locations, paths, codes)."""

from __future__ import annotations

from typing import Any

import pytest

import atomo.graphql.engine as engine_module
from atomo import Atomo
from atomo.graphql.engine import GraphQLEngine
from tests.graphql.conftest import ADMIN, ANON, Runner

CASES: list[tuple[str, dict[str, Any] | None]] = [
    ('{ records(model: "Company", orderBy: {name: "ASC"}, limit: 2) }', None),
    ('{ a: count(model: "Company") b: count(model: "Contact", where: {lastName: {startsWith: "L"}}) }', None),
    ('query($m: String!, $w: JSON, $l: Int) { records(model: $m, where: $w, limit: $l) }',
     {"m": "Deal", "w": {"stage": "won"}, "l": 5}),
    ('query($m: String!, $l: Int) { records(model: $m, limit: $l) }', {"m": "Company"}),      # absent variable
    ('{ record(model: "Company", id: "nope") }', None),                                       # nullable: null
    ('{ record(model: "Nope", id: "x") count(model: "Company") }', None),                    # one field fails
    ('{ records(model: "Company", where: {nope: 1}) count(model: "Company") }', None),        # non-null fails
    ('mutation { create(model: "Company", data: {name: ""}) }', None),                      # validation error
    ('mutation($d: JSON!) { create(model: "Company", data: $d) c2: create(model: "Company", data: {name: "X"}) }',
     {"d": {"website": "not a url"}}),                                                       # serial stop
    ('mutation { delete(model: "Company", id: "nope") }', None),
    ('{ records(model: "Deal", where: {value: {gte: $v}}) }', None),                         # undeclared variable
    # variables: taken as given when of their type, else tartiflette's coercion and its messages
    ('query($l: Int = 2, $m: String!) { records(model: $m, limit: $l) }', {"m": "Company"}),
    ('query($l: Int) { records(model: "Company", limit: $l) }', {"l": "x"}),
    ('query($l: Int) { records(model: "Company", limit: $l) }', {"l": 2**40}),
    ('query($l: Int) { records(model: "Company", limit: $l) }', {"l": True}),
    ('query($m: String!) { count(model: $m) }', {}),
    ('query($m: String!) { count(model: $m) }', {"m": None}),
    ('query($m: String!) { count(model: $m) }', {"m": 7}),
    ('query($w: JSON) { count(model: "Company", where: $w) }', {"w": None}),
    ('query($w: JSON = {name: {contains: "a"}}) { count(model: "Company", where: $w) }', None),
    ('mutation($d: JSONObject!) { create(model: "Company", data: $d) }', {"d": [1]}),
    # object-typed root fields with plain selections: a projection of the result
    ('{ paginatedRecords(model: "Company", limit: 2) { data p: pageInfo { totalCount hasNextPage pageSize __typename }'
     ' __typename } }', None),
    ('{ deletedRecords(model: "Company") { pageInfo { offset } } }', None),
]


async def run_both(gql: Runner, query: str, variables: dict[str, Any] | None, caller: Any) -> tuple[Any, Any]:
    planned = await gql(query, variables, caller=caller)
    originals = engine_module.plan_root, engine_module.plan_variables
    engine_module.plan_root = engine_module.plan_variables = lambda *args: None   # force tartiflette's execution
    try:
        fresh = await GraphQLEngine.build(gql.app.runtime.schema, gql.app.runtime.settings)
        plain = await fresh.execute(query, variables, None, service=gql.app.runtime.data, caller=caller,
                                    request_id="req-1")
    finally:
        engine_module.plan_root, engine_module.plan_variables = originals
    return planned.body, plain.body


@pytest.mark.parametrize("query, variables", CASES)
async def test_planned_and_tartiflette_answers_are_equal(gql: Runner, crm: Atomo, query: str,
                                                         variables: dict[str, Any] | None) -> None:
    planned, plain = await run_both(gql, query, variables, ADMIN)
    if "create(" in query and "errors" not in planned:      # creates made rows: compare their shape only
        assert planned["data"].keys() == plain["data"].keys()
        return
    assert planned == plain


async def test_anonymous_callers_get_the_same_refusal(gql: Runner) -> None:
    planned, plain = await run_both(gql, '{ records(model: "Company") }', None, ANON)
    assert planned == plain and planned["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_documents_that_need_tartiflette_are_not_planned(engine: GraphQLEngine, gql: Runner) -> None:
    for query in ('{ paginatedRecords(model: "Company") { ...P } } fragment P on PaginatedRecords { data }',
                  '{ paginatedRecords(model: "Company") { pageInfo { totalCount @skip(if: false) } } }',
                  '{ ... on Query { count(model: "Company") } }',
                  '{ count(model: "Company") @include(if: true) }',
                  '{ __typename count(model: "Company") }'):
        outcome = await gql(query)
        assert "errors" not in outcome.body, outcome.body
        prepared = engine._prepare(query)
        assert prepared.plans == {None: None}, query
    await gql('{ count(model: "Company") }')
    assert engine._prepare('{ count(model: "Company") }').plans[None] is not None
