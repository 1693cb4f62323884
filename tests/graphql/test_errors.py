"""Field errors in the wire shape of graphql chapter §9."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from atomo.errors import StorageError
from tests.graphql.conftest import ANON, SALES, Runner


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    [error] = body["errors"]
    return error


async def test_validation_error_has_details_and_fields_string(gql: Runner) -> None:
    outcome = await gql('mutation { create(model: "Deal", data: { stage: "nope" }) }')
    assert not outcome.document_error and outcome.body["data"] is None
    error = only_error(outcome.body)
    assert list(error) == ["message", "locations", "path", "extensions"]
    assert error["path"] == ["create"] and error["locations"] == [{"line": 1, "column": 12}]
    ext = error["extensions"]
    assert ext["code"] == "VALIDATION_ERROR"
    assert {d["field"] for d in ext["details"]} >= {"title", "stage", "companyId"}
    assert all(set(d) == {"field", "message", "code"} for d in ext["details"])
    assert ext["fields"] == json.dumps(ext["details"], separators=(",", ":"), ensure_ascii=False)
    assert error["message"] == "; ".join(d["message"] for d in ext["details"])


async def test_unknown_model(gql: Runner) -> None:
    error = only_error((await gql('{ records(model: "Nope") }')).body)
    message = "model 'Nope' does not exist (available models: Company, Contact, Deal)"
    assert error["message"] == message
    assert error["extensions"]["details"] == [{"field": "model", "message": message, "code": "unknown_model"}]
    error = only_error((await gql('{ records(model: "contact") }')).body)
    message = "model 'contact' does not exist. Did you mean 'Contact'?"
    assert error["message"] == message
    assert error["extensions"]["details"] == [{"field": "model", "message": message, "code": "unknown_model",
                                              "suggestions": ["Contact"]}]
    assert error["extensions"]["fields"] == json.dumps(error["extensions"]["details"], separators=(",", ":"))


async def test_not_found_by_id(gql: Runner) -> None:
    error = only_error((await gql('mutation { update(model: "Deal", id: "d-404", data: { title: "X" }) }')).body)
    assert error["extensions"] == {"code": "NOT_FOUND", "details": {"model": "Deal", "id": "d-404"}}
    assert error["path"] == ["update"]


async def test_conflict_on_expected_version(gql: Runner) -> None:
    outcome = await gql('mutation { update(model: "Deal", id: "d-1", data: { stage: "won" }, expectedVersion: 4) }')
    assert outcome.body == {"data": None, "errors": [{
        "message": "Deal d-1 is at version 1, not 4", "locations": [{"line": 1, "column": 12}], "path": ["update"],
        "extensions": {"code": "CONFLICT", "details": {"currentVersion": 1, "expectedVersion": 4}}}]}


async def test_conflict_on_referenced_hard_delete(gql: Runner) -> None:
    error = only_error((await gql('mutation { hardDelete(model: "Company", id: "c-1") }')).body)
    assert error["extensions"]["code"] == "CONFLICT"
    assert "Deal.companyId" in error["extensions"]["details"]["referencedBy"]


async def test_permission_denied(gql: Runner) -> None:
    outcome = await gql('mutation { hardDelete(model: "Deal", id: "d-1") }', caller=SALES)
    assert outcome.body["data"] is None
    error = only_error(outcome.body)
    assert error["message"] == "Access denied for 'delete' on 'Deal'"
    assert error["extensions"] == {"code": "PERMISSION_DENIED", "details": {"model": "Deal", "action": "delete"}}


async def test_unauthenticated_has_no_details(gql: Runner) -> None:
    error = only_error((await gql('{ count(model: "Contact") }', caller=ANON)).body)
    assert error["extensions"] == {"code": "UNAUTHENTICATED"} and error["path"] == ["count"]


async def test_nullable_record_failing_gives_null_and_others_survive(gql: Runner) -> None:
    outcome = await gql('{ record(model: "Nope", id: "1") n: count(model: "Deal") }')
    assert outcome.body["data"] == {"record": None, "n": 4}
    assert only_error(outcome.body)["path"] == ["record"]


async def test_non_null_root_failure_nulls_data(gql: Runner) -> None:
    outcome = await gql('{ n: count(model: "Deal") bad: count(model: "Nope") }')
    assert outcome.body["data"] is None
    assert only_error(outcome.body)["path"] == ["bad"]


@pytest.mark.parametrize("exc", [RuntimeError("no such table: secret_internal"), StorageError("disk I/O secret")])
async def test_unexpected_errors_are_internal_and_leak_nothing(gql: Runner, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture,
                                                               exc: Exception) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise exc
    monkeypatch.setattr(gql.app.runtime.data, "records", boom)
    with caplog.at_level(logging.ERROR, logger="atomo.graphql"):
        outcome = await gql('{ records(model: "Contact") }', request_id="req-42")
    assert outcome.body == {"data": None, "errors": [{
        "message": "Internal server error", "locations": [{"line": 1, "column": 3}], "path": ["records"],
        "extensions": {"code": "INTERNAL_ERROR", "details": {"requestId": "req-42"}}}]}
    assert "secret" not in json.dumps(outcome.body)
    assert any(r.exc_info and r.exc_info[1] is exc for r in caplog.records)


async def test_bad_result_shape_is_internal(gql: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    async def not_a_record(*args: Any, **kwargs: Any) -> Any:
        return ["not", "an", "object"]
    monkeypatch.setattr(gql.app.runtime.data, "record", not_a_record)
    outcome = await gql('{ record(model: "Contact", id: "p-1") }')
    assert outcome.body["data"] == {"record": None}
    assert only_error(outcome.body)["extensions"]["code"] == "INTERNAL_ERROR"


async def test_errors_in_list_items_of_records(gql: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    async def with_null(*args: Any, **kwargs: Any) -> Any:
        return [{"id": "a"}, None]
    monkeypatch.setattr(gql.app.runtime.data, "records", with_null)
    outcome = await gql('{ records(model: "Contact") }')
    assert outcome.body["data"] is None
    assert only_error(outcome.body)["extensions"]["code"] == "INTERNAL_ERROR"


async def test_query_runs_every_root_field_after_a_failure(gql: Runner) -> None:
    outcome = await gql('{ a: count(model: "Nope") b: count(model: "Other") c: count(model: "Deal") }')
    assert outcome.body["data"] is None
    assert [e["path"] for e in outcome.body["errors"]] == [["a"], ["b"]]


async def test_mutations_after_a_failed_one_do_not_run(gql: Runner) -> None:
    outcome = await gql("""mutation {
      a: create(model: "Company", data: { id: "c-8", name: "Eight" })
      b: create(model: "Company", data: { name: "" })
      c: create(model: "Company", data: { id: "c-9", name: "Nine" })
    }""")
    assert outcome.body["data"] is None and [e["path"] for e in outcome.body["errors"]] == [["b"]]
    found = await gql.data('{ a: record(model: "Company", id: "c-8") c: record(model: "Company", id: "c-9") }')
    assert found["a"]["name"] == "Eight" and found["c"] is None


async def test_unique_violation_in_a_second_mutation(gql: Runner) -> None:
    outcome = await gql("""mutation {
      a: create(model: "Company", data: { id: "c-7", name: "Seven" })
      b: create(model: "Company", data: { id: "c-7", name: "Seven again" })
    }""")
    assert outcome.body["data"] is None
    error = only_error(outcome.body)
    assert error["path"] == ["b"] and error["extensions"]["details"][0]["code"] == "unique"
    assert (await gql.data('{ record(model: "Company", id: "c-7") }'))["record"]["name"] == "Seven"
