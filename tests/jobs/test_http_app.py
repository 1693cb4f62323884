"""The app plane, admin plane, direct invocation and GraphQL `enqueueJob` over HTTP (jobs chapter §3, §5, §7)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from atomo.worker import JobsClient
from tests.e2e.conftest import ServerProcess
from tests.jobs.kit import Api


def error(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()["error"]
    assert body["code"] == code, body
    if message is not None:
        assert body["message"] == message, body
    return body  # type: ignore[no-any-return]


def lease_all(base_url: str, token: str, queue: str) -> list[dict[str, Any]]:
    response = httpx.post(base_url + "/jobs/lease", json={"queues": [queue], "capacity": 100},
                          headers={"X-Worker-Token": token})
    assert response.status_code == 200, response.text
    return response.json()["jobs"]  # type: ignore[no-any-return]


def test_enqueue_rules(admin: Api, users: dict[str, Api], jobs_server: ServerProcess) -> None:
    alice, queue = users["alice"], f"app-{uuid.uuid4()}"
    anonymous = httpx.post(jobs_server.base_url + "/jobs", json={"queue": queue, "kind": "k"})
    error(anonymous, 401, "UNAUTHENTICATED")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    for body in ({"queue": " ", "kind": "k"}, {"queue": queue}, {"queue": queue, "kind": 3}, [1],
                 {"queue": queue, "kind": "k", "maxAttempts": "9"}, {"queue": queue, "kind": "k", "priority": True},
                 {"queue": "q" * 101, "kind": "k"}, {"queue": queue, "kind": "k", "idempotencyKey": ""}):
        error(alice.post("/jobs", json=body), 400, "VALIDATION_ERROR")
    error(alice.post("/jobs", content=b"{nope", headers={"content-type": "application/json"}), 400, "BAD_REQUEST")
    error(alice.post("/jobs", content=b"queue=x", headers={"content-type": "text/plain"}), 415,
          "UNSUPPORTED_MEDIA_TYPE")
    error(alice.post("/jobs", json={"queue": "actions", "kind": "triage"}), 403, "PERMISSION_DENIED")
    assert admin.post("/jobs", json={"queue": "actions", "kind": "adminOnly", "payload": None}).status_code == 201
    first = alice.post("/jobs", json={"queue": queue, "kind": "k", "payload": None, "maxAttempts": 5000,
                                      "priority": -5000, "idempotencyKey": "once"})
    assert first.status_code == 201 and set(first.json()) == {"id"}
    again = alice.post("/jobs", json={"queue": queue, "kind": "other", "idempotencyKey": "once"})
    assert again.status_code == 200 and again.json() == {"id": first.json()["id"], "duplicate": True}
    scoped = admin.post("/jobs", json={"queue": queue, "kind": "k", "idempotencyKey": "once"},
                        headers={"X-Tenant-ID": "acme"})
    assert scoped.status_code == 201 and scoped.json()["id"] != first.json()["id"]
    job = alice.job(first.json()["id"])
    assert (job["maxAttempts"], job["priority"], job["status"], job["createdBy"]) == \
        (1000, -1000, "queued", alice.get("/auth/me").json()["id"])
    assert job["tenantId"] is None and job["progress"] is None and job["result"] is None
    assert set(job) == {"id", "queue", "kind", "status", "attempts", "maxAttempts", "result", "error", "priority",
                        "tenantId", "createdBy", "progress", "createdAt", "updatedAt"}
    [leased, _] = sorted(lease_all(jobs_server.base_url, admin.worker_token([queue]), queue), key=lambda j: j["id"]
                         != first.json()["id"])
    assert leased["payload"] == {} and leased["attempts"] == 1


def test_visibility_and_cancel(admin: Api, users: dict[str, Api]) -> None:
    alice, bob, carol, root = users["alice"], users["bob"], users["carol"], users["root"]
    queue = f"vis-{uuid.uuid4()}"
    mine = alice.post("/jobs", json={"queue": queue, "kind": "k"}).json()["id"]
    acme = carol.post("/jobs", json={"queue": queue, "kind": "k"}).json()["id"]
    assert alice.job(mine)["id"] == mine and admin.job(mine)["id"] == mine
    error(bob.get(f"/jobs/{mine}"), 404, "NOT_FOUND")
    error(carol.get(f"/jobs/{mine}"), 404, "NOT_FOUND")                   # carol is not the creator
    error(root.get(f"/jobs/{mine}"), 404, "NOT_FOUND")                    # an admin bound to another tenant
    assert carol.job(acme)["tenantId"] == "acme" and root.job(acme)["id"] == acme
    error(admin.get(f"/jobs/{acme}", headers={"X-Tenant-ID": "other"}), 404, "NOT_FOUND")
    error(admin.get(f"/jobs/{uuid.uuid4()}"), 404, "NOT_FOUND")
    error(bob.post(f"/jobs/{mine}/cancel"), 404, "NOT_FOUND")
    cancelled = alice.post(f"/jobs/{mine}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    error(alice.post(f"/jobs/{mine}/cancel"), 409, "CONFLICT")
    error(alice.post(f"/jobs/{mine}/retry"), 403, "PERMISSION_DENIED", "admin access required")
    retried = admin.post(f"/jobs/{mine}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    error(admin.post(f"/jobs/{mine}/retry"), 409, "CONFLICT")


def test_graphql_enqueue_job(admin: Api, users: dict[str, Api], jobs_server: ServerProcess) -> None:
    mutation = ("mutation($q: String!, $k: String!, $key: String) "
                "{ enqueueJob(queue: $q, kind: $k, payload: {a: [1, 2]}, idempotencyKey: $key, priority: 2) }")
    queue = f"gql-{uuid.uuid4()}"
    first = users["alice"].gql(mutation, {"q": queue, "k": "k", "key": "g1"})["enqueueJob"]
    assert users["alice"].gql(mutation, {"q": queue, "k": "k", "key": "g1"})["enqueueJob"] == first
    assert users["alice"].job(first)["priority"] == 2
    denied = users["alice"].post("/graphql", json={"query": mutation, "variables": {"q": "actions", "k": "x"}}).json()
    assert denied["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    anonymous = httpx.post(jobs_server.base_url + "/graphql", json={"query": mutation, "variables": {"q": queue,
                                                                                                     "k": "k"}})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_worker_tokens_stats_and_recent(admin: Api, users: dict[str, Api], jobs_server: ServerProcess) -> None:
    anonymous = httpx.get(jobs_server.base_url + "/jobs/workers")
    error(anonymous, 401, "UNAUTHENTICATED")
    for method, path in (("GET", "/jobs/workers"), ("POST", "/jobs/workers"), ("GET", "/jobs/stats"),
                         ("GET", "/jobs/recent"), ("DELETE", f"/jobs/workers/{uuid.uuid4()}")):
        error(users["alice"].request(method, path, json={"name": "x"} if method == "POST" else None), 403,
              "PERMISSION_DENIED", "admin access required")
    for body in ({"name": ""}, {"name": "x" * 101}, {"name": "w", "queues": ["bad queue"]},
                 {"name": "w", "queues": "q"}, {"name": "w", "capabilities": ["crud:Ticket:fly"]},
                 {"name": "w", "capabilities": ["root"]}, {"name": "w", "capabilities": [7]}):
        error(admin.post("/jobs/workers", json=body), 400, "VALIDATION_ERROR")
    created = admin.post("/jobs/workers", json={"name": "builder", "queues": ["a.b:c-d_1", "*"],
                                                "capabilities": ["CRUD:Ticket:Read,update", "action:*"]})
    assert created.status_code == 201
    worker = created.json()
    assert set(worker) == {"id", "name", "token", "queues", "capabilities", "tenantId", "createdAt"}
    assert worker["tenantId"] is None   # an unscoped admin creates an unbound worker
    assert worker["token"].startswith("wkr_") and len(worker["token"]) == 68
    assert worker["capabilities"] == ["crud:Ticket:read,update", "action:*"]
    listed = admin.get("/jobs/workers").json()["workers"]
    assert listed[0]["id"] == worker["id"] and "token" not in listed[0] and listed[0]["lastSeenAt"] is None
    assert worker["token"] not in admin.get("/jobs/workers").text
    queue = f"rev-{uuid.uuid4()}"
    job_id = admin.post("/jobs", json={"queue": queue, "kind": "k"}).json()["id"]
    assert [j["id"] for j in lease_all(jobs_server.base_url, worker["token"], queue)] == [job_id]
    assert admin.get("/jobs/workers").json()["workers"][0]["lastSeenAt"] is not None
    stats = admin.get("/jobs/stats").json()
    assert set(stats["byStatus"]) == {"queued", "leased", "succeeded", "dead", "cancelled"}
    assert {"queue": queue, "status": "leased", "count": 1} in stats["byQueue"]
    revoked = admin.request("DELETE", f"/jobs/workers/{worker['id']}")
    assert revoked.status_code == 204 and revoked.content == b""
    error(admin.request("DELETE", f"/jobs/workers/{worker['id']}"), 404, "NOT_FOUND")
    assert admin.job(job_id)["status"] == "queued"                       # its lease ended at once
    assert admin.get("/jobs/workers").json()["workers"][0]["isRevoked"] is True
    refused = httpx.post(jobs_server.base_url + "/jobs/lease", json={"queues": [queue]},
                         headers={"X-Worker-Token": worker["token"]})
    error(refused, 401, "UNAUTHENTICATED", "invalid worker token")
    recent = admin.get("/jobs/recent", params={"queue": queue, "limit": 500}).json()["jobs"]
    assert [j["id"] for j in recent] == [job_id]
    assert set(recent[0]) == {"id", "queue", "kind", "status", "attempts", "maxAttempts", "error", "createdAt",
                              "updatedAt"}
    error(admin.get("/jobs/recent", params={"status": "running"}), 400, "VALIDATION_ERROR")
    error(admin.get("/jobs/recent", params={"limit": "ten"}), 400, "BAD_REQUEST")


def test_direct_invocation(admin: Api, users: dict[str, Api], jobs_server: ServerProcess) -> None:
    alice = users["alice"]
    error(httpx.post(jobs_server.base_url + "/api/actions/quote", json={}), 401, "UNAUTHENTICATED")
    error(alice.post("/api/actions/nope", json={}), 404, "NOT_FOUND")
    error(alice.post("/api/actions/triage", json={}), 400, "BAD_REQUEST", "action 'triage' is not callable")
    error(alice.post("/api/actions/quote"), 400, "VALIDATION_ERROR")     # empty body = {}: keys missing
    bad = error(alice.post("/api/actions/quote", json={"ticketId": 1, "email": "a@b.c", "count": "2"}), 400,
                "VALIDATION_ERROR")
    assert {d["field"] for d in bad["details"]} == {"ticketId", "count"}
    error(alice.post("/api/actions/quote?wait=soon", json={"ticketId": "t", "email": "e"}), 400, "BAD_REQUEST")
    error(alice.post("/api/actions/quote", json={"ticketId": "t", "email": "e"},
                     headers={"Idempotency-Key": "k" * 201}), 400, "VALIDATION_ERROR")
    body = {"ticketId": "t-1", "email": "a@b.c"}
    first = alice.post("/api/actions/quote", json=body, headers={"Idempotency-Key": "q-1"})
    assert first.status_code == 200 and set(first.json()) == {"jobId"}
    again = alice.post("/api/actions/quote", json=body, headers={"Idempotency-Key": "q-1"})
    assert again.json() == {"jobId": first.json()["jobId"], "duplicate": True}
    other = users["bob"].post("/api/actions/quote", json=body, headers={"Idempotency-Key": "q-1"})
    assert other.json()["jobId"] != first.json()["jobId"]                # the key is per caller
    token = admin.worker_token(["actions"], ["action:quote"])
    client = httpx.Client(base_url=jobs_server.base_url, headers={"X-Worker-Token": token}, timeout=30)
    leased = client.post("/jobs/lease", json={"queues": ["actions"], "capacity": 10}).json()["jobs"]
    assert {j["kind"] for j in leased} == {"quote"} and len(leased) == 2
    mine = next(j for j in leased if j["id"] == first.json()["jobId"])
    payload = mine["payload"]
    assert payload["timestamp"].endswith("+00:00")
    assert payload == {"action": "quote", "event": "direct", "input": body, "actor": alice.get("/auth/me").json()["id"],
                       "tenantId": None, "timestamp": payload["timestamp"], "origin": None}
    for job in leased:
        assert client.post(f"/jobs/{job['id']}/complete", json={"leaseId": job["leaseId"]}).status_code == 204

    def finish_soon() -> None:                    # a worker completes the next quote while the caller waits
        worker = JobsClient(jobs_server.base_url, token)
        import asyncio

        async def run() -> None:
            try:
                [job] = await worker.lease(["actions"], wait_secs=10)
                await worker.progress(job.id, job.lease_id, percent=99)
                await worker.complete(job.id, job.lease_id, {"url": f"https://q/{job.payload['input']['ticketId']}"})
            finally:
                await worker.aclose()
        asyncio.run(run())
    helper = threading.Thread(target=finish_soon)
    helper.start()
    started = time.monotonic()
    waited = users["carol"].post("/api/actions/quote", params={"wait": 20}, json={"ticketId": "t-9", "email": "e"})
    helper.join()
    client.close()
    assert waited.status_code == 200 and time.monotonic() - started < 10
    assert waited.json() == {"jobId": waited.json()["jobId"], "status": "succeeded", "result": {"url": "https://q/t-9"},
                             "error": None}
    assert users["carol"].job(waited.json()["jobId"])["tenantId"] == "acme"
    quick = alice.post("/api/actions/quote", params={"wait": 0}, json=body).json()
    assert quick["status"] == "queued" and quick["result"] is None


def test_job_channels_follow_job_visibility(users: dict[str, Api], jobs_server: ServerProcess) -> None:
    import asyncio

    from tests.e2e.wskit import realtime
    job_id = users["alice"].post("/jobs", json={"queue": f"ch-{uuid.uuid4()}", "kind": "k"}).json()["id"]

    async def subscribe(api: Api) -> dict[str, Any]:
        sock = await realtime(jobs_server.base_url, api.token)
        try:
            await sock.send({"op": "subscribe", "channel": f"job:{job_id}", "ref": 1})
            frame = await sock.recv()
            await sock.send({"op": "publish", "channel": f"job:{job_id}", "payload": {"fake": True}, "ref": 2})
            refused = await sock.recv()
            assert refused["type"] == "error" and refused["code"] == "PERMISSION_DENIED"
            return frame
        finally:
            await sock.close()
    assert asyncio.run(subscribe(users["alice"]))["type"] == "presence"
    denied = asyncio.run(subscribe(users["bob"]))
    assert denied["type"] == "error" and denied["code"] == "PERMISSION_DENIED"
