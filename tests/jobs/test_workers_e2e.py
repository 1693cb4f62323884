"""Actions and workers against a real server (jobs chapter): an event triggers an action that a Python
worker (`atomo worker run`) leases, reports progress on (seen by a realtime subscriber of `job:<id>`)
and completes; retries with backoff until dead; a worker killed mid-job; concurrent leases are disjoint."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from atomo.worker import JobsClient, create_worker
from tests.e2e.conftest import ROOT, ServerProcess, server_env
from tests.e2e.wskit import Socket, realtime
from tests.jobs.kit import Api


def run_worker(base_url: str, token: str, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "atomo", "worker", "run", "tests.jobs.handlers:handlers", "--url", base_url,
               "--token", token, "--poll-interval", "0.05", *args]
    return subprocess.Popen(command, cwd=ROOT, env=server_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_worker(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    return err


async def subscribe(base_url: str, token: str, job_id: str) -> Socket:
    sock = await realtime(base_url, token)
    await sock.send({"op": "subscribe", "channel": f"job:{job_id}", "ref": 1})
    presence = await sock.expect("presence")
    assert presence["channel"] == f"job:{job_id}"
    return sock


async def frames_until_finished(sock: Socket, timeout: float = 30.0) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await sock.recv(timeout)
        if frame["type"] != "message":
            continue
        frames.append(frame)
        if frame["payload"].get("status") in ("succeeded", "dead"):
            return frames


def test_an_event_triggers_an_action_that_a_python_worker_runs(admin: Api, jobs_server: ServerProcess) -> None:
    ticket = admin.create("Ticket", {"title": f"py {uuid.uuid4()}", "priority": 3})
    job = admin.action_jobs("triage")[0]                  # the newest: this ticket's
    assert job["status"] == "queued"
    assert job["attempts"] == 0
    token = admin.worker_token(["actions"], ["crud:Ticket:read,update", "action:triage"])

    async def scenario() -> list[dict[str, Any]]:
        sock = await subscribe(jobs_server.base_url, admin.token, job["id"])
        proc = run_worker(jobs_server.base_url, token, "--queue", "actions", "--wait-secs", "2")
        try:
            return await frames_until_finished(sock)
        finally:
            await sock.close()
            stop_worker(proc)
    frames = asyncio.run(scenario())
    assert {f["from"] for f in frames} == {"system:jobs"} and {f["channel"] for f in frames} == {f"job:{job['id']}"}
    payloads = [f["payload"] for f in frames]
    assert payloads[0] == {"event": "status", "jobId": job["id"], "status": "leased", "attempts": 1, "result": None,
                           "error": None}
    assert payloads[1] == {"event": "progress", "jobId": job["id"], "percent": 50, "message": "triaging",
                           "data": {"attempt": 1}}
    assert payloads[-1] == {"event": "status", "jobId": job["id"], "status": "succeeded", "attempts": 1,
                            "result": {"priority": 13, "by": "python"}, "error": None}
    done = admin.job(job["id"])
    assert done["status"] == "succeeded" and done["progress"]["percent"] == 50
    history = admin.gql('query($id: String!) { history(model: "Ticket", id: $id) { type origin actor } }',
                        {"id": ticket["id"]})["history"]
    assert [(e["type"], e["origin"]) for e in history] == [("Created", None), ("Updated", "triage")]
    assert history[1]["actor"].startswith("01")          # the job's actor (the admin user), not the worker
    # the worker's own update changed `priority` with origin `triage`: no second triage job
    assert admin.action_jobs("triage")[0]["id"] == job["id"]


def test_retries_with_backoff_until_dead(admin: Api, jobs_server: ServerProcess) -> None:
    queue = f"flaky-{uuid.uuid4()}"
    created = admin.post("/jobs", json={"queue": queue, "kind": "flaky", "maxAttempts": 3})
    assert created.status_code == 201
    job_id = created.json()["id"]
    token = admin.worker_token([queue])
    attempts: list[tuple[int, float]] = []

    async def flaky(ctx: Any) -> None:
        attempts.append((ctx.job.attempts, time.monotonic()))
        raise RuntimeError(f"flaky #{ctx.job.attempts}")

    async def scenario() -> None:
        worker = create_worker(jobs_server.base_url, token, [queue], poll_interval=0.05, wait_secs=2)
        worker.on("flaky", flaky)
        await worker.start()
        try:
            while len(attempts) < 3 or admin.job(job_id)["status"] != "dead":
                await asyncio.sleep(0.1)
        finally:
            await worker.stop()
    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert [a for a, _ in attempts] == [1, 2, 3]
    first_gap, second_gap = attempts[1][1] - attempts[0][1], attempts[2][1] - attempts[1][1]
    assert 4.5 <= first_gap < 12, first_gap       # 5 s backoff (the upper bounds only catch a lost job)
    assert 9.5 <= second_gap < 18, second_gap     # 10 s backoff
    dead = admin.job(job_id)
    assert (dead["status"], dead["attempts"], dead["error"]) == ("dead", 3, "flaky #3")
    assert job_id in [j["id"] for j in admin.get("/jobs/recent", params={"status": "dead"}).json()["jobs"]]
    retried = admin.post(f"/jobs/{job_id}/retry")
    assert retried.status_code == 200 and (retried.json()["status"], retried.json()["attempts"]) == ("queued", 0)
    assert admin.post(f"/jobs/{job_id}/retry").status_code == 409


def test_a_worker_killed_mid_job_loses_its_lease_and_the_job_completes_once(admin: Api,
                                                                          jobs_server: ServerProcess) -> None:
    queue = f"once-{uuid.uuid4()}"
    job_id = admin.post("/jobs", json={"queue": queue, "kind": "once", "payload": {}}).json()["id"]
    token = admin.worker_token([queue], ["crud:Note:create"])
    first = run_worker(jobs_server.base_url, token, "--queue", queue, "--visibility-secs", "2")
    try:
        deadline = time.monotonic() + 30
        while (admin.job(job_id).get("progress") or {}).get("message") != "attempt 1":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        stop_worker(first, signal.SIGKILL)
    assert admin.job(job_id)["status"] == "leased"
    second = run_worker(jobs_server.base_url, token, "--queue", queue, "--visibility-secs", "2")
    try:
        done = admin.wait_job(job_id, timeout=30)
    finally:
        stop_worker(second)
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    assert done["result"]["attempts"] == 2
    notes = admin.gql('query($w: JSON) { records(model: "Note", where: $w) }',
                      {"w": {"text": {"equals": f"done {job_id}"}}})["records"]
    assert len(notes) == 1


def test_concurrent_workers_never_lease_the_same_job(admin: Api, jobs_server: ServerProcess) -> None:
    queue = f"race-{uuid.uuid4()}"
    total = 300
    ids = {admin.post("/jobs", json={"queue": queue, "kind": "k", "payload": {"i": i}}).json()["id"]
           for i in range(total)}
    assert len(ids) == total
    tokens = [admin.worker_token([queue]) for _ in range(4)]

    async def drain(token: str, capacity: int, http: httpx.AsyncClient) -> list[str]:
        client = JobsClient(jobs_server.base_url, token, http)
        got: list[str] = []
        while True:
            jobs = await client.lease([queue], capacity=capacity, visibility_secs=300)
            if not jobs:
                return got
            got += [j.id for j in jobs]

    async def scenario() -> list[list[str]]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32)) as http:
            return await asyncio.gather(*(drain(tokens[i % 4], 1 + i % 7, http) for i in range(16)))
    leased = asyncio.run(scenario())
    flat = [job_id for part in leased for job_id in part]
    assert len(flat) == len(set(flat)) == total
    assert set(flat) == ids
    assert sum(1 for part in leased if part) > 1        # the work was really shared


def test_the_job_of_a_committed_write_survives_sigkill_exactly_once(tmp_path: Path) -> None:
    from tests.jobs.kit import make_project, start
    folder = tmp_path / "crash"
    make_project(folder)
    server = start(folder)
    api = Api(server.base_url)
    stop = False
    written: list[str] = []

    async def writer(i: int) -> None:
        async with httpx.AsyncClient(base_url=server.base_url, headers=api.headers, timeout=10) as http:
            n = 0
            while not stop:
                query = "mutation($d: JSON!) { create(model: \"Ticket\", data: $d) }"
                try:
                    r = await http.post("/graphql", json={"query": query, "variables": {"d": {"title": f"w{i}-{n}"}}})
                except httpx.HTTPError:
                    return
                if r.status_code == 200 and "errors" not in r.json():
                    written.append(r.json()["data"]["create"]["id"])
                n += 1

    async def crash() -> None:
        nonlocal stop
        tasks = [asyncio.create_task(writer(i)) for i in range(8)]
        deadline = time.monotonic() + 30
        while len(written) < 50:
            assert time.monotonic() < deadline, "the writers made no progress"
            await asyncio.sleep(0.01)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)      # mid-stream: writes in flight
        stop = True
        await asyncio.gather(*tasks, return_exceptions=True)
    try:
        first = api.create("Ticket", {"title": "acknowledged right before the kill"})
        asyncio.run(crash())
    finally:
        api.close()
        server.stop(signal.SIGKILL)
    server = start(folder)
    api = Api(server.base_url)
    try:
        events = api.gql('{ events(model: "Ticket", limit: 1000) { eventId type recordId } }')["events"]
        created = {e["eventId"]: e["recordId"] for e in events if e["type"] == "Created"}
        token = api.worker_token(["actions"])
        client = httpx.Client(base_url=server.base_url, headers={"X-Worker-Token": token}, timeout=30)
        payloads = []
        while batch := client.post("/jobs/lease", json={"queues": ["actions"], "capacity": 100}).json()["jobs"]:
            payloads += [j["payload"] for j in batch]
        client.close()
    finally:
        api.close()
        server.stop()
    triage = [p["eventId"] for p in payloads if p["action"] == "triage"]
    assert sorted(triage) == sorted(created)              # every committed event has its job, exactly once
    assert first["id"] in created.values()
    assert set(written) <= set(created.values())          # every acknowledged write is there, with its job
