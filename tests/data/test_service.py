"""The data service through the embedded library: every operation, its errors, and its events."""

from __future__ import annotations

import asyncio

import pytest

from atomo import Atomo, ConflictError, NotFoundError, ValidationError
from atomo.storage.events import NewEvent


async def test_create_returns_the_record_shape(app: Atomo) -> None:
    c = await app.create("Contact", {"firstName": "Ada", "last_name": "Lovelace", "email": "ADA@example.com"})
    assert list(c) == ["id", "firstName", "lastName", "email", "phone", "companyId", "tags", "notes", "ownerId",
                       "createdAt", "updatedAt", "deletedAt", "tenantId", "_version"]
    assert c["lastName"] == "Lovelace" and c["tags"] == [] and c["notes"] == [] and c["_version"] == 1
    assert c["createdAt"] == c["updatedAt"] and c["createdAt"].endswith("+00:00") and len(c["createdAt"]) == 32
    assert await app.record("Contact", c["id"]) == c
    [event] = await app.history("Contact", c["id"])
    assert event.type == "Created" and event.data == c and event.stream == f"Contact/{c['id']}"
    assert event.recorded_at_text == c["createdAt"] and event.stream_version == 1


async def test_validation_reports_every_problem_and_writes_nothing(app: Atomo) -> None:
    with pytest.raises(ValidationError) as err:
        await app.create("Deal", {"stage": "nope", "value": "x", "bogus": 1, "tenantId": "t"})
    codes = {(d["field"], d["code"]) for d in err.value.details}
    assert ("title", "required") in codes and ("companyId", "required") in codes
    assert ("stage", "in") in codes and ("value", "type") in codes
    assert ("bogus", "unknown_field") in codes and ("tenantId", "read_only") in codes
    assert err.value.message == "; ".join(d["message"] for d in err.value.details)
    assert await app.count("Deal") == 0
    assert await app.events.read_all() == []


async def test_unknown_model_and_bad_filters(crm: Atomo) -> None:
    with pytest.raises(ValidationError, match="model 'Nope' does not exist"):
        await crm.records("Nope")
    for where in ({"nope": 1}, {"firstName": {"regex": "x"}}, {"firstName": {"in": "Ada"}},
                  {"firstName": {"isNull": "yes"}}):
        with pytest.raises(ValidationError) as err:
            await crm.records("Contact", where=where)
        assert err.value.details[0]["code"] == "invalid_filter"
    with pytest.raises(ValidationError):
        await crm.records("Contact", order_by={"firstName": "sideways"})
    with pytest.raises(ValidationError):
        await crm.records("Contact", order_by=[{"field": "nope", "direction": "asc"}])


async def test_unique_and_reference_rules(crm: Atomo) -> None:
    with pytest.raises(ValidationError) as err:
        await crm.create("Contact", {"firstName": "X", "lastName": "Y", "email": "ada@initech.example.com"})
    assert err.value.details == [{"field": "email", "message": "email must be unique", "code": "unique"}]
    with pytest.raises(ValidationError) as err:
        await crm.create("Deal", {"title": "Ghost", "companyId": "c-404"})
    assert err.value.details[0]["code"] == "exists"
    with pytest.raises(ValidationError) as err:
        await crm.create("Company", {"id": "c-1", "name": "Again"})
    assert err.value.details[0]["code"] == "unique"
    with pytest.raises(ValidationError) as err:
        await crm.create("Deal", {"title": "Pilot", "companyId": "c-1"})
    assert err.value.details[0]["message"] == "companyId, title must be unique together"


async def test_update_by_id_bumps_version_and_updated_at(crm: Atomo) -> None:
    before = await crm.record("Deal", "d-2")
    after = await crm.update("Deal", id="d-2", data={"stage": "won"}, expected_version=before["_version"])
    assert after["stage"] == "won" and after["_version"] == before["_version"] + 1
    assert after["updatedAt"] > before["updatedAt"] and after["createdAt"] == before["createdAt"]
    history = await crm.history("Deal", "d-2")
    assert [e.type for e in history] == ["Created", "Updated"]
    assert history[-1].previous_data == before and history[-1].data == after
    # a patch that changes nothing appends nothing
    same = await crm.update("Deal", id="d-2", data={"stage": "won"})
    assert same == after and len(await crm.history("Deal", "d-2")) == 2
    with pytest.raises(ConflictError) as err:
        await crm.update("Deal", id="d-2", data={"stage": "lost"}, expected_version=1)
    assert err.value.details == {"currentVersion": after["_version"], "expectedVersion": 1}
    with pytest.raises(NotFoundError):
        await crm.update("Deal", id="d-404", data={"stage": "lost"})
    with pytest.raises(ValidationError):
        await crm.update("Deal", id="d-2", where={"stage": "won"}, data={"stage": "lost"})
    with pytest.raises(ValidationError):
        await crm.update("Deal", where={}, data={"stage": "lost"})
    with pytest.raises(ValidationError) as err:
        await crm.update("Deal", id="d-2", data={"probability": 101, "title": ""})
    assert {d["code"] for d in err.value.details} == {"max_value", "required", "min_length"} or \
        {d["code"] for d in err.value.details} >= {"max_value", "required"}


