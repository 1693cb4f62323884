"""The typed per-model API in-process: relation batching (SQL statements counted on the reader
connections), typed and generic twins giving the same results and events (property test), the SDL."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomo import Atomo
from atomo.graphql.content import content_extension
from atomo.graphql.engine import GraphQLEngine
from atomo.graphql.typed_resolvers import typed_extension
from atomo.graphql.typed_sdl import typed_sdl
from tests.conftest import make_project
from tests.conftest import settings as make_settings
from tests.graphql.conftest import ADMIN, Runner


def typed_parts(schema: Any) -> list[Any]:
    """The typed API's extension with the block types it uses (content_extension)."""
    return [content_extension(), typed_extension(schema)]


@pytest.fixture
async def typed(crm: Atomo) -> Runner:
    schema = crm.runtime.schema
    engine = await GraphQLEngine.build(schema, crm.runtime.settings, extensions=typed_parts(schema))
    return Runner(engine, crm)


def trace_reads(app: Atomo) -> list[str]:
    """Every SQL statement the reader connections run from now on."""
    statements: list[str] = []
    for conn in app.runtime.db._readers:
        conn.set_trace_callback(statements.append)
    return statements


async def add_deals(typed: Runner, count: int) -> None:
    companies = [c["id"] for c in (await typed.data("{ companies { id } }"))["companies"]]
    for i in range(count):
        await typed.data("mutation($d: DealCreateInput!) { createDeal(data: $d) { id } }",
                         {"d": {"title": f"Deal {i:02}", "companyId": companies[i % len(companies)], "value": i}})


async def test_a_page_of_deals_with_their_company_is_two_queries(typed: Runner, crm: Atomo) -> None:
    await add_deals(typed, 20)
    statements = trace_reads(crm)
    data = await typed.data("{ deals(limit: 20, orderBy: [{title: asc}]) { title company { name } } }")
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(data["deals"]) == 20 and all(d["company"]["name"] for d in data["deals"])
    assert len(selects) == 2, selects


async def test_nested_has_many_batches_per_level_with_limits_per_parent(typed: Runner, crm: Atomo) -> None:
    await add_deals(typed, 12)
    statements = trace_reads(crm)
    data = await typed.data("{ companies(orderBy: [{name: asc}]) { name deals(limit: 2, orderBy: [{value: desc}]) "
                            "{ value company { name } } } }")
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3, selects               # companies, their deals, the deals' company
    for company in data["companies"]:
        values = [d["value"] for d in company["deals"]]
        assert len(values) <= 2 and values == sorted(values, reverse=True)
        assert all(d["company"]["name"] == company["name"] for d in company["deals"])
    # the window gives each company its own top two, as one query per company would
    for company in data["companies"]:
        alone = await typed.data('query($n: String) { companies(where: {name: {equals: $n}}) '
                                 '{ deals(limit: 2, orderBy: [{value: desc}]) { value } } }', {"n": company["name"]})
        assert alone["companies"][0]["deals"] == [{"value": d["value"]} for d in company["deals"]]


async def test_relations_respect_read_rules_and_the_row_budget(crm: Atomo) -> None:
    schema = crm.runtime.schema
    engine = await GraphQLEngine.build(schema, make_settings(graphql_max_rows=5), extensions=typed_parts(schema))
    runner = Runner(engine, crm)
    outcome = await runner("{ companies { name deals { title } } }")
    assert outcome.body["data"] is not None or outcome.body["errors"]
    await add_deals(Runner(await GraphQLEngine.build(schema, crm.runtime.settings,
                                                     extensions=typed_parts(schema)), crm), 6)
    outcome = await runner("{ companies { name deals { title } } }")
    codes = {e["extensions"]["code"] for e in outcome.body.get("errors", [])}
    assert codes == {"LIMIT_EXCEEDED"}, outcome.body


_NAMES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_categories=("Cs",)),
                 min_size=0, max_size=12)
