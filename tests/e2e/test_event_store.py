"""The event store over GraphQL (issue 18) through the real server: appendEvents with optimistic concurrency (20
concurrent appends with one expected version: exactly one wins), stream and streams, the stream rules of schema.ts
(default deny, admin always, record streams read-only), tenancy, metadata and Idempotency-Key."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, served
from tests.e2e.conftest import ServerProcess

SCHEMA = """
export interface Memo { id: string; title: string }
export const schema = {
  models: { Memo: { access: { read: 'authenticated', create: 'authenticated', update: 'admin', delete: 'admin' } } },
  streams: {
    'order-*': { append: 'sales|admin', read: 'authenticated' },
    'audit-*': { read: 'admin' },
    'public-feed': { read: 'public', append: 'sales' },
  },
}
export default schema
"""
A, B = "tenant-a", "tenant-b"
APPEND = ("mutation($s: String!, $v: Int, $e: [NewEventInput!]!) { appendEvents(stream: $s, expectedVersion: $v, "
          "events: $e) { stream version events { position stream streamVersion type data metadata actor tenantId "
          "recordedAt } } }")
READ = ("query($s: String!, $from: Int, $limit: Int) { stream(name: $s, fromVersion: $from, limit: $limit) "
        "{ streamVersion type data metadata tenantId } }")
LIST = "query($p: String, $after: String, $limit: Int) { streams(prefix: $p, after: $after, limit: $limit) " \
       "{ name version lastPosition lastEventAt } }"


class World:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.gql = Gql(server.base_url)
        self.admin = self.gql.login("root@x.test")
        self.sales = self.gql.login("sam@x.test")
        self.viewer = self.gql.login("vic@x.test")
        self.sales_a = self.gql.login("amy@a.test")
        self.sales_b = self.gql.login("bob@b.test")

    def call(self, query: str, variables: dict[str, Any], token: str | None, tenant: str | None = None,
             headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.gql.post(query, variables, token=token, tenant=tenant, headers=headers)
        assert response.status_code == (200 if token or code(response.json()) != "UNAUTHENTICATED" else 401), \
            response.text
        return response.json()  # type: ignore[no-any-return]

    def append(self, token: str | None, stream: str, events: list[dict[str, Any]], version: int | None = None,
               **kw: Any) -> dict[str, Any]:
        return self.call(APPEND, {"s": stream, "v": version, "e": events}, token, **kw)

    def appended(self, token: str | None, stream: str, events: list[dict[str, Any]], version: int | None = None,
                 **kw: Any) -> dict[str, Any]:
        body = self.append(token, stream, events, version, **kw)
        assert "errors" not in body, body
        return body["data"]["appendEvents"]  # type: ignore[no-any-return]

    def read(self, token: str | None, stream: str, **kw: Any) -> dict[str, Any]:
        return self.call(READ, {"s": stream, **{k: v for k, v in kw.items() if k in ("from", "limit")}}, token,
                         tenant=kw.get("tenant"))


def code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


async def prepare(app: Atomo) -> None:
    await app.users.create("root@x.test", PASSWORD, role="admin")
    await app.users.create("sam@x.test", PASSWORD, role="sales")
    await app.users.create("vic@x.test", PASSWORD, role="viewer")
    await app.users.create("amy@a.test", PASSWORD, role="sales", tenant_id=A)
    await app.users.create("bob@b.test", PASSWORD, role="sales", tenant_id=B)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with served(tmp_path_factory.mktemp("event-store"), SCHEMA, prepare) as server:
        w = World(server)
        yield w
        w.gql.close()


def fresh(prefix: str = "order") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_append_then_read_a_stream_with_data_and_metadata(world: World) -> None:
    stream = fresh()
    first = world.appended(world.sales, stream, [
        {"type": "OrderPlaced", "data": {"total": 120.5, "lines": [{"sku": "a", "qty": 2}]},
         "metadata": {"correlationId": "c-1"}},
        {"type": "Order.Paid", "data": {"via": "card"}}], version=0)
    assert first["stream"] == stream and first["version"] == 2
    placed, paid = first["events"]
    assert (placed["streamVersion"], paid["streamVersion"]) == (1, 2) and paid["position"] == placed["position"] + 1
    assert placed["metadata"] == {"correlationId": "c-1"} and paid["metadata"] is None
    assert placed["data"] == {"total": 120.5, "lines": [{"sku": "a", "qty": 2}]} and placed["tenantId"] is None
    assert placed["actor"] and placed["recordedAt"] == paid["recordedAt"]
    more = world.appended(world.sales, stream, [{"type": "OrderShipped"}], version=2)
    assert more["version"] == 3 and more["events"][0]["data"] == {}
    read = world.read(world.viewer, stream)["data"]["stream"]
    assert [e["type"] for e in read] == ["OrderPlaced", "Order.Paid", "OrderShipped"]
    assert read[0]["metadata"] == {"correlationId": "c-1"}
    page = world.read(world.viewer, stream, **{"from": 2, "limit": 1})["data"]["stream"]
    assert [e["streamVersion"] for e in page] == [2]
    assert world.read(world.viewer, fresh())["data"]["stream"] == []           # a stream without events


def test_twenty_concurrent_appends_with_one_expected_version_one_wins(world: World) -> None:
    stream = fresh()
    world.appended(world.sales, stream, [{"type": "OrderPlaced", "data": {"n": 0}}], version=0)
    results: list[dict[str, Any]] = []
    start = threading.Barrier(20)

    def racer(n: int) -> None:
        with httpx.Client(base_url=world.server.base_url, timeout=60.0) as http:
            start.wait()
            response = http.post("/graphql", json={"query": APPEND, "variables": {
                "s": stream, "v": 1, "e": [{"type": "OrderLineAdded", "data": {"n": n}}]}},
                headers={"Authorization": f"Bearer {world.sales}"})
            results.append(response.json())
    threads = [threading.Thread(target=racer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if code(r) is None]
    lost = [r for r in results if code(r) == "CONFLICT"]
    assert len(won) == 1 and len(lost) == 19, [code(r) for r in results]
    assert all(r["errors"][0]["extensions"]["details"] == {"currentVersion": 2, "expectedVersion": 1} for r in lost)
    events = world.read(world.admin, stream)["data"]["stream"]
    assert len(events) == 2 and events[1]["data"] == won[0]["data"]["appendEvents"]["events"][0]["data"]


def test_stream_rules_default_deny_and_admin_always(world: World) -> None:
    order = fresh()
    assert code(world.append(world.viewer, order, [{"type": "X"}])) == "PERMISSION_DENIED"   # not an appender
    assert code(world.append(None, order, [{"type": "X"}])) == "UNAUTHENTICATED"
    assert code(world.append(world.sales, fresh("misc"), [{"type": "X"}])) == "PERMISSION_DENIED"   # no rule
    assert code(world.read(world.sales, fresh("misc"))) == "PERMISSION_DENIED"
    audit = fresh("audit")
    assert code(world.append(world.sales, audit, [{"type": "X"}])) == "PERMISSION_DENIED"   # no append rule
    world.appended(world.admin, audit, [{"type": "Checked"}])                               # admin: always
    assert code(world.read(world.viewer, audit)) == "PERMISSION_DENIED"
    assert [e["type"] for e in world.read(world.admin, audit)["data"]["stream"]] == ["Checked"]
    world.appended(world.sales, "public-feed", [{"type": "Posted", "data": {"text": "hi"}}])
    assert world.read(None, "public-feed")["data"]["stream"][-1]["type"] == "Posted"       # read: public
    listed = world.call(LIST, {"p": "audit-"}, world.viewer)["data"]["streams"]
    assert listed == []                                                                    # unreadable: not listed
    assert audit in [s["name"] for s in world.call(LIST, {"p": "audit-"}, world.admin)["data"]["streams"]]


def test_record_streams_are_read_only_and_follow_the_model(world: World) -> None:
    memo = world.call('mutation { create(model: "Memo", data: {title: "note"}) }', {}, world.sales)["data"]["create"]
    stream = f"Memo/{memo['id']}"
    assert code(world.append(world.admin, stream, [{"type": "Noted"}])) == "PERMISSION_DENIED"
    events = world.read(world.viewer, stream)["data"]["stream"]
    assert [e["type"] for e in events] == ["Created"] and events[0]["data"]["title"] == "note"
    assert code(world.read(None, stream)) == "UNAUTHENTICATED"


@pytest.mark.parametrize(("stream", "events", "detail"), [
    ("$system", [{"type": "X"}], "invalid_stream"),
    ("", [{"type": "X"}], "invalid_stream"),
    ("order-bad", [{"type": "Created"}], "invalid_event_type"),
    ("order-bad", [{"type": "9lives"}], "invalid_event_type"),
    ("order-bad", [{"type": "X", "data": [1, 2]}], "type"),
    ("order-bad", [{"type": "X", "metadata": "text"}], "type"),
    ("order-bad", [], "invalid_events"),
    ("order-bad", [{"type": "X"}] * 1001, "invalid_events"),
])
def test_bad_appends_are_validation_errors(world: World, stream: str, events: list[dict[str, Any]],
                                           detail: str) -> None:
    body = world.append(world.admin, stream, events)
    assert code(body) == "VALIDATION_ERROR", body
    assert body["errors"][0]["extensions"]["details"][0]["code"] == detail
    if stream == "order-bad":
        assert world.read(world.admin, stream)["data"]["stream"] == []


def test_a_stream_belongs_to_the_tenant_of_its_first_event(world: World) -> None:
    stream = fresh()
    done = world.appended(world.sales_a, stream, [{"type": "OrderPlaced"}])
    assert done["events"][0]["tenantId"] == A
    assert world.read(world.sales_b, stream)["data"]["stream"] == []                # another tenant: empty
    assert code(world.append(world.sales_b, stream, [{"type": "Hijack"}])) == "PERMISSION_DENIED"
    assert code(world.append(world.sales, stream, [{"type": "Hijack"}])) == "PERMISSION_DENIED"  # untenanted scope
    by_admin = world.appended(world.admin, stream, [{"type": "Fixed"}])             # unbound admin: the stream's tenant
    assert by_admin["events"][0]["tenantId"] == A
    assert [e["type"] for e in world.read(world.sales_a, stream)["data"]["stream"]] == ["OrderPlaced", "Fixed"]
    assert stream not in [s["name"] for s in world.call(LIST, {"p": "order-"}, world.sales_b)["data"]["streams"]]
    mine = world.call(LIST, {"p": stream}, world.sales_a)["data"]["streams"]
    assert mine == [{"name": stream, "version": 2, "lastPosition": by_admin["events"][0]["position"],
                     "lastEventAt": by_admin["events"][0]["recordedAt"]}]
    assert world.call(LIST, {"p": stream}, world.admin, tenant=B)["data"]["streams"] == []


def test_streams_pages_by_name(world: World) -> None:
    base = f"order-page-{uuid.uuid4().hex[:6]}-"
    for n in range(5):
        world.appended(world.sales, f"{base}{n}", [{"type": "OrderPlaced"}])
    first = world.call(LIST, {"p": base, "limit": 2}, world.viewer)["data"]["streams"]
    second = world.call(LIST, {"p": base, "after": first[-1]["name"], "limit": 2}, world.viewer)["data"]["streams"]
    rest = world.call(LIST, {"p": base, "after": second[-1]["name"], "limit": 10}, world.viewer)["data"]["streams"]
    assert [s["name"] for s in first + second + rest] == [f"{base}{n}" for n in range(5)]
    assert code(world.call(LIST, {"limit": 5000}, world.viewer)) == "VALIDATION_ERROR"


def test_an_append_with_an_idempotency_key_is_applied_once(world: World) -> None:
    stream = fresh()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = world.append(world.sales, stream, [{"type": "OrderPlaced"}], headers=key)
    again = world.gql.http.post("/graphql", headers={**key, "Authorization": f"Bearer {world.sales}"},
                                json={"query": APPEND, "variables": {"s": stream, "v": None,
                                                                      "e": [{"type": "OrderPlaced"}]}})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first
    assert len(world.read(world.sales, stream)["data"]["stream"]) == 1
