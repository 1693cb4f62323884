"""The worker plane and the worker CRUD API over HTTP (jobs chapter §6, §8), and junk input everywhere."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerProcess
from tests.jobs.kit import Api
from tests.jobs.test_http_app import error


class Worker:
    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"X-Worker-Token": token}, timeout=30)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=body, **kwargs)

    def crud(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, "/api/worker/crud/" + path, **kwargs)

    def lease(self, queue: str, **body: Any) -> list[dict[str, Any]]:
        response = self.post("/jobs/lease", {"queues": [queue], **body})
        assert response.status_code == 200, response.text
        return response.json()["jobs"]  # type: ignore[no-any-return]


@pytest.fixture
def queue(admin: Api) -> str:
    name = f"wp-{uuid.uuid4()}"
    for i in range(3):
        admin.post("/jobs", json={"queue": name, "kind": f"k{i}", "maxAttempts": 2})
    return name


def test_worker_plane_errors(admin: Api, queue: str, jobs_server: ServerProcess) -> None:
    base = jobs_server.base_url
    error(httpx.post(base + "/jobs/lease", json={"queues": [queue]}), 401, "UNAUTHENTICATED", "missing worker token")
    error(httpx.post(base + "/jobs/lease", json={"queues": [queue]}, headers={"X-Worker-Token": "wkr_" + "0" * 64}),
          401, "UNAUTHENTICATED", "invalid worker token")
    narrow = Worker(base, admin.worker_token(["other"]))
    error(narrow.post("/jobs/lease", {"queues": ["other", queue]}), 403, "PERMISSION_DENIED",
          f"worker not authorized for queue '{queue}'")
    w = Worker(base, admin.worker_token([queue]))
    for body in ({}, {"queues": []}, {"queues": "q"}, {"queues": [1]}, {"queues": [queue], "capacity": "2"}, [queue]):
        error(w.post("/jobs/lease", body), 400, "VALIDATION_ERROR")
    [job] = w.lease(queue, capacity=0, visibilitySecs=10**9, waitSecs=-5)      # clamped to 1
    assert set(job) == {"id", "queue", "kind", "payload", "attempts", "maxAttempts", "leaseId"}
    path, lease = f"/jobs/{job['id']}", job["leaseId"]
    error(w.post(path + "/heartbeat", {}), 400, "VALIDATION_ERROR")
    error(w.post(path + "/heartbeat", {"leaseId": 7}), 400, "VALIDATION_ERROR")
    error(w.post(path + "/progress", {"leaseId": lease, "percent": 101}), 400, "VALIDATION_ERROR")
    error(w.post(path + "/progress", {"leaseId": lease, "message": "m" * 1001}), 400, "VALIDATION_ERROR")
    error(w.post(path + "/fail", {"leaseId": lease, "retryable": "yes"}), 400, "VALIDATION_ERROR")
    error(w.post(path + "/fail", {"leaseId": lease, "error": {"x": 1}}), 400, "VALIDATION_ERROR")
    error(narrow.post(path + "/heartbeat", {"leaseId": lease}), 409, "LEASE_LOST", "lease lost")   # not its lease
    error(w.post(path + "/heartbeat", {"leaseId": "stale"}), 409, "LEASE_LOST")
    error(w.post(f"/jobs/{uuid.uuid4()}/complete", {"leaseId": lease}), 409, "LEASE_LOST")
    assert w.post(path + "/heartbeat", {"leaseId": lease, "visibilitySecs": 60}).status_code == 204
    progress = {"leaseId": lease, "percent": 12.5, "message": "m", "data": [1]}
    assert w.post(path + "/progress", progress).status_code == 204
    assert admin.job(job["id"])["progress"]["percent"] == 12.5
    retry = w.post(path + "/fail", {"leaseId": lease, "error": "later", "retryable": True, "delaySecs": 0})
    assert retry.json() == {"outcome": "retry", "delaySecs": 0}
    error(w.post(path + "/complete", {"leaseId": lease}), 409, "LEASE_LOST")
    again = next(j for j in w.lease(queue, capacity=5) if j["id"] == job["id"])
    assert again["attempts"] == 2
    assert w.post(path + "/fail", {"leaseId": again["leaseId"], "retryable": True}).json() == {"outcome": "dead"}
    assert admin.job(job["id"])["error"] == ""
    for leftover in w.lease(queue, capacity=5):
        assert w.post(f"/jobs/{leftover['id']}/complete", {"leaseId": leftover["leaseId"], "result": [1]}).status_code \
            == 204
    narrow.http.close()
    w.http.close()


def test_action_capabilities_filter_kinds(admin: Api, jobs_server: ServerProcess) -> None:
    for kind in ("alpha", "beta"):
        admin.post("/jobs", json={"queue": "actions", "kind": kind, "idempotencyKey": f"{kind}-{uuid.uuid4()}"})
    w = Worker(jobs_server.base_url, admin.worker_token(["actions"], ["action:beta"]))
    leased = w.lease("actions", capacity=100)
    assert leased and {j["kind"] for j in leased} == {"beta"}
    for job in leased:
        w.post(f"/jobs/{job['id']}/complete", {"leaseId": job["leaseId"]})
    rest = Worker(jobs_server.base_url, admin.worker_token(["actions"], ["action:alpha"]))
    for job in rest.lease("actions", capacity=100):
        rest.post(f"/jobs/{job['id']}/complete", {"leaseId": job["leaseId"]})
    w.http.close()
    rest.http.close()


def test_long_poll_wakes_on_arrival_and_gives_back_what_a_departed_client_missed(admin: Api,
                                                                                 jobs_server: ServerProcess) -> None:
    queue = f"lp-{uuid.uuid4()}"
    w = Worker(jobs_server.base_url, admin.worker_token([queue]))
    threading.Timer(0.5, lambda: admin.post("/jobs", json={"queue": queue, "kind": "k"})).start()
    started = time.monotonic()
    [job] = w.lease(queue, waitSecs=10)
    assert 0.4 < time.monotonic() - started < 6                    # woken by the arrival, not the 10 s limit
    assert w.lease(queue, waitSecs=1) == []
    try:
        w.http.post("/jobs/lease", json={"queues": [queue], "waitSecs": 10}, timeout=0.5)
    except httpx.TimeoutException:
        pass
    late = admin.post("/jobs", json={"queue": queue, "kind": "late"}).json()["id"]
    time.sleep(1)
    assert (admin.job(late)["status"], admin.job(late)["attempts"]) == ("queued", 0)
    assert [j["id"] for j in w.lease(queue)] == [late]
    w.http.close()


def test_worker_crud_capabilities_actors_and_rules(admin: Api, users: dict[str, Api], user_ids: dict[str, str],
                                                   jobs_server: ServerProcess) -> None:
    base = jobs_server.base_url
    none = Worker(base, admin.worker_token(["*"], ["crud:Ticket:read"]))
    error(none.crud("POST", "Ticket", json={"data": {"title": "x"}}), 403, "PERMISSION_DENIED",
          "worker lacks crud capability for Ticket.create")
    error(none.crud("GET", "Nope"), 403, "PERMISSION_DENIED", "worker lacks crud capability for Nope.read")
    w = Worker(base, admin.worker_token(["*"], ["crud:*"]))
    error(w.crud("GET", "Nope"), 404, "NOT_FOUND", "model 'Nope' not found")
    # no userId: principal worker:<id>, role `system`: `authenticated` passes, `owner(f)` never does
    note = w.crud("POST", "Note", json={"data": {"text": "by the system", "owner_id": user_ids["alice"]}})
    assert note.status_code == 201 and note.json()["ownerId"] == user_ids["alice"]
    note_id = note.json()["id"]
    error(w.crud("PATCH", f"Note/{note_id}", json={"data": {"text": "x"}}), 403, "PERMISSION_DENIED")
    error(w.crud("PATCH", f"Note/{note_id}", json={"data": {"text": "x"}, "actor": {"userId": user_ids["bob"]}}),
          403, "PERMISSION_DENIED")
    as_alice = w.crud("PATCH", f"Note/{note_id}", json={"data": {"text": "mine"}, "origin": "edit",
                                                        "actor": {"userId": user_ids["alice"]}, "expectedVersion": 1})
    assert as_alice.status_code == 200 and as_alice.json()["text"] == "mine" and as_alice.json()["_version"] == 2
    error(w.crud("PATCH", f"Note/{note_id}", json={"data": {"text": "x"}, "actor": {"userId": user_ids["alice"]},
                                                   "expectedVersion": 1}), 409, "CONFLICT")
    error(w.crud("PATCH", f"Note/{note_id}", json={"data": {"text": None}, "actor": {"userId": user_ids["alice"]}}),
          400, "VALIDATION_ERROR")
    history = admin.gql('query($id: String!) { history(model: "Note", id: $id) { actor origin } }', {"id": note_id})
    worker_id = admin.get("/jobs/workers").json()["workers"][0]["id"]
    assert [(e["actor"], e["origin"]) for e in history["history"]] == [(f"worker:{worker_id}", None),
                                                                       (user_ids["alice"], "edit")]
    error(w.crud("DELETE", f"Note/{note_id}", json={"actor": {"userId": user_ids["alice"]}}), 403, "PERMISSION_DENIED")
    error(w.crud("GET", f"Note/{note_id}", params={"actor": json.dumps({"userId": "nobody"})}), 403,
          "PERMISSION_DENIED")
    error(w.crud("GET", "Note", params={"actor": json.dumps({"userId": user_ids["carol"], "tenantId": "other"})}), 403,
          "PERMISSION_DENIED")
    error(w.crud("GET", "Note", params={"where": "{bad"}), 400, "BAD_REQUEST")
    error(w.crud("GET", "Note", params={"actor": "[1]"}), 400, "VALIDATION_ERROR")
    admin_id = admin.get("/auth/me").json()["id"]
    gone = w.crud("DELETE", f"Note/{note_id}", json={"actor": {"userId": admin_id}})
    assert gone.json() == {"deleted": 1}
    assert w.crud("DELETE", f"Note/{note_id}", json={"actor": {"userId": admin_id}}).json() == {"deleted": 0}
    error(w.crud("GET", f"Note/{note_id}"), 404, "NOT_FOUND")
    # tenancy: carol (bound to acme) and the system principal scoped to acme see acme rows only
    acme = w.crud("POST", "Ticket", json={"data": {"title": "acme only"}, "actor": {"userId": user_ids["carol"]}})
    assert acme.status_code == 201 and acme.json()["tenantId"] == "acme"
    scoped = w.crud("POST", "Ticket", json={"data": {"title": "system acme"}, "actor": {"tenantId": "acme"}})
    assert scoped.json()["tenantId"] == "acme"
    listed = w.crud("GET", "Ticket", params={"actor": json.dumps({"userId": user_ids["carol"]}), "limit": 500,
                                             "orderBy": json.dumps({"createdAt": "desc"})}).json()
    assert {t["tenantId"] for t in listed} == {"acme"} and len(listed) >= 2
    assert len(w.crud("GET", "Ticket", params={"limit": 500}).json()) <= 200
    # origin on worker writes: the action named by origin is not re-triggered, others are
    ticket = acme.json()["id"]
    before = len(admin.action_jobs("triage"))
    w.crud("PATCH", f"Ticket/{ticket}", json={"data": {"priority": 4}, "origin": "triage",
                                                "actor": {"userId": user_ids["carol"]}})
    assert len(admin.action_jobs("triage")) == before
    w.crud("PATCH", f"Ticket/{ticket}", json={"data": {"priority": 1}, "actor": {"userId": user_ids["carol"]}})
    assert [j["kind"] for j in admin.action_jobs()[:2]] == ["urgent", "triage"]
    none.http.close()
    w.http.close()


JUNK: list[Any] = [None, 0, -1, 1e308, "x", "", [], [[[]]], {"leaseId": None}, {"queues": None},
                   {"queues": [None]}, {"data": "x"}, {"data": {"title": 12345}}, {"actor": "me"},
                   {"actor": {"userId": 7}}, {"expectedVersion": "1"}, {"capacity": 1e300}, {"waitSecs": -1e300},
                   {"percent": "50"}, {"name": None, "queues": None, "capabilities": None}, {"queue": {}, "kind": []}]


def test_junk_never_answers_500(admin: Api, jobs_server: ServerProcess) -> None:
    token = admin.worker_token(["*"], ["crud:*", "action:*"])
    routes = [("POST", "/jobs"), ("POST", "/jobs/lease"), ("POST", "/jobs/x/heartbeat"), ("POST", "/jobs/x/progress"),
              ("POST", "/jobs/x/complete"), ("POST", "/jobs/x/fail"), ("POST", "/jobs/x/cancel"),
              ("POST", "/jobs/workers"), ("POST", "/api/actions/quote"), ("POST", "/api/worker/crud/Ticket"),
              ("PATCH", "/api/worker/crud/Ticket/x"), ("DELETE", "/api/worker/crud/Ticket/x"),
              ("GET", "/jobs/recent?limit=1e999&offset=-5"), ("GET", "/api/worker/crud/Ticket?limit=-3&where=null")]
    headers = {**admin.headers, "X-Worker-Token": token}
    with httpx.Client(base_url=jobs_server.base_url, headers=headers, timeout=30) as http:
        for method, path in routes:
            for junk in JUNK:
                response = http.request(method, path, content=json.dumps(junk),
                                        headers={"content-type": "application/json"})
                assert response.status_code < 500, (method, path, junk, response.text)
                if response.status_code >= 400:
                    assert set(response.json()) == {"error"} and {"code", "message"} <= set(response.json()["error"])