_WORD = st.from_regex(r"[a-z]{1,6}", fullmatch=True)
_CONTACT = st.fixed_dictionaries(
    {"firstName": _NAMES, "lastName": _NAMES},
    optional={"email": st.one_of(st.none(), st.builds(lambda a, b: f"{a}@{b}.io", _WORD, _WORD), _NAMES),
              "phone": st.one_of(st.none(), _NAMES), "tags": st.lists(_NAMES, max_size=3)})


def _stable(value: Any) -> Any:
    """A result with the values that differ between two records (ids, times) blanked."""
    if isinstance(value, dict):
        return {k: ("*" if k in ("id", "createdAt", "updatedAt", "deletedAt", "eventId", "recordId", "stream",
                                 "locations")
                    else _stable(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f-]{27}", value):
        return "*"
    return value


CONTACT_FIELDS = "id firstName lastName email phone companyId tags notes ownerId createdAt updatedAt deletedAt " \
                 "tenantId _version"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_CONTACT, change=_CONTACT)
def test_typed_and_generic_twins_give_the_same_results_and_events(data: dict[str, Any],
                                                                  change: dict[str, Any]) -> None:
    """The same operations through the generic API on one data file and the typed API on another give
    the same results (errors included) and the same event logs."""
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with (Atomo(make_project(Path(tmp) / "g"), settings=make_settings()) as generic,
                        Atomo(make_project(Path(tmp) / "t"), settings=make_settings()) as typed):
                runners = []
                for app in (generic, typed):
                    schema = app.runtime.schema
                    engine = await GraphQLEngine.build(schema, app.runtime.settings,
                                                       extensions=typed_parts(schema))
                    runners.append(Runner(engine, app))
                await compare_twins(*runners, data, change)
    asyncio.run(scenario())


async def compare_twins(generic: Runner, typed: Runner, data: dict[str, Any], change: dict[str, Any]) -> None:
    g = (await generic('mutation($d: JSON!) { r: create(model: "Contact", data: $d) }', {"d": data})).body
    t = (await typed(f"mutation($d: ContactCreateInput!) {{ r: createContact(data: $d) {{ {CONTACT_FIELDS} }} }}",
                     {"d": data})).body
    assert _stable(g) == _stable(t)
    if "errors" not in g:
        gid, tid = g["data"]["r"]["id"], t["data"]["r"]["id"]
        for op_generic, op_typed in [
            ('mutation($id: String, $d: JSON!) { r: update(model: "Contact", id: $id, data: $d, expectedVersion: 1) }',
             f"mutation($id: ID!, $d: ContactUpdateInput!) {{ r: updateContact(id: $id, data: $d, expectedVersion: 1) "
             f"{{ {CONTACT_FIELDS} }} }}"),
            ('mutation($id: String) { r: delete(model: "Contact", id: $id) }',
             "mutation($id: ID!) { r: deleteContact(id: $id) }"),
            ('mutation($id: String) { r: restore(model: "Contact", id: $id) }',
             "mutation($id: ID!) { r: restoreContact(id: $id) }"),
        ]:
            g = (await generic(op_generic, {"id": gid, "d": change} if "$d" in op_generic else {"id": gid})).body
            t = (await typed(op_typed, {"id": tid, "d": change} if "$d" in op_typed else {"id": tid})).body
            assert _stable(g) == _stable(t)
        g = (await generic('query($id: String!) { record(model: "Contact", id: $id) }', {"id": gid})).body
        t = (await typed(f"query($id: ID!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}", {"id": tid})).body
        assert _stable(g["data"]["record"]) == _stable(t["data"]["contact"])
    log = "{ events(limit: 1000) { type model data previousData streamVersion actor } }"
    assert _stable((await generic(log)).body) == _stable((await typed(log)).body)


async def test_typed_filters_match_the_generic_filters(typed: Runner) -> None:
    await add_deals(typed, 10)
    pairs = [
        ('{stage: {in: ["lead", "won"]}}', "{stage: {in: [lead, won]}}"),
        ('{value: {gte: 3, lt: 8}}', "{value: {gte: 3, lt: 8}}"),
        ('{OR: [{title: {startsWith: "deal 0"}}, {NOT: {value: {gt: 1}}}]}',
         '{OR: [{title: {startsWith: "deal 0"}}, {NOT: [{value: {gt: 1}}]}]}'),
        ('{title: {contains: "AL 0"}, closeDate: {isNull: true}}', '{title: {contains: "AL 0"}, closeDate: {isNull: true}}'),
    ]
    for generic, typed_where in pairs:
        g = await typed.data(f'{{ r: records(model: "Deal", where: {generic}, orderBy: {{title: desc}}) }}')
        t = await typed.data(f"{{ r: deals(where: {typed_where}, orderBy: [{{title: desc}}]) {{ id }} }}")
        assert [r["id"] for r in g["r"]] == [r["id"] for r in t["r"]]
        assert g["r"], generic
    exact = await typed.data('{ deals(where: {title: {equals: "DEAL 01"}}) { id } }')
    folded = await typed.data('{ deals(where: {title: {equals: "DEAL 01", mode: insensitive}}) { title } }')
    assert exact["deals"] == [] and folded["deals"] == [{"title": "Deal 01"}]
    either = await typed.data('{ deals(where: {title: {in: ["deal 01", "DEAL 02"], mode: insensitive}}) { title } }')
    assert sorted(d["title"] for d in either["deals"]) == ["Deal 01", "Deal 02"]


async def test_typed_input_errors_are_document_errors(typed: Runner) -> None:
    outcome = await typed("mutation { createContact(data: {firstName: \"A\"}) { id } }")
    assert outcome.document_error and "lastName" in outcome.body["errors"][0]["message"]
    outcome = await typed('{ deals(where: {stage: {equals: lost_forever}}) { id } }')
    assert outcome.document_error
    outcome = await typed('query($d: DateTime) { deals(where: {closeDate: {gt: $d}}) { id } }', {"d": "yesterday"})
    assert outcome.document_error and "ISO 8601" in outcome.body["errors"][0]["message"]
    ok = await typed.data('query($d: DateTime) { deals(where: {closeDate: {gt: $d}}) { closeDate } }',
                          {"d": "2026-01-01"})
    assert all(d["closeDate"] > "2026-01-01" for d in ok["deals"]) and ok["deals"]


def test_sdl_carries_docs_types_and_enums(crm: Atomo) -> None:
    sdl = typed_sdl(crm.runtime.schema)
    assert "enum DealStage {\n  lead\n  qualified\n  proposal\n  won\n  lost\n}" in sdl
    assert "enum DealCurrency {\n  EUR\n  USD\n}" in sdl
    assert "  stage: DealStage\n" in sdl and "  notes: JSON\n" in sdl and "  closeDate: DateTime\n" in sdl
    assert "  companyId: String!\n" in sdl.split("input DealCreateInput")[1].split("}")[0]
    assert "  deals(where: DealWhere, orderBy: [DealOrderBy!], limit: Int, offset: Int): [Deal!]!" in sdl
    assert "  company: Company\n" in sdl
    for field in ("contact(id: ID!): Contact", "contactsPage(", "contactsCount(where: ContactWhere): Int!",
                  "createContact(data: ContactCreateInput!): Contact!", "hardDeleteContact(id: ID!): Int!",
                  "contactChanges(after: Int): ContactEvent!", "companies(", "company(id: ID!): Company"):
        assert field in sdl, field


async def test_typed_reads_as_a_caller_without_access(typed: Runner) -> None:
    from tests.graphql.conftest import ANON
    outcome = await typed("{ contacts { id } }", caller=ANON)
    assert outcome.body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await typed("{ contactsCount }", caller=ADMIN)).body["data"]["contactsCount"] >= 1


