"""Tenant and identity escapes found by an attacker's review (issue 10, items 3, 4, 8 and 10a), through
the real server:

- unbound non-admin users (self-registered, or created without a tenant) are scoped to untenanted rows
  and may not choose a tenant (header, ``connection_init``); ``ATOMO_REGISTRATION_TENANT`` binds new users;
- a worker created by a tenant-bound admin stays in that tenant (CRUD, actors, leases), the jobs admin
  views are filtered to the caller's tenant and ``job:<id>`` is visible exactly when ``GET /jobs/{id}`` is;
- ``history`` checks every event (a reused id never shows an earlier record's events);
- job idempotency keys are per creator.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, Outcome, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env
from tests.e2e.wskit import Socket, realtime, ws_url

SCHEMA = """
export interface Note { id: string; title: string }
export interface Doc { id: string; title: string; body?: string; ownerId?: string }
export const schema = { models: {
  Doc: { access: { read: 'owner(ownerId)', create: 'authenticated|owner(ownerId)', update: 'owner(ownerId)',
                   delete: 'owner(ownerId)' } },
} }
export default schema
"""
T1, T2, T9 = "t1", "t2", "t9"


class World:
    def __init__(self, server: ServerProcess, ids: dict[str, str]) -> None:
        self.server = server
        self.url = server.base_url
        self.ids = ids
        self.gql = Gql(server.base_url)
        self.tokens = {name: self.gql.login(f"{name}@esc.test") for name in ids}
        self.rows: dict[str, str] = {}

    def run(self, who: str | None, field: str, args: str, variables: dict[str, Any] | None = None, *,
            mutation: bool = False, tenant: str | None = None) -> Outcome:
        token = self.tokens[who] if who else None
        selection = "{ type data previousData tenantId }" if field == "history" else ""
        return self.gql.field(field, args, variables, mutation=mutation, token=token, tenant=tenant,
                              selection=selection)

    def note(self, who: str, title: str, tenant: str | None = None) -> str:
        outcome = self.run(who, "create", 'model: "Note", data: $d', {"d": {"title": title}}, mutation=True,
                           tenant=tenant)
        assert outcome.ok, outcome
        return str(outcome.value["id"])

    def http(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=30.0, **kwargs)


USERS = {"root": ("admin", None), "boss2": ("admin", T2), "ann1": ("sales", T1), "ben2": ("sales", T2),
         "free": ("sales", None), "alice": ("viewer", None), "bob": ("viewer", None)}


async def prepare(app: Atomo) -> dict[str, str]:
    ids = {}
    for name, (role, tenant) in USERS.items():
        user, _ = await app.users.create(f"{name}@esc.test", PASSWORD, role=role, tenant_id=tenant)
        ids[name] = user.id
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    project = write_project(tmp_path_factory.mktemp("escapes") / "project", SCHEMA)
    ids = with_library(project, prepare)
    server = ServerProcess(project, env=server_env(ATOMO_ENABLE_SELF_REGISTRATION="true")).start()
    try:
        w = World(server, ids)
        w.rows["t1"] = w.note("ann1", "t1 note")
        w.rows["t2"] = w.note("ben2", "t2 note")
        w.rows["none"] = w.note("root", "untenanted note")
        yield w
        w.gql.close()
    finally:
        server.stop()


def register(world: World) -> str:
    email = f"self-{uuid.uuid4().hex[:8]}@esc.test"
    response = httpx.post(world.url + "/auth/register", json={"email": email, "password": PASSWORD}, timeout=30.0)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


# -- item 3: unbound non-admin users --------------------------------------------------------------------
def test_self_registered_user_cannot_choose_a_tenant(world: World) -> None:
    token = register(world)
    gql = world.gql
    for tenant in (T1, T2):
        read = gql.field("records", 'model: "Note"', token=token, tenant=tenant)
        assert read.code == "PERMISSION_DENIED" and read.status == 403, read
        create = gql.field("create", 'model: "Note", data: $d', {"d": {"title": "x"}}, mutation=True, token=token,
                           tenant=tenant)
        assert create.code == "PERMISSION_DENIED" and create.status == 403, create
    seen = gql.field("records", 'model: "Note"', token=token)
    assert seen.ok and {r["tenantId"] for r in seen.value} == {None}, seen
    assert world.rows["none"] in {r["id"] for r in seen.value}
    assert not {world.rows["t1"], world.rows["t2"]} & {r["id"] for r in seen.value}
    count = gql.field("count", 'model: "Note"', token=token)
    assert count.ok and count.value == len(seen.value)


@pytest.mark.parametrize("op", ["update", "delete", "record"])
def test_unbound_user_cannot_touch_a_tenant_row(world: World, op: str) -> None:
    target = world.rows["t1"]
    if op == "update":
        outcome = world.run("free", "update", f'model: "Note", id: "{target}", data: $d', {"d": {"title": "pwned"}},
                            mutation=True)
        assert outcome.code == "NOT_FOUND", outcome
    elif op == "delete":
        outcome = world.run("free", "delete", f'model: "Note", id: "{target}"', mutation=True)
        assert outcome.ok and outcome.value == 0, outcome
    else:
        outcome = world.run("free", "record", f'model: "Note", id: "{target}"')
        assert outcome.ok and outcome.value is None, outcome
    check = world.run("root", "record", f'model: "Note", id: "{target}"')
    assert check.value["title"] == "t1 note" and check.value["deletedAt"] is None


def test_unbound_user_creates_untenanted_rows_and_sees_no_tenant_events(world: World) -> None:
    created = world.run("free", "create", 'model: "Note", data: $d', {"d": {"title": "free note"}}, mutation=True)
    assert created.ok and created.value["tenantId"] is None
    history = world.run("free", "history", f'model: "Note", id: "{world.rows["t1"]}"')
    assert history.ok and history.value == [], history
    own = world.run("free", "history", f'model: "Note", id: "{created.value["id"]}"')
    assert own.ok and [e["type"] for e in own.value] == ["Created"]


def test_unbound_admin_still_chooses_a_tenant(world: World) -> None:
    scoped = world.run("root", "records", 'model: "Note"', tenant=T1)
    assert scoped.ok and {r["tenantId"] for r in scoped.value} == {T1}
    every = world.run("root", "records", 'model: "Note"')
    assert {T1, T2, None} <= {r["tenantId"] for r in every.value}


def test_unbound_user_tenant_in_connection_init_is_refused(world: World) -> None:
    async def main() -> tuple[int | None, str]:
        sock = await Socket.open(ws_url(world.url, "/graphql/ws"), subprotocols=["graphql-transport-ws"])
        await sock.send({"type": "connection_init", "payload": {"authorization": world.tokens["free"], "tenant": T1}})
        refused = await sock.closed_with()
        sock = await Socket.open(ws_url(world.url, "/graphql/ws"), subprotocols=["graphql-transport-ws"])
        await sock.send({"type": "connection_init", "payload": {"authorization": world.tokens["free"]}})
        await sock.expect("connection_ack")
        await sock.send({"id": "1", "type": "subscribe",
                         "payload": {"query": 'subscription { modelChanges(model: "Note", after: 0) '
                                              '{ eventType data } }'}})
        await sock.send({"id": "2", "type": "subscribe", "payload": {"query": '{ records(model: "Note") }'}})
        tenants = set()
        while True:
            frame = await sock.recv()
            if frame["id"] == "2":
                break
            tenants.add(frame["payload"]["data"]["modelChanges"]["data"].get("tenantId"))
        await sock.close()
        return refused, json.dumps(sorted(tenants, key=str))
    code, tenants = asyncio.run(main())
    assert code == 4403
    assert tenants == "[null]"          # the replay shows untenanted events only


def test_registration_tenant_binds_new_users(tmp_path_factory: pytest.TempPathFactory) -> None:
    project = write_project(tmp_path_factory.mktemp("regtenant") / "project", SCHEMA)
    env = server_env(ATOMO_ENABLE_SELF_REGISTRATION="true", ATOMO_REGISTRATION_TENANT=T9)
    server = ServerProcess(project, env=env).start()
    try:
        world = World(server, {})
        token = register(world)
        me = httpx.get(server.base_url + "/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
        assert me.json()["tenant_id"] == T9
        created = world.gql.field("create", 'model: "Note", data: $d', {"d": {"title": "n"}}, mutation=True,
                                  token=token)
        assert created.ok and created.value["tenantId"] == T9
        world.gql.close()
    finally:
        server.stop()


# -- item 4: tenant-bound admins and the worker plane -------------------------------------------------
def worker(world: World, who: str, capabilities: list[str]) -> dict[str, Any]:
    response = world.http(who, "POST", "/jobs/workers", json={"name": f"w-{uuid.uuid4().hex[:6]}", "queues": ["*"],
                                                              "capabilities": capabilities})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def crud(world: World, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, world.url + "/api/worker/crud/" + path, headers={"X-Worker-Token": token},
                         timeout=30.0, **kwargs)


def test_worker_of_a_tenant_bound_admin_stays_in_its_tenant(world: World) -> None:
    made = worker(world, "boss2", ["crud:*"])
    assert made["tenantId"] == T2
    token = made["token"]
    listed = crud(world, token, "GET", "Note")
    assert listed.status_code == 200 and {r["tenantId"] for r in listed.json()} == {T2}, listed.text
    for actor in ({"tenantId": T1}, {"userId": world.ids["ann1"]}, {"userId": world.ids["free"]}):
        refused = crud(world, token, "GET", "Note", params={"actor": json.dumps(actor)})
        assert refused.status_code == 403, (actor, refused.text)
    as_root = crud(world, token, "GET", "Note", params={"actor": json.dumps({"userId": world.ids["root"]})})
    assert as_root.status_code == 200 and {r["tenantId"] for r in as_root.json()} == {T2}
    foreign = crud(world, token, "GET", f"Note/{world.rows['t1']}")
    assert foreign.status_code == 404
    created = crud(world, token, "POST", "Note", json={"data": {"title": "by worker"}, "actor": {"tenantId": T2}})
    assert created.status_code == 201 and created.json()["tenantId"] == T2
    escaped = crud(world, token, "PATCH", f"Note/{world.rows['t1']}", json={"data": {"title": "pwned"}})
    assert escaped.status_code == 404


def test_worker_of_a_tenant_bound_admin_leases_only_its_tenant(world: World) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    t1_job = world.http("ann1", "POST", "/jobs", json={"queue": queue, "kind": "k"}).json()["id"]
    t2_job = world.http("ben2", "POST", "/jobs", json={"queue": queue, "kind": "k"}).json()["id"]
    token = worker(world, "boss2", [])["token"]
    leased = httpx.post(world.url + "/jobs/lease", headers={"X-Worker-Token": token},
                        json={"queues": [queue], "capacity": 10}, timeout=30.0)
    assert leased.status_code == 200, leased.text
    assert [j["id"] for j in leased.json()["jobs"]] == [t2_job]
    assert world.http("root", "GET", f"/jobs/{t1_job}").json()["status"] == "queued"


def test_jobs_admin_views_follow_the_tenant(world: World) -> None:
    queue = f"v-{uuid.uuid4().hex[:8]}"
    for who in ("ann1", "ben2", "ben2"):
        assert world.http(who, "POST", "/jobs", json={"queue": queue, "kind": "k"}).status_code == 201
    recent = world.http("boss2", "GET", "/jobs/recent", params={"queue": queue}).json()["jobs"]
    assert len(recent) == 2
    every = world.http("root", "GET", "/jobs/recent", params={"queue": queue}).json()["jobs"]
    assert len(every) == 3
    stats = world.http("boss2", "GET", "/jobs/stats").json()
    counted = sum(row["count"] for row in stats["byQueue"] if row["queue"] == queue)
    assert counted == 2
    theirs = worker(world, "root", [])
    assert theirs["id"] not in {w["id"] for w in world.http("boss2", "GET", "/jobs/workers").json()["workers"]}
    assert world.http("boss2", "DELETE", f"/jobs/workers/{theirs['id']}").status_code == 404


def test_job_channel_visible_exactly_when_the_job_is(world: World) -> None:
    t1_job = world.http("ann1", "POST", "/jobs", json={"queue": "chan", "kind": "k"}).json()["id"]

    async def subscribe(who: str) -> str:
        sock = await realtime(world.url, world.tokens[who])
        try:
            await sock.send({"op": "subscribe", "channel": f"job:{t1_job}", "ref": 1})
            frame = await sock.recv()
            return str(frame["type"] if frame["type"] != "error" else frame["code"])
        finally:
            await sock.close()
    for who in ("boss2", "ann1", "root", "ben2"):
        visible = world.http(who, "GET", f"/jobs/{t1_job}").status_code == 200
        assert asyncio.run(subscribe(who)) == ("presence" if visible else "PERMISSION_DENIED"), who
    assert world.http("boss2", "GET", f"/jobs/{t1_job}").status_code == 404


# -- item 8: history after an id is reused ---------------------------------------------------------------
def test_history_never_shows_an_earlier_record_with_the_same_id(world: World) -> None:
    rid = f"victim-{uuid.uuid4().hex[:6]}"
    made = world.run("alice", "create", 'model: "Doc", data: $d', {"d": {"id": rid, "title": "t", "body": "secret"}},
                     mutation=True)
    assert made.ok and made.value["ownerId"] == world.ids["alice"], made
    assert world.run("alice", "update", f'model: "Doc", id: "{rid}", data: $d', {"d": {"body": "more secret"}},
                     mutation=True).ok
    assert world.run("alice", "hardDelete", f'model: "Doc", id: "{rid}"', mutation=True).value == 1
    reused = world.run("bob", "create", 'model: "Doc", data: $d', {"d": {"id": rid, "title": "mine"}}, mutation=True)
    assert reused.ok, reused
    bobs = world.run("bob", "history", f'model: "Doc", id: "{rid}"')
    assert bobs.ok and [e["type"] for e in bobs.value] == ["Created"], bobs
    assert "secret" not in json.dumps(bobs.value)
    alices = world.run("alice", "history", f'model: "Doc", id: "{rid}"')
    assert [e["type"] for e in alices.value] == ["Created", "Updated", "HardDeleted"]


# -- item 10a: idempotency keys per creator --------------------------------------------------------------
def test_idempotency_keys_are_per_creator(world: World) -> None:
    key = f"invoice-{uuid.uuid4().hex[:6]}"
    body = {"queue": "billing", "kind": "invoice", "idempotencyKey": key}
    alice = world.http("alice", "POST", "/jobs", json=body)
    bob = world.http("bob", "POST", "/jobs", json=body)
    assert alice.status_code == 201 and bob.status_code == 201
    assert alice.json()["id"] != bob.json()["id"]
    again = world.http("alice", "POST", "/jobs", json=body)
    assert again.json() == {"id": alice.json()["id"], "duplicate": True}
    assert world.http("alice", "GET", f"/jobs/{alice.json()['id']}").json()["createdBy"] == world.ids["alice"]