async def test_update_by_where_and_update_many(crm: Atomo) -> None:
    first = await crm.update("Deal", where={"companyId": "c-1"}, data={"probability": 50})
    assert first["id"] == "d-1"
    assert await crm.count("Deal", where={"probability": 50}) == 2
    assert await crm.update("Deal", where={"title": "none"}, data={"probability": 1}) == {}
    rows = await crm.update_many("Deal", [{"id": "d-3", "data": {"value": 1}}, {"id": "d-2", "data": {"value": 2}}])
    assert [r["id"] for r in rows] == ["d-3", "d-2"] and [r["value"] for r in rows] == [1, 2]
    with pytest.raises(NotFoundError):
        await crm.update_many("Deal", [{"id": "d-3", "data": {"value": 7}}, {"id": "zzz", "data": {"value": 7}}])
    assert (await crm.record("Deal", "d-3"))["value"] == 1, "nothing of a failed updateMany is applied"
    with pytest.raises(ValidationError):
        await crm.update_many("Deal", [{"id": "d-3", "data": {}}, {"id": "d-3", "data": {}}])


async def test_soft_delete_lifecycle(crm: Atomo) -> None:
    assert await crm.delete("Deal", id="d-4") == 1
    assert await crm.record("Deal", "d-4") is None
    assert await crm.delete("Deal", id="d-4") == 0, "already deleted rows are not touched"
    trash = await crm.deleted_records("Deal")
    assert [r["id"] for r in trash["data"]] == ["d-4"] and trash["data"][0]["deletedAt"]
    with pytest.raises(NotFoundError):
        await crm.update("Deal", id="d-4", data={"value": 1})
    assert await crm.restore("Deal", where={"id": "d-1"}) == 0, "live rows are not restored"
    assert await crm.restore("Deal", id="d-4") == 1
    assert (await crm.record("Deal", "d-4"))["deletedAt"] is None
    with pytest.raises(ConflictError) as err:
        await crm.hard_delete("Company", id="c-1")
    assert "Deal.companyId" in err.value.details["referencedBy"]
    assert await crm.hard_delete("Deal", id="d-4") == 1
    assert [e.type for e in await crm.history("Deal", "d-4")] == ["Created", "Deleted", "Restored", "HardDeleted"]
    again = await crm.create("Deal", {"id": "d-4", "title": "Back", "companyId": "c-1"})
    assert again["_version"] == 5, "re-creating a hard-deleted id continues its stream"


async def test_paginated_records_page_info(crm: Atomo) -> None:
    for i in range(41):
        await crm.create("Company", {"name": f"Co {i:02d}"})
    page = await crm.paginated_records("Company", limit=20, offset=40, order_by={"name": "asc"})
    assert len(page["data"]) == 4
    assert page["pageInfo"] == {"totalCount": 44, "hasNextPage": False, "hasPreviousPage": True,
                                "pageSize": 20, "offset": 40}
    with pytest.raises(ValidationError):
        await crm.records("Company", limit=1001)
    with pytest.raises(ValidationError):
        await crm.records("Company", offset=-1)


async def test_order_and_filters(crm: Atomo) -> None:
    rows = await crm.records("Deal", where={"OR": [{"stage": "won"}, {"value": {"gte": 50000}}]},
                             order_by=[{"field": "value", "direction": "desc"}])
    assert [r["id"] for r in rows] == ["d-2", "d-1"]
    assert [r["id"] for r in await crm.records("Contact", where={"email": {"contains": "@INITECH"}})] == ["p-1", "p-3"]
    assert await crm.count("Deal", where={"probability": None}) == 1
    assert await crm.count("Deal", where={"probability": {"not": 100}}) == 3


