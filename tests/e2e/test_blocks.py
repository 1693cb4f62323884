"""Block mutations and renderBlocks through the real server (content chapter §3-§6): GraphQL over HTTP, the
typed API, the worker CRUD plane, access rules, tenancy, events and ``modelChanges`` over a WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atomo import Atomo
from atomo.worker.client import CrudClient, CrudError
from tests.e2e.authkit import PASSWORD, Gql, served
from tests.e2e.conftest import ServerProcess
from tests.e2e.wskit import graphql_ws

SCHEMA = """
export interface Doc { id: string; title: string; ownerId?: string; body?: Block[]; summary?: string }
export const schema = { models: {
  Doc: { access: { read: 'authenticated', create: 'authenticated', update: 'admin|owner(ownerId)', delete: 'admin' } },
} }
export default schema
"""
CHANGE = "{ block index version record }"
A = "tenant-a"


class World:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.gql = Gql(server.base_url)
        self.admin = self.gql.login("root@x.test")
        self.ann = self.gql.login("ann@x.test")
        self.ben = self.gql.login("ben@x.test")
        self.alice = self.gql.login("alice@a.test")
        self.ann_id = self.me(self.ann)

    def me(self, token: str) -> str:
        response = self.gql.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def call(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None,
             tenant: str | None = None) -> dict[str, Any]:
        response = self.gql.post(query, variables, token=token or self.admin, tenant=tenant)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def ok(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = self.call(query, variables, **kw)
        assert "errors" not in body, body
        return next(iter(body["data"].values()))

    def error(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        body = self.call(query, variables, **kw)
        assert body.get("errors"), body
        return body["errors"][0]  # type: ignore[no-any-return]

    def doc(self, body: list[dict[str, Any]], *, owner: str | None = None, token: str | None = None,
            tenant: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"title": "Doc", "body": body}
        if owner:
            data["ownerId"] = owner
        return self.ok('mutation($d: JSON!) { create(model: "Doc", data: $d) }', {"d": data}, token=token,
                       tenant=tenant)  # type: ignore[no-any-return]

    def insert(self, doc_id: str, block: dict[str, Any], **args: Any) -> dict[str, Any]:
        return self.ok(f'mutation($b: JSON!) {{ insertBlock(model: "Doc", id: "{doc_id}", field: "body", block: $b'
                       f'{_args(args)}) {CHANGE} }}', {"b": block})  # type: ignore[no-any-return]


def _args(args: dict[str, Any]) -> str:
    return "".join(f", {k}: {json.dumps(v)}" for k, v in args.items())


async def prepare(app: Atomo) -> None:
    await app.users.create("root@x.test", PASSWORD, role="admin")
    await app.users.create("ann@x.test", PASSWORD, role="sales")
    await app.users.create("ben@x.test", PASSWORD, role="sales")
    await app.users.create("alice@a.test", PASSWORD, role="sales", tenant_id=A)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("blocks"), SCHEMA, prepare) as server:
        w = World(server)
        yield w
        w.gql.close()


def ids(record: dict[str, Any]) -> list[str]:
    return [b["id"] for b in record["body"]]


def test_each_block_mutation_is_one_event_with_the_documented_data(world: World) -> None:
    doc = world.doc([{"id": "intro", "type": "paragraph", "text": "Intro"}, {"id": "end", "type": "divider"}])
    added = world.insert(doc["id"], {"type": "task", "title": "Send quote", "dueDate": "2026-02-01"}, after="intro")
    block = added["block"]
    assert added["index"] == 1 and added["version"] == 2 and ids(added["record"]) == ["intro", block["id"], "end"]
    assert block["rev"] == 1 and block["createdAt"] == block["updatedAt"] == added["record"]["updatedAt"]
    assert len(block["id"]) == 36 and block["title"] == "Send quote"
    first = world.insert(doc["id"], {"id": "top", "type": "heading", "text": "Title", "level": 1, "rev": 99},
                         position=0)
    assert first["index"] == 0 and first["block"]["rev"] == 1      # a client's rev is ignored
    last = world.insert(doc["id"], {"id": "tail", "type": "paragraph", "text": "Tail"}, position=1000)
    assert last["index"] == 4 and last["version"] == 4

    patch = {"completed": True, "dueDate": None, "title": "Send the quote"}
    updated = world.ok(f'mutation($b: JSON!) {{ updateBlock(model: "Doc", id: "{doc["id"]}", field: "body", '
                       f'blockId: "{block["id"]}", block: $b, expectedRev: 1) {CHANGE} }}', {"b": patch})
    assert updated["block"] == {"id": block["id"], "type": "task", "title": "Send the quote", "completed": True,
                                "rev": 2, "createdAt": block["createdAt"], "updatedAt": updated["record"]["updatedAt"]}
    same = world.ok(f'mutation($b: JSON!) {{ updateBlock(model: "Doc", id: "{doc["id"]}", field: "body", '
                    f'blockId: "{block["id"]}", block: $b) {CHANGE} }}', {"b": {"completed": True}})
    assert same["version"] == updated["version"] == 5 and same["block"]["rev"] == 2   # identical patch: no event

    moved = world.ok(f'mutation {{ moveBlock(model: "Doc", id: "{doc["id"]}", field: "body", blockId: "top", '
                     f'after: "end") {CHANGE} }}')
    assert moved["index"] == 3 and ids(moved["record"]) == ["intro", block["id"], "end", "top", "tail"]
    assert moved["block"]["rev"] == 1
    nowhere = world.ok(f'mutation {{ moveBlock(model: "Doc", id: "{doc["id"]}", field: "body", blockId: "tail", '
                       f'position: 99) {CHANGE} }}')
    assert nowhere["version"] == moved["version"] == 6        # already last: no event
    removed = world.ok(f'mutation {{ removeBlock(model: "Doc", id: "{doc["id"]}", field: "body", blockId: "intro", '
                       f'expectedRev: 1) {CHANGE} }}')
    assert removed["block"] is None and removed["index"] is None and removed["version"] == 7
    assert ids(removed["record"]) == [block["id"], "end", "top", "tail"]

    history = world.ok(f'{{ history(model: "Doc", id: "{doc["id"]}") {{ type streamVersion data previousData '
                       'recordedAt }}')
    assert [e["type"] for e in history] == ["Created", "BlockInserted", "BlockInserted", "BlockInserted",
                                            "BlockUpdated", "BlockMoved", "BlockRemoved"]
    inserted, update, move, remove = history[1], history[4], history[5], history[6]
    assert inserted["data"] == {"field": "body", "block": block, "index": 1} and inserted["previousData"] is None
    assert inserted["recordedAt"] == block["createdAt"]
    assert update["data"] == {"field": "body", "blockId": block["id"], "rev": 2,
                              "patch": {"completed": True, "dueDate": None, "title": "Send the quote"}}
    assert update["previousData"] == {"block": block}
    assert move["data"] == {"field": "body", "blockId": "top", "fromIndex": 0, "toIndex": 3}
    assert move["previousData"] == {"index": 0}
    assert remove["data"] == {"field": "body", "blockId": "intro", "index": 0}
    assert remove["previousData"]["block"]["text"] == "Intro"
    record = world.ok(f'{{ record(model: "Doc", id: "{doc["id"]}") }}')
    assert record == removed["record"] and record["_version"] == 7


def test_apply_block_ops_is_atomic_and_names_the_failing_operation(world: World) -> None:
    doc = world.doc([{"id": "a", "type": "paragraph", "text": "A"}])
    query = (f'mutation($ops: [BlockOpInput!]!) {{ applyBlockOps(model: "Doc", id: "{doc["id"]}", field: "body", '
             'ops: $ops) { changes { block index } version record } }')
    done = world.ok(query, {"ops": [{"op": "insert", "block": {"id": "b", "type": "paragraph", "text": "B"}},
                                    {"op": "update", "blockId": "a", "block": {"text": "A2"}},
                                    {"op": "move", "blockId": "b", "position": 0},
                                    {"op": "insert", "block": {"id": "c", "type": "divider"}, "after": "a"}]})
    assert [c["index"] for c in done["changes"]] == [1, 0, 0, 2] and done["version"] == 5
    assert ids(done["record"]) == ["b", "a", "c"] and done["record"]["body"][1]["text"] == "A2"
    failed = world.error(query, {"ops": [{"op": "remove", "blockId": "a"},
                                         {"op": "insert", "block": {"type": "heading", "text": "x", "level": 9}}]})
    assert failed["extensions"]["code"] == "VALIDATION_ERROR"
    detail = failed["extensions"]["details"][0]
    assert detail["opIndex"] == 1 and detail["field"] == "body" and detail["code"] == "block"
    assert "level must be an integer from 1 to 6" in detail["message"]
    missing = world.error(query, {"ops": [{"op": "remove", "blockId": "a"}, {"op": "remove", "blockId": "zz"}]})
    assert missing["extensions"]["code"] == "NOT_FOUND"
    assert missing["extensions"]["details"] == {"field": "body", "blockId": "zz", "opIndex": 1}
    after = world.ok(f'{{ record(model: "Doc", id: "{doc["id"]}") }}')
    assert after["_version"] == 5 and ids(after) == ["b", "a", "c"]          # nothing of the failed calls
    too_many = world.error(query, {"ops": [{"op": "remove", "blockId": "a"}] * 101})
    assert too_many["extensions"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(("mutation", "variables", "code", "details"), [
    ('insertBlock(model: "Doc", id: "$id", field: "title", block: {type: "divider"})', None, "VALIDATION_ERROR",
     "invalid_field"),
    ('insertBlock(model: "Nope", id: "$id", field: "body", block: {type: "divider"})', None, "VALIDATION_ERROR",
     "unknown_model"),
    ('insertBlock(model: "Doc", id: "$id", field: "body", block: {type: "divider"}, position: 0, after: "a")', None,
     "VALIDATION_ERROR", "invalid_block_op"),
    ('insertBlock(model: "Doc", id: "$id", field: "body", block: {type: "divider"}, position: -1)', None,
     "VALIDATION_ERROR", "invalid_block_op"),
    ('insertBlock(model: "Doc", id: "$id", field: "body", block: {type: "divider"}, after: "zz")', None,
     "NOT_FOUND", {"field": "body", "blockId": "zz"}),
    ('insertBlock(model: "Doc", id: "$id", field: "body", block: {id: "a", type: "divider"})', None, "CONFLICT",
     {"field": "body", "blockId": "a"}),
    ('insertBlock(model: "Doc", id: "$id", field: "body", block: {type: ""})', None, "VALIDATION_ERROR", "block"),
    ('insertBlock(model: "Doc", id: "$id", field: "body", block: {type: "divider"}, expectedVersion: 7)', None,
     "CONFLICT", {"currentVersion": 1, "expectedVersion": 7}),
    ('updateBlock(model: "Doc", id: "$id", field: "body", blockId: "a", block: {text: "x"}, expectedRev: 3)', None,
     "CONFLICT", {"field": "body", "blockId": "a", "currentRev": 1, "expectedRev": 3}),
    ('updateBlock(model: "Doc", id: "$id", field: "body", blockId: "a", block: {id: "b"})', None,
     "VALIDATION_ERROR", "invalid_block_op"),
    ('updateBlock(model: "Doc", id: "$id", field: "body", blockId: "a", block: {text: null})', None,
     "VALIDATION_ERROR", "block"),
    ('updateBlock(model: "Doc", id: "$id", field: "body", blockId: "zz", block: {text: "x"})', None, "NOT_FOUND",
     {"field": "body", "blockId": "zz"}),
    ('moveBlock(model: "Doc", id: "$id", field: "body", blockId: "a", after: "a")', None, "VALIDATION_ERROR",
     "invalid_block_op"),
    ('moveBlock(model: "Doc", id: "$id", field: "body", blockId: "a")', None, "VALIDATION_ERROR", "invalid_block_op"),
    ('removeBlock(model: "Doc", id: "$id", field: "body", blockId: "a", expectedRev: 2)', None, "CONFLICT",
     {"field": "body", "blockId": "a", "currentRev": 1, "expectedRev": 2}),
    ('removeBlock(model: "Doc", id: "missing-doc", field: "body", blockId: "a")', None, "NOT_FOUND",
     {"model": "Doc", "id": "missing-doc"}),
])
def test_bad_block_mutations_get_the_documented_error_and_write_nothing(world: World, mutation: str, variables: Any,
                                                                        code: str, details: Any) -> None:
    doc = world.doc([{"id": "a", "type": "paragraph", "text": "A"}])
    error = world.error("mutation { " + mutation.replace("$id", doc["id"]) + " { version } }", variables)
    assert error["extensions"]["code"] == code, error
    if isinstance(details, str):
        assert error["extensions"]["details"][0]["code"] == details, error
    else:
        assert error["extensions"]["details"] == details
    assert world.ok(f'{{ record(model: "Doc", id: "{doc["id"]}") }}')["_version"] == 1


def test_block_mutations_follow_the_update_rule_and_the_tenant(world: World) -> None:
    doc = world.doc([{"id": "a", "type": "paragraph", "text": "A"}], owner=world.ann_id)
    query = (f'mutation {{ updateBlock(model: "Doc", id: "{doc["id"]}", field: "body", blockId: "a", '
             'block: {text: "edited"}) { version } }')
    assert world.ok(query, token=world.ann)["version"] == 2                       # owner(ownerId)
    assert world.error(query, token=world.ben)["extensions"]["code"] == "PERMISSION_DENIED"
    anonymous = httpx.post(world.server.base_url + "/graphql", json={"query": query}, timeout=30.0).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    mine = world.doc([{"id": "a", "type": "paragraph", "text": "A"}], token=world.alice, owner=None)
    assert mine["tenantId"] == A
    other = (f'mutation {{ removeBlock(model: "Doc", id: "{mine["id"]}", field: "body", blockId: "a") '
             '{ version } }')
    assert world.error(other, token=world.ann)["extensions"]["code"] == "NOT_FOUND"   # another tenant's row
    assert world.ok(other, token=world.admin, tenant=A)["version"] == 2
    gone = world.doc([{"id": "a", "type": "paragraph", "text": "A"}])
    assert world.ok(f'mutation {{ delete(model: "Doc", id: "{gone["id"]}") }}') == 1
    deleted = world.error(f'mutation {{ removeBlock(model: "Doc", id: "{gone["id"]}", field: "body", blockId: "a") '
                          '{ version } }')
    assert deleted["extensions"]["code"] == "NOT_FOUND"


def test_typed_block_mutations_return_the_typed_record(world: World) -> None:
    doc = world.doc([{"id": "a", "type": "paragraph", "text": "A"}])
    done = world.ok(f'mutation {{ insertDocBlock(id: "{doc["id"]}", field: body, block: {{type: "quote", text: "Q"}}, '
                    'after: "a") { block index version record { id title _version body } } }')
    assert done["index"] == 1 and done["version"] == 2 and done["record"]["_version"] == 2
    assert [b["type"] for b in done["record"]["body"]] == ["paragraph", "quote"]
    batch = world.ok(f'mutation {{ applyDocBlockOps(id: "{doc["id"]}", field: body, ops: [{{op: "remove", '
                     'blockId: "a"}]) { changes { index } version record { body } } }')
    assert batch["version"] == 3 and [b["type"] for b in batch["record"]["body"]] == ["quote"]
    wrong = world.call(f'mutation {{ insertDocBlock(id: "{doc["id"]}", field: title, block: {{type: "divider"}}) '
                       '{ version } }')
    assert wrong["errors"] and "data" not in wrong or wrong.get("data") is None      # not a value of DocBlockField


def test_render_blocks_needs_the_read_rule_and_a_known_format(world: World) -> None:
    doc = world.doc([{"id": "h", "type": "heading", "text": "Plan", "level": 2},
                     {"id": "l", "type": "list", "items": ["one", "**two**"]},
                     {"id": "x", "type": "paragraph", "text": "<script>alert(1)</script> [go](javascript:alert(1))"}])
    markdown = world.ok(f'{{ renderBlocks(model: "Doc", id: "{doc["id"]}", field: "body") }}', token=world.ben)
    assert markdown.startswith("## Plan\n\n- one\n- **two**\n\n") and markdown.endswith("\n")
    html = world.ok(f'{{ renderBlocks(model: "Doc", id: "{doc["id"]}", field: "body", format: "html") }}')
    assert '<h2 data-block-id="h">Plan</h2>' in html and "<li><strong>two</strong></li>" in html
    assert "<script>" not in html and "javascript:" not in html
    bad = world.error(f'{{ renderBlocks(model: "Doc", id: "{doc["id"]}", field: "body", format: "pdf") }}')
    assert bad["extensions"]["code"] == "VALIDATION_ERROR" and bad["extensions"]["details"][0]["field"] == "format"
    field = world.error(f'{{ renderBlocks(model: "Doc", id: "{doc["id"]}", field: "title") }}')
    assert field["extensions"]["code"] == "VALIDATION_ERROR"
    hidden = world.error(f'{{ renderBlocks(model: "Doc", id: "{doc["id"]}", field: "body") }}', token=world.alice)
    assert hidden["extensions"]["code"] == "NOT_FOUND"                          # another tenant's row
    anonymous = httpx.post(world.server.base_url + "/graphql", timeout=30.0, json={
        "query": f'{{ renderBlocks(model: "Doc", id: "{doc["id"]}", field: "body") }}'}).json()
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_worker_crud_plane_applies_block_operations(world: World) -> None:
    doc = world.doc([{"id": "a", "type": "paragraph", "text": "A"}])
    headers = {"Authorization": f"Bearer {world.admin}"}
    made = httpx.post(world.server.base_url + "/jobs/workers", headers=headers, timeout=30.0,
                      json={"name": "editor", "capabilities": ["crud:Doc:read,update"]})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    url = f"{world.server.base_url}/api/worker/crud/Doc/{doc['id']}/blocks/body"
    done = httpx.post(url, headers={"X-Worker-Token": token}, timeout=30.0, json={
        "ops": [{"op": "insert", "block": {"id": "w", "type": "call_log", "duration": 65}, "position": 0}],
        "origin": "transcriber", "actor": {"userId": world.me(world.admin)}})
    assert done.status_code == 200, done.text
    assert done.json()["version"] == 2 and ids(done.json()["record"]) == ["w", "a"]
    denied = httpx.post(url, headers={"X-Worker-Token": token}, timeout=30.0,        # the system role is no admin
                        json={"ops": [{"op": "remove", "blockId": "a"}]})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "PERMISSION_DENIED"
    bad = httpx.post(url, headers={"X-Worker-Token": token}, timeout=30.0,
                     json={"ops": [{"op": "explode"}], "actor": {"userId": world.me(world.admin)}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    history = world.ok(f'{{ history(model: "Doc", id: "{doc["id"]}") {{ type origin actor }} }}')
    assert history[-1]["type"] == "BlockInserted" and history[-1]["origin"] == "transcriber"

    async def python_worker() -> tuple[dict[str, Any], int]:       # the Python worker SDK's CrudClient
        crud = CrudClient(world.server.base_url, token, actor={"userId": world.me(world.admin)},
                          default_origin="summariser")
        try:
            done = await crud.block_ops("Doc", doc["id"], "body", [
                {"op": "update", "blockId": "w", "block": {"outcome": "booked"}},
                {"op": "move", "blockId": "w", "after": "a"}], expected_version=2)
            try:
                await crud.block_ops("Doc", doc["id"], "body", [{"op": "remove", "blockId": "w"}], expected_version=2)
            except CrudError as exc:
                return done, exc.status
            raise AssertionError("a stale expectedVersion was accepted")
        finally:
            await crud.aclose()
    done, status = asyncio.run(python_worker())
    assert done["version"] == 4 and [c["index"] for c in done["changes"]] == [0, 1]
    assert ids(done["record"]) == ["a", "w"] and done["record"]["body"][1]["outcome"] == "booked" and status == 409


def test_model_changes_delivers_block_events_as_updates_with_block_op(world: World) -> None:
    doc = world.doc([{"id": "a", "type": "paragraph", "text": "A"}])
    created_at = world.ok(f'{{ history(model: "Doc", id: "{doc["id"]}") {{ position }} }}')[0]["position"]

    async def scenario() -> None:
        query = ('subscription($after: Int) { modelChanges(model: "Doc", after: $after) '
                 '{ eventType position data previousData blockOp } }')
        sock = await graphql_ws(world.server.base_url, {"authorization": f"Bearer {world.ben}"})
        try:
            await sock.send({"type": "subscribe", "id": "1",
                             "payload": {"query": query, "variables": {"after": created_at}}})
            await asyncio.to_thread(world.insert, doc["id"], {"id": "b", "type": "divider"}, after="a")
            await asyncio.to_thread(world.ok, f'mutation {{ updateBlock(model: "Doc", id: "{doc["id"]}", '
                                              'field: "body", blockId: "a", block: {text: "A2"}) { version } }')
            await asyncio.to_thread(world.ok, f'mutation {{ removeBlock(model: "Doc", id: "{doc["id"]}", '
                                              'field: "body", blockId: "b") { version } }')
            events = []
            while len(events) < 3:
                frame = await sock.expect("next")
                event = frame["payload"]["data"]["modelChanges"]
                if event["data"]["id"] == doc["id"]:
                    events.append(event)
        finally:
            await sock.close()
        assert [e["eventType"] for e in events] == ["UPDATED"] * 3
        assert [e["blockOp"] for e in events] == [
            {"op": "insert", "field": "body", "blockId": "b", "index": 1},
            {"op": "update", "field": "body", "blockId": "a", "index": 0},
            {"op": "remove", "field": "body", "blockId": "b", "index": 1}]
        assert [ids(e["data"]) for e in events] == [["a", "b"], ["a", "b"], ["a"]]
        assert [e["data"]["_version"] for e in events] == [2, 3, 4]
        assert events[0]["previousData"]["body"] == doc["body"] and events[1]["data"]["body"][0]["text"] == "A2"
        assert events[2]["previousData"] == events[1]["data"]
        record = world.ok(f'{{ record(model: "Doc", id: "{doc["id"]}") }}')
        assert events[-1]["data"] == record
    asyncio.run(scenario())
