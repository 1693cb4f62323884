"""Two-tenant isolation through the real server (auth chapter §8): users bound to tenants A and B and an
unbound admin choosing a tenant with X-Tenant-ID; every operation is tried across tenants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, Outcome, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env

SCHEMA = """
export interface Note { id: string; title: string; ownerId?: string }
export interface Memo { id: string; title: string }
export const schema = { models: {
  Memo: { access: { read: 'sameTenant', create: 'sameTenant', update: 'sameTenant', delete: 'sameTenant' } },
} }
export default schema
"""
A, B = "tenant-a", "tenant-b"


class Tenants:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.gql = Gql(server.base_url)
        self.alice = self.gql.login("alice@a.test")
        self.bob = self.gql.login("bob@b.test")
        self.root = self.gql.login("root@x.test")
        self.rows: dict[str, dict[str, Any]] = {}

    def run(self, token: str, field: str, args: str, variables: dict[str, Any] | None = None, *,
            mutation: bool = False, tenant: str | None = None, selection: str = "") -> Outcome:
        return self.gql.field(field, args, variables, mutation=mutation, token=token, tenant=tenant,
                              selection=selection)

    def create(self, token: str, title: str, model: str = "Note", tenant: str | None = None) -> dict[str, Any]:
        outcome = self.run(token, "create", f'model: "{model}", data: $d', {"d": {"title": title}}, mutation=True,
                           tenant=tenant)
        assert outcome.ok, outcome
        return outcome.value  # type: ignore[no-any-return]


async def prepare(app: Atomo) -> None:
    await app.users.create("alice@a.test", PASSWORD, role="sales", tenant_id=A)
    await app.users.create("bob@b.test", PASSWORD, role="sales", tenant_id=B)
    await app.users.create("root@x.test", PASSWORD, role="admin")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    project = write_project(tmp_path_factory.mktemp("tenancy") / "project", SCHEMA)
    with_library(project, prepare)
    server = ServerProcess(project, env=server_env()).start()
    try:
        w = Tenants(server)
        rows = w.rows
        rows["a1"], rows["a2"] = w.create(w.alice, "a1"), w.create(w.alice, "a2")
        rows["b1"], rows["b2"] = w.create(w.bob, "b1"), w.create(w.bob, "b2")
        rows["b-deleted"] = w.create(w.bob, "b-deleted")
        assert w.run(w.bob, "delete", f'model: "Note", id: "{rows["b-deleted"]["id"]}"', mutation=True).value == 1
        rows["root-a"] = w.create(w.root, "root-a", tenant=A)
        rows["root-none"] = w.create(w.root, "root-none")
        yield w
        w.gql.close()
    finally:
        server.stop()


def test_creates_are_stamped_with_the_effective_tenant(world: Tenants) -> None:
    r = world.rows
    assert [r[k]["tenantId"] for k in ("a1", "b1", "root-a", "root-none")] == [A, B, A, None]
    given = world.run(world.alice, "create", 'model: "Note", data: $d', {"d": {"title": "x", "tenantId": B}},
                      mutation=True)
    assert given.code == "VALIDATION_ERROR"
    assert given.body["errors"][0]["extensions"]["details"][0]["code"] == "read_only"
    moved = world.run(world.alice, "update", f'model: "Note", id: "{r["a1"]["id"]}", data: $d',
                      {"d": {"tenantId": B}}, mutation=True)
    assert moved.code == "VALIDATION_ERROR"


@pytest.mark.parametrize("who, tenant, visible", [
    ("alice", None, {"a1", "a2", "root-a"}), ("alice", A, {"a1", "a2", "root-a"}), ("bob", None, {"b1", "b2"}),
    ("root", A, {"a1", "a2", "root-a"}), ("root", B, {"b1", "b2"}),
])
def test_reads_see_only_their_tenant(world: Tenants, who: str, tenant: str | None, visible: set[str]) -> None:
    token = getattr(world, who)
    rows = world.rows
    ids = {rows[k]["id"] for k in visible}
    records = world.run(token, "records", 'model: "Note"', tenant=tenant)
    assert {r["id"] for r in records.value} == ids
    assert world.run(token, "count", 'model: "Note"', tenant=tenant).value == len(ids)
    page = world.run(token, "paginatedRecords", 'model: "Note", limit: 100', tenant=tenant,
                     selection="{ data pageInfo { totalCount } }")
    assert {r["id"] for r in page.value["data"]} == ids and page.value["pageInfo"]["totalCount"] == len(ids)
    trash = world.run(token, "deletedRecords", 'model: "Note"', tenant=tenant,
                      selection="{ data pageInfo { totalCount } }")
    expected_trash = {rows["b-deleted"]["id"]} if who == "bob" or tenant == B else set()
    assert {r["id"] for r in trash.value["data"]} == expected_trash
    for key, row in rows.items():
        one = world.run(token, "record", f'model: "Note", id: "{row["id"]}"', tenant=tenant)
        assert (one.value is not None) == (key in visible), (key, one)
        history = world.run(token, "history", f'model: "Note", id: "{row["id"]}"', tenant=tenant,
                            selection="{ stream tenantId }")
        if key in visible or (key == "b-deleted" and (who == "bob" or tenant == B)):
            assert history.value and all(e["tenantId"] == row["tenantId"] for e in history.value)
        else:
            assert history.value == [], (key, history)
    events = world.run(token, "events", 'model: "Note", limit: 1000', tenant=tenant,
                       selection="{ tenantId recordId }")
    assert events.ok, events
    effective = tenant or {"alice": A, "bob": B}[who]
    assert {e["tenantId"] for e in events.value} == {effective}


def test_events_without_model_are_admin_only_and_scoped(world: Tenants) -> None:
    denied = world.run(world.alice, "events", "limit: 1000", selection="{ tenantId }")
    assert denied.code == "PERMISSION_DENIED"
    scoped = world.run(world.root, "events", "limit: 1000", tenant=B, selection="{ tenantId }")
    assert scoped.ok and {e["tenantId"] for e in scoped.value} == {B}
    everything = world.run(world.root, "events", "limit: 1000", selection="{ tenantId }")
    assert {A, B, None} <= {e["tenantId"] for e in everything.value}


def test_unscoped_admin_sees_every_tenant(world: Tenants) -> None:
    ids = {r["id"] for r in world.run(world.root, "records", 'model: "Note"').value}
    assert ids >= {world.rows[k]["id"] for k in ("a1", "b1", "root-a", "root-none")}


def test_writes_never_reach_another_tenant(world: Tenants) -> None:
    b1, b2, gone = (world.rows[k]["id"] for k in ("b1", "b2", "b-deleted"))
    a2 = world.rows["a2"]["id"]
    alice = world.alice
    m = 'model: "Note"'
    update = world.run(alice, "update", f'{m}, id: "{b1}", data: $d', {"d": {"title": "pwned"}}, mutation=True)
    assert update.code == "NOT_FOUND" and update.body["errors"][0]["extensions"]["details"] == {"model": "Note",
                                                                                             "id": b1}
    many = world.run(alice, "updateMany", f"{m}, items: $items",
                     {"items": [{"id": a2, "data": {"title": "ok"}}, {"id": b1, "data": {"title": "pwned"}}]},
                     mutation=True, selection="")
    assert many.code == "NOT_FOUND"
    where = {"id": {"in": [a2, b1, b2]}}
    by_where = world.run(alice, "update", f"{m}, where: $w, data: $d", {"w": where, "d": {"title": "mass"}},
                         mutation=True)
    assert by_where.ok and by_where.value["id"] == a2
    for op, target in (("delete", b1), ("restore", gone), ("hardDelete", b2), ("hardDelete", gone)):
        outcome = world.run(alice, op, f'{m}, id: "{target}"', mutation=True)
        assert outcome.ok and outcome.value == 0, (op, outcome)
    assert world.run(alice, "delete", f"{m}, where: $w", {"w": {"title": {"contains": "b"}}}, mutation=True).value == 0
    # nothing of B changed
    titles = {r["id"]: r["title"] for r in world.run(world.bob, "records", m).value}
    assert titles[b1] == "b1" and titles[b2] == "b2"
    assert world.run(world.bob, "count", m).value == 2
    # an admin scoped to A cannot touch B either
    assert world.run(world.root, "update", f'{m}, id: "{b1}", data: $d', {"d": {"title": "x"}}, mutation=True,
                     tenant=A).code == "NOT_FOUND"
    assert world.run(world.root, "hardDelete", f'{m}, id: "{b1}"', mutation=True, tenant=A).value == 0


def test_same_tenant_rule(world: Tenants) -> None:
    memo = world.create(world.alice, "memo", model="Memo")
    assert memo["tenantId"] == A
    assert world.run(world.bob, "record", f'model: "Memo", id: "{memo["id"]}"').value is None
    assert world.run(world.bob, "count", 'model: "Memo"').value == 0
    unscoped = world.run(world.root, "records", 'model: "Memo"')
    assert unscoped.code == "PERMISSION_DENIED"      # sameTenant needs an effective tenant
    assert [r["id"] for r in world.run(world.root, "records", 'model: "Memo"', tenant=A).value] == [memo["id"]]


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_bound_user_sending_another_tenant_is_403(world: Tenants, who: str) -> None:
    token = getattr(world, who)
    other = B if who == "alice" else A
    response = world.gql.post('{ count(model: "Note") }', token=token, tenant=other)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    assert "data" not in response.json()
    for query in ('mutation { delete(model: "Note", where: {title: {contains: ""}}) }',
                  '{ events(limit: 10) { tenantId } }'):
        assert world.gql.post(query, token=token, tenant=other).status_code == 403


@pytest.mark.parametrize("value", ["", "x" * 129])
def test_empty_or_oversized_tenant_header_is_400(world: Tenants, value: str) -> None:
    for token in (world.alice, world.root, None):
        response = world.gql.post('{ count(model: "Note") }', token=token, tenant=value)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    ok = world.gql.post('{ count(model: "Note") }', token=world.root, tenant="x" * 128)
    assert ok.status_code == 200 and ok.json()["data"]["count"] == 0
