"""`/graphql/ws` through the real server (graphql chapter §10): the `gql` websockets transport
(graphql-transport-ws) receiving model events made from another connection, resuming with `after`,
queries over the socket, access errors, the legacy `graphql-ws` protocol and every close code with
the raw `websockets` client."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.e2e.conftest import gql_post, login
from tests.e2e.wskit import Socket, graphql_ws, ws_url

FIELDS = "eventType modelName eventId position data previousData timestamp actor blockOp"


class Subscriber:
    """A `gql` session over graphql-transport-ws with one running subscription feeding a queue."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def start(self, query: str, **variables: Any) -> Subscriber:
        async def pump() -> None:
            async for result in self.session.subscribe(GraphQLRequest(query, variable_values=variables or None)):
                await self.events.put(result)
        self.task = asyncio.create_task(pump())
        await asyncio.sleep(0.1)
        # Messages of one connection are handled in order: once this answer is back, the server has
        # registered the subscription (its live cursor is the log's tail when it arrived).
        assert await self.session.execute(GraphQLRequest("{ __typename }")) == {"__typename": "Query"}
        return self

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def nothing(self, wait: float = 0.3) -> None:
        await asyncio.sleep(wait)
        assert self.events.empty(), self.events.get_nowait()


async def open_session(base_url: str, payload: dict[str, Any]) -> tuple[Client, Any]:
    transport = WebsocketsTransport(url=ws_url(base_url, "/graphql/ws"), init_payload=payload,
                                    subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])
    client = Client(transport=transport, fetch_schema_from_transport=False)
    return client, await client.connect_async()


@pytest.fixture
async def admin_ws(base_url: str, admin_token: str) -> AsyncIterator[Any]:
    client, session = await open_session(base_url, {"authorization": f"Bearer {admin_token}"})
    try:
        yield session
    finally:
        await client.close_async()


def mutate(base_url: str, token: str, query: str, **variables: Any) -> Any:
    response = gql_post(base_url, query, variables, token=token)
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_create_update_delete_from_another_connection(base_url: str, admin_token: str, admin_ws: Any) -> None:
    sub = await Subscriber(admin_ws).start(f'subscription {{ modelChanges(model: "Contact") {{ {FIELDS} }} }}')
    rid = f"sub-{uuid.uuid4()}"
    created = mutate(base_url, admin_token, 'mutation($d: JSON!) { create(model: "Contact", data: $d) }',
                     d={"id": rid, "firstName": "Ada", "lastName": "Lovelace"})["create"]
    updated = mutate(base_url, admin_token, 'mutation($id: String) { update(model: "Contact", id: $id, '
                     'data: {phone: "42"}) }', id=rid)["update"]
    mutate(base_url, admin_token, 'mutation($id: String) { delete(model: "Contact", id: $id) }', id=rid)
    mutate(base_url, admin_token, 'mutation($id: String) { restore(model: "Contact", id: $id) }', id=rid)
    mutate(base_url, admin_token, 'mutation($id: String) { hardDelete(model: "Contact", id: $id) }', id=rid)
    events = [(await sub.next())["modelChanges"] for _ in range(5)]
    assert [e["eventType"] for e in events] == ["CREATED", "UPDATED", "DELETED", "RESTORED", "HARD_DELETED"]
    first = events[0]
    assert first["data"] == created and first["previousData"] is None and first["modelName"] == "Contact"
    assert first["actor"] == httpx.get(base_url + "/auth/me", headers={"Authorization": f"Bearer {admin_token}"},
                                       ).json()["id"]
    assert first["timestamp"] == created["createdAt"] and first["blockOp"] is None
    assert events[1]["data"] == updated and events[1]["previousData"] == created
    assert set(events[2]["data"]) == {"id", "deletedAt"} and events[2]["previousData"]["phone"] == "42"
    assert events[3]["data"] == {"id": rid} and events[4]["data"] == {"id": rid}
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(e["eventId"] for e in events)) == 5
    await sub.nothing()


