"""Abuse of the WebSocket endpoints through the real server.

`/graphql/ws` (graphql chapter §10): at most GRAPHQL_WS_MAX_OPERATIONS operations per socket; a socket that
stops reading holds bounded memory and is closed with 4408 "slow consumer" (everything it got before is in
order, with no gap); a slow reader still gets every event in order; every `subscribe`/`start` takes a token
from the per-IP bucket of the general limiter (auth chapter §9.1). `/realtime/ws` (realtime chapter §7):
MessagePack extension values and out-of-range timestamps are bad frames, not internal errors.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgpack
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from atomo import Atomo
from tests.e2e.authkit import with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env
from tests.e2e.wskit import Socket, realtime, ws_url

SCHEMA = """
export interface Doc { id: string; title: string; body?: string }
export const schema = { models: {
  Doc: { access: { read: 'public', create: 'public', update: 'public', delete: 'public' } },
} }
export default schema
"""
EVENTS = 3000
BODY = "x" * 1000
TRANSPORT, LEGACY = "graphql-transport-ws", "graphql-ws"
PROTOCOLS = (TRANSPORT, LEGACY)
LIVE = 'subscription { modelChanges(model: "Doc") { position } }'
REPLAY = 'subscription { modelChanges(model: "Doc", after: 0) { position data } }'
MiB = 1 << 20


@dataclass
class World:
    server: ServerProcess
    positions: list[int]            # the Doc events written before the server started

    @property
    def url(self) -> str:
        return self.server.base_url

    def create(self, doc_id: str) -> None:
        response = httpx.post(self.url + "/graphql", json={
            "query": 'mutation($d: JSON!) { create(model: "Doc", data: $d) }',
            "variables": {"d": {"id": doc_id, "title": doc_id}}}, timeout=30)
        assert "errors" not in response.json(), response.text

    def rss(self) -> int:
        assert self.server.proc is not None
        with open(f"/proc/{self.server.proc.pid}/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024


async def fill(app: Atomo) -> list[int]:
    for start in range(0, EVENTS, 500):
        for i in range(start, min(EVENTS, start + 500)):
            await app.create("Doc", {"id": f"doc-{i}", "title": f"doc {i}", "body": BODY})
    events = await app.events.read_all(after=0, limit=EVENTS + 10)
    assert {e.model for e in events} == {"Doc"}      # every event of the log is a Doc event
    return [e.position for e in events]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    project = write_project(tmp_path_factory.mktemp("abuse-ws") / "project", SCHEMA)
    positions = with_library(project, fill)
    server = ServerProcess(project, env=server_env(GRAPHQL_WS_SLOW_CONSUMER_SECS="1",
                                                   ATOMO_REALTIME_ALLOW_ANON="true")).start()
    try:
        yield World(server, positions)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = write_project(tmp_path_factory.mktemp("abuse-ws-rl") / "project", SCHEMA)
    server = ServerProcess(project, env=server_env(RATE_LIMIT_RPS="20", RATE_LIMIT_WINDOW_SECS="3600")).start()
    try:
        yield server
    finally:
        server.stop()


def start(protocol: str, op_id: str, query: str) -> dict[str, Any]:
    return {"type": "subscribe" if protocol == TRANSPORT else "start", "id": op_id, "payload": {"query": query}}


def first_error(protocol: str, message: dict[str, Any]) -> dict[str, Any]:
    """The (first) GraphQL error of an ``error`` message: a list in graphql-transport-ws, one object in legacy."""
    payload = message["payload"]
    return payload[0] if protocol == TRANSPORT else payload  # type: ignore[no-any-return]


async def expect(sock: Socket, type_: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message but legacy keep-alives, which must be of ``type_``."""
    while True:
        message = await sock.recv(timeout)
        if message.get("type") != "ka":
            assert message.get("type") == type_, message
            return message


