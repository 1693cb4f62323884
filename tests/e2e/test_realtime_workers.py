"""`/realtime/ws` on `atomo serve --workers 2` with real WebSocket clients on different processes: publishes,
presence (joined/left once per principal over every worker), coordinator sessions, and a killed worker's
members leaving elsewhere.

A client cannot choose its process: after each socket opens (``welcome`` read, so the hub has attached it),
``/realtime/health`` is asked through one keep-alive HTTP client per worker, and the worker whose
``active_clients`` grew is the socket's."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServerProcess, login
from tests.e2e.test_workers import clients_per_worker, running_group
from tests.e2e.wskit import Socket, ws_url

pytestmark = pytest.mark.slow


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_group(tmp_path, ATOMO_REALTIME_ALLOW_ANON="true") as process:
        yield process


class Placed:
    """Realtime sockets sorted by the worker that serves them."""

    def __init__(self, base_url: str, workers: dict[int, httpx.Client]) -> None:
        self.base_url = base_url
        self.workers = workers
        self.spare: list[Socket] = []

    def active(self) -> dict[int, int]:
        return {i: c.get("/realtime/health").json()["worker"]["stats"]["active_clients"]
                for i, c in self.workers.items()}

    async def on(self, index: int, token: str | None = None) -> tuple[Socket, str]:
        """A socket served by worker ``index`` and its principal id (sockets that land elsewhere stay open
        until ``close``, so that the counts only grow)."""
        url = ws_url(self.base_url, "/realtime/ws" + (f"?token={token}" if token else ""))
        for _ in range(100):
            before = self.active()
            sock = await Socket.open(url)
            principal = (await sock.expect("welcome"))["principal"]     # the hub has attached it
            after = self.active()
            grew = [i for i in after if after[i] > before[i]]
            assert len(grew) == 1, (before, after)
            if grew[0] == index:
                return sock, principal
            self.spare.append(sock)
        raise AssertionError(f"no socket landed on worker {index}")

    async def close(self) -> None:
        for sock in self.spare:
            await sock.close()
        for client in self.workers.values():
            client.close()


async def subscribe(sock: Socket, channel: str, present: list[str]) -> None:
    """Subscribe and see ``present`` (sorted, incl. the socket's own principal): the presence of another worker
    travels through the supervisor, so a member that subscribed just before may show up as ``joined`` after
    the snapshot instead of in it."""
    await sock.send({"op": "subscribe", "channel": channel})
    seen = set((await sock.expect("presence"))["members"])
    while seen != set(present):
        frame = await sock.expect("joined")
        assert frame["channel"] == channel and frame["who"] in present, frame
        seen.add(frame["who"])


async def test_publish_and_presence_across_workers(group: ServerProcess) -> None:
    base, token = group.base_url, login(group.base_url)
    placed = Placed(base, clients_per_worker(base, token))
    try:
        a, a_id = await placed.on(0)
        b, b_id = await placed.on(1)
        assert a_id.startswith("anon:") and b_id.startswith("anon:") and a_id != b_id
        room = "room:workers"
        await a.send({"op": "subscribe", "channel": room, "ref": 1})
        assert await a.expect("presence") == {"type": "presence", "channel": room, "members": [a_id], "ref": 1}
        await subscribe(b, room, [a_id, b_id])
        assert await a.expect("joined") == {"type": "joined", "channel": room, "who": b_id}

        await b.send({"op": "publish", "channel": room, "payload": {"n": 1}})
        assert await a.expect("message") == {"type": "message", "channel": room, "payload": {"n": 1}, "from": b_id}
        await a.send({"op": "publish", "channel": room, "payload": [1, "x"]})
        assert (await b.expect("message"))["payload"] == [1, "x"]
        await a.silent()
        await b.silent()

        # the admin with one tab on each worker: one joined, and a left only when the second tab goes
        admin0, admin_id = await placed.on(0, token)
        admin1, _ = await placed.on(1, token)
        await admin0.send({"op": "subscribe", "channel": room})
        assert (await admin0.expect("presence"))["members"] == sorted([a_id, b_id, admin_id])
        assert (await a.expect("joined"))["who"] == admin_id
        assert (await b.expect("joined"))["who"] == admin_id
        await admin1.send({"op": "subscribe", "channel": room})
        assert (await admin1.expect("presence"))["members"] == sorted([a_id, b_id, admin_id])
        await a.silent()                # (and worker 0 hears of the second tab before the first closes)
        await admin0.close()
        await a.silent(0.5)
        await b.silent()
        await admin1.send({"op": "unsubscribe", "channel": room})
        assert await a.expect("left") == await b.expect("left") == {"type": "left", "channel": room, "who": admin_id}
        await b.close()
        assert await a.expect("left") == {"type": "left", "channel": room, "who": b_id}
        await a.silent()
        await a.close()
        await admin1.close()
    finally:
        await placed.close()


async def test_a_session_across_workers_reelects_when_the_coordinator_leaves(group: ServerProcess) -> None:
    base, token = group.base_url, login(group.base_url)
    placed = Placed(base, clients_per_worker(base, token))
    try:
        host, host_id = await placed.on(0)
        p1, p1_id = await placed.on(1)
        p2, p2_id = await placed.on(0)
        await host.send({"op": "session_join", "session": "quiz"})
        start = await host.expect("session_start")
        assert start["slot"] == 0 and start["coordinator"] is True
        await p1.send({"op": "session_join", "session": "quiz"})
        assert (await p1.expect("session_start"))["slot"] == 1
        assert await host.expect("member_joined") == {"type": "member_joined", "session": "quiz", "slot": 1,
                                                      "id": p1_id}
        await p2.send({"op": "session_join", "session": "quiz"})
        assert (await p2.expect("session_start"))["members"] == [{"slot": 0, "id": host_id}, {"slot": 1, "id": p1_id},
                                                                 {"slot": 2, "id": p2_id}]
        await host.expect("member_joined")
        await p1.expect("member_joined")

        await p1.send({"op": "to_coordinator", "session": "quiz", "payload": {"answer": "B"}})
        assert await host.expect("from_member") == {"type": "from_member", "session": "quiz", "from": p1_id,
                                                    "slot": 1, "payload": {"answer": "B"}}
        await host.send({"op": "to_members", "session": "quiz", "payload": {"q": 2}})
        assert (await p1.expect("from_coordinator"))["payload"] == (await p2.expect("from_coordinator"))["payload"]
        await p1.send({"op": "to_members", "session": "quiz", "payload": 1, "ref": "r"})
        assert (await p1.expect("error"))["code"] == "NOT_COORDINATOR"

        await host.close()
        for sock in (p1, p2):
            assert await sock.expect("member_left") == {"type": "member_left", "session": "quiz", "slot": 0,
                                                        "id": host_id}
            assert await sock.expect("coordinator_changed") == {"type": "coordinator_changed", "session": "quiz",
                                                                "slot": 1, "id": p1_id}
        await p1.send({"op": "to_members", "session": "quiz", "payload": "go"})
        assert (await p2.expect("from_coordinator"))["payload"] == "go"
        await p1.close()
        await p2.close()
    finally:
        await placed.close()


async def test_a_killed_worker_s_members_leave_elsewhere(group: ServerProcess) -> None:
    base, token = group.base_url, login(group.base_url)
    workers = clients_per_worker(base, token)
    pid1 = workers[1].get("/ready").json()["worker"]["pid"]
    placed = Placed(base, workers)
    try:
        a, a_id = await placed.on(0)
        b, b_id = await placed.on(1)
        await a.send({"op": "subscribe", "channel": "room"})
        await a.expect("presence")
        await subscribe(b, "room", [a_id, b_id])
        await a.expect("joined")
        await a.send({"op": "session_join", "session": "s"})
        await a.expect("session_start")
        await b.send({"op": "session_join", "session": "s"})
        await b.expect("session_start")
        await a.expect("member_joined")

        os.kill(pid1, signal.SIGKILL)
        frames = [await a.recv(15.0), await a.recv(15.0)]
        assert sorted(frames, key=lambda f: f["type"]) == [
            {"type": "left", "channel": "room", "who": b_id},
            {"type": "member_left", "session": "s", "slot": 1, "id": b_id}]
        await a.silent()
        await a.close()
    finally:
        await placed.close()
