"""The per-request row budget (GRAPHQL_MAX_ROWS, atomo/graphql/row_budget.py) through the engine, and
the data service's ``max_rows`` cap."""

from __future__ import annotations

import pytest

from atomo import Atomo
from atomo.errors import LimitExceededError
from atomo.graphql.row_budget import RowBudget
from tests.graphql.conftest import Runner, build_engine

LIMIT = {"code": "LIMIT_EXCEEDED", "details": {"maxRows": 10}}
MESSAGE = "The request returns more than 10 rows (GRAPHQL_MAX_ROWS)"


@pytest.fixture
async def small(crm: Atomo) -> Runner:
    """The CRM sample (6 contacts, 4 deals, 3 companies) with a budget of 10 rows per request."""
    return Runner(await build_engine(crm, graphql_max_rows=10), crm)


async def test_rows_within_the_budget(small: Runner) -> None:
    data = await small.data('{ c: records(model: "Contact") d: records(model: "Deal") }')
    assert len(data["c"]) + len(data["d"]) == 10                          # exactly the budget


async def test_rows_over_the_budget_fail_every_later_list(small: Runner) -> None:
    outcome = await small('{ c: records(model: "Contact") d: records(model: "Deal") n: count(model: "Deal") '
                          'e: records(model: "Company") r: record(model: "Deal", id: "d-1") }')
    body = outcome.body
    assert not outcome.document_error and body["data"] is None
    assert [(e["path"], e["message"], e["extensions"]) for e in body["errors"]] == [
        (["e"], MESSAGE, LIMIT), (["r"], MESSAGE, LIMIT)]


@pytest.mark.parametrize(("field", "rows"), [
    ('paginatedRecords(model: "Contact", limit: 6) { data }', 3),
    ('deletedRecords(model: "Contact", limit: 6) { data }', 3),
    ('history(model: "Contact", id: "p-1") { position }', 2),
    ('record(model: "Contact", id: "p-4")', 1),
    ('records(model: "Contact")', 3),
])
async def test_every_row_returning_field_is_counted(small: Runner, field: str, rows: int) -> None:
    await small.data('mutation { delete(model: "Contact", where: {id: {in: ["p-1", "p-2", "p-3"]}}) }')
    fine = await small(f"{{ a: events(limit: {10 - rows}) {{ position }} b: {field} }}")
    assert "errors" not in fine.body, fine.body
    over = await small(f"{{ a: events(limit: {11 - rows}) {{ position }} b: {field} }}")
    assert [e["extensions"]["code"] for e in over.body.get("errors", [])] == ["LIMIT_EXCEEDED"], over.body
    assert over.body["errors"][0]["path"] == ["b"]


async def test_budget_is_per_request(small: Runner) -> None:
    for _ in range(3):
        assert len((await small.data('{ records(model: "Contact") }'))["records"]) == 6


async def test_default_budget_allows_the_sample(gql: Runner) -> None:
    data = await gql.data(" ".join(["{", *(f'a{i}: records(model: "Contact")' for i in range(50)), "}"]))
    assert len(data) == 50


async def test_service_cap_reads_at_most_one_more_row(crm: Atomo) -> None:
    service = crm.runtime.data
    assert len(await service.records("Contact", max_rows=6)) == 6
    with pytest.raises(LimitExceededError):
        await service.records("Contact", max_rows=5)
    with pytest.raises(LimitExceededError):
        await service.records("Contact", limit=6, max_rows=5)
    assert len(await service.records("Contact", limit=5, max_rows=5)) == 5
    assert len(await service.records("Contact", offset=4, max_rows=2)) == 2
    page = await service.paginated_records("Contact", limit=6, max_rows=6)
    assert len(page["data"]) == 6 and page["pageInfo"]["totalCount"] == 6
    with pytest.raises(LimitExceededError):
        await service.paginated_records("Contact", limit=6, max_rows=3)


async def test_row_budget_object() -> None:
    budget = RowBudget(5)
    assert budget.remaining == 5
    assert await budget.read(lambda cap: _rows(3, cap)) == [0, 1, 2]
    assert budget.remaining == 2
    with pytest.raises(LimitExceededError):
        await budget.read(lambda cap: _rows(3, cap))
    assert budget.exceeded
    with pytest.raises(LimitExceededError):
        await budget.read(lambda cap: _rows(0, cap))                     # no read once exceeded
    unbounded = RowBudget()
    assert unbounded.remaining is None and len(await unbounded.read(lambda cap: _rows(50, cap))) == 50


async def _rows(n: int, cap: int | None) -> list[int]:
    if cap is not None and n > cap:
        raise LimitExceededError("too many")
    return list(range(n))
