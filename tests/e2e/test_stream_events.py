"""``streamEvents(stream, prefix, after)`` through the real server: events appended with ``appendEvents`` over
HTTP arrive on ``/graphql/ws`` in position order with the client's selection; ``after`` replays exactly what
follows a position and then continues live (across a reconnect too); a prefix subscription skips the streams
the caller may not read, record streams and other tenants' streams; access and argument errors are ``error``
messages for that id; over HTTP the subscription is refused like ``modelChanges``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, served
from tests.e2e.conftest import ServerProcess
from tests.e2e.wskit import Socket, graphql_ws

SCHEMA = """
export interface Memo { id: string; title: string }
export const schema = { models: {}, streams: {
  'order-*': { append: 'sales|admin', read: 'authenticated' },
  'audit-*': { read: 'admin' },
} }
export default schema
"""
ALL = ("position eventId stream streamVersion type model recordId data previousData actor tenantId origin "
       "recordedAt metadata")
SUBSCRIBE = "subscription($s: String, $p: String, $a: Int) { streamEvents(stream: $s, prefix: $p, after: $a) { %s } }"


class World:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.gql = Gql(server.base_url)
        self.admin = self.gql.login("root@x.test")
        self.sales = self.gql.login("ann@x.test")
        self.viewer = self.gql.login("vic@x.test")
        self.alice = self.gql.login("alice@a.test")      # sales, tenant A
        self.bob = self.gql.login("bob@b.test")          # sales, tenant B

    def append(self, token: str, stream: str, *types: str, data: dict[str, Any] | None = None,
               metadata: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        events = [{"type": t, "data": data or {"n": i}, "metadata": metadata} for i, t in enumerate(types)]
        response = self.gql.post("mutation($s: String!, $e: [NewEventInput!]!) { appendEvents(stream: $s, events: $e) "
                                 f"{{ version events {{ {ALL} }} }} }}", {"s": stream, "e": events}, token=token)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        return body["data"]["appendEvents"]["events"]  # type: ignore[no-any-return]

    async def socket(self, token: str | None) -> Socket:
        return await graphql_ws(self.server.base_url, {"authorization": f"Bearer {token}"} if token else {})


async def prepare(app: Atomo) -> None:
    await app.users.create("root@x.test", PASSWORD, role="admin")
    await app.users.create("ann@x.test", PASSWORD, role="sales")
    await app.users.create("vic@x.test", PASSWORD, role="viewer")
    await app.users.create("alice@a.test", PASSWORD, role="sales", tenant_id="tenant-a")
    await app.users.create("bob@b.test", PASSWORD, role="sales", tenant_id="tenant-b")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("stream-events"), SCHEMA, prepare) as server:
        w = World(server)
        yield w
        w.gql.close()


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def subscribe(sock: Socket, op_id: str, selection: str = "position stream type", **variables: Any) -> None:
    """Start a subscription and wait until the server has registered it (messages of one socket are handled in
    order: once a later query is answered, the subscription's live cursor is set)."""
    await sock.send({"type": "subscribe", "id": op_id, "payload": {"query": SUBSCRIBE % selection,
                                                                  "variables": variables}})
    await sock.send({"type": "subscribe", "id": f"{op_id}-sync", "payload": {"query": "{ __typename }"}})
    while True:
        frame = await sock.recv()
        if frame.get("id") == f"{op_id}-sync":
            if frame["type"] == "complete":
                return
            assert frame["type"] == "next", frame
            continue
        assert frame.get("id") == op_id and frame["type"] == "next", frame      # replayed events arrive meanwhile
        sock.pending.append(frame)  # type: ignore[attr-defined]


async def events(sock: Socket, count: int, op_id: str = "1", key: str = "streamEvents") -> list[dict[str, Any]]:
    pending: list[dict[str, Any]] = getattr(sock, "pending", [])
    out = []
    while len(out) < count:
        frame = pending.pop(0) if pending else await sock.recv()
        assert frame["type"] == "next" and frame["id"] == op_id, frame
        out.append(frame["payload"]["data"][key])
    return out


async def error_of(sock: Socket, op_id: str, **variables: Any) -> dict[str, Any]:
    await sock.send({"type": "subscribe", "id": op_id, "payload": {"query": SUBSCRIBE % "position",
                                                                  "variables": variables}})
    frame = await sock.expect("error")
    assert frame["id"] == op_id and len(frame["payload"]) == 1, frame
    return frame["payload"][0]  # type: ignore[no-any-return]


async def open_socket(world: World, token: str | None) -> Socket:
    sock = await world.socket(token)
    sock.pending = []  # type: ignore[attr-defined]
    return sock


async def test_a_stream_subscription_delivers_appended_events_in_order_with_the_selection(world: World) -> None:
    stream, other = f"order-{tag()}", f"order-{tag()}"
    sock = await open_socket(world, world.viewer)
    try:
        query = ("subscription($s: String) { ev: streamEvents(stream: $s) { ...E at: position __typename } } "
                 "fragment E on StoredEvent { stream v: streamVersion type data metadata actor tenantId model "
                 "recordId previousData origin eventId recordedAt }")
        await sock.send({"type": "subscribe", "id": "1", "payload": {"query": query, "variables": {"s": stream}}})
        await sock.send({"type": "subscribe", "id": "sync", "payload": {"query": "{ __typename }"}})
        await sock.expect("next")
        await sock.expect("complete")
        first = world.append(world.sales, stream, "OrderPlaced", "OrderPaid", metadata={"source": "test"})
        world.append(world.sales, other, "OrderPlaced")
        last = world.append(world.admin, stream, "OrderShipped", data={"carrier": "UPS"})
        got = await events(sock, 3, key="ev")
        await sock.silent()
    finally:
        await sock.close()
    stored = first + last
    assert [e["at"] for e in got] == [e["position"] for e in stored]
    assert [(e["type"], e["v"]) for e in got] == [("OrderPlaced", 1), ("OrderPaid", 2), ("OrderShipped", 3)]
    assert list(got[0]) == ["stream", "v", "type", "data", "metadata", "actor", "tenantId", "model", "recordId",
                            "previousData", "origin", "eventId", "recordedAt", "at", "__typename"]
    for event, appended in zip(got, stored, strict=True):
        assert event["__typename"] == "StoredEvent" and event["stream"] == stream
        assert {k: event[k] for k in ("data", "metadata", "actor", "tenantId", "model", "recordId", "previousData",
                                      "origin", "eventId", "recordedAt")} == \
               {k: appended[k] for k in ("data", "metadata", "actor", "tenantId", "model", "recordId", "previousData",
                                         "origin", "eventId", "recordedAt")}
    assert got[0]["metadata"] == {"source": "test"} and got[2]["data"] == {"carrier": "UPS"}
    assert got[0]["model"] is None and got[0]["tenantId"] is None


async def test_after_replays_exactly_the_later_events_then_continues_live_across_a_reconnect(world: World) -> None:
    stream = f"order-{tag()}"
    placed = world.append(world.sales, stream, "A", "B", "C")
    positions = [e["position"] for e in placed]
    sock = await open_socket(world, world.sales)
    try:
        await subscribe(sock, "1", a=positions[0], s=stream)
        d = world.append(world.sales, stream, "D")
        world.append(world.sales, f"order-{tag()}", "Elsewhere")
        got = await events(sock, 3)
        await sock.silent()
    finally:
        await sock.close()
    assert [(e["type"], e["position"]) for e in got] == [("B", positions[1]), ("C", positions[2]),
                                                          ("D", d[0]["position"])]
    # closed: events keep coming; the client resumes after the last position it saw
    later = world.append(world.sales, stream, "E", "F")
    sock = await open_socket(world, world.sales)
    try:
        await subscribe(sock, "2", a=got[-1]["position"], s=stream)
        live = world.append(world.admin, stream, "G")
        resumed = await events(sock, 3, "2")
        await sock.silent(0.5)
    finally:
        await sock.close()
    assert [(e["type"], e["position"]) for e in resumed] == [(e["type"], e["position"]) for e in later + live]
    history = world.gql.post('query($s: String!) { stream(name: $s) { position type } }', {"s": stream},
                             token=world.sales).json()["data"]["stream"]
    assert [e["position"] for e in history] == positions + [e["position"] for e in got[2:] + resumed]


async def test_a_prefix_subscription_skips_unreadable_record_and_other_tenant_streams(world: World) -> None:
    t = tag()
    baseline = world.append(world.admin, f"audit-{t}", "Opened")[0]["position"]
    e1 = world.append(world.sales, f"order-{t}-1", "Placed")
    e2 = world.append(world.admin, f"audit-{t}", "Checked")
    e3 = world.append(world.alice, f"order-{t}-a", "Placed")
    e4 = world.append(world.admin, f"misc-{t}", "Noted")           # no rule: only admin reads it
    memo = world.gql.post('mutation { create(model: "Memo", data: {title: "m"}) }', token=world.admin).json()
    assert "errors" not in memo, memo
    e5 = world.append(world.bob, f"order-{t}-b", "Placed")
    subscribers = {"viewer": (world.viewer, {"p": ""}), "admin": (world.admin, {"p": ""}),
                   "alice": (world.alice, {"p": "order-"}), "bob": (world.bob, {"p": "order-"}),
                   "sales": (world.sales, {"p": f"order-{t}"}),
                   "alice-untenanted": (world.alice, {"s": f"order-{t}-1"})}   # another tenant's: looks empty
    socks = {name: await open_socket(world, token) for name, (token, _) in subscribers.items()}
    try:
        for name, (_, variables) in subscribers.items():
            await subscribe(socks[name], "1", ALL, a=baseline, **variables)
        e6 = world.append(world.sales, f"order-{t}-1", "Paid")
        e7 = world.append(world.alice, f"order-{t}-a", "Paid")
        e8 = world.append(world.admin, f"audit-{t}", "Closed")
        # unbound users other than admin see untenanted events only (auth §8); admin sees every tenant
        expected = {"viewer": e1 + e6, "admin": e1 + e2 + e3 + e4 + e5 + e6 + e7 + e8, "alice": e3 + e7, "bob": e5,
                    "sales": e1 + e6, "alice-untenanted": []}
        for name, sock in socks.items():
            got = await events(sock, len(expected[name]))
            await sock.silent()
            assert got == expected[name], name
    finally:
        for sock in socks.values():
            await sock.close()
    assert [e["tenantId"] for e in e3 + e5] == ["tenant-a", "tenant-b"]


async def test_access_and_argument_errors_are_error_messages_for_that_id(world: World) -> None:
    t = tag()
    world.append(world.admin, f"audit-{t}", "Opened")
    sock = await open_socket(world, world.viewer)
    anonymous = await open_socket(world, None)
    try:
        denied = await error_of(sock, "1", s=f"audit-{t}")
        assert denied["extensions"]["code"] == "PERMISSION_DENIED" and denied["path"] == ["streamEvents"]
        assert (await error_of(sock, "2", s=f"misc-{t}"))["extensions"]["code"] == "PERMISSION_DENIED"
        assert (await error_of(anonymous, "1", s=f"order-{t}"))["extensions"]["code"] == "UNAUTHENTICATED"
        both = await error_of(sock, "3", s=f"order-{t}", p="order-")
        neither = await error_of(sock, "4")
        assert both["extensions"]["code"] == neither["extensions"]["code"] == "VALIDATION_ERROR"
        assert "exactly one of stream and prefix" in both["message"]
        record = await error_of(sock, "5", s="Memo/m-1")
        assert record["extensions"]["code"] == "VALIDATION_ERROR" and "modelChanges" in record["message"]
        for op_id, variables in (("6", {"s": "$all"}), ("7", {"p": "$"}), ("8", {"s": ""}), ("9", {"p": "x" * 201})):
            assert (await error_of(sock, op_id, **variables))["extensions"]["code"] == "VALIDATION_ERROR", variables
        await sock.send({"type": "subscribe", "id": "10", "payload": {
            "query": 'subscription { streamEvents(stream: "order-x") { position nope } }'}})
        bad = await sock.expect("error")
        assert bad["id"] == "10" and "nope" in bad["payload"][0]["message"]
        # the socket stays open, and a readable stream still subscribes
        await subscribe(sock, "11", s=f"order-{t}")
        placed = world.append(world.sales, f"order-{t}", "Placed")
        assert [e["position"] for e in await events(sock, 1, "11")] == [placed[0]["position"]]
    finally:
        await sock.close()
        await anonymous.close()


def test_over_http_the_subscription_is_refused_like_model_changes(world: World) -> None:
    refused = []
    for query in ('subscription { streamEvents(stream: "order-1") { position } }',
                  'subscription { modelChanges(model: "Memo") { position } }'):
        response = world.gql.post(query, token=world.admin)
        refused.append((response.status_code, json.dumps(response.json()["errors"])))
    assert refused[0] == refused[1] and "/graphql/ws" in refused[0][1]
