"""Realtime limits and options through the real server (realtime chapter §1, §5, §6, §9): per-IP cap (429
before the upgrade), join throttle, subscription limit, anonymous opt-in, the `close` coordinator policy,
a slow client that drops frames without slowing the others, channel rules with default deny, and
ATOMO_ENABLE_REALTIME=false."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env
from tests.e2e.wskit import SlowClient, Socket, realtime, ws_url

PLAIN = """
export interface Task { id: string; title: string }
export default { models: {} }
"""
RULES = """
export interface Deal { id: string; title: string; ownerId?: string }
export const schema = {
  models: { Deal: { access: { read: 'authenticated', create: 'authenticated', update: 'authenticated',
                              delete: 'authenticated' } } },
  channels: {
    'deal:{id}': { record: 'Deal', subscribe: 'admin|owner(ownerId)', publish: 'admin' },
    'lobby': { subscribe: 'authenticated', publish: 'sales' },
    'ops:*': { subscribe: 'admin', publish: 'admin' },
    'open:*': { subscribe: 'public', publish: 'public' },
    'session:quiz-*': {},
  },
}
export default schema
"""


async def users(app: Atomo) -> dict[str, str]:
    ids = {}
    for name, role in (("alice", "sales"), ("bob", "sales"), ("carol", "viewer"), ("root", "admin")):
        ids[name] = (await app.users.create(f"{name}@lim.test", PASSWORD, role=role))[0].id
    return ids


def start(tmp_path_factory: pytest.TempPathFactory, name: str, schema: str, **env: str) -> tuple[ServerProcess, Gql]:
    project = write_project(tmp_path_factory.mktemp(name) / "project", schema)
    with_library(project, users)
    server = ServerProcess(project, env=server_env(**env)).start()
    return server, Gql(server.base_url)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Gql]]:
    server, gql = start(tmp_path_factory, "rt-limits", PLAIN, ATOMO_REALTIME_MAX_CONN_PER_IP="3",
                        ATOMO_REALTIME_JOIN_BURST="3", ATOMO_REALTIME_JOIN_PER_SEC="1",
                        ATOMO_REALTIME_ALLOW_ANON="true", ATOMO_REALTIME_COORDINATOR_POLICY="close",
                        ATOMO_REALTIME_MAX_SUBSCRIPTIONS="2", ATOMO_REALTIME_OUTBOUND_QUEUE="16",
                        ATOMO_REALTIME_PUBLISH_BURST="400")
    yield server, gql
    gql.close()
    server.stop()


@pytest.fixture(scope="module")
def ruled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Gql]]:
    server, gql = start(tmp_path_factory, "rt-rules", RULES, ATOMO_REALTIME_ALLOW_ANON="true")
    yield server, gql
    gql.close()
    server.stop()


def forwarded(ip: str) -> dict[str, Any]:
    return {"additional_headers": {"X-Forwarded-For": ip}}


async def test_connection_cap_per_ip_answers_429_before_the_upgrade(limited: tuple[ServerProcess, Gql]) -> None:
    server, _ = limited
    socks = [await realtime(server.base_url, **forwarded("10.9.9.9")) for _ in range(3)]
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(ws_url(server.base_url, "/realtime/ws"), **forwarded("10.9.9.9"))
    assert info.value.response.status_code == 429
    assert info.value.response.body is not None and b'"code":"RATE_LIMITED"' in info.value.response.body
    other = await realtime(server.base_url, **forwarded("10.9.9.10"))       # another address is not affected
    await socks.pop().close()
    await asyncio.sleep(0.2)
    socks.append(await realtime(server.base_url, **forwarded("10.9.9.9")))   # a freed slot can be used again
    for sock in [*socks, other]:
        await sock.close()


async def test_anonymous_opt_in_and_an_invalid_token_is_still_refused(limited: tuple[ServerProcess, Gql]) -> None:
    server, _ = limited
    async with await Socket.open(ws_url(server.base_url, "/realtime/ws"), **forwarded("10.1.0.1")) as anon:
        principal = (await anon.expect("welcome"))["principal"]
        assert principal.startswith("anon:") and len(principal) == 41
        await anon.send({"op": "subscribe", "channel": "public-room"})
        assert (await anon.expect("presence"))["members"] == [principal]
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(ws_url(server.base_url, "/realtime/ws?token=bad"), **forwarded("10.1.0.2"))
    assert info.value.response.status_code == 401


async def test_join_throttle_and_subscription_limit(limited: tuple[ServerProcess, Gql]) -> None:
    server, gql = limited
    async with await realtime(server.base_url, gql.login("alice@lim.test"), **forwarded("10.2.0.1")) as sock:
        for channel in ("a", "b"):
            await sock.send({"op": "subscribe", "channel": channel})
            await sock.expect("presence")
        await sock.send({"op": "subscribe", "channel": "c", "ref": 3})
        assert await sock.expect("error") == {"type": "error", "code": "LIMIT_EXCEEDED", "channel": "c", "ref": 3,
                                              "message": "at most 2 channels and sessions per connection"}
        await sock.send({"op": "presence", "channel": "a"})
        error = await sock.expect("error")
        assert (error["code"], error["message"]) == ("RATE_LIMITED", "join rate limit exceeded")
        await asyncio.sleep(1.1)                                              # one token back per second
        await sock.send({"op": "presence", "channel": "a"})
        await sock.expect("presence")


async def test_coordinator_close_policy(limited: tuple[ServerProcess, Gql]) -> None:
    server, gql = limited
    a = await realtime(server.base_url, gql.login("alice@lim.test"), **forwarded("10.3.0.1"))
    b = await realtime(server.base_url, gql.login("bob@lim.test"), **forwarded("10.3.0.2"))
    await a.send({"op": "session_join", "session": "host"})
    await a.expect("session_start")
    await b.send({"op": "session_join", "session": "host"})
    await b.expect("session_start")
    await a.expect("member_joined")
    await a.close()
    assert await b.expect("session_closed") == {"type": "session_closed", "session": "host",
                                                "reason": "coordinator_left"}
    await b.send({"op": "to_coordinator", "session": "host", "payload": 1})   # no longer a member
    assert (await b.expect("error"))["code"] == "NOT_A_MEMBER"
    await b.close()


async def test_a_slow_client_drops_frames_and_never_slows_the_others(limited: tuple[ServerProcess, Gql]) -> None:
    server, gql = limited
    url, count, chunk = server.base_url, 300, "x" * 60_000
    slow = SlowClient(ws_url(url, f"/realtime/ws?token={gql.login('bob@lim.test')}"))
    assert slow.recv()["type"] == "welcome"
    slow.send({"op": "subscribe", "channel": "firehose"})
    assert slow.recv()["type"] == "presence"
    fast = await realtime(url, gql.login("carol@lim.test"), max_size=None, **forwarded("10.4.0.2"))
    sender = await realtime(url, gql.login("alice@lim.test"), **forwarded("10.4.0.3"))
    await fast.send({"op": "subscribe", "channel": "firehose"})
    await fast.expect("presence")
    received: list[int] = []

    async def read_fast() -> None:
        while len(received) < count:
            received.append((await fast.expect("message", timeout=20))["payload"]["i"])
    reader = asyncio.create_task(read_fast())
    for i in range(count):   # paced so that a reading client keeps up; the slow one reads nothing
        await sender.send({"op": "publish", "channel": "firehose", "payload": {"i": i, "pad": chunk}})
        await asyncio.sleep(0.005)
    await asyncio.wait_for(reader, 30)
    assert received == list(range(count))                                   # all of them, in order
    stats = httpx.get(url + "/realtime/health").json()["stats"]
    assert stats["dropped_frames"] > 0
    seen, dropped = [], 0
    while len(seen) + dropped < count:                                      # the slow client catches up
        frame = await asyncio.to_thread(slow.recv)
        if frame["type"] == "dropped":
            dropped += frame["count"]
        elif frame["type"] == "message":
            seen.append(frame["payload"]["i"])
    assert dropped == stats["dropped_frames"] and seen == sorted(seen) and len(seen) + dropped == count
    slow.close()
    for sock in (fast, sender):
        await sock.close()


async def test_channel_rules_default_deny_and_record_channels(ruled: tuple[ServerProcess, Gql]) -> None:
    server, gql = ruled
    tokens = {who: gql.login(f"{who}@lim.test") for who in ("alice", "bob", "carol", "root")}
    me = gql.http.get("/auth/me", headers={"Authorization": f"Bearer {tokens['alice']}"}).json()
    created = gql.field("create", 'model: "Deal", data: $d', {"d": {"title": "mine", "ownerId": me["id"]}},
                        mutation=True, token=tokens["alice"])
    assert created.ok, created
    record = created.value
    socks = {who: await realtime(server.base_url, token) for who, token in tokens.items()}
    anon = await Socket.open(ws_url(server.base_url, "/realtime/ws"))
    await anon.expect("welcome")

    async def outcome(sock: Socket, op: str, channel: str, field: str = "channel") -> str:
        frame: dict[str, Any] = {"op": op, field: channel}
        if op == "publish":
            frame["payload"] = "hi"
        await sock.send(frame)
        while True:                       # joined/left/message frames of earlier steps are not answers
            try:
                reply = await sock.recv(timeout=0.3 if op == "publish" else 5)
            except TimeoutError:
                assert op == "publish"
                return "ok"
            if reply["type"] == "error":
                return str(reply["code"])
            if reply["type"] in ("presence", "session_start"):
                return "ok"

    deal_channel = f"deal:{record['id']}"
    expectations = [
        ("carol", "subscribe", "random", "PERMISSION_DENIED"),          # matches no rule: default deny
        ("root", "subscribe", "random", "PERMISSION_DENIED"),
        ("carol", "subscribe", "lobby", "ok"),
        ("carol", "publish", "lobby", "PERMISSION_DENIED"),
        ("alice", "publish", "lobby", "ok"),
        ("alice", "subscribe", "ops:deploys", "PERMISSION_DENIED"),
        ("root", "subscribe", "ops:deploys", "ok"),
        ("alice", "subscribe", deal_channel, "ok"),                     # owner(ownerId) on the record
        ("bob", "subscribe", deal_channel, "PERMISSION_DENIED"),
        ("root", "subscribe", deal_channel, "ok"),
        ("alice", "publish", deal_channel, "PERMISSION_DENIED"),
        ("root", "subscribe", "deal:no-such-record", "PERMISSION_DENIED"),
        ("alice", "presence", deal_channel, "ok"),
        ("bob", "presence", deal_channel, "PERMISSION_DENIED"),
    ]
    for who, op, channel, expected in expectations:
        assert await outcome(socks[who], op, channel) == expected, (who, op, channel)
    assert await outcome(anon, "subscribe", "open:x") == "ok"
    assert await outcome(anon, "subscribe", "lobby") == "PERMISSION_DENIED"
    assert await outcome(socks["bob"], "session_join", "quiz-1", "session") == "ok"
    assert await outcome(socks["bob"], "session_join", "poker", "session") == "PERMISSION_DENIED"
    for sock in [*socks.values(), anon]:
        await sock.close()


def test_realtime_can_be_switched_off(start_server: Any) -> None:
    server = start_server(env=server_env(ATOMO_ENABLE_REALTIME="false", ATOMO_ENABLE_SUBSCRIPTIONS="false"))
    assert httpx.get(server.base_url + "/realtime/health").status_code == 404
    assert httpx.post(server.base_url + "/realtime/token").status_code == 404

    async def connect(path: str) -> None:
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(ws_url(server.base_url, path), subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    asyncio.run(connect("/realtime/ws"))
    asyncio.run(connect("/graphql/ws"))


def test_shutdown_closes_both_tiers_with_1001(start_server: Any) -> None:
    from tests.e2e.conftest import login
    from tests.e2e.wskit import graphql_ws
    server = start_server()
    token = login(server.base_url)

    async def run() -> tuple[int | None, int | None]:
        rt = await realtime(server.base_url, token)
        gq = await graphql_ws(server.base_url, {"authorization": token})
        await asyncio.to_thread(server.stop)
        return await rt.closed_with(5), await gq.closed_with(5)
    assert asyncio.run(run()) == (1001, 1001)