async def test_only_the_requested_fields_with_aliases_and_fragments(base_url: str, admin_token: str,
                                                                    admin_ws: Any) -> None:
    query = ("subscription Watch($m: String!, $full: Boolean!) { changes: modelChanges(model: $m) { kind: eventType "
             "...Where data @include(if: $full) previousData @skip(if: true) __typename } } "
             "fragment Where on ModelEvent { position }")
    sub = await Subscriber(admin_ws).start(query, m="Company", full=False)
    mutate(base_url, admin_token, 'mutation { create(model: "Company", data: {name: "Sel"}) }')
    event = (await sub.next())["changes"]
    assert set(event) == {"kind", "position", "__typename"}
    assert event["kind"] == "CREATED" and event["__typename"] == "ModelEvent"


async def test_resume_with_after_gets_exactly_the_missed_events(base_url: str, admin_token: str) -> None:
    payload = {"token": admin_token}
    create = 'mutation($d: JSON!) { create(model: "Company", data: $d) }'
    client, session = await open_session(base_url, payload)
    sub = await Subscriber(session).start('subscription { modelChanges(model: "Company") { position data } }')
    for i in range(3):
        mutate(base_url, admin_token, create, d={"name": f"before-{i}"})
    seen = [(await sub.next())["modelChanges"] for _ in range(3)]
    await client.close_async()
    last = seen[-1]["position"]
    for i in range(4):                                           # missed while disconnected
        mutate(base_url, admin_token, create, d={"name": f"missed-{i}"})
        mutate(base_url, admin_token, 'mutation($d: JSON!) { create(model: "Contact", data: $d) }',
               d={"firstName": "other", "lastName": "model"})
    client, session = await open_session(base_url, payload)
    try:
        sub = await Subscriber(session).start('subscription($after: Int) { modelChanges(model: "Company", '
                                               'after: $after) { position data } }', after=last)
        replayed = [(await sub.next())["modelChanges"] for _ in range(4)]
        assert [e["data"]["name"] for e in replayed] == [f"missed-{i}" for i in range(4)]
        mutate(base_url, admin_token, create, d={"name": "live"})
        live = (await sub.next())["modelChanges"]
        assert live["data"]["name"] == "live"
        positions = [e["position"] for e in [*replayed, live]]
        assert positions == sorted(set(positions)) and positions[0] > last
        await sub.nothing()
    finally:
        await client.close_async()


async def test_queries_and_mutations_run_over_the_socket(admin_ws: Any) -> None:
    result = await admin_ws.execute(GraphQLRequest('mutation { create(model: "Company", data: {name: "ws"}) }'))
    assert result["create"]["name"] == "ws"
    assert (await admin_ws.execute(GraphQLRequest('{ count(model: "Company") }')))["count"] >= 1


async def test_errors_are_per_operation_and_the_socket_stays_open(base_url: str, admin_ws: Any) -> None:
    with pytest.raises(TransportQueryError) as info:
        async for _ in admin_ws.subscribe(GraphQLRequest('subscription { modelChanges(model: "Nope") { position } }')):
            pass
    assert info.value.errors[0]["extensions"]["code"] == "VALIDATION_ERROR"  # type: ignore[index]
    with pytest.raises(TransportQueryError) as info:
        async for _ in admin_ws.subscribe(GraphQLRequest("subscription { modelChanges(model: 1) { position } }")):
            pass
    assert info.value.errors[0]["extensions"]["code"] == "VALIDATION_ERROR"  # type: ignore[index]
    client, anonymous = await open_session(base_url, {})
    try:
        with pytest.raises(TransportQueryError) as info:
            async for _ in anonymous.subscribe(GraphQLRequest('subscription { modelChanges(model: "Contact") '
                                                              '{ position } }')):
                pass
        assert info.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
        assert info.value.errors[0]["path"] == ["modelChanges"]  # type: ignore[index]
        assert await anonymous.execute(GraphQLRequest("{ __typename }")) == {"__typename": "Query"}
    finally:
        await client.close_async()