class RawClient:
    """A `websockets` sans-I/O client on a blocking socket with a tiny receive buffer: it reads only when told,
    so the server sees a client that has stopped reading (or reads slowly)."""

    def __init__(self, url: str, protocol: str, *, rcvbuf: int = 4096) -> None:
        uri = parse_uri(url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)     # before connect: no autotuning
        self.sock.settimeout(10.0)
        self.sock.connect((uri.host, uri.port))
        self.protocol = ClientProtocol(uri, subprotocols=[protocol], max_size=None)  # type: ignore[list-item]
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        self.messages: list[dict[str, Any]] = []
        self.close: tuple[int, str] | None = None
        self.eof = False
        while self.protocol.handshake_exc is None and self.protocol.state.name != "OPEN":
            self.pump()
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def pump(self, size: int = 65536) -> None:
        """One read from the socket (blocking, up to ``size`` bytes)."""
        data = self.sock.recv(size)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
            self.eof = True
        for event in self.protocol.events_received():
            if not isinstance(event, Frame):                 # the handshake response
                continue
            if event.opcode is Opcode.TEXT:
                self.messages.append(json.loads(event.data))
            elif event.opcode is Opcode.CLOSE and self.protocol.close_rcvd is not None:
                self.close = (self.protocol.close_rcvd.code, self.protocol.close_rcvd.reason)
        self._flush()

    def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def recv(self) -> dict[str, Any]:
        while not self.messages:
            self.pump()
        return self.messages.pop(0)

    def init(self) -> None:
        self.send({"type": "connection_init", "payload": {}})
        assert self.recv()["type"] == "connection_ack"

    def read_to_close(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.close is None and not self.eof and time.monotonic() < deadline:
            try:
                self.pump()
            except (TimeoutError, ConnectionError):
                break

    def shut(self) -> None:
        self.sock.close()


# -- GRAPHQL_WS_MAX_OPERATIONS --------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_at_most_max_operations_run_on_one_socket(world: World, protocol: str) -> None:
    sock = await Socket.open(ws_url(world.url, "/graphql/ws"), subprotocols=[protocol])  # type: ignore[list-item]
    await sock.send({"type": "connection_init", "payload": {}})
    await expect(sock, "connection_ack")
    for i in range(150):
        await sock.send(start(protocol, f"s{i}", LIVE))
    refused = [await expect(sock, "error") for _ in range(50)]
    assert [m["id"] for m in refused] == [f"s{i}" for i in range(100, 150)]
    error = first_error(protocol, refused[0])
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED" and "GRAPHQL_WS_MAX_OPERATIONS" in error["message"]
    assert error["extensions"]["details"] == {"maxOperations": 100}
    data = "next" if protocol == TRANSPORT else "data"
    world.create(f"cap-{protocol}-1")
    assert {(await expect(sock, data))["id"] for _ in range(100)} == {f"s{i}" for i in range(100)}
    # a finished operation frees its place; the socket stayed open
    await sock.send({"type": "complete" if protocol == TRANSPORT else "stop", "id": "s0"})
    if protocol == LEGACY:
        assert await expect(sock, "complete") == {"id": "s0", "type": "complete"}
    await sock.send(start(protocol, "again", LIVE))
    await sock.send(start(protocol, "over", LIVE))
    assert (await expect(sock, "error"))["id"] == "over"
    world.create(f"cap-{protocol}-2")
    assert {(await expect(sock, data))["id"] for _ in range(100)} == {f"s{i}" for i in range(1, 100)} | {"again"}
    await sock.close()


# -- bounded buffers and the slow consumer ---------------------------------------------------------------
def check_prefixes(world: World, messages: list[dict[str, Any]], protocol: str) -> dict[str, int]:
    """Each subscription got a prefix of the log's Doc events, in order, with no gap; how many each."""
    data = "next" if protocol == TRANSPORT else "data"
    got: dict[str, list[int]] = {}
    for message in messages:
        if message["type"] == data:
            got.setdefault(message["id"], []).append(message["payload"]["data"]["modelChanges"]["position"])
    for op_id, positions in got.items():
        assert positions == world.positions[:len(positions)], op_id
    return {op_id: len(positions) for op_id, positions in got.items()}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_socket_that_stops_reading_holds_bounded_memory_and_is_closed(world: World, protocol: str) -> None:
    client = RawClient(ws_url(world.url, "/graphql/ws"), protocol)
    client.init()
    before = peak = world.rss()
    for i in range(150):                                 # 150 replays of 3,000 events (~1 KB each): ~450 MB
        client.send(start(protocol, str(i), REPLAY))
    watch_until = time.monotonic() + 3.0
    while time.monotonic() < watch_until:
        peak = max(peak, world.rss())
        time.sleep(0.05)
    growth = peak - before
    assert growth < 48 * MiB, f"server RSS grew by {growth / MiB:.0f} MiB"
    client.read_to_close(timeout=20)                     # what was sent before the close, then the close
    client.shut()
    assert client.close == (4408, "slow consumer"), client.close
    counts = check_prefixes(world, client.messages, protocol)
    assert sum(counts.values()) < 10 * EVENTS, counts    # stopped (what the kernel buffers held), not 150 x 3,000
    assert httpx.get(world.url + "/health").status_code == 200


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_slow_reader_gets_every_event_in_order(world: World, protocol: str) -> None:
    client = RawClient(ws_url(world.url, "/graphql/ws"), protocol, rcvbuf=32768)
    client.init()
    client.send(start(protocol, "all", REPLAY))
    data = "next" if protocol == TRANSPORT else "data"
    live = [f"live-{protocol}-{i}" for i in range(20)]
    positions: list[int] = []
    seen: set[str] = set()
    writer: threading.Thread | None = None
    started = time.monotonic()
    while not seen.issuperset(live):
        client.pump(32768)                               # <= 32 KB per 10 ms: slower than the server writes
        time.sleep(0.01)
        for message in client.messages:
            assert message["type"] in (data, "ka"), message
            if message["type"] == data:
                event = message["payload"]["data"]["modelChanges"]
                positions.append(event["position"])
                seen.add(event["data"]["id"])
        client.messages.clear()
        if len(positions) >= 1000 and writer is None:     # written while the replay is far behind
            writer = threading.Thread(target=lambda: [world.create(doc_id) for doc_id in live])
            writer.start()
        assert time.monotonic() - started < 60
    client.shut()
    assert writer is not None
    writer.join()
    assert client.close is None
    assert positions[:len(world.positions)] == world.positions
    assert positions == list(range(positions[0], positions[0] + len(positions)))   # in order, no gap, no dup


# -- socket operations and the general limiter -----------------------------------------------------------
@pytest.mark.parametrize(("protocol", "ip"), [(TRANSPORT, "203.0.113.7"), (LEGACY, "203.0.113.8")])
async def test_socket_operations_take_tokens_from_the_per_ip_bucket(limited: ServerProcess, protocol: str,
                                                                   ip: str) -> None:
    headers = {"X-Forwarded-For": ip}
    sock = await Socket.open(ws_url(limited.base_url, "/graphql/ws"), subprotocols=[protocol],  # type: ignore[list-item]
                             additional_headers=headers)                # the handshake takes token 1 of 20
    await sock.send({"type": "connection_init", "payload": {}})
    await expect(sock, "connection_ack")
    for i in range(25):
        await sock.send(start(protocol, f"q{i}", "{ __typename }"))
    done: dict[str, str] = {}
    refusals: dict[str, dict[str, Any]] = {}
    while len(done) < 25:
        message = await sock.recv()
        if message["type"] in ("complete", "error"):
            done[message["id"]] = message["type"]
        if message["type"] == "error":
            refusals[message["id"]] = first_error(protocol, message)
    assert {k for k, v in done.items() if v == "complete"} == {f"q{i}" for i in range(19)}
    assert set(refusals) == {f"q{i}" for i in range(19, 25)}
    for error in refusals.values():
        assert error["extensions"]["code"] == "RATE_LIMITED", error
        assert error["extensions"]["details"]["retryAfter"] >= 1
    # the same bucket as HTTP requests from that address; the socket stays open
    assert httpx.get(limited.base_url + "/version", headers=headers).status_code == 429
    assert httpx.get(limited.base_url + "/version", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 200
    if protocol == TRANSPORT:
        await sock.send({"type": "ping"})
        assert await expect(sock, "pong") == {"type": "pong"}
    await sock.close()


# -- realtime MessagePack extension values ----------------------------------------------------------------
async def test_msgpack_extensions_and_out_of_range_timestamps_are_bad_frames(world: World) -> None:
    async with await realtime(world.url, binary=True) as packed, await realtime(world.url) as plain:
        for sock in (packed, plain):
            await sock.send({"op": "subscribe", "channel": "stamps"})
            assert (await sock.expect("presence"))["channel"] == "stamps"
        assert (await packed.expect("joined"))["channel"] == "stamps"
        for payload, reason in (({"t": msgpack.Timestamp(2**62)}, "timestamp out of range"),
                                ({"t": [msgpack.Timestamp(-(2**62))]}, "timestamp out of range"),
                                ({"t": msgpack.ExtType(5, b"\x00")}, "not valid MessagePack")):
            await packed.send({"op": "publish", "channel": "stamps", "payload": payload})
            error = await packed.expect("error")
            assert (error["code"], error["message"]) == ("BAD_FRAME", f"bad frame: {reason}")
        await plain.silent()
        await packed.send({"op": "publish", "channel": "stamps", "payload": {"t": msgpack.Timestamp(0)}})
        assert (await plain.expect("message"))["payload"] == {"t": "1970-01-01T00:00:00+00:00"}
    assert "Traceback" not in world.server.stderr and "INTERNAL_ERROR" not in world.server.stderr
