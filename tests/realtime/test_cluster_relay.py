"""Realtime across worker processes, in one process: a real ``Relay`` on a Unix socket with the supervisor's
realtime part (``supervise``), and two or three real ``Bus`` clients, each with its own ``RealtimeHub`` and
real ``Connection`` objects writing into lists. Publishes, presence (joined/left exactly once per observer,
per principal over every worker), a worker's relay connection ending, a (re)connecting worker, and
coordinator sessions whose members are on different workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from atomo.auth.principal import Principal
from atomo.cluster.bus import Bus
from atomo.cluster.relay import Relay
from atomo.realtime.access import ChannelAccess
from atomo.realtime.cluster import RealtimeSupervisor, attach, supervise
from atomo.realtime.connection import Connection, Throttle
from atomo.realtime.hub import RealtimeHub
from atomo.realtime.protocol import Request


async def _no_records(*_: Any) -> None:
    return None


class Worker:
    def __init__(self, index: int, policy: str) -> None:
        self.index = index
        self.bus = Bus(index, 3)
        self.hub = RealtimeHub(ChannelAccess(lambda: (), _no_records), policy=policy)

    def client(self, pid: str) -> Client:
        return Client(self, pid)


class Client:
    def __init__(self, worker: Worker, pid: str) -> None:
        self.worker = worker
        self.pid = pid
        self.frames: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            self.frames.append(json.loads(message["text"]))

        hub = worker.hub
        self.conn = Connection(send, principal=Principal(user_id=pid), pid=pid, ip="127.0.0.1", encoding="json",
                               queue_limit=1000, joins=Throttle(1000, 1000), publishes=Throttle(1000, 1000),
                               stats=hub.stats)
        hub.attach(self.conn)

    async def op(self, op: str, name: str | None = None, payload: Any = None, ref: Any = None) -> None:
        await self.worker.hub.handle(self.conn, Request(op, name, payload, ref))

    def close(self) -> None:
        self.worker.hub.detach(self.conn)

    def take(self) -> list[dict[str, Any]]:
        frames, self.frames = self.frames, []
        return frames

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == type_]


async def until(check: Callable[[], Any], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


async def settle() -> None:
    """Let frames in flight through the relay arrive (Unix socket, same process)."""
    await asyncio.sleep(0.15)


class Group:
    def __init__(self, folder: Path) -> None:
        self.relay = Relay(folder / "relay.sock")
        self.workers: list[Worker] = []
        self.state: RealtimeSupervisor | None = None

    async def start(self, policy: str = "reelect") -> None:
        await self.relay.start()
        self.state = supervise(self.relay, policy)
        self.policy = policy

    async def worker(self, index: int, *, attach_first: bool = True) -> Worker:
        worker = Worker(index, self.policy)
        if attach_first:
            attach(worker.hub, worker.bus)
        await worker.bus.connect(self.relay.path)
        if not attach_first:
            attach(worker.hub, worker.bus)
        writer = None

        def joined() -> bool:
            nonlocal writer
            writer = self.relay.workers.get(index)
            return writer is not None
        await until(joined)
        await settle()                      # the supervisor's sync and the worker's answer
        self.workers.append(worker)
        return worker

    async def close(self) -> None:
        for worker in self.workers:
            await worker.bus.close()
        await self.relay.close()


@pytest.fixture
async def group() -> AsyncIterator[Group]:
    folder = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))     # short: Unix socket paths are limited
    group = Group(folder)
    try:
        yield group
    finally:
        with contextlib.suppress(Exception):
            await group.close()
        shutil.rmtree(folder, ignore_errors=True)


async def three(group: Group, policy: str = "reelect") -> tuple[Worker, Worker, Worker]:
    await group.start(policy)
    return await group.worker(0), await group.worker(1), await group.worker(2)


# -- channels ----------------------------------------------------------------------------------------------
async def test_publish_crosses_workers(group: Group) -> None:
    w0, w1, w2 = await three(group)
    a, b, c = w0.client("alice"), w1.client("bob"), w2.client("carol")
    await a.op("subscribe", "room")
    await b.op("subscribe", "room")
    await settle()
    a.take(), b.take()

    await a.op("publish", "room", {"n": 1})
    await until(lambda: b.of("message"))
    assert b.take() == [{"type": "message", "channel": "room", "payload": {"n": 1}, "from": "alice"}]
    await c.op("publish", "room", {"n": 2})       # c is not subscribed: both others get it
    await until(lambda: a.of("message") and b.of("message"))
    assert a.take() == b.take() == [{"type": "message", "channel": "room", "payload": {"n": 2}, "from": "carol"}]

    assert w2.hub.publish("room", {"progress": 50}) == 0      # the in-process API (jobs): no local subscriber
    await until(lambda: a.of("message") and b.of("message"))
    assert a.take()[0]["from"] == b.take()[0]["from"] == "system:jobs"

    await a.op("publish", "room", {"big": 2**70, "bin": b"\x00\x01"})   # not MessagePack as is: portable form
    await until(lambda: b.of("message"))
    assert b.take()[0]["payload"] == {"big": str(2**70), "bin": "AAE="}

    await settle()
    assert a.frames == [] and c.frames == []       # no echo; c never subscribed
    assert w1.hub.stats.messages_published == 0 and w1.hub.stats.messages_delivered == 4


async def test_publish_only_goes_to_workers_with_subscribers(group: Group) -> None:
    w0, w1, w2 = await three(group)
    a, b = w0.client("alice"), w1.client("bob")
    await a.op("subscribe", "only-here")
    await b.op("subscribe", "elsewhere")
    await settle()
    assert w0.hub.peers.replicas.get(1) == {"elsewhere": {"bob"}}    # type: ignore[union-attr]
    sent: list[tuple[str, Any, int]] = []
    real_send = w0.bus.send
    w0.bus.send = lambda kind, payload=None, *, to=-1: (sent.append((kind, payload, to)), real_send(kind, payload, to=to))  # type: ignore[method-assign]
    await a.op("publish", "only-here", 1)          # the only subscribers are local
    await a.op("publish", "nobody", 2)
    await a.op("publish", "elsewhere", 3)          # one worker has subscribers: only to it
    assert sent == [("rt.message", ["elsewhere", 3, "alice"], 1)]
    await until(lambda: b.of("message"))


# -- presence ----------------------------------------------------------------------------------------------
async def test_presence_is_global_and_per_principal(group: Group) -> None:
    w0, w1, w2 = await three(group)
    alice, bob, carol = w0.client("alice"), w1.client("bob"), w2.client("carol")
    await alice.op("subscribe", "doc", ref=1)
    await settle()
    await bob.op("subscribe", "doc", ref=2)
    assert bob.take() == [{"type": "presence", "channel": "doc", "members": ["alice", "bob"], "ref": 2}]
    await until(lambda: alice.of("joined"))
    await carol.op("subscribe", "doc")
    assert carol.take()[0]["members"] == ["alice", "bob", "carol"]
    await settle()
    assert alice.take() == [{"type": "presence", "channel": "doc", "members": ["alice"], "ref": 1},
                            {"type": "joined", "channel": "doc", "who": "bob"},
                            {"type": "joined", "channel": "doc", "who": "carol"}]
    assert bob.take() == [{"type": "joined", "channel": "doc", "who": "carol"}]

    # a second tab of alice on another worker: no second joined anywhere
    alice2 = w2.client("alice")
    await alice2.op("subscribe", "doc")
    assert alice2.take()[0]["members"] == ["alice", "bob", "carol"]
    await settle()
    assert alice.take() == bob.take() == carol.take() == []

    # a one-shot snapshot from a worker without the channel
    w1_only = w1.client("dave")
    await w1_only.op("presence", "doc", ref="p")
    assert w1_only.take() == [{"type": "presence", "channel": "doc", "members": ["alice", "bob", "carol"], "ref": "p"}]

    # closing one of alice's two tabs: no left; closing the other: left exactly once per observer
    await alice.op("unsubscribe", "doc")
    await settle()
    assert bob.take() == carol.take() == alice2.take() == []
    alice2.close()
    await until(lambda: bob.of("left") and carol.of("left"))
    await settle()
    assert bob.take() == carol.take() == [{"type": "left", "channel": "doc", "who": "alice"}]
    assert alice.take() == []
    await w1_only.op("presence", "doc")
    assert w1_only.take()[0]["members"] == ["bob", "carol"]


async def test_a_worker_that_is_gone_takes_its_members_away(group: Group) -> None:
    w0, w1, w2 = await three(group)
    alice, bob, carol = w0.client("alice"), w1.client("bob"), w2.client("carol")
    bob_on_w0 = w0.client("bob")
    for client in (alice, bob, carol):
        await client.op("subscribe", "room")
        await settle()
    await w1.client("erin").op("subscribe", "room")
    await bob_on_w0.op("subscribe", "room")
    await settle()
    for client in (alice, bob, carol, bob_on_w0):
        client.take()

    await w1.bus.close()                          # worker 1's relay connection ends (it died)
    await until(lambda: alice.of("left") and carol.of("left"))
    await settle()
    # erin was only on worker 1; bob still has a connection on worker 0
    assert alice.take() == carol.take() == [{"type": "left", "channel": "room", "who": "erin"}]
    assert bob_on_w0.take() == [{"type": "left", "channel": "room", "who": "erin"}]
    probe = w2.client("probe")
    await probe.op("presence", "room")
    assert probe.take()[0]["members"] == ["alice", "bob", "carol"]
    assert 1 not in w0.hub.peers.replicas and 1 not in w2.hub.peers.replicas     # type: ignore[union-attr]


async def test_a_restarted_worker_gets_the_current_presence(group: Group) -> None:
    w0, w1, w2 = await three(group)
    alice, bob = w0.client("alice"), w1.client("bob")
    await alice.op("subscribe", "room")
    await bob.op("subscribe", "room")
    await settle()
    alice.take()

    await w1.bus.close()
    await until(lambda: alice.of("left"))
    alice.take()
    group.workers.remove(w1)
    fresh = await group.worker(1)                  # the restarted worker 1: a new process, nothing local
    assert fresh.hub.peers.replicas == {0: {"room": {"alice"}}}    # type: ignore[union-attr]
    newbie = fresh.client("nina")
    await newbie.op("subscribe", "room")
    assert newbie.take() == [{"type": "presence", "channel": "room", "members": ["alice", "nina"]}]
    await until(lambda: alice.of("joined"))
    assert alice.take() == [{"type": "joined", "channel": "room", "who": "nina"}]
    await newbie.op("publish", "room", "hi")
    await until(lambda: alice.of("message"))


async def test_a_worker_attached_after_connecting_asks_for_the_state(group: Group) -> None:
    await group.start()
    w0 = await group.worker(0)
    alice = w0.client("alice")
    await alice.op("subscribe", "room")
    await settle()
    late = await group.worker(1, attach_first=False)
    assert late.hub.peers.replicas == {0: {"room": {"alice"}}}     # type: ignore[union-attr]


async def test_a_worker_replaced_before_its_connection_ended_loses_its_members(group: Group) -> None:
    w0, w1, _ = await three(group)
    alice, bob, p1 = w0.client("alice"), w1.client("bob"), w1.client("p1")
    await alice.op("subscribe", "room")
    await bob.op("subscribe", "room")
    await alice.op("session_join", "s")
    await settle()
    await p1.op("session_join", "s")
    await settle()
    alice.take()
    stale = w1.bus._writer                        # the relay closes it; the old bus only forgets it
    replacement = Bus(1, 3)                       # a new worker 1 says hello while the old connection is open
    await replacement.connect(group.relay.path)
    try:
        await until(lambda: alice.of("left") and alice.of("member_left"))
        await settle()
        assert alice.take() == [{"type": "left", "channel": "room", "who": "bob"},
                                {"type": "member_left", "session": "s", "slot": 1, "id": "p1"}]
        assert group.state is not None and 1 not in group.state.members
    finally:
        await replacement.close()
        if stale is not None:
            stale.close()


# -- coordinator sessions ----------------------------------------------------------------------------------
async def test_sessions_across_workers_reelect(group: Group) -> None:
    w0, w1, w2 = await three(group)
    host, p1, p2 = w0.client("host"), w1.client("p1"), w2.client("p2")
    await host.op("session_join", "quiz")
    await until(lambda: host.of("session_start"))
    await p1.op("session_join", "quiz")
    await until(lambda: p1.of("session_start"))
    await p2.op("session_join", "quiz")
    await until(lambda: p2.of("session_start") and len(host.of("member_joined")) == 2)
    assert host.take() == [
        {"type": "session_start", "session": "quiz", "slot": 0, "coordinator": True,
         "members": [{"slot": 0, "id": "host"}]},
        {"type": "member_joined", "session": "quiz", "slot": 1, "id": "p1"},
        {"type": "member_joined", "session": "quiz", "slot": 2, "id": "p2"}]
    assert p2.take() == [{"type": "session_start", "session": "quiz", "slot": 2, "coordinator": False,
                          "members": [{"slot": 0, "id": "host"}, {"slot": 1, "id": "p1"}, {"slot": 2, "id": "p2"}]}]
    assert p1.take()[1:] == [{"type": "member_joined", "session": "quiz", "slot": 2, "id": "p2"}]
    assert len(w1.hub.sessions) == 1 and "quiz" in p1.conn.sessions

    await p1.op("to_coordinator", "quiz", {"answer": "B"}, ref=7)
    await until(lambda: host.of("from_member"))
    assert host.take() == [{"type": "from_member", "session": "quiz", "from": "p1", "slot": 1,
                            "payload": {"answer": "B"}}]
    await host.op("to_members", "quiz", {"q": 3})
    await until(lambda: p1.of("from_coordinator") and p2.of("from_coordinator"))
    assert p1.take() == p2.take() == [{"type": "from_coordinator", "session": "quiz", "payload": {"q": 3}}]
    await p2.op("to_members", "quiz", 1, ref="x")
    await until(lambda: p2.of("error"))
    assert p2.take()[0]["code"] == "NOT_COORDINATOR"
    outsider = w1.client("out")
    await outsider.op("to_coordinator", "quiz", 1, ref="y")
    assert outsider.take() == [{"type": "error", "code": "NOT_A_MEMBER", "message": "not a member of session 'quiz'",
                                "session": "quiz", "ref": "y"}]

    # the coordinator's worker dies: it leaves, the lowest slot takes over
    await w0.bus.close()
    await until(lambda: p1.of("coordinator_changed") and p2.of("coordinator_changed"))
    assert p1.take() == p2.take() == [{"type": "member_left", "session": "quiz", "slot": 0, "id": "host"},
                                      {"type": "coordinator_changed", "session": "quiz", "slot": 1, "id": "p1"}]
    late = w2.client("late")
    await late.op("session_join", "quiz")
    await until(lambda: late.of("session_start"))
    start = late.take()[0]
    assert start["slot"] == 3 and start["members"] == [{"slot": 1, "id": "p1"}, {"slot": 2, "id": "p2"},
                                                       {"slot": 3, "id": "late"}]    # slots never reused
    await p1.op("to_members", "quiz", "go")
    await until(lambda: p2.of("from_coordinator") and late.of("from_coordinator"))

    # a non-coordinator disconnects, then one leaves: member_left elsewhere
    p2.take()
    late.close()
    await until(lambda: p1.of("member_left") and p2.of("member_left"))
    p1.take()
    await p2.op("session_leave", "quiz")
    await until(lambda: p1.of("member_left"))
    assert p1.take() == [{"type": "member_left", "session": "quiz", "slot": 2, "id": "p2"}]
    assert "quiz" not in p2.conn.sessions
    assert group.state is not None and len(group.state.sessions) == 1
    p1.close()
    await until(lambda: len(group.state.sessions) == 0)         # type: ignore[union-attr]
    assert group.state.proxies == {}                             # type: ignore[union-attr]


async def test_sessions_across_workers_close_policy(group: Group) -> None:
    w0, w1, w2 = await three(group, "close")
    host, p1, p2 = w0.client("host"), w1.client("p1"), w2.client("p2")
    for client in (host, p1, p2):
        await client.op("session_join", "game")
        await until(lambda c=client: c.of("session_start"))    # type: ignore[misc]
    await w0.bus.close()
    await until(lambda: p1.of("session_closed") and p2.of("session_closed"))
    assert p1.of("session_closed") == [{"type": "session_closed", "session": "game", "reason": "coordinator_left"}]
    assert p1.conn.sessions == set() and p2.conn.sessions == set()
    p1.take()
    await p1.op("to_coordinator", "game", 1)
    assert p1.take()[0]["code"] == "NOT_A_MEMBER"
    p2.take()
    await p2.op("session_join", "game")            # a new session: p2 is its coordinator, slot 0
    await until(lambda: p2.of("session_start"))
    assert p2.take() == [{"type": "session_start", "session": "game", "slot": 0, "coordinator": True,
                          "members": [{"slot": 0, "id": "p2"}]}]


async def test_alone_sessions_and_presence_stay_in_process() -> None:
    hub = RealtimeHub(ChannelAccess(lambda: (), _no_records))
    attach(hub, Bus())                             # a group member whose bus is not connected (yet)
    worker = Worker(0, "reelect")
    worker.hub = hub
    a, b = worker.client("a"), worker.client("b")
    await a.op("session_join", "s")
    await b.op("session_join", "s")
    await b.op("to_coordinator", "s", 1)
    assert a.of("from_member") and len(hub.sessions) == 1
    await a.op("subscribe", "c")
    await b.op("subscribe", "c")
    assert a.of("joined") == [{"type": "joined", "channel": "c", "who": "b"}]
    assert hub.publish("c", 1) == 2