TYPED_CASES: list[tuple[str, dict[str, Any] | None]] = [
    ("{ deals(orderBy: [{value: desc}]) { id title value stage currency closeDate notes createdAt _version "
     "deletedAt tenantId __typename } }", None),
    ('{ deal(id: "d-1") { t: title stage } nope: deal(id: "nope") { id } }', None),
    ('{ dealsPage(limit: 2, offset: 1) { data { title } pageInfo { totalCount hasNextPage hasPreviousPage } } }', None),
    ("{ dealsCount companiesCount(where: {name: {contains: \"o\"}}) }", None),
    ('mutation { createCompany(data: {name: "Typed Co", employeeCount: 12}) { name employeeCount website } }', None),
    ('mutation { createCompany(data: {name: "x"}) { id } }', None),                         # validation error
    ('mutation($id: ID!) { updateDeal(id: $id, data: {stage: won}, expectedVersion: 99) { stage } }', {"id": "d-2"}),
    ('query($s: [DealStage]) { deals(where: {stage: {in: $s}}) { title } }', {"s": ["won", "lead"]}),
    ('query($s: [DealStage]) { deals(where: {stage: {in: $s}}) { title } }', {"s": ["won", "nope"]}),
    ('query($w: DealWhere) { deals(where: $w) { title } }',
     {"w": {"OR": [{"value": {"gt": 1}}, {"NOT": [{"title": {"contains": "x", "mode": "insensitive"}}]}]}}),
    ('query($w: DealWhere) { deals(where: $w) { title } }', {"w": {"nope": {"equals": 1}}}),
    ('query($w: DealWhere) { deals(where: $w) { title } }', {"w": {"title": "not a filter"}}),
    ("mutation($id: ID!, $d: DealUpdateInput!) { updateDeal(id: $id, data: $d) { title value closeDate stage } }",
     {"id": "d-1", "d": {"value": 5, "closeDate": "2026-01-02T00:00:00.000000+00:00", "stage": "won"}}),
    ("mutation($id: ID!, $d: DealUpdateInput!) { updateDeal(id: $id, data: $d) { title value closeDate stage } }",
     {"id": "d-1", "d": {"value": 7.5, "closeDate": "2026-01-03", "probability": None}}),
    ("mutation($d: ContactCreateInput!) { createContact(data: $d) { id } }", {"d": {"firstName": "No last"}}),
    ("mutation($d: ContactCreateInput!) { createContact(data: $d) { id } }",
     {"d": {"firstName": "A", "lastName": None}}),
]


