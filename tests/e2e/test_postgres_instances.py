"""Two ``atomo serve`` instances on one PostgreSQL behind a load balancer (issue 21): each connection goes to the
next instance (``proxykit``); a subscriber on one instance sees the writes made on the other, in log order and
without a gap; ``kill -9`` of one instance while clients write loses nothing that was acknowledged, and the
instance started again serves everything."""

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

from tests.e2e.conftest import ServerProcess, free_port, login, server_env
from tests.e2e.proxykit import RoundRobinProxy
from tests.e2e.test_workers import create, missing, positions_and_names, subscribe, writers

pytest.importorskip("psycopg")


class Instances:
    def __init__(self, tmp_path: Path, url: str) -> None:
        env = server_env(DATABASE_URL=url, JWT_SECRET=secrets.token_hex(32))   # one signing key for all instances
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
