"""Two ``atomo serve`` instances on one PostgreSQL behind a load balancer (issue 21): each connection goes to the
next instance (``proxykit``); a subscriber on one instance sees the writes made on the other, in log order and
without a gap; realtime channels publish and show presence across them, and a killed instance's members leave;
``kill -9`` of one instance while clients write loses nothing that was acknowledged, and the instance started
again serves everything."""

from __future__ import annotations

import asyncio
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import own_postgres
from tests.e2e.conftest import ServerProcess, free_port, login, server_env
from tests.e2e.proxykit import RoundRobinProxy
from tests.e2e.test_realtime_workers import subscribe as subscribe_channel
from tests.e2e.test_workers import create, missing, positions_and_names, subscribe, writers
from tests.e2e.wskit import Socket, ws_url

pytest.importorskip("psycopg")


class Instances:
    def __init__(self, tmp_path: Path, url: str, **extra: str) -> None:
        env = server_env(DATABASE_URL=url, JWT_SECRET=secrets.token_hex(32),   # one signing key for all instances
                         ATOMO_REALTIME_ALLOW_ANON="true", **extra)
        self.servers = [ServerProcess(tmp_path / f"instance-{i}", free_port(), env) for i in range(2)]
        for server in self.servers:
            server.project.mkdir()
            server.start()               # one after the other: the first creates the tables and seeds the sample
        self.proxy = RoundRobinProxy([s.port for s in self.servers]).start()

    def close(self) -> None:
        self.proxy.close()
        for server in self.servers:
            server.stop()


@pytest.fixture
def instances(tmp_path: Path, postgres_url: str) -> Iterator[Instances]:
    running = Instances(tmp_path, postgres_url)
    try:
        yield running
    finally:
        running.close()


def test_both_instances_name_postgres_and_the_second_does_not_seed_again(instances: Instances) -> None:
    first, second = instances.servers
    assert "Data      PostgreSQL 127.0.0.1:" in first.stdout and "(created; seeded 3 companies" in first.stdout
    assert "Data      PostgreSQL 127.0.0.1:" in second.stdout and "seeded" not in second.stdout
    token = login(instances.proxy.base_url)
    counts = set()
    for _ in range(4):                   # new connections: both instances answer, with the same data
        body = httpx.post(instances.proxy.base_url + "/graphql", headers={"Authorization": f"Bearer {token}"},
                          json={"query": '{ count(model: "Company") }'}).json()
        counts.add(body["data"]["count"])
    assert counts == {3} and set(instances.proxy.choices[-4:]) == {first.port, second.port}


async def test_a_subscriber_on_one_instance_sees_the_writes_made_on_the_other(instances: Instances) -> None:
    proxy = instances.proxy
    token = login(proxy.base_url)
    sock = await subscribe(proxy.base_url, token)
    subscribed_on = proxy.choices[-1]
    made = []
    try:
        while len(made) < 6:
            with httpx.Client(base_url=proxy.base_url, headers={"Authorization": f"Bearer {token}"}) as client:
                company = await asyncio.to_thread(create, client, f"across-{len(made)}")
            assert company is not None
            made.append((company["name"], proxy.choices[-1]))
        assert {port for _, port in made} == {s.port for s in instances.servers}   # both took writes
        seen = await positions_and_names(sock, len(made))
    finally:
        await sock.close()
    assert [name for _, name in seen] == [name for name, _ in made]
    positions = [p for p, _ in seen]
    assert positions == list(range(positions[0], positions[0] + len(made))), "gap-free, in commit order"
    assert any(port != subscribed_on for _, port in made)


def test_kill_9_of_one_instance_loses_no_acknowledged_write(instances: Instances) -> None:
    proxy = instances.proxy
    token = login(proxy.base_url)
    stop, acked = threading.Event(), []
    threads = writers(proxy.base_url, token, stop, acked, threads=4)
    time.sleep(1.5)
    victim = instances.servers[1]
    before_kill = len(acked)
    assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
    time.sleep(1.5)                       # the proxy sends every new connection to the survivor
    stop.set()
    for thread in threads:
        thread.join(30)
    assert before_kill > 20 and len(acked) > before_kill
    survivor = instances.servers[0]
    assert missing(survivor.base_url, acked) == []
    victim.start()                        # started again on the same database: it serves everything
    assert missing(victim.base_url, acked) == []


async def test_realtime_channels_and_presence_across_instances(instances: Instances) -> None:
    first, second = instances.servers

    async def member(server: ServerProcess) -> tuple[Socket, str]:
        sock = await Socket.open(ws_url(server.base_url, "/realtime/ws"))
        return sock, (await sock.expect("welcome"))["principal"]

    a, a_id = await member(first)
    b, b_id = await member(second)
    try:
        room = "room:instances"
        await a.send({"op": "subscribe", "channel": room})
        assert (await a.expect("presence"))["members"] == [a_id]
        await subscribe_channel(b, room, [a_id, b_id])
        assert await a.expect("joined") == {"type": "joined", "channel": room, "who": b_id}
        await b.send({"op": "publish", "channel": room, "payload": {"n": 1}})
        assert await a.expect("message") == {"type": "message", "channel": room, "payload": {"n": 1}, "from": b_id}
        large = "x" * 50_000           # beyond one notification's 8,000 bytes: it goes through the database
        await a.send({"op": "publish", "channel": room, "payload": {"text": large}})
        assert (await b.expect("message"))["payload"] == {"text": large}
        second.stop(signal.SIGKILL)    # no goodbye: the others notice its silence
        assert await a.expect("left", timeout=15) == {"type": "left", "channel": room, "who": b_id}
    finally:
        await a.close()


def test_login_limits_hold_for_both_instances(tmp_path: Path, postgres_url: str) -> None:
    """Four failed logins per IP in the window, wherever they land: the fifth is refused on either instance."""
    running = Instances(tmp_path, postgres_url, LOGIN_RATE_LIMIT_IP_ATTEMPTS="4")
    try:
        first, second = running.servers

        def attempt(server: ServerProcess) -> int:
            response = httpx.post(server.base_url + "/auth/login", json={"email": "nobody@example.com",
                                                                         "password": "wrong-password-1"})
            time.sleep(0.6)            # a round of the shared limits (every 0.25 s) on both instances
            return response.status_code
        assert [attempt(first), attempt(second), attempt(first), attempt(second)] == [401] * 4
        assert attempt(first) == 429 and attempt(second) == 429
    finally:
        running.close()


def test_an_instance_serves_on_after_a_database_restart(tmp_path: Path) -> None:
    """PostgreSQL restarts (maintenance, a failover) under a serving instance: the next requests succeed — reads
    and the write transactions open new sessions by themselves; no request fails and no restart is needed."""
    with own_postgres() as pg:                              # its own: a restart cuts every session of the server
        running = Instances(tmp_path, pg.url)
        try:
            token = login(running.servers[0].base_url)
            with httpx.Client(base_url=running.servers[0].base_url, headers={"Authorization": f"Bearer {token}"},
                              timeout=30) as client:
                assert create(client, "before the restart") is not None
                pg.restart(down_secs=0.5)
                made = [create(client, f"after the restart {n}") for n in range(5)]
                assert all(made), made
                body = client.post("/graphql", json={"query": '{ count(model: "Company") }'}).json()
                assert body == {"data": {"count": 3 + 1 + 5}}
            assert login(running.servers[1].base_url)       # the other instance too
        finally:
            running.close()
