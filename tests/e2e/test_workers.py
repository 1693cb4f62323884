"""`atomo serve --workers N` (issue 20): several processes on one data file, with the guarantees of one.

Every test here starts a real group (`python -m atomo serve --workers 2`) and talks to it over HTTP and
WebSockets. A client cannot choose its process, so tests that need one client per process open
connections until `/ready` (which names the answering worker) has shown each index; a keep-alive
`httpx.Client` then stays on its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atomo.worker import JobsClient
from tests.e2e.conftest import ADMIN_PASSWORD, ServerProcess, atomo_command, free_port, login, server_env
from tests.e2e.test_metrics import parse, value
from tests.e2e.wskit import Socket, graphql_ws
from tests.jobs.kit import Api

pytestmark = pytest.mark.slow
WORKERS = 2
CREATE = 'mutation($d: JSON!) { create(model: "Company", data: $d) }'


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def clients_per_worker(base_url: str, token: str, size: int = WORKERS) -> dict[int, httpx.Client]:
    """One keep-alive client connected to each worker process (new connections until each index answered)."""
    found: dict[int, httpx.Client] = {}
    for _ in range(200):
        client = httpx.Client(base_url=base_url, timeout=30.0, headers={"Authorization": f"Bearer {token}"})
        index = client.get("/ready").json()["worker"]["index"]
        if index in found:
            client.close()
        else:
            found[index] = client
        if len(found) == size:
            return found
    raise AssertionError(f"only workers {sorted(found)} answered 200 new connections")


def create(client: httpx.Client, name: str) -> dict[str, Any] | None:
    """A Company created through ``client``; None when the write was not acknowledged."""
    try:
        body = client.post("/graphql", json={"query": CREATE, "variables": {"d": {"name": name}}}).json()
    except (httpx.HTTPError, json.JSONDecodeError):
        return None
    if body.get("errors"):
        return None
    return body["data"]["create"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def running_group(tmp_path: Path, **env: str) -> Iterator[ServerProcess]:
    """A group of ``WORKERS`` on the bundled sample in an empty project, once every worker listens."""
    process = ServerProcess(tmp_path / "project", env=server_env(**env), args=("--workers", str(WORKERS)))
    process.project.mkdir()
    process.start()                 # /health answers once one worker listens; the banner once every one does
    wait_for(lambda: "Press Ctrl+C" in process.stdout, what="the banner")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def group(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_group(tmp_path, ATOMO_JOB_RECLAIM_INTERVAL="1") as process:
        yield process


async def subscribe(base_url: str, token: str, after: int | None = None) -> Socket:
    sock = await graphql_ws(base_url, {"token": token})
    variables = {} if after is None else {"after": after}
    await sock.send({"id": "s", "type": "subscribe", "payload": {
        "query": 'subscription($after: Int) { modelChanges(model: "Company", after: $after) { position data } }',
        "variables": variables}})
    return sock


async def positions_and_names(sock: Socket, count: int, timeout: float = 20.0) -> list[tuple[int, str]]:
    seen = []
    while len(seen) < count:
        frame = await sock.recv(timeout)
        assert frame["type"] == "next", frame
        change = frame["payload"]["data"]["modelChanges"]
        seen.append((change["position"], change["data"]["name"]))
    return seen


def test_the_group_serves_one_port_from_every_worker(group: ServerProcess) -> None:
    assert f"Workers   {WORKERS} processes on one data file" in group.stdout
    assert group.proc is not None
    pids = children(group.proc.pid)
    assert len(pids) == WORKERS
    token = login(group.base_url)
    clients = clients_per_worker(group.base_url, token)
    try:
        answered = {c.get("/ready").json()["worker"]["pid"] for c in clients.values()}
        assert answered == set(pids)
        # a user made on one worker logs in on the other; a record made on one is read on the other
        made = create(clients[0], "made-on-0")
        assert made is not None
        body = clients[1].post("/graphql", json={"query": "query($id: String!) { record(model: \"Company\", id: $id) }",
                                                  "variables": {"id": made["id"]}})
        assert body.json()["data"]["record"]["name"] == "made-on-0"
    finally:
        for client in clients.values():
            client.close()
    # another server cannot take the port, alone or as a group
    for extra in ((), ("--workers", "2")):
        other = subprocess.run(atomo_command(group.project, "serve", "--port", str(group.port), *extra),
                               cwd=group.project, env=server_env(), capture_output=True, text=True, timeout=60)
        assert other.returncode == 3, other.stderr
        assert "already in use" in other.stderr


def test_metrics_add_up_every_worker(group: ServerProcess) -> None:
    """/metrics answered by either worker counts what both did; shared readings (last position) are once."""
    token = login(group.base_url)
    clients = clients_per_worker(group.base_url, token)
    try:
        start = value(parse(clients[0].get("/metrics").text)[0], "events_last_position")   # the sample's seed
        for index, client in clients.items():
            for n in range(3 + index):                 # 3 on worker 0, 4 on worker 1
                assert create(client, f"metered-{index}-{n}") is not None
        for client in clients.values():
            samples, _ = parse(client.get("/metrics").text)
            assert value(samples, "atomo_workers_scraped") == WORKERS
            assert value(samples, "events_appended_total", model="Company") == 7
            assert value(samples, "graphql_requests_total", operation="anonymous", status="ok") >= 7
            wait_for(lambda c=client: value(parse(c.get("/metrics").text)[0], "events_last_position") == start + 7,
                     what="the log's last position (one reading, not a sum over workers)")
            assert value(samples, "process_resident_memory_bytes") > 0
    finally:
        for client in clients.values():
            client.close()


def test_model_changes_reach_every_subscriber_in_one_order_whoever_wrote(group: ServerProcess) -> None:
    token = login(group.base_url)
    clients = clients_per_worker(group.base_url, token)
    per_writer = 60

    async def scenario() -> tuple[list[list[tuple[int, str]]], list[tuple[int, str]]]:
        socks = [await subscribe(group.base_url, token) for _ in range(6)]   # spread over the workers
        await asyncio.sleep(0.3)

        def write(index: int) -> None:
            for i in range(per_writer):
                assert create(clients[index], f"w{index}-{i}") is not None

        threads = [threading.Thread(target=write, args=(i,)) for i in clients]
        for thread in threads:
            thread.start()
        seen = await asyncio.gather(*(positions_and_names(s, WORKERS * per_writer) for s in socks))
        for thread in threads:
            thread.join()
        # a subscriber that resumes after the 100th event gets the rest, and nothing twice
        resume_at = seen[0][99][0]
        late = await subscribe(group.base_url, token, after=resume_at)
        rest = await positions_and_names(late, WORKERS * per_writer - 100)
        for sock in [*socks, late]:
            await sock.close()
        return seen, rest

    try:
        seen, rest = asyncio.run(scenario())
    finally:
        for client in clients.values():
            client.close()
    first = seen[0]
    positions = [p for p, _ in first]
    assert positions == list(range(positions[0], positions[0] + len(positions)))   # gapless, one global order
    assert {name for _, name in first} == {f"w{w}-{i}" for w in range(WORKERS) for i in range(per_writer)}
    for other in seen[1:]:
        assert other == first                       # every subscriber, on whichever worker: the same events
    for w in range(WORKERS):                        # each writer's own order is kept in the global order
        mine = [int(name.split("-")[1]) for _, name in first if name.startswith(f"w{w}-")]
        assert mine == sorted(mine)
    assert rest == first[100:]


def test_a_job_is_leased_once_across_workers(group: ServerProcess) -> None:
    api = Api(group.base_url, password=ADMIN_PASSWORD)
    queue = f"race-{uuid.uuid4()}"
    total = 200
    ids = {api.post("/jobs", json={"queue": queue, "kind": "k", "payload": {"i": i}}).json()["id"]
           for i in range(total)}
    tokens = [api.worker_token([queue]) for _ in range(4)]
    api.close()

    async def drain(token: str, capacity: int) -> list[str]:
        async with httpx.AsyncClient(timeout=60) as http:     # a connection of its own: any worker
            client = JobsClient(group.base_url, token, http)
            got: list[str] = []
            while jobs := await client.lease([queue], capacity=capacity, visibility_secs=300):
                got += [j.id for j in jobs]
            return got

    async def scenario() -> list[list[str]]:
        return await asyncio.gather(*(drain(tokens[i % 4], 1 + i % 5) for i in range(12)))
    leased = asyncio.run(scenario())
    flat = [job_id for part in leased for job_id in part]
    assert len(flat) == len(set(flat)) == total
    assert set(flat) == ids


def test_a_long_poll_on_one_worker_wakes_for_a_job_enqueued_on_the_other(group: ServerProcess) -> None:
    token = login(group.base_url)
    clients = clients_per_worker(group.base_url, token)
    queue = f"wake-{uuid.uuid4()}"
    try:
        worker_token = clients[0].post("/jobs/workers", json={"name": "w", "queues": [queue]}).json()["token"]
        result: dict[str, Any] = {}

        def poll() -> None:
            started = time.monotonic()
            reply = clients[0].post("/jobs/lease", json={"queues": [queue], "capacity": 1, "waitSecs": 20},
                                    headers={"x-worker-token": worker_token})
            result["seconds"] = time.monotonic() - started
            result["reply"] = reply.json()

        thread = threading.Thread(target=poll)
        thread.start()
        time.sleep(0.5)
        job = clients[1].post("/jobs", json={"queue": queue, "kind": "k", "payload": {}}).json()
        thread.join(30)
        assert [j["id"] for j in result["reply"].get("jobs", [])] == [job["id"]], result
        assert result["seconds"] < 5           # woken by the other worker, not by the end of the wait
    finally:
        for client in clients.values():
            client.close()


def writers(base_url: str, token: str, stop: threading.Event, acked: list[str], threads: int = 6) -> list[threading.Thread]:
    """Threads creating Companies over fresh connections until ``stop``; acknowledged ids go to ``acked``."""
    def run() -> None:
        while not stop.is_set():
            with httpx.Client(base_url=base_url, timeout=10.0, headers={"Authorization": f"Bearer {token}"}) as c:
                for _ in range(5):
                    made = create(c, f"crash-{uuid.uuid4().hex[:8]}")
                    if made is not None:
                        acked.append(made["id"])
    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    return started


def missing(base_url: str, acked: list[str]) -> list[str]:
    token = login(base_url)
    have: set[str] = set()
    while True:
        body = httpx.post(base_url + "/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=60, json={
            "query": "query($o: Int) { records(model: \"Company\", limit: 500, offset: $o) }",
            "variables": {"o": len(have)}}).json()
        assert not body.get("errors"), body
        rows = body["data"]["records"]
        have |= {row["id"] for row in rows}
        if len(rows) < 500:
            return [rid for rid in acked if rid not in have]


def test_kill_9_of_one_worker_loses_no_acknowledged_write_and_it_is_restarted(group: ServerProcess) -> None:
    assert group.proc is not None
    token = login(group.base_url)
    before = children(group.proc.pid)
    stop, acked = threading.Event(), []
    threads = writers(group.base_url, token, stop, acked)
    time.sleep(1.5)
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acked) > 50
    after = wait_for(lambda: (lambda pids: pids if len(pids) == WORKERS and victim not in pids else None)(
        children(group.proc.pid)), what="the worker to be started again")
    assert before[1] in after
    wait_for(lambda: "is serving again" in group.stderr, what="the restarted worker to serve")
    assert missing(group.base_url, acked) == []
    token = login(group.base_url)
    clients = clients_per_worker(group.base_url, token)      # both workers answer again
    for client in clients.values():
        client.close()


def test_kill_9_of_the_whole_group_loses_no_acknowledged_write(group: ServerProcess) -> None:
    assert group.proc is not None
    token = login(group.base_url)
    stop, acked = threading.Event(), []
    threads = writers(group.base_url, token, stop, acked)
    time.sleep(2.0)
    pids = [group.proc.pid, *children(group.proc.pid)]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(30)
    group.stop()
    assert len(acked) > 50
    port = free_port()
    alone = ServerProcess(group.project, port, server_env()).start()
    try:
        assert missing(alone.base_url, acked) == []
        check = subprocess.run(atomo_command(group.project, "projections", "rebuild", "--check"), cwd=group.project,
                               env=server_env(), capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "no differences" in check.stdout
    finally:
        alone.stop()


def test_sigterm_stops_every_worker_and_exits_0(group: ServerProcess) -> None:
    assert group.proc is not None
    pids = children(group.proc.pid)
    code = group.stop()
    assert code == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    wal = group.project / ".atomo" / "atomo.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