async def test_concurrent_writers_each_get_their_result(app: Atomo) -> None:
    await app.create("Company", {"id": "c", "name": "Base"})
    tasks = [app.create("Deal", {"title": f"Deal {i}", "companyId": "c" if i % 7 else "missing"}) for i in range(300)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for i, r in enumerate(results):
        if i % 7:
            assert isinstance(r, dict) and r["title"] == f"Deal {i}"
        else:
            assert isinstance(r, ValidationError) and r.details[0]["code"] == "exists"
    ok = sum(1 for i in range(300) if i % 7)
    assert await app.count("Deal") == ok
    assert len(await app.events.read_all(limit=1000)) == ok + 1
    assert max(app.runtime.db.stats.batch_sizes) > 1


async def test_library_event_api(crm: Atomo) -> None:
    deal = await crm.record("Deal", "d-1")
    stored = await crm.events.append("Deal/d-1", [NewEvent("QuoteSent", {"url": "https://example.com/q"})],
                                     expected_version=deal["_version"])
    assert stored[0].stream_version == deal["_version"] + 1
    assert (await crm.record("Deal", "d-1"))["_version"] == stored[0].stream_version
    with pytest.raises(ConflictError):
        await crm.events.append("Deal/d-1", [NewEvent("QuoteSent", {})], expected_version=1)
    with pytest.raises(ValidationError):
        await crm.events.append("Deal/d-1", [NewEvent("Created", {})])
    # two racing appends with the same expected version: exactly one wins
    results = await asyncio.gather(*(crm.events.append("orders/1", [NewEvent("Placed", {"n": i})], expected_version=0)
                                     for i in range(5)), return_exceptions=True)
    assert sum(1 for r in results if isinstance(r, list)) == 1
    assert sum(1 for r in results if isinstance(r, ConflictError)) == 4
    assert await crm.events.stream_version("orders/1") == 1
    log = await crm.events.read_all(after=0, limit=1000, model="Deal")
    assert all(e.model == "Deal" for e in log) and [e.position for e in log] == sorted(e.position for e in log)


async def test_subscribe_replays_then_goes_live_without_gap(crm: Atomo) -> None:
    start = await crm.events.last_position()
    await crm.create("Company", {"name": "Before"})
    received = []

    async def consume() -> None:
        async with crm.events.subscribe(after=start, model="Company") as events:
            async for event in events:
                received.append(event)
                if len(received) == 4:
                    return
    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    for name in ("Live 1", "Live 2"):
        await crm.create("Company", {"name": name})
    await crm.create("Contact", {"firstName": "Not", "lastName": "Company"})
    await crm.create("Company", {"name": "Live 3"})
    await asyncio.wait_for(task, 5)
    assert [e.data["name"] for e in received] == ["Before", "Live 1", "Live 2", "Live 3"]
    assert [e.position for e in received] == sorted({e.position for e in received})


async def test_msgpack_and_json_payloads_mix(project) -> None:  # noqa: ANN001
    from tests.conftest import settings
    async with Atomo(project, settings=settings()) as app:
        await app.create("Company", {"id": "j", "name": "Json"})
    async with Atomo(project, settings=settings(event_encoding="msgpack")) as app:
        await app.create("Company", {"id": "m", "name": "Msgpack"})
        events = await app.events.read_all()
        assert [e.data["name"] for e in events] == ["Json", "Msgpack"]
        raw = await app.runtime.db.read(lambda c: [type(r[0]).__name__ for r in c.execute("SELECT data FROM events")])
        assert raw == ["str", "bytes"]


async def test_events_table_is_append_only(crm: Atomo) -> None:
    """Through the database's own writer connection: the table refuses it, whatever the backend."""
    from atomo.errors import StorageError
    db = crm.runtime.db
    assert db is not None
    before = len(await crm.events.read_all())
    for statement in ("DELETE FROM events", "UPDATE events SET type = 'x'"):
        with pytest.raises(StorageError):                  # the database refused it (logged as a storage error)
            await db.write(lambda c, sql=statement: c.execute(sql))
    assert len(await crm.events.read_all()) == before


async def test_as_user_applies_rules(crm: Atomo) -> None:
    from atomo.errors import PermissionDeniedError
    viewer, _ = await crm.users.create("v@example.com", "password1", role="viewer")
    sales, _ = await crm.users.create("s@example.com", "password1", role="sales")
    as_viewer = crm.as_user(viewer.id)
    assert await as_viewer.count("Deal") == 4
    with pytest.raises(PermissionDeniedError):
        await as_viewer.create("Company", {"name": "Nope"})
    as_sales = crm.as_user(sales.id)
    mine = await as_sales.create("Deal", {"title": "Mine", "companyId": "c-1", "ownerId": sales.id})
    assert (await as_sales.update("Deal", id=mine["id"], data={"value": 5}))["value"] == 5
    with pytest.raises(PermissionDeniedError):
        await as_sales.update("Deal", id="d-1", data={"value": 5})
    actor = (await crm.history("Deal", mine["id"]))[0].actor
    assert actor == sales.id
