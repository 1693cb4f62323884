"""`modelChanges` gated per event by the read rule, the row-level terms and the tenant (graphql chapter §10,
auth chapter §7-§8), with the `gql` websockets transport against a project of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env
from tests.e2e.test_subscriptions import Subscriber, open_session
from tests.e2e.wskit import Socket, ws_url

SCHEMA = """
export interface Note { id: string; title: string; ownerId?: string }
export interface Memo { id: string; title: string }
export interface Vault { id: string; title: string }
export const schema = { models: {
  Note: { access: { read: 'admin|owner(ownerId)', create: 'authenticated', update: 'admin|owner(ownerId)',
                    delete: 'admin|owner(ownerId)' } },
  Memo: { access: { read: 'sameTenant', create: 'sameTenant', update: 'sameTenant', delete: 'sameTenant' } },
  Vault: { access: { read: 'admin', create: 'authenticated' } },
} }
export default schema
"""
A, B = "tenant-a", "tenant-b"


class World:
    def __init__(self, server: ServerProcess, ids: dict[str, str]) -> None:
        self.server = server
        self.ids = ids
        self.gql = Gql(server.base_url)
        self.tokens = {who: self.gql.login(f"{who}@sub.test") for who in ids}

    def create(self, who: str, model: str, data: dict[str, Any], tenant: str | None = None) -> dict[str, Any]:
        outcome = self.gql.field("create", f'model: "{model}", data: $d', {"d": data}, mutation=True,
                                 token=self.tokens[who], tenant=tenant)
        assert outcome.ok, outcome
        return outcome.value  # type: ignore[no-any-return]

    def run(self, who: str, field: str, args: str) -> Any:
        outcome = self.gql.field(field, args, mutation=True, token=self.tokens[who])
        assert outcome.ok, outcome
        return outcome.value


async def prepare(app: Atomo) -> dict[str, str]:
    ids = {}
    for name, role, tenant in (("alice", "sales", A), ("bob", "sales", B), ("root", "admin", None)):
        ids[name] = (await app.users.create(f"{name}@sub.test", PASSWORD, role=role, tenant_id=tenant))[0].id
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    project = write_project(tmp_path_factory.mktemp("sub-rules") / "project", SCHEMA)
    ids = with_library(project, prepare)
    server = ServerProcess(project, env=server_env()).start()
    try:
        w = World(server, ids)
        yield w
        w.gql.close()
    finally:
        server.stop()


@pytest.fixture
async def sessions(world: World) -> AsyncIterator[dict[str, Any]]:
    opened = {}
    for who, tenant in (("alice", None), ("bob", None), ("root", None), ("root-a", A)):
        payload: dict[str, Any] = {"authorization": world.tokens[who.split("-")[0]]}
        if tenant:
            payload["tenantId"] = tenant
        opened[who] = await open_session(world.server.base_url, payload)
    yield {who: session for who, (_, session) in opened.items()}
    for client, _ in opened.values():
        await client.close_async()


WATCH = 'subscription($m: String!) { modelChanges(model: $m) { eventType data previousData } }'


async def test_row_rules_on_after_and_before_images(world: World, sessions: dict[str, Any]) -> None:
    alice, bob = world.ids["alice"], world.ids["bob"]
    watch_alice = await Subscriber(sessions["alice"]).start(WATCH, m="Note")
    watch_root = await Subscriber(sessions["root"]).start(WATCH, m="Note")
    hidden = world.create("bob", "Note", {"title": "bob's", "ownerId": bob})
    mine = world.create("alice", "Note", {"title": "alice's", "ownerId": alice})
    first = (await watch_alice.next())["modelChanges"]              # bob's note never arrives
    assert (first["eventType"], first["data"]["id"]) == ("CREATED", mine["id"])
    world.run("root", "delete", f'model: "Note", id: "{hidden["id"]}"')
    world.run("alice", "delete", f'model: "Note", id: "{mine["id"]}"')
    deleted = (await watch_alice.next())["modelChanges"]            # judged on the before-image
    assert (deleted["eventType"], deleted["data"]["id"]) == ("DELETED", mine["id"])
    assert deleted["previousData"]["ownerId"] == alice
    await watch_alice.nothing()
    seen = [(await watch_root.next())["modelChanges"]["data"]["id"] for _ in range(4)]
    assert seen == [hidden["id"], mine["id"], hidden["id"], mine["id"]]


async def test_tenant_scope(world: World, sessions: dict[str, Any]) -> None:
    watch_alice = await Subscriber(sessions["alice"]).start(WATCH, m="Memo")
    watch_root_a = await Subscriber(sessions["root-a"]).start(WATCH, m="Memo")
    world.create("bob", "Memo", {"title": "b"})
    world.create("root", "Memo", {"title": "root in a"}, tenant=A)
    world.create("alice", "Memo", {"title": "a"})
    for watch in (watch_alice, watch_root_a):
        titles = [(await watch.next())["modelChanges"]["data"]["title"] for _ in range(2)]
        assert titles == ["root in a", "a"]
        await watch.nothing()


async def test_unauthorised_subscriptions_are_refused(world: World, sessions: dict[str, Any]) -> None:
    cases = [("alice", "Vault", "PERMISSION_DENIED"),
             ("root", "Memo", "PERMISSION_DENIED")]          # sameTenant without an effective tenant
    for who, model, code in cases:
        with pytest.raises(TransportQueryError) as info:
            async for _ in sessions[who].subscribe(GraphQLRequest(WATCH, variable_values={"m": model})):
                pass
        error = info.value.errors[0]  # type: ignore[index]
        assert error["extensions"]["code"] == code, (who, model, error)
        assert error["path"] == ["modelChanges"]


async def test_tenant_mismatch_at_init_closes_with_4403(world: World) -> None:
    sock = await Socket.open(ws_url(world.server.base_url, "/graphql/ws"),
                             subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await sock.send({"type": "connection_init", "payload": {"authorization": world.tokens["alice"], "tenant": B}})
    assert await sock.closed_with(5) == 4403
    await asyncio.sleep(0)
