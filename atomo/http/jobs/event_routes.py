"""The worker events API (Atomo-Python extension of jobs chapter §8): the event store with ``X-Worker-Token``.

- ``POST /api/worker/events/{stream}`` with ``{"events": [{type, data?, metadata?}], "expectedVersion"?,
  "actor"?, "origin"?}`` -> 201 ``{"stream", "version", "events"}``;
- ``GET /api/worker/events/{stream}?fromVersion=1&limit=100&actor=<json>`` (``limit`` clamped to 0-1000)
  -> 200 array of events.

The stream is the rest of the path: ``/`` may appear in it as is or as ``%2F`` (``Deal/d-1``); other
reserved characters are percent-encoded. Events have the GraphQL ``StoredEvent`` shape (camelCase, with
``metadata``).

Order: worker token (401) -> a capability ``events:<pattern>`` matching the stream (403 ``worker lacks
events capability for stream '<s>'``; the record stream ``<Model>/<id>`` of a schema model also needs
``crud:<Model>:read``) -> actor, built exactly as by the worker CRUD API (``atomo.http.jobs.acting``) ->
``EventStore`` with that caller: the schema's stream rules (default deny; ``system``, the role of a worker
acting without a user, passes ``authenticated``, never a role), record streams read-only and read
under the model's ``read`` rule, tenancy (a tenant-bound worker stays in its tenant). ``origin`` is
stamped on the appended events, the actor (the user, else ``worker:<id>``) too. ``expectedVersion``
mismatch -> 409 ``CONFLICT`` with ``details`` ``{currentVersion, expectedVersion}``; invalid events,
names or numbers -> 400 ``VALIDATION_ERROR``.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.handlers import HTTPRouteHandler

from atomo.data.streams import MAX_READ, EventStore
from atomo.errors import PermissionDeniedError, ValidationError
from atomo.http.jobs.acting import Acting, query_json
from atomo.http.jobs.inputs import AnyRequest, Plane, json_response, query_int, require_object
from atomo.jobs.workers import WorkerIdentity

ROUTE = "/api/worker/events/{stream:path}"


def _stream_of(raw: str) -> str:
    """The ``path`` parameter starts with ``/``: the stream name is what follows."""
    return raw[1:] if raw.startswith("/") else raw


def event_handlers(plane: Plane, shared: Acting | None = None) -> list[HTTPRouteHandler]:
    acting = shared or Acting(plane)

    async def authorize(request: AnyRequest, stream: str) -> WorkerIdentity:
        worker = await plane.worker(request)
        if not worker.allows_events(stream):
            raise PermissionDeniedError(f"worker lacks events capability for stream '{stream}'")
        model = EventStore(plane.data).record_model(stream)
        if model is not None and not worker.allows_crud(model.name, "read"):
            raise PermissionDeniedError(f"worker lacks crud capability for {model.name}.read")
        return worker

    @post(ROUTE, name="worker-events-append")
    async def append(request: AnyRequest, stream: str) -> Response[Any]:
        name = _stream_of(stream)
        worker = await authorize(request, name)
        body = require_object(await plane.body(request, empty={}))
        version = body.get("expectedVersion")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ValidationError.single("expectedVersion", "expectedVersion must be an integer", "type")
        data, caller = await acting(worker, body.get("actor"), body.get("origin"))
        done = await EventStore(data).append(name, body.get("events"), expected_version=version, caller=caller)
        return json_response({**done, "events": [e.to_graphql() for e in done["events"]]}, 201)

    @get(ROUTE, name="worker-events-read")
    async def read(request: AnyRequest, stream: str) -> Response[Any]:
        name = _stream_of(stream)
        worker = await authorize(request, name)
        data, caller = await acting(worker, query_json(request, "actor"), None)
        events = await EventStore(data).read(name, from_version=query_int(request, "fromVersion", 1, 1, 2**62),
                                             limit=query_int(request, "limit", 100, 0, MAX_READ), caller=caller)
        return json_response([e.to_graphql() for e in events])

    return [append, read]