async def test_legacy_graphql_ws_protocol(base_url: str, admin_token: str) -> None:
    sock = await Socket.open(ws_url(base_url, "/graphql/ws"), subprotocols=["graphql-ws"])  # type: ignore[list-item]
    assert sock.ws.subprotocol == "graphql-ws"
    await sock.send({"type": "connection_init", "payload": {"Authorization": admin_token}})
    await sock.expect("connection_ack")
    await sock.expect("ka")
    await sock.send({"type": "start", "id": "1", "payload": {
        "query": 'subscription { modelChanges(model: "Company") { eventType data } }'}})
    await sock.send({"type": "start", "id": "2", "payload": {"query": "{ __typename }"}})
    assert await sock.expect("data") == {"id": "2", "type": "data", "payload": {"data": {"__typename": "Query"}}}
    assert await sock.expect("complete") == {"id": "2", "type": "complete"}
    mutate(base_url, admin_token, 'mutation { create(model: "Company", data: {name: "legacy"}) }')
    data = await sock.expect("data")
    assert data["id"] == "1" and data["payload"]["data"]["modelChanges"]["data"]["name"] == "legacy"
    await sock.send({"type": "start", "id": "3", "payload": {"query": 'subscription { modelChanges(model: "X") '
                                                                      '{ position } }'}})
    error = await sock.expect("error")
    assert error["id"] == "3" and error["payload"]["extensions"]["code"] == "VALIDATION_ERROR"
    await sock.send({"type": "stop", "id": "1"})
    assert await sock.expect("complete") == {"id": "1", "type": "complete"}
    await sock.send({"type": "connection_terminate"})
    assert await sock.closed_with() == 1000


async def close_code(base_url: str, steps: list[Any], protocol: str | None = "graphql-transport-ws",
                     timeout: float = 15.0) -> int | None:
    url = ws_url(base_url, "/graphql/ws")
    sock = await Socket.open(url, subprotocols=[protocol] if protocol else None)  # type: ignore[list-item]
    for step in steps:
        await sock.ws.send(step if isinstance(step, str) else json.dumps(step))
    return await sock.closed_with(timeout)


SUBSCRIBE = {"type": "subscribe", "id": "a", "payload": {"query": 'subscription { modelChanges(model: "Deal") '
                                                                   "{ position } }"}}


async def test_close_codes(base_url: str, admin_token: str) -> None:
    init = {"type": "connection_init", "payload": {"authorization": admin_token}}
    assert await close_code(base_url, [], protocol=None) == 4406
    assert await close_code(base_url, [], protocol="mqtt") == 4406
    assert await close_code(base_url, ["{not json"]) == 4400
    assert await close_code(base_url, [{"type": "bogus"}]) == 4400
    assert await close_code(base_url, [init, {"type": "subscribe", "payload": {"query": "{ a }"}}]) == 4400
    assert await close_code(base_url, [SUBSCRIBE]) == 4401
    assert await close_code(base_url, [{"type": "start", "id": "1", "payload": {"query": "{ __typename }"}}],
                            protocol="graphql-ws") == 4401
    assert await close_code(base_url, [init, SUBSCRIBE, SUBSCRIBE]) == 4409
    assert await close_code(base_url, [init, init]) == 4429
    assert await close_code(base_url, [{"type": "connection_init", "payload": {"token": "Bearer nope"}}]) == 4403
    assert await close_code(base_url, [{"type": "connection_init", "payload": {"token": "x"}}],
                            protocol="graphql-ws") == 4403


async def test_no_connection_init_in_time_closes_with_4408(base_url: str) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await close_code(base_url, [{"type": "ping"}]) == 4408
    assert 9.0 <= loop.time() - started <= 14.0


async def test_ping_pong_and_logout_closes_with_4403(base_url: str) -> None:
    token = login(base_url)
    sock = await graphql_ws(base_url, {"authorization": token})
    await sock.send({"type": "ping", "payload": {"at": 1}})
    assert await sock.expect("pong") == {"type": "pong", "payload": {"at": 1}}
    await sock.send({"type": "subscribe", "id": "s", "payload": {"query": 'subscription { modelChanges(model: '
                                                                          '"Deal") { position } }'}})
    assert httpx.post(base_url + "/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert await sock.closed_with(5) == 4403
