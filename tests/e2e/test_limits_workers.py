"""Limits of a group (`atomo serve --workers 2`) hold for the server as a whole, not once per process: the
per-IP request bucket, the failed-login limit and the realtime connection cap are kept in the group's shared
table. Requests alternate between one keep-alive client on each worker, so each limit is met half on one
process and half on the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from tests.e2e.conftest import ServerProcess
from tests.e2e.test_workers import WORKERS, clients_per_worker, running_group
from tests.e2e.wskit import Socket, ws_url

pytestmark = pytest.mark.slow
REQUESTS = 40        # the bucket (RATE_LIMIT_RPS) of the one client address
LOGINS = 3           # failed logins per address and email
SOCKETS = 3          # realtime connections per address


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_group(tmp_path, RATE_LIMIT_RPS=str(REQUESTS), RATE_LIMIT_WINDOW_SECS="36000",
                       LOGIN_RATE_LIMIT_ATTEMPTS=str(LOGINS), ATOMO_REALTIME_MAX_CONN_PER_IP=str(SOCKETS),
                       ATOMO_REALTIME_ALLOW_ANON="true") as process:
        yield process


async def open_realtime(url: str) -> Socket | int:
    """A welcomed realtime socket, or the HTTP status that refused the upgrade."""
    try:
        sock = await Socket.open(url)
    except websockets.InvalidStatus as refused:
        return refused.response.status_code
    await sock.expect("welcome")
    return sock


async def test_limits_hold_for_the_group_not_per_worker(group: ServerProcess) -> None:
    workers = clients_per_worker(group.base_url, token="none")        # /ready is not counted
    spent = 0
    try:
        # realtime: SOCKETS connections per address over every worker (each handshake takes a request token)
        opened = [await open_realtime(ws_url(group.base_url, "/realtime/ws")) for _ in range(3 * SOCKETS)]
        spent += len(opened)
        sockets = [s for s in opened if isinstance(s, Socket)]
        assert len(sockets) == SOCKETS and {s for s in opened if not isinstance(s, Socket)} == {429}
        health = {i: c.get("/realtime/health").json() for i, c in workers.items()}
        spent += len(workers)
        assert sum(h["worker"]["stats"]["active_clients"] for h in health.values()) == SOCKETS, health
        assert {h["stats"]["active_clients"] for h in health.values()} == {SOCKETS}, "the group's count, on each"
        for sock in sockets:
            await sock.close()

        # failed logins: LOGINS per address and email, whichever worker answers
        statuses = []
        for n in range(2 * LOGINS):
            response = workers[n % WORKERS].post("/auth/login", json={"email": "admin@example.com",
                                                                      "password": "wrong-password-1"})
            statuses.append(response.status_code)
        spent += len(statuses)
        assert statuses == [401] * LOGINS + [429] * LOGINS, statuses

        # the request bucket: what is left of REQUESTS, over both workers, then 429 from both
        answered = []
        for n in range(2 * REQUESTS):
            response = workers[n % WORKERS].post("/graphql", json={"query": "{ __typename }"})
            answered.append((n % WORKERS, response.status_code))
        allowed = [w for w, status in answered if status != 429]
        assert len(allowed) == REQUESTS - spent, answered
        assert set(allowed) == set(range(WORKERS)), "both workers answered some"
        assert {status for w, status in answered[len(allowed) + 2:]} == {429}
    finally:
        for client in workers.values():
            client.close()
