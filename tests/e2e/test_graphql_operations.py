"""Every GraphQL operation through HTTP, against the `atomo serve` subprocess."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.conftest import gql_post


def ok(base_url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = gql_post(base_url, query, variables, token=token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def new_contact(base_url: str, token: str, **data: Any) -> dict[str, Any]:
    payload = {"id": f"e2e-{uuid.uuid4()}", "firstName": "Ada", **data}
    if "last_name" not in payload:
        payload.setdefault("lastName", "Lovelace")
    created = ok(base_url, token, "mutation New($d: JSON!) { create(model: \"Contact\", data: $d) }", {"d": payload})
    return created["create"]  # type: ignore[no-any-return]


def test_create_returns_the_record(base_url: str, admin_token: str) -> None:
    record = new_contact(base_url, admin_token, last_name="Byron", email="ada@byron.example.com", tags=["vip"])
    assert list(record)[:3] == ["id", "firstName", "lastName"]
    assert record["lastName"] == "Byron" and record["tags"] == ["vip"] and record["_version"] == 1
    assert record["deletedAt"] is None and record["tenantId"] is None
    assert record["createdAt"].endswith("+00:00") and len(record["createdAt"]) == 32


def test_records_and_record(base_url: str, admin_token: str) -> None:
    data = ok(base_url, admin_token, '{ records(model: "Contact", where: {id: {in: ["p-1", "p-2"]}}, '
                                     'orderBy: {id: "desc"}) }')
    assert [r["id"] for r in data["records"]] == ["p-2", "p-1"]
    assert ok(base_url, admin_token, '{ record(model: "Contact", id: "p-1") }')["record"]["firstName"] == "Ada"
    assert ok(base_url, admin_token, '{ record(model: "Contact", id: "missing") }') == {"record": None}
    limited = ok(base_url, admin_token, 'query($n: Int) { records(model: "Company", limit: $n) }', {"n": 2})
    assert len(limited["records"]) == 2


def test_paginated_records_and_count(base_url: str, admin_token: str) -> None:
    data = ok(base_url, admin_token, '{ paginatedRecords(model: "Deal", limit: 2, offset: 0, orderBy: {id: "asc"}) '
                                     '{ data pageInfo { totalCount hasNextPage hasPreviousPage pageSize offset } } }')
    page = data["paginatedRecords"]
    assert len(page["data"]) == 2
    assert page["pageInfo"] == {"totalCount": 4, "hasNextPage": True, "hasPreviousPage": False, "pageSize": 2,
                                "offset": 0}
    assert ok(base_url, admin_token, '{ count(model: "Deal", where: {stage: "won"}) }')["count"] >= 1


def test_update_update_many_and_history(base_url: str, admin_token: str) -> None:
    a = new_contact(base_url, admin_token)
    b = new_contact(base_url, admin_token)
    updated = ok(base_url, admin_token, 'mutation($id: String!) { update(model: "Contact", id: $id, '
                                        'data: {phone: "+1 555"}, expectedVersion: 1) }', {"id": a["id"]})["update"]
    assert updated["phone"] == "+1 555" and updated["_version"] == 2
    many = ok(base_url, admin_token, 'mutation($items: [BulkUpdateInput!]) { updateMany(model: "Contact", '
                                     'items: $items) }',
              {"items": [{"id": b["id"], "data": {"lastName": "King"}}, {"id": a["id"], "data": {"lastName": "L"}}]})
    assert [r["lastName"] for r in many["updateMany"]] == ["King", "L"]
    history = ok(base_url, admin_token, 'query($id: String!) { history(model: "Contact", id: $id) '
                                        '{ position type streamVersion stream } }', {"id": a["id"]})["history"]
    assert [e["type"] for e in history] == ["Created", "Updated", "Updated"]
    assert [e["streamVersion"] for e in history] == [1, 2, 3]
    assert {e["stream"] for e in history} == {f"Contact/{a['id']}"}


def test_delete_deleted_records_restore_hard_delete(base_url: str, admin_token: str) -> None:
    record = new_contact(base_url, admin_token)
    rid = record["id"]
    variables = {"id": rid}
    assert ok(base_url, admin_token, 'mutation($id: String) { delete(model: "Contact", id: $id) }',
              variables)["delete"] == 1
    assert ok(base_url, admin_token, 'query($id: String!) { record(model: "Contact", id: $id) }',
              {"id": rid})["record"] is None
    trash = ok(base_url, admin_token, 'query($w: JSON) { deletedRecords(model: "Contact", where: $w) '
                                      '{ data pageInfo { totalCount } } }', {"w": {"id": rid}})["deletedRecords"]
    assert [r["id"] for r in trash["data"]] == [rid] and trash["data"][0]["deletedAt"] is not None
    assert trash["pageInfo"]["totalCount"] == 1
    assert ok(base_url, admin_token, 'mutation($id: String) { restore(model: "Contact", id: $id) }',
              variables)["restore"] == 1
    assert ok(base_url, admin_token, 'query($id: String!) { record(model: "Contact", id: $id) }',
              {"id": rid})["record"]["id"] == rid
    assert ok(base_url, admin_token, 'mutation($id: String) { hardDelete(model: "Contact", id: $id) }',
              variables)["hardDelete"] == 1
    assert ok(base_url, admin_token, 'query($id: String!) { count(model: "Contact", where: {id: $id}) }',
              {"id": rid})["count"] == 0
    history = ok(base_url, admin_token, 'query($id: String!) { history(model: "Contact", id: $id) { type } }',
                 {"id": rid})["history"]
    assert [e["type"] for e in history] == ["Created", "Deleted", "Restored", "HardDeleted"]


def test_events(base_url: str, admin_token: str) -> None:
    record = new_contact(base_url, admin_token)
    events = ok(base_url, admin_token, '{ events(after: 0, limit: 1000, model: "Contact") '
                                       '{ position type model recordId actor recordedAt } }')["events"]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    mine = [e for e in events if e["recordId"] == record["id"]]
    assert mine and mine[0]["type"] == "Created" and mine[0]["model"] == "Contact" and mine[0]["actor"]
    later = ok(base_url, admin_token, 'query($after: Int) { events(after: $after) { position } }',
               {"after": positions[-1]})["events"]
    assert all(e["position"] > positions[-1] for e in later)


def test_field_errors_are_200_with_codes(base_url: str, admin_token: str) -> None:
    response = gql_post(base_url, 'mutation { create(model: "Contact", data: {firstName: "X"}) }', token=admin_token)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    error = body["errors"][0]
    assert error["path"] == ["create"] and error["extensions"]["code"] == "VALIDATION_ERROR"
    response = gql_post(base_url, '{ records(model: "Nope") }', token=admin_token)
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"] == ("model 'Nope' does not exist "
                                                       "(available models: Company, Contact, Deal)")
    response = gql_post(base_url, 'mutation { update(model: "Contact", id: "nope", data: {phone: "1"}) }',
                        token=admin_token)
    assert response.status_code == 200 and response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def field_error(base_url: str, token: str, query: str) -> dict[str, Any]:
    response = gql_post(base_url, query, token=token)
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    return error  # type: ignore[no-any-return]


def test_unknown_names_suggest_the_closest(base_url: str, admin_token: str) -> None:
    error = field_error(base_url, admin_token, '{ records(model: "Contacts") }')
    assert error["message"] == "model 'Contacts' does not exist. Did you mean 'Contact'?"
    assert error["extensions"]["details"] == [{"field": "model", "message": error["message"], "code": "unknown_model",
                                              "suggestions": ["Contact"]}]
    error = field_error(base_url, admin_token, '{ records(model: "Contact", where: {emial: "a@b.c"}) }')
    assert error["message"] == "emial is not a field of Contact. Did you mean 'email'?"
    assert error["extensions"]["details"][0]["code"] == "invalid_filter"
    error = field_error(base_url, admin_token, '{ count(model: "Deal", where: {OR: [{stgae: "won"}]}) }')
    assert error["message"] == "stgae is not a field of Deal. Did you mean 'stage'?"
    error = field_error(base_url, admin_token, '{ records(model: "Deal", orderBy: {tilte: "asc"}) }')
    assert error["message"] == "tilte is not a field of Deal. Did you mean 'title'?"
    assert error["extensions"]["details"][0]["code"] == "invalid_order_by"
    error = field_error(base_url, admin_token,
                        'mutation { create(model: "Contact", data: {firstname: "Ada", lastName: "L"}) }')
    assert error["message"].startswith("firstname is not a field of Contact. Did you mean 'firstName'?; ")
    assert error["extensions"]["details"][0] == {
        "field": "firstname", "message": "firstname is not a field of Contact. Did you mean 'firstName'?",
        "code": "unknown_field", "suggestions": ["firstName"]}
    assert [d["code"] for d in error["extensions"]["details"]] == ["unknown_field", "required"]


def test_unknown_graphql_fields_suggest_the_closest(base_url: str, admin_token: str) -> None:
    response = gql_post(base_url, '{ recrods(model: "Contact") }', token=admin_token)
    assert response.status_code == 200
    assert response.json() == {"errors": [{
        "message": "Field recrods doesn't exist on Query. Did you mean 'records' or 'record'?",
        "locations": [{"line": 1, "column": 3}], "extensions": {"code": "VALIDATION_ERROR"}}]}
    response = gql_post(base_url, '{ records(model: "Contact", ordrBy: {id: "asc"}) }', token=admin_token)
    [error] = response.json()["errors"]
    assert error["message"].endswith("Did you mean 'orderBy'?") and "details" not in error["extensions"]


def test_get_runs_queries(base_url: str, admin_token: str) -> None:
    response = httpx.get(base_url + "/graphql", headers={"Authorization": f"Bearer {admin_token}"},
                         params={"query": 'query($id: String!) { record(model: "Contact", id: $id) }',
                                 "variables": '{"id": "p-2"}'})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["record"]["firstName"] == "Grace"
