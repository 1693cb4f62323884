"""The dispatcher in-process (jobs chapter §1-§2): bindings and conditions of both schema syntaxes,
payloads, same-transaction enqueue, loop prevention, seeds. The HTTP surfaces are in the e2e modules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from atomo import Atomo
from atomo.errors import NotFoundError, ValidationError
from atomo.jobs.actions import json_equal
from tests.conftest import settings
from tests.jobs.schemas import BUILDER, INTERFACE


@pytest.fixture(params=["interface", "builder"])
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Atomo]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "schema.ts").write_text(INTERFACE if request.param == "interface" else BUILDER)
    async with Atomo(project, settings=settings()) as opened:
        yield opened


async def jobs(app: Atomo) -> list[dict[str, Any]]:
    def run(conn: Any) -> list[dict[str, Any]]:
        rows = conn.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
        return [{**dict(r), "payload": json.loads(r["payload"])} for r in rows]
    return await app.runtime.db.read(run)  # type: ignore[no-any-return]


async def kinds(app: Atomo) -> list[str]:
    return [j["kind"] for j in await jobs(app)]


async def test_created_binding_enqueues_in_the_same_transaction(app: Atomo) -> None:
    ticket = await app.create("Ticket", {"title": "Printer on fire", "priority": 3}, actor="u-1")
    [job] = await jobs(app)
    [event] = await app.history("Ticket", ticket["id"])
    assert (job["queue"], job["kind"], job["status"], job["max_attempts"], job["priority"]) == \
        ("actions", "triage", "queued", 5, 0)
    assert job["idempotency_key"] == f"{event.event_id}:triage"
    assert job["created_by"] == "u-1" and job["tenant_id"] is None
    assert job["payload"] == {
        "action": "triage", "model": "Ticket", "event": "created", "eventId": event.event_id,
        "input": {"id": ticket["id"], "priority": 3}, "actor": "u-1", "timestamp": event.recorded_at_text,
        "origin": None, "recordId": ticket["id"], "tenantId": None, "position": event.position}
    assert job["created_at"] == event.recorded_at_text


async def test_update_conditions(app: Atomo) -> None:
    ticket = await app.create("Ticket", {"title": "T", "priority": 2})
    await app.update("Ticket", id=ticket["id"], data={"title": "T2"})            # nothing bound changed
    assert await kinds(app) == ["triage"]
    await app.update("Ticket", id=ticket["id"], data={"priority": 2.0})          # 2 == 2.0: no change at all
    assert await kinds(app) == ["triage"]
    await app.update("Ticket", id=ticket["id"], data={"priority": 1})            # changedAny + fieldEquals 1
    assert await kinds(app) == ["triage", "triage", "urgent"]
    await app.update("Ticket", id=ticket["id"], data={"status": "pending"})      # status changed, not closed
    assert await kinds(app) == ["triage", "triage", "urgent", "urgent"]          # fieldEquals alone: still 1
    await app.update("Ticket", id=ticket["id"], data={"status": "closed", "priority": 5})
    assert await kinds(app) == ["triage", "triage", "urgent", "urgent", "triage", "closeOut"]
    close = (await jobs(app))[-1]
    assert close["payload"]["event"] == "updated"
    assert close["payload"]["input"] == {"id": ticket["id"], "title": "T2"}


async def test_deletes_use_the_before_image_and_restores_dispatch_nothing(app: Atomo) -> None:
    ticket = await app.create("Ticket", {"title": "Gone", "priority": 4, "tags": ["a"]})
    await app.delete("Ticket", id=ticket["id"])
    await app.restore("Ticket", id=ticket["id"])
    await app.hard_delete("Ticket", id=ticket["id"])
    found = await jobs(app)
    assert [(j["kind"], j["payload"]["event"]) for j in found] == \
        [("triage", "created"), ("archive", "deleted"), ("archive", "harddeleted")]
    soft = found[1]["payload"]["input"]
    assert soft["title"] == "Gone" and soft["tags"] == ["a"] and soft["deletedAt"] is None   # whole before-image
    assert found[2]["payload"]["input"]["id"] == ticket["id"]


async def test_a_write_whose_origin_is_the_action_does_not_retrigger_it(app: Atomo) -> None:
    ticket = await app.create("Ticket", {"title": "Loop", "priority": 3}, origin="triage")
    assert await kinds(app) == []
    await app.update("Ticket", id=ticket["id"], data={"priority": 1}, origin="triage")
    assert await kinds(app) == ["urgent"]                       # other actions still fire
    [job] = await jobs(app)
    assert job["payload"]["origin"] == "triage"


async def test_a_rolled_back_write_leaves_no_job(app: Atomo) -> None:
    ticket = await app.create("Ticket", {"title": "Ok", "priority": 3})
    with pytest.raises(NotFoundError):                          # first item valid, second not: one transaction
        await app.update_many("Ticket", [{"id": ticket["id"], "data": {"priority": 1}},
                                         {"id": ticket["id"] + "x", "data": {"title": "x"}}])
    with pytest.raises(ValidationError):
        await app.update_many("Ticket", [{"id": ticket["id"], "data": {"priority": 1}},
                                         {"id": ticket["id"], "data": {"title": None}}])
    assert await kinds(app) == ["triage"]


async def test_seed_writes_dispatch_only_when_asked(app: Atomo) -> None:
    await app.runtime.seed({"Ticket": [{"id": "t-1", "title": "Seeded"}]})
    assert await kinds(app) == []
    app.runtime.jobs.dispatch_seed = True
    await app.runtime.seed({"Ticket": [{"id": "t-2", "title": "Seeded too"}]})
    [job] = await jobs(app)
    assert job["payload"]["origin"] == "seed" and job["payload"]["recordId"] == "t-2"


async def test_tenant_of_the_row_and_many_rows_in_one_write(app: Atomo) -> None:
    user, _ = await app.users.create("ops@acme.test", "Ops-pass-123", role="admin", tenant_id="acme")
    handle = app.as_user(user.id)
    await handle.create("Ticket", {"title": "A", "priority": 9})
    await handle.create("Ticket", {"title": "B", "priority": 9})
    await app.update("Ticket", where={"priority": {"equals": 9}}, data={"priority": 1})
    found = await jobs(app)
    assert [j["kind"] for j in found] == ["triage", "triage", "triage", "urgent", "triage", "urgent"]
    assert {j["tenant_id"] for j in found} == {"acme"}
    assert {j["payload"]["tenantId"] for j in found} == {"acme"}
    assert len({j["idempotency_key"] for j in found}) == 6


def test_json_equality() -> None:
    assert json_equal(1, 1.0) and json_equal({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not json_equal(True, 1) and not json_equal(0, False) and not json_equal("1", 1)
    assert not json_equal([1], [1, 2]) and not json_equal({"a": 1}, {"a": 1, "b": None})
    assert json_equal(None, None) and not json_equal(None, 0)