@pytest.mark.parametrize("query, variables", TYPED_CASES)
async def test_planned_typed_fields_answer_as_tartiflette_does(typed: Runner, query: str,
                                                               variables: dict[str, Any] | None) -> None:
    import atomo.graphql.engine as engine_module
    planned = (await typed(query, variables)).body
    originals = engine_module.plan_root, engine_module.plan_variables
    engine_module.plan_root = engine_module.plan_variables = lambda *args: None   # force tartiflette's execution
    try:
        schema = typed.app.runtime.schema
        fresh = await GraphQLEngine.build(schema, typed.app.runtime.settings, extensions=typed_parts(schema))
        plain = (await fresh.execute(query, variables, None, service=typed.app.runtime.data, caller=ADMIN,
                                     request_id="req-1")).body
    finally:
        engine_module.plan_root, engine_module.plan_variables = originals
    if "createCompany" in query and "errors" not in planned:     # two creates: the second is a conflict
        assert planned["data"]["createCompany"] == {"name": "Typed Co", "employeeCount": 12.0, "website": None}
        assert plain["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
        return
    assert planned == plain
    if "errors" not in planned or "data" in planned:
        assert typed.engine._prepare(query).plans[None] is not None, "planned"
    if variables:                                     # the variables' types can be taken as given
        assert typed.engine._prepare(query).variable_plans[None] is not None


async def test_relation_selections_go_through_tartiflette(typed: Runner) -> None:
    query = "{ deals { title company { name } } }"
    await typed.data(query)
    assert typed.engine._prepare(query).plans[None] is None
