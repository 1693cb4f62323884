"""Document errors, limits, introspection, operation selection and the anonymous-caller signals."""

from __future__ import annotations

from typing import Any

from graphql import build_client_schema, get_introspection_query, print_schema

from atomo import Atomo
from atomo.graphql.engine import GraphQLEngine
from atomo.graphql.limits import INTROSPECTION_MAX_COMPLEXITY
from tests.graphql.conftest import ANON, Runner, build_engine

DOC_EXTENSIONS = {"code": "VALIDATION_ERROR"}      # no details: a document error is about no input field


def assert_document_error(outcome: Any, fragment: str = "") -> dict[str, Any]:
    assert outcome.document_error and not outcome.all_unauthenticated
    assert list(outcome.body) == ["errors"], outcome.body
    error = outcome.body["errors"][0]
    assert error["extensions"] == DOC_EXTENSIONS and fragment in error["message"], error
    return error  # type: ignore[no-any-return]


async def test_syntax_error(gql: Runner) -> None:
    outcome = await gql('{ records(model: "Contact" ')
    error = assert_document_error(outcome, "Syntax Error")
    assert error["locations"] == [{"line": 1, "column": 28}]
    assert outcome.operation_type is None


async def test_unknown_names_suggest_the_closest(gql: Runner) -> None:
    error = assert_document_error(await gql('{ recrods(model: "Contact") }'))
    assert error["message"] == "Field recrods doesn't exist on Query. Did you mean 'records' or 'record'?"
    assert error["locations"] == [{"line": 1, "column": 3}]
    error = assert_document_error(await gql('{ records(model: "Contact", limt: 2) }'))
    assert error["message"] == "Provided Argument < limt > doesn't exist on field < Query.records >. Did you mean 'limit'?"
    error = assert_document_error(await gql('{ paginatedRecords(model: "Contact") { dta pageinfo { totalCount } } }'))
    outcome = await gql('{ paginatedRecords(model: "Contact") { dta pageinfo { totalCount } } }')
    assert [e["message"] for e in outcome.body["errors"]] == [
        "Field dta doesn't exist on PaginatedRecords. Did you mean 'data'?",
        "Field pageinfo doesn't exist on PaginatedRecords. Did you mean 'pageInfo'?"]
    # the follow-up errors under an unknown field ("... doesn't exist on Root") are left out
    outcome = await gql('mutation { creat(model: "Deal", data: {}) { id } }')
    assert [e["message"] for e in outcome.body["errors"]] == [
        "Field creat doesn't exist on Mutation. Did you mean 'create'?"]
    assert_document_error(await gql('{ zzzz }'), "Field zzzz doesn't exist on Query")
    assert "Did you mean" not in (await gql('{ zzzz }')).body["errors"][0]["message"]


async def test_validation_errors(gql: Runner) -> None:
    assert_document_error(await gql('{ nope }'), "nope")
    assert_document_error(await gql('{ records(model: "Contact", bogus: 1) }'), "bogus")
    assert_document_error(await gql('{ records }'), "model")
    assert_document_error(await gql('{ records(model: "Contact", limit: "ten") }'))
    assert_document_error(await gql('{ paginatedRecords(model: "Contact") }'))  # object needs a selection
    assert_document_error(await gql('{ count(model: "Deal") { x } }'))  # leaf with a selection


async def test_variables_that_do_not_coerce(gql: Runner) -> None:
    query = 'query Q($limit: Int, $model: String!) { records(model: $model, limit: $limit) }'
    assert_document_error(await gql(query, {"model": "Contact", "limit": "ten"}), "limit")
    assert_document_error(await gql(query, {}), "model")
    assert_document_error(await gql(query, {"model": None}), "model")


async def test_operation_selection(gql: Runner) -> None:
    doc = 'query A { count(model: "Deal") } mutation B { delete(model: "Deal", id: "nope") }'
    assert_document_error(await gql(doc), "operation name")
    assert_document_error(await gql(doc, operation_name="C"), "C")
    ran = await gql(doc, operation_name="A")
    assert ran.body == {"data": {"count": 4}} and ran.operation_type == "query" and ran.operation_name == "A"
    assert gql.engine.operation_type(doc, "B") == "mutation"
    assert gql.engine.operation_type(doc, None) is None
    assert gql.engine.operation_type("{ __typename }", None) == "query"
    assert gql.engine.operation_type("mutation { delete(model: 1) }", None) == "mutation"  # invalid but known
    assert gql.engine.operation_type("{ broken", None) is None


async def test_subscriptions_are_not_executed_here(gql: Runner) -> None:
    outcome = await gql('subscription { modelChanges(model: "Deal") { position } }')
    assert_document_error(outcome, "/graphql/ws")
    assert outcome.operation_type == "subscription"


