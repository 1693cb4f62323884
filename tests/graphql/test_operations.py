"""Every Query/Mutation field through the engine against the opened CRM sample (graphql chapter §2-§8)."""

from __future__ import annotations

import re

from tests.graphql.conftest import ADMIN, Runner

CONTACT_KEYS = ["id", "firstName", "lastName", "email", "phone", "companyId", "tags", "notes", "ownerId",
                "createdAt", "updatedAt", "deletedAt", "tenantId", "_version"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


async def test_records_returns_records_in_key_order(gql: Runner) -> None:
    data = await gql.data('{ records(model: "Contact", limit: 20) }')
    records = data["records"]
    assert [r["id"] for r in records] == ["p-1", "p-2", "p-3", "p-4", "p-5", "p-6"]
    assert list(records[0]) == CONTACT_KEYS
    first = records[0]
    assert first["firstName"] == "Ada" and first["tags"] == ["vip"] and first["notes"] == []
    assert TIMESTAMP.match(first["createdAt"]) and first["deletedAt"] is None and first["_version"] == 1


async def test_records_where_order_by_limit_offset(gql: Runner) -> None:
    data = await gql.data('{ records(model: "Deal", where: { stage: { in: ["won", "lost", "lead", "proposal"] } },'
                          ' orderBy: [{ field: "value", direction: "desc" }], limit: 2, offset: 1) }')
    values = [r["value"] for r in data["records"]]
    assert len(values) == 2 and values == sorted(values, reverse=True)
    everything = await gql.data('{ records(model: "Deal") }')
    assert len(everything["records"]) == 4


async def test_record_found_and_missing(gql: Runner) -> None:
    data = await gql.data('{ a: record(model: "Contact", id: "p-1") b: record(model: "Contact", id: "nope") }')
    assert data["a"]["id"] == "p-1" and list(data["a"]) == CONTACT_KEYS
    assert data["b"] is None


async def test_paginated_and_deleted_records(gql: Runner) -> None:
    query = """query Page($limit: Int) {
      paginatedRecords(model: "Contact", limit: $limit, offset: 4) {
        data pageInfo { totalCount hasNextPage hasPreviousPage pageSize offset } }
    }"""
    page = (await gql.data(query, {"limit": 3}))["paginatedRecords"]
    assert [r["id"] for r in page["data"]] == ["p-5", "p-6"]
    assert page["pageInfo"] == {"totalCount": 6, "hasNextPage": False, "hasPreviousPage": True, "pageSize": 3,
                                "offset": 4}
    defaults = (await gql.data('{ paginatedRecords(model: "Contact") { pageInfo { pageSize offset } } }'))
    assert defaults["paginatedRecords"]["pageInfo"] == {"pageSize": 20, "offset": 0}

    assert (await gql.data('mutation { delete(model: "Contact", id: "p-6") }')) == {"delete": 1}
    trash = (await gql.data('{ deletedRecords(model: "Contact") { data pageInfo { totalCount } } }'))
    assert [r["id"] for r in trash["deletedRecords"]["data"]] == ["p-6"]
    assert trash["deletedRecords"]["data"][0]["deletedAt"] is not None
    assert trash["deletedRecords"]["pageInfo"] == {"totalCount": 1}


async def test_count(gql: Runner) -> None:
    data = await gql.data('{ all: count(model: "Deal") won: count(model: "Deal", where: { stage: "won" }) }')
    assert data["all"] == 4 and 0 < data["won"] < 4


async def test_history_and_events(gql: Runner) -> None:
    await gql.data('mutation { update(model: "Contact", id: "p-1", data: { phone: "+1 555" }) }')
    fields = "position eventId stream streamVersion type model recordId data previousData actor tenantId origin " \
             "recordedAt"
    history = (await gql.data(f'{{ history(model: "Contact", id: "p-1") {{ {fields} }} }}'))["history"]
    assert [e["type"] for e in history] == ["Created", "Updated"]
    assert [e["streamVersion"] for e in history] == [1, 2]
    assert history[1]["stream"] == "Contact/p-1" and history[1]["recordId"] == "p-1"
    assert history[1]["actor"] == "u-admin" and history[0]["origin"] == "seed"
    assert history[1]["data"]["phone"] == "+1 555" and history[1]["previousData"]["phone"] is None
    assert TIMESTAMP.match(history[1]["recordedAt"])
    assert list(history[0]) == fields.split()

    events = (await gql.data('{ events(after: 2, limit: 3) { position model type } }'))["events"]
    assert [e["position"] for e in events] == [3, 4, 5]
    by_model = (await gql.data('{ events(model: "Contact", limit: 1000) { model } }'))["events"]
    assert len(by_model) == 7 and {e["model"] for e in by_model} == {"Contact"}


async def test_create_with_variables_returns_the_record(gql: Runner) -> None:
    query = 'mutation New($data: JSON!) { create(model: "Contact", data: $data) }'
    variables = {"data": {"firstName": "Ada", "last_name": "Byron", "email": "ada2@example.com"}}
    record = (await gql.data(query, variables))["create"]
    assert list(record) == CONTACT_KEYS
    assert record["lastName"] == "Byron" and record["tags"] == [] and record["_version"] == 1
    assert record["createdAt"] == record["updatedAt"] and record["tenantId"] is None


async def test_update_by_id_and_by_where(gql: Runner) -> None:
    one = (await gql.data('mutation { update(model: "Deal", id: "d-1", data: { probability: 50 }, '
                          'expectedVersion: 1) }'))["update"]
    assert one["probability"] == 50 and one["_version"] == 2
    many = (await gql.data('mutation { update(model: "Contact", where: { companyId: "c-1" }, '
                           'data: { phone: "000" }) }'))["update"]
    assert many["phone"] == "000" and many["companyId"] == "c-1"
    nothing = (await gql.data('mutation { update(model: "Contact", where: { id: "zzz" }, data: { phone: "1" }) }'))
    assert nothing == {"update": {}}


async def test_update_many_with_items_and_updates(gql: Runner) -> None:
    items = await gql.data('mutation { updateMany(model: "Contact", items: ['
                           '{ id: "p-2", data: { phone: "2" } }, { id: "p-1", data: { phone: "1" }, '
                           'expectedVersion: 1 }]) }')
    assert [(r["id"], r["phone"]) for r in items["updateMany"]] == [("p-2", "2"), ("p-1", "1")]
    query = 'mutation M($u: [BulkUpdateInput!]) { updateMany(model: "Contact", updates: $u) }'
    updates = await gql.data(query, {"u": [{"id": "p-3", "data": {"phone": "3"}}]})
    assert updates["updateMany"][0]["phone"] == "3"


async def test_delete_restore_hard_delete_lifecycle(gql: Runner) -> None:
    assert await gql.data('mutation { delete(model: "Contact", id: "p-5") }') == {"delete": 1}
    assert await gql.data('mutation { delete(model: "Contact", id: "p-5") }') == {"delete": 0}
    assert await gql.data('{ record(model: "Contact", id: "p-5") }') == {"record": None}
    assert await gql.data('mutation { restore(model: "Contact", where: { id: "p-5" }) }') == {"restore": 1}
    assert (await gql.data('{ record(model: "Contact", id: "p-5") }'))["record"]["id"] == "p-5"
    assert await gql.data('mutation { hardDelete(model: "Contact", id: "p-5") }') == {"hardDelete": 1}
    history = await gql.data('{ history(model: "Contact", id: "p-5") { type } }')
    assert [e["type"] for e in history["history"]][-3:] == ["Deleted", "Restored", "HardDeleted"]


async def test_several_root_mutations_run_in_order(gql: Runner) -> None:
    data = await gql.data("""mutation {
      first: create(model: "Company", data: { id: "c-9", name: "Nine" })
      second: update(model: "Company", id: "c-9", data: { name: "Nine Two" }, expectedVersion: 1)
      third: delete(model: "Company", id: "c-9", expectedVersion: 2)
    }""")
    assert list(data) == ["first", "second", "third"]
    assert data["first"]["_version"] == 1 and data["second"]["_version"] == 2 and data["third"] == 1


async def test_result_objects_with_aliases_and_typename(gql: Runner) -> None:
    data = await gql.data('{ __typename p: paginatedRecords(model: "Company", limit: 1) { __typename '
                          'info: pageInfo { __typename total: totalCount } } }')
    assert data == {"__typename": "Query", "p": {"__typename": "PaginatedRecords",
                                                 "info": {"__typename": "PageInfo", "total": 3}}}


async def test_caller_reaches_the_data_service(gql: Runner) -> None:
    record = (await gql.data('mutation { create(model: "Company", data: { name: "Acme Two" }) }',
                             caller=ADMIN))["create"]
    history = await gql.data(f'{{ history(model: "Company", id: "{record["id"]}") {{ actor }} }}')
    assert history["history"] == [{"actor": "u-admin"}]
