"""`/realtime/ws` through the real server with the `websockets` client (realtime chapter §1-§5, §7, §8):
presence including self, joined/left per principal, no echo, sessions, bad frames, MessagePack frames,
reserved channels, health counters, realtime tokens and logout."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import websockets

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env
from tests.e2e.wskit import Socket, realtime, ws_url

SCHEMA = """
export interface Task { id: string; title: string }
export default { models: {} }
"""


@dataclass
class World:
    server: ServerProcess
    gql: Gql
    ids: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.base_url

    def token(self, who: str) -> str:
        return self.gql.login(f"{who}@rt.test")


async def prepare(app: Atomo) -> dict[str, str]:
    ids = {}
    for name, role in (("alice", "sales"), ("bob", "sales"), ("carol", "viewer"), ("root", "admin")):
        user, _ = await app.users.create(f"{name}@rt.test", PASSWORD, role=role)
        ids[name] = user.id
    return ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    project = write_project(tmp_path_factory.mktemp("realtime") / "project", SCHEMA)
    ids = with_library(project, prepare)
    server = ServerProcess(project, env=server_env()).start()
    try:
        w = World(server, Gql(server.base_url), ids)
        yield w
        w.gql.close()
    finally:
        server.stop()


async def test_presence_includes_self_and_joined_left_per_principal(world: World) -> None:
    alice, bob = world.token("alice"), world.token("bob")
    ids, channel = world.ids, "room:presence"
    async with await realtime(world.url, alice) as a, await realtime(world.url, bob) as b:
        await a.send({"op": "subscribe", "channel": channel, "ref": 1})
        assert await a.expect("presence") == {"type": "presence", "channel": channel, "members": [ids["alice"]],
                                              "ref": 1}
        await b.send({"op": "subscribe", "channel": channel, "ref": "b"})
        snapshot = await b.expect("presence")
        assert snapshot["members"] == sorted([ids["alice"], ids["bob"]]) and snapshot["ref"] == "b"
        assert await a.expect("joined") == {"type": "joined", "channel": channel, "who": ids["bob"]}
        await b.send({"op": "subscribe", "channel": channel})            # again: the snapshot only
        assert (await b.expect("presence"))["members"] == snapshot["members"]
        await b.send({"op": "unsubscribe", "channel": channel})
        assert await a.expect("left") == {"type": "left", "channel": channel, "who": ids["bob"]}
        await b.send({"op": "unsubscribe", "channel": channel})          # not joined: a no-op
        await b.silent()
        await a.silent()


async def test_second_tab_is_not_a_second_join(world: World) -> None:
    alice, bob = world.token("alice"), world.token("bob")
    ids, channel = world.ids, "room:tabs"
    async with await realtime(world.url, alice) as a:
        await a.send({"op": "subscribe", "channel": channel})
        await a.expect("presence")
        b1, b2 = await realtime(world.url, bob), await realtime(world.url, bob)
        await b1.send({"op": "subscribe", "channel": channel})
        await b1.expect("presence")
        assert (await a.expect("joined"))["who"] == ids["bob"]
        await b2.send({"op": "subscribe", "channel": channel})
        assert (await b2.expect("presence"))["members"] == sorted([ids["alice"], ids["bob"]])
        await a.silent()
        await b1.silent(0.1)
        await b2.close()                                                  # one of two tabs: no `left`
        await a.silent()
        await b1.close()
        assert await a.expect("left") == {"type": "left", "channel": channel, "who": ids["bob"]}


async def test_publish_reaches_others_but_never_echoes(world: World) -> None:
    alice, bob, carol = world.token("alice"), world.token("bob"), world.token("carol")
    channel = "deal:42"
    payload = {"typing": True, "field": "notes", "n": 1.5, "big": 2**40, "text": "héllo ✓", "list": [None, {}]}
    async with (await realtime(world.url, alice) as a1, await realtime(world.url, alice) as a2,
                await realtime(world.url, bob) as b, await realtime(world.url, carol) as outsider):
        for sock in (a1, a2, b):
            await sock.send({"op": "subscribe", "channel": channel})
            await sock.expect("presence")
        for sock in (a1, a2):                  # joined: bob (a2 was no news: alice was already present)
            assert (await sock.expect("joined"))["who"] == world.ids["bob"]
        await a1.send({"op": "publish", "channel": channel, "payload": payload})
        for sock in (a2, b):                   # the other tab of the sender does receive it
            assert await sock.expect("message") == {"type": "message", "channel": channel,
                                                    "payload": payload, "from": world.ids["alice"]}
        await a1.silent()
        await outsider.send({"op": "publish", "channel": channel, "payload": "not subscribed"})
        for sock in (a1, a2, b):
            message = await sock.expect("message")
            assert (message["from"], message["payload"]) == (world.ids["carol"], "not subscribed")
        await outsider.send({"op": "presence", "channel": channel, "ref": "p-7"})
        presence = await outsider.expect("presence")
        assert presence["members"] == sorted([world.ids["alice"], world.ids["bob"]]) and presence["ref"] == "p-7"
        await outsider.send({"op": "ping", "ref": 99})
        assert await outsider.expect("pong") == {"type": "pong", "ref": 99}


CHANNEL = "bad frame: channel must be 1-200 characters without control characters"
BAD_FRAMES: list[tuple[object, str]] = [
    ("not json", "bad frame: not valid JSON"),
    ([1, 2], "bad frame: frame must be an object"),
    ({"op": "dance"}, "bad frame: unknown op 'dance'"),
    ({"channel": "x"}, "bad frame: op is missing"),
    ({"op": "subscribe"}, "bad frame: channel is missing"),
    ({"op": "subscribe", "channel": ""}, CHANNEL),
    ({"op": "subscribe", "channel": "a\nb"}, CHANNEL),
    ({"op": "subscribe", "channel": "x" * 201}, CHANNEL),
    ({"op": "publish", "channel": "x"}, "bad frame: payload is missing"),
    ({"op": "session_join"}, "bad frame: session is missing"),
    ({"op": "to_members", "session": 5, "payload": 1}, CHANNEL.replace("channel", "session")),
    ({"op": "ping", "ref": [1]}, "bad frame: ref must be a string or number of at most 64 characters"),
]


async def test_bad_frames_answer_an_error_and_keep_the_socket_open(world: World) -> None:
    import json
    async with await realtime(world.url, world.token("alice")) as sock:
        for frame, message in BAD_FRAMES:
            await sock.ws.send(frame if isinstance(frame, str) else json.dumps(frame))
            error = await sock.expect("error")
            assert (error["code"], error["message"]) == ("BAD_FRAME", message), frame
        await sock.send({"op": "dance", "ref": "r1"})
        assert (await sock.expect("error"))["ref"] == "r1"
        await sock.ws.send(b"\x81\x01")                      # binary frame on a JSON connection
        assert (await sock.expect("error"))["message"] == "bad frame: binary frames need encoding=msgpack"
        await sock.send({"op": "publish", "channel": "big", "payload": "x" * 70_000})
        error = await sock.expect("error")
        assert error["code"] == "FRAME_TOO_LARGE"
        await sock.send({"op": "ping"})
        await sock.expect("pong")
        await sock.ws.send("x" * (1 << 20 | 1))                 # over 1 MiB: closed with 1009
        assert await sock.closed_with() == 1009


async def test_sessions_with_the_reelect_policy(world: World) -> None:
    ids, name = world.ids, "quiz-7"
    a, b, c = [await realtime(world.url, world.token(who)) for who in ("alice", "bob", "carol")]
    await a.send({"op": "session_join", "session": name})
    assert await a.expect("session_start") == {"type": "session_start", "session": name, "slot": 0,
                                               "coordinator": True, "members": [{"slot": 0, "id": ids["alice"]}]}
    await b.send({"op": "session_join", "session": name})
    start = await b.expect("session_start")
    assert (start["slot"], start["coordinator"]) == (1, False)
    assert await a.expect("member_joined") == {"type": "member_joined", "session": name, "slot": 1, "id": ids["bob"]}
    await c.send({"op": "session_join", "session": name})
    assert (await c.expect("session_start"))["members"] == [{"slot": 0, "id": ids["alice"]},
                                                            {"slot": 1, "id": ids["bob"]},
                                                            {"slot": 2, "id": ids["carol"]}]
    await a.expect("member_joined"), await b.expect("member_joined")
    await b.send({"op": "to_coordinator", "session": name, "payload": {"answer": "B"}})
    assert await a.expect("from_member") == {"type": "from_member", "session": name, "from": ids["bob"], "slot": 1,
                                             "payload": {"answer": "B"}}
    await a.send({"op": "to_coordinator", "session": name, "payload": "to myself"})   # ignored
    await a.send({"op": "to_members", "session": name, "payload": {"question": 3}})
    for sock in (b, c):
        assert await sock.expect("from_coordinator") == {"type": "from_coordinator", "session": name,
                                                         "payload": {"question": 3}}
    await a.silent()
    await b.send({"op": "to_members", "session": name, "payload": 1})
    assert await b.expect("error") == {"type": "error", "code": "NOT_COORDINATOR",
                                       "message": f"not the coordinator of session '{name}'", "session": name}
    async with await realtime(world.url, world.token("root")) as outsider:
        await outsider.send({"op": "to_coordinator", "session": name, "payload": 1})
        assert (await outsider.expect("error"))["code"] == "NOT_A_MEMBER"
    await a.send({"op": "session_join", "session": name})                  # again: session_start only
    assert (await a.expect("session_start"))["slot"] == 0
    await a.send({"op": "session_leave", "session": name})
    for sock in (b, c):
        assert await sock.expect("member_left") == {"type": "member_left", "session": name, "slot": 0,
                                                    "id": ids["alice"]}
        assert await sock.expect("coordinator_changed") == {"type": "coordinator_changed", "session": name,
                                                            "slot": 1, "id": ids["bob"]}
    await a.send({"op": "session_join", "session": name})                  # slots are never reused
    start = await a.expect("session_start")
    assert (start["slot"], start["coordinator"]) == (3, False)
    for sock in (b, c):
        assert (await sock.expect("member_joined"))["slot"] == 3
    await c.close()                                                         # disconnect = leave
    for sock in (a, b):
        assert (await sock.expect("member_left"))["slot"] == 2
    await a.close(), await b.close()


async def test_reserved_channels(world: World) -> None:
    async with await realtime(world.url, world.token("alice")) as user, \
            await realtime(world.url, world.token("root")) as admin:
        await user.send({"op": "subscribe", "channel": "job:0b8e", "ref": 1})
        assert await user.expect("error") == {"type": "error", "code": "PERMISSION_DENIED", "channel": "job:0b8e",
                                              "message": "not allowed to subscribe to channel 'job:0b8e'", "ref": 1}
        await user.send({"op": "presence", "channel": "job:0b8e"})
        assert (await user.expect("error"))["code"] == "PERMISSION_DENIED"
        await admin.send({"op": "subscribe", "channel": "job:0b8e"})     # as GET /jobs/0b8e: no such job
        assert (await admin.expect("error"))["code"] == "PERMISSION_DENIED"
        for sock, channel in ((admin, "job:0b8e"), (user, "system:announcements")):
            await sock.send({"op": "publish", "channel": channel, "payload": 1})
            assert (await sock.expect("error"))["code"] == "PERMISSION_DENIED"


async def test_msgpack_frames_and_payloads_across_encodings(world: World) -> None:
    async with await realtime(world.url, world.token("alice"), binary=True) as packed, \
            await realtime(world.url, world.token("bob")) as plain:
        for sock in (packed, plain):
            await sock.send({"op": "subscribe", "channel": "mixed"})
            assert (await sock.expect("presence"))["channel"] == "mixed"
        raw = await asyncio.wait_for(packed.ws.recv(), 5)     # `joined` for bob, as a binary frame
        assert isinstance(raw, bytes)
        await packed.send({"op": "publish", "channel": "mixed", "payload": {"blob": b"\x00\x01\xff", "n": 7}})
        assert (await plain.expect("message"))["payload"] == {"blob": base64.b64encode(b"\x00\x01\xff").decode(),
                                                               "n": 7}
        await plain.send({"op": "publish", "channel": "mixed", "payload": {"text": "json ✓"}})
        assert (await packed.expect("message"))["payload"] == {"text": "json ✓"}
        await packed.ws.send('{"op":"ping","ref":"text frames still work"}')
        assert await packed.expect("pong") == {"type": "pong", "ref": "text frames still work"}
        import msgpack
        await packed.ws.send(msgpack.packb({"op": "publish", "channel": "mixed", "payload": {1: "int key"}}))
        assert (await packed.expect("error"))["message"] == "bad frame: map keys must be strings"


async def test_health_counters_and_nothing_in_the_event_log(world: World) -> None:
    root = world.token("root")
    events_before = world.gql.post("{ events(after: 0, limit: 1000) { position } }", token=root).json()
    before = httpx.get(world.url + "/realtime/health").json()
    assert before["status"] == "ok" and before["tier"] == "ephemeral-realtime"
    async with await realtime(world.url, root) as a, await realtime(world.url, world.token("bob")) as b, \
            await realtime(world.url, world.token("carol")) as c:
        for sock in (b, c):
            await sock.send({"op": "subscribe", "channel": "counted"})
            await sock.expect("presence")
        await a.send({"op": "publish", "channel": "counted", "payload": 1})
        await b.expect("joined"), await b.expect("message"), await c.expect("message")
        await b.send({"op": "session_join", "session": "counted"})
        await b.expect("session_start")
        stats = httpx.get(world.url + "/realtime/health").json()["stats"]
        old = before["stats"]
        assert stats["messages_published"] == old["messages_published"] + 1
        assert stats["messages_delivered"] == old["messages_delivered"] + 2
        assert stats["connections_opened"] == old["connections_opened"] + 3
        assert stats["active_clients"] == 3 and stats["active_channels"] == 1 and stats["active_sessions"] == 1
    await asyncio.sleep(0.2)
    stats = httpx.get(world.url + "/realtime/health").json()["stats"]
    assert stats["active_clients"] == 0 and stats["active_sessions"] == 0
    assert stats["connections_closed"] == stats["connections_opened"]
    assert world.gql.post("{ events(after: 0, limit: 1000) { position } }", token=root).json() == events_before


async def test_handshake_refusals_and_the_header_credential(world: World) -> None:
    url = ws_url(world.url, "/realtime/ws")
    for suffix, message in (("", "realtime auth required: pass ?token=<jwt>"),
                            ("?token=not.a.jwt", "realtime auth failed: invalid or expired token")):
        with pytest.raises(websockets.InvalidStatus) as info:
            await websockets.connect(url + suffix)
        response = info.value.response
        assert response.status_code == 401
        assert response.body is not None and b'"code":"UNAUTHENTICATED"' in response.body
        assert message.encode() in response.body
    token = world.token("alice")
    async with await Socket.open(url + "?token=bad", additional_headers={"Authorization": f"Bearer {token}"}) as sock:
        assert (await sock.expect("welcome"))["principal"] == world.ids["alice"]      # the header wins
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(url + f"?token={token}", additional_headers={"Authorization": "Bearer nope"})
    assert info.value.response.status_code == 401


async def test_realtime_token_and_logout_close_with_4403(world: World) -> None:
    token = world.token("carol")
    response = httpx.post(world.url + "/realtime/token", json={"ttl_seconds": 999999, "other": 1},
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    short = body["token"]
    assert httpx.post(world.url + "/realtime/token", json={}).status_code == 401
    bad = httpx.post(world.url + "/realtime/token", json={"ttl_seconds": "x"},
                     headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    assert world.gql.post("{ __typename }", token=short).status_code == 401   # only /realtime/ws accepts it
    by_realtime_token = await realtime(world.url, short)
    by_login_token = await realtime(world.url, token)
    assert httpx.post(world.url + "/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert await by_realtime_token.closed_with(5) == 4403
    assert await by_login_token.closed_with(5) == 4403
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(ws_url(world.url, f"/realtime/ws?token={short}"))
