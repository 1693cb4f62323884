"""The worker events API over HTTP (``POST``/``GET /api/worker/events/{stream}``, atomo/http/jobs/event_routes.py):
the ``events:<pattern>`` capability, the actor built as by the worker CRUD API, the schema's stream rules
(tests/jobs/schemas.py: ``note-*`` for anyone signed in, ``audit-*`` appended by admins only), optimistic
concurrency, record streams (read-only, ``crud:<Model>:read`` needed), tenancy, junk input, and the Python worker
SDK (``ctx.crud.append_events`` / ``read_stream`` as the job's actor, origin defaulting to the action)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from atomo.worker import CrudError, JobContext, create_worker
from tests.e2e.conftest import ServerProcess
from tests.jobs.kit import Api
from tests.jobs.test_http_app import error


class EventsWorker:
    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"X-Worker-Token": token} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def append(self, stream: str, events: Any, **body: Any) -> httpx.Response:
        return self.http.post(f"/api/worker/events/{stream}", json={"events": events, **body})

    def read(self, stream: str, **params: Any) -> httpx.Response:
        if isinstance(params.get("actor"), dict):
            params["actor"] = json.dumps(params["actor"])
        return self.http.get(f"/api/worker/events/{stream}", params=params)

    def close(self) -> None:
        self.http.close()


Connect = Callable[[str | None], EventsWorker]


@pytest.fixture
def connect(jobs_server: ServerProcess) -> Iterator[Connect]:
    """``connect(token)``: a worker client of the jobs server, closed after the test."""
    opened: list[EventsWorker] = []

    def make(token: str | None) -> EventsWorker:
        opened.append(EventsWorker(jobs_server.base_url, token))
        return opened[-1]
    yield make
    for client in opened:
        client.close()


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def worker_id(admin: Api, token_name_hint: int = 0) -> str:
    return str(admin.get("/jobs/workers").json()["workers"][token_name_hint]["id"])


def test_token_and_capability_are_checked_first(admin: Api, connect: Connect) -> None:
    stream = name("note")
    anonymous = connect(None)
    error(anonymous.append(stream, [{"type": "Noted"}]), 401, "UNAUTHENTICATED")
    error(connect("wkr_" + "0" * 64).read(stream), 401, "UNAUTHENTICATED")
    crud_only = connect(admin.worker_token(["*"], ["crud:*", "action:*"]))
    message = f"worker lacks events capability for stream '{stream}'"
    error(crud_only.append(stream, [{"type": "Noted"}]), 403, "PERMISSION_DENIED", message)
    error(crud_only.read(stream), 403, "PERMISSION_DENIED", message)
    other = connect(admin.worker_token(["*"], ["events:order-*"]))
    error(other.append(stream, [{"type": "Noted"}]), 403, "PERMISSION_DENIED", message)
    assert other.append(name("order"), [{"type": "Noted"}]).status_code == 403    # the capability, then the rules
    # capabilities: normalized, invalid patterns refused
    created = admin.post("/jobs/workers", json={"name": "ev", "capabilities": [" Events:note-*", "events:*",
                                                                                "events:chat:{id}"]})
    assert created.status_code == 201 and created.json()["capabilities"] == ["events:note-*", "events:*",
                                                                            "events:chat:{id}"]
    for bad in ["events:", "events:a*b", "events:{x}", "events:" + "x" * 201, "events:a\nb"]:
        refused = admin.post("/jobs/workers", json={"name": "ev", "capabilities": [bad]})
        error(refused, 400, "VALIDATION_ERROR")


def test_append_and_read_with_origin_actor_metadata_and_versions(admin: Api, user_ids: dict[str, str],
                                                                 connect: Connect) -> None:
    w = connect(admin.worker_token(["*"], ["events:note-*"]))
    wid = worker_id(admin)
    stream = name("note")
    first = w.append(stream, [{"type": "NoteOpened", "data": {"n": 1}, "metadata": {"traceId": "t-1"}},
                              {"type": "NoteEdited", "data": {"n": 2}}], expectedVersion=0, origin="importer")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["stream"] == stream and body["version"] == 2
    assert [(e["type"], e["streamVersion"], e["data"], e["metadata"]) for e in body["events"]] == \
        [("NoteOpened", 1, {"n": 1}, {"traceId": "t-1"}), ("NoteEdited", 2, {"n": 2}, None)]
    assert {(e["actor"], e["origin"], e["stream"], e["model"], e["tenantId"]) for e in body["events"]} == \
        {(f"worker:{wid}", "importer", stream, None, None)}
    assert body["events"][0]["position"] < body["events"][1]["position"]
    assert {"eventId", "recordedAt", "recordId", "previousData"} <= set(body["events"][0])
    # as a user: the user is the actor; expectedVersion omitted appends at the end
    third = w.append(stream, [{"type": "NoteEdited", "data": {"n": 3}}], actor={"userId": user_ids["alice"]})
    assert third.status_code == 201 and third.json()["version"] == 3
    assert third.json()["events"][0]["actor"] == user_ids["alice"] and third.json()["events"][0]["origin"] is None
    # reading back: in order, fromVersion and limit, as any actor the rule lets read
    read = w.read(stream)
    assert read.status_code == 200
    assert read.json() == [*body["events"], *third.json()["events"]]
    assert [e["streamVersion"] for e in w.read(stream, fromVersion=2).json()] == [2, 3]
    assert [e["streamVersion"] for e in w.read(stream, fromVersion=2, limit=1).json()] == [2]
    assert w.read(stream, limit=0).json() == []
    assert [e["streamVersion"] for e in w.read(stream, fromVersion=-5, limit=10**9).json()] == [1, 2, 3]  # clamped
    assert w.read(stream, actor={"userId": user_ids["bob"]}).json() == read.json()
    assert w.read(name("note")).json() == []
    # the same events through GraphQL
    seen = admin.gql("query($s: String!) { stream(name: $s) { type actor origin metadata } }", {"s": stream})
    assert [(e["type"], e["actor"], e["origin"], e["metadata"]) for e in seen["stream"]] == \
        [("NoteOpened", f"worker:{wid}", "importer", {"traceId": "t-1"}), ("NoteEdited", f"worker:{wid}", "importer", None),
         ("NoteEdited", user_ids["alice"], None, None)]
    # optimistic concurrency
    stale = error(w.append(stream, [{"type": "NoteEdited"}], expectedVersion=1), 409, "CONFLICT")
    assert stale["details"] == {"currentVersion": 3, "expectedVersion": 1}
    exists = error(w.append(stream, [{"type": "NoteEdited"}], expectedVersion=0), 409, "CONFLICT")
    assert exists["details"]["currentVersion"] == 3
    assert w.append(stream, [{"type": "NoteEdited"}], expectedVersion=3).json()["version"] == 4
    error(w.append(stream, [{"type": "NoteEdited"}], expectedVersion="4"), 400, "VALIDATION_ERROR")
    error(w.append(stream, [{"type": "NoteEdited"}], expectedVersion=True), 400, "VALIDATION_ERROR")
    # invalid input
    error(w.append(stream, []), 400, "VALIDATION_ERROR")
    error(w.append(stream, [{"type": "Created"}]), 400, "VALIDATION_ERROR")        # a model event type
    error(w.append(stream, [{"type": "Ok", "data": [1]}]), 400, "VALIDATION_ERROR")
    error(w.append(stream, [{"type": "Ok"}], origin=""), 400, "VALIDATION_ERROR")
    error(w.append(stream, [{"type": "Ok"}], actor={"userId": "nobody"}), 403, "PERMISSION_DENIED")
    error(w.read(stream, actor="{bad"), 400, "BAD_REQUEST")
    error(w.read(stream, fromVersion="x"), 400, "BAD_REQUEST")


def test_stream_rules_apply_to_the_actor(admin: Api, user_ids: dict[str, str], connect: Connect) -> None:
    w = connect(admin.worker_token(["*"], ["events:*"]))
    admin_id = admin.get("/auth/me").json()["id"]
    audit = name("audit")
    # `audit-*`: append 'admin' -> neither the system principal nor a sales user, but an admin actor
    error(w.append(audit, [{"type": "Audited"}]), 403, "PERMISSION_DENIED")
    error(w.append(audit, [{"type": "Audited"}], actor={"userId": user_ids["alice"]}), 403, "PERMISSION_DENIED")
    done = w.append(audit, [{"type": "Audited", "data": {"ok": True}}], actor={"userId": admin_id}, origin="audit")
    assert done.status_code == 201 and done.json()["events"][0]["actor"] == admin_id
    # read 'authenticated': the system principal and alice read it
    assert [e["data"] for e in w.read(audit).json()] == [{"ok": True}]
    assert len(w.read(audit, actor={"userId": user_ids["alice"]}).json()) == 1
    # no rule matches: default deny, even with the capability `events:*`; admins may do everything
    loose = name("loose")
    error(w.append(loose, [{"type": "Free"}]), 403, "PERMISSION_DENIED")
    error(w.read(loose, actor={"userId": user_ids["bob"]}), 403, "PERMISSION_DENIED")
    assert w.append(loose, [{"type": "Free"}], actor={"userId": admin_id}).status_code == 201
    # reserved names
    error(w.append("$all", [{"type": "Free"}], actor={"userId": admin_id}), 400, "VALIDATION_ERROR")


def test_record_streams_are_read_only_and_need_crud_read(admin: Api, user_ids: dict[str, str],
                                                         connect: Connect) -> None:
    admin_id = admin.get("/auth/me").json()["id"]
    note = admin.create("Note", {"text": "history", "ownerId": admin_id})
    admin.gql('mutation($id: String!) { update(model: "Note", id: $id, data: {text: "edited"}) }', {"id": note["id"]})
    stream = f"Note/{note['id']}"
    events_only = connect(admin.worker_token(["*"], ["events:*"]))
    error(events_only.read(stream), 403, "PERMISSION_DENIED", "worker lacks crud capability for Note.read")
    reader = connect(admin.worker_token(["*"], ["events:Note/*", "crud:Note:read"]))
    for path in (stream, quote(stream, safe="")):               # `/` as is and as %2F
        events = reader.read(path, actor={"userId": user_ids["bob"]})
        assert events.status_code == 200, events.text
        assert [(e["type"], e["model"], e["recordId"], e["streamVersion"]) for e in events.json()] == \
            [("Created", "Note", note["id"], 1), ("Updated", "Note", note["id"], 2)]
    assert [e["streamVersion"] for e in reader.read(stream, fromVersion=2).json()] == [2]
    error(reader.append(stream, [{"type": "Hacked"}]), 403, "PERMISSION_DENIED")
    writer = connect(admin.worker_token(["*"], ["events:*", "crud:*"]))
    error(writer.append(stream, [{"type": "Hacked"}], actor={"userId": admin_id}), 403,
          "PERMISSION_DENIED")


def test_a_tenant_bound_worker_stays_in_its_tenant(admin: Api, users: dict[str, Api], user_ids: dict[str, str],
                                                  connect: Connect) -> None:
    bound_token = users["root"].worker_token(["*"], ["events:note-*"])        # root: admin of tenant acme
    assert users["root"].get("/jobs/workers").json()["workers"][0]["tenantId"] == "acme"
    bound = connect(bound_token)
    free = connect(admin.worker_token(["*"], ["events:note-*"]))
    acme, untenanted = name("note"), name("note")
    first = bound.append(acme, [{"type": "Noted", "data": {"t": "acme"}}])
    assert first.status_code == 201 and first.json()["events"][0]["tenantId"] == "acme"
    as_carol = bound.append(acme, [{"type": "Noted"}], actor={"userId": user_ids["carol"]})
    assert as_carol.status_code == 201 and as_carol.json()["events"][0]["tenantId"] == "acme"
    assert free.append(untenanted, [{"type": "Noted"}], actor={"userId": user_ids["alice"]}).status_code == 201
    # the bound worker: another tenantId or a user of another scope is refused; a foreign stream looks empty
    error(bound.append(acme, [{"type": "Noted"}], actor={"tenantId": "other"}), 403, "PERMISSION_DENIED")
    error(bound.read(acme, actor={"tenantId": "other"}), 403, "PERMISSION_DENIED")
    error(bound.append(untenanted, [{"type": "Noted"}]), 403, "PERMISSION_DENIED")
    assert bound.read(untenanted).json() == []
    assert len(bound.read(acme).json()) == 2
    # outside acme: alice (unbound sales: untenanted scope) neither reads nor appends to the acme stream
    assert free.read(acme, actor={"userId": user_ids["alice"]}).json() == []
    error(free.append(acme, [{"type": "Noted"}], actor={"userId": user_ids["alice"]}), 403, "PERMISSION_DENIED")
    assert len(free.read(acme, actor={"userId": user_ids["carol"]}).json()) == 2
    assert len(free.read(acme).json()) == 2                     # an unbound worker without actor: unscoped


JUNK: list[Any] = [None, 0, "x", [], {"events": None}, {"events": "x"}, {"events": [None]}, {"events": [{}]},
                   {"events": [{"type": 1}]}, {"events": [{"type": "Ok", "metadata": 3}]},
                   {"events": [{"type": "Ok"}] * 2000}, {"events": [{"type": "Ok"}], "actor": "me"},
                   {"events": [{"type": "Ok"}], "actor": {"userId": 7}}, {"events": [{"type": "Ok"}], "origin": 5},
                   {"events": [{"type": "Ok"}], "expectedVersion": -1}, {"events": [{"type": "Ok"}], "expectedVersion": 1e300}]


def test_junk_never_answers_500(admin: Api, jobs_server: ServerProcess) -> None:
    token = admin.worker_token(["*"], ["events:*", "crud:*"])
    streams = ["note-junk", "%00", "x" * 300, "Note/x", "Nope/x", "note-a%2Fb", ""]
    with httpx.Client(base_url=jobs_server.base_url, headers={"X-Worker-Token": token}, timeout=30) as http:
        for stream in streams:
            for junk in JUNK:
                response = http.post(f"/api/worker/events/{stream}", content=json.dumps(junk),
                                     headers={"content-type": "application/json"})
                assert response.status_code < 500, (stream, junk, response.text)
                assert 400 <= response.status_code < 500 or stream == "note-junk", (stream, junk, response.text)
            for query in ("?limit=-1", "?fromVersion=1e999", "?actor=[1]", "?limit=x"):
                response = http.get(f"/api/worker/events/{stream}{query}")
                assert response.status_code < 500, (stream, query, response.text)


def test_the_python_worker_sdk_appends_and_reads_as_the_job_actor(admin: Api, user_ids: dict[str, str],
                                                                 jobs_server: ServerProcess) -> None:
    kind, stream = f"ev{uuid.uuid4().hex[:8]}", name("note")
    token = admin.worker_token(["actions"], [f"action:{kind}", "events:note-*"])
    created = admin.post("/jobs", json={"queue": "actions", "kind": kind,
                                        "payload": {"action": kind, "actor": user_ids["alice"], "input": {}}})
    assert created.status_code == 201, created.text

    async def handler(ctx: JobContext) -> dict[str, Any]:
        done = await ctx.crud.append_events(stream, [{"type": "NoteOpened", "data": {"n": 1}, "metadata": {"m": 1}},
                                                     {"type": "NoteEdited", "data": {"n": 2}}], expected_version=0)
        await ctx.crud.append_events(stream, [{"type": "NoteEdited", "data": {"n": 3}}], origin=None)
        try:
            await ctx.crud.append_events(stream, [{"type": "NoteEdited"}], expected_version=1)
        except CrudError as exc:
            conflict = {"status": exc.status, **json.loads(exc.body)["error"]["details"]}
        events = await ctx.crud.read_stream(stream, from_version=2, limit=5)
        try:
            await ctx.crud.append_events(name("audit"), [{"type": "Audited"}])       # alice may not append there
        except CrudError as exc:
            denied = exc.status
        return {"version": done["version"], "conflict": conflict, "denied": denied,
                "read": [(e["streamVersion"], e["data"], e["actor"], e["origin"]) for e in events]}

    async def scenario() -> dict[str, Any]:
        worker = create_worker(jobs_server.base_url, token, ["actions"], poll_interval=0.05, wait_secs=1)
        worker.on(kind, handler)
        await worker.start()
        try:
            return await asyncio.to_thread(admin.wait_job, created.json()["id"])
        finally:
            await worker.stop()
    job = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert job["status"] == "succeeded", job
    alice = user_ids["alice"]
    assert job["result"] == {"version": 2, "conflict": {"status": 409, "currentVersion": 3, "expectedVersion": 1},
                             "denied": 403, "read": [[2, {"n": 2}, alice, kind], [3, {"n": 3}, alice, None]]}
    seen = admin.gql("query($s: String!) { stream(name: $s) { metadata } }", {"s": stream})["stream"]
    assert [e["metadata"] for e in seen] == [{"m": 1}, None, None]