async def test_depth_limit_counts_fragments(crm: Atomo) -> None:
    engine = await build_engine(crm, graphql_max_depth=2)
    runner = Runner(engine, crm)
    ok = '{ paginatedRecords(model: "Contact") { data } }'
    assert (await runner(ok)).document_error is False
    deep = '{ paginatedRecords(model: "Contact") { pageInfo { totalCount } } }'
    assert_document_error(await runner(deep), "depth 3")
    via_fragment = ('query { ...Q } fragment Q on Query { paginatedRecords(model: "Contact") { ...P } } '
                    'fragment P on PaginatedRecords { ... on PaginatedRecords { pageInfo { offset } } }')
    assert_document_error(await runner(via_fragment), "depth 3")


async def test_complexity_limit_counts_every_selected_field(crm: Atomo) -> None:
    engine = await build_engine(crm, graphql_max_complexity=5)
    runner = Runner(engine, crm)
    five = '{ a: count(model: "Deal") b: count(model: "Deal") c: count(model: "Deal") d: __typename e: __typename }'
    assert (await runner(five)).body["data"]["a"] == 4
    six = five.replace("}", "f: __typename }")
    assert_document_error(await runner(six), "complexity 6")
    # a fragment spread twice counts twice: 2 x (paginatedRecords + pageInfo + offset) = 6
    doubled = ('{ ...F x: paginatedRecords(model: "Deal") { pageInfo { offset } } } '
               'fragment F on Query { paginatedRecords(model: "Deal") { pageInfo { offset } } }')
    assert_document_error(await runner(doubled), "complexity 6")


async def test_default_limits_admit_the_standard_introspection_query(gql: Runner) -> None:
    outcome = await gql(get_introspection_query(descriptions=True))
    assert not outcome.document_error and "errors" not in outcome.body, outcome.body
    schema = build_client_schema(outcome.body["data"])
    printed = print_schema(schema)
    assert "records(model: String!, where: JSON, orderBy: JSON, limit: Int, offset: Int): [JSONObject!]!" in printed
    info = gql.engine.check(get_introspection_query(), None)[0]
    assert info is not None and info.complexity == 0 and 200 < info.introspection_complexity


async def test_introspection_budget(crm: Atomo) -> None:
    gql = Runner(await build_engine(crm, graphql_max_tokens=10_000), crm)  # the document has 6,000 tokens
    fields = " ".join(f"f{i}: fields {{ name }}" for i in range(INTROSPECTION_MAX_COMPLEXITY // 2))
    assert_document_error(await gql(f'{{ __type(name: "Query") {{ {fields} }} }}'), "Introspection complexity")


async def test_introspection_can_be_disabled_but_typename_works(crm: Atomo) -> None:
    engine = await build_engine(crm, graphql_introspection=False)
    runner = Runner(engine, crm)
    assert_document_error(await runner("{ __schema { queryType { name } } }"), "introspection")
    assert_document_error(await runner('{ __type(name: "Query") { name } }'), "introspection")
    assert_document_error(await runner('query { ...F } fragment F on Query { __schema { types { name } } }'),
                          "introspection")
    assert (await runner("{ __typename }", caller=ANON)).body == {"data": {"__typename": "Query"}}


async def test_anonymous_typename_and_all_unauthenticated(gql: Runner) -> None:
    typename = await gql("{ __typename }", caller=ANON)
    assert typename.body == {"data": {"__typename": "Query"}} and not typename.all_unauthenticated
    denied = await gql('{ records(model: "Contact") }', caller=ANON)
    assert denied.all_unauthenticated and denied.body["data"] is None
    assert denied.body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    two = await gql('{ a: count(model: "Deal") b: record(model: "Deal", id: "d-1") }', caller=ANON)
    assert two.all_unauthenticated
    mixed = await gql('{ __typename record(model: "Deal", id: "d-1") }', caller=ANON)
    assert not mixed.all_unauthenticated and mixed.body["data"] == {"__typename": "Query", "record": None}
    other_error = await gql('{ record(model: "Nope", id: "1") }', caller=ANON)
    assert not other_error.all_unauthenticated
    skipped = await gql('query Q($s: Boolean!) { __typename @skip(if: $s) record(model: "Deal", id: "d-1") }',
                        {"s": True}, caller=ANON)
    assert skipped.all_unauthenticated
    mutation = await gql('mutation { create(model: "Deal", data: {}) }', caller=ANON)
    assert mutation.all_unauthenticated and mutation.operation_type == "mutation"


async def test_parsed_documents_are_cached(engine: GraphQLEngine) -> None:
    query = '{ records(model: "Contact", limit: 20) }'
    first = engine._prepare(query)
    assert engine._prepare(query) is first
    assert engine._prepare(query + " ") is not first


async def test_deeply_nested_garbage_is_a_document_error(gql: Runner) -> None:
    outcome = await gql("{ a " * 3000 + "}" * 3000)
    assert_document_error(outcome)
    outcome = await gql('{ records(model: "Contact", where: ' + "[" * 3000 + "]" * 3000 + ") }")
    assert outcome.document_error or outcome.body["data"] is None
