"""HTTP clients of the worker plane (jobs chapter §6, §8, §11): ``JobsClient`` and ``CrudClient`` (which also
appends to and reads event streams through ``/api/worker/events``).

Both send ``X-Worker-Token`` and rely on status codes only. ``JobsClient`` raises ``LeaseLostError``
on 409 and ``JobsError`` on any other non-2xx answer; ``CrudClient`` raises ``CrudError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_TIMEOUT = 30.0


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class JobsError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class LeaseLostError(JobsError):
    """409: the job's lease is no longer held by this token (cancelled, reclaimed, finished)."""


class CrudError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class LeasedJob:
    id: str
    queue: str
    kind: str
    payload: Any
    attempts: int
    max_attempts: int
    lease_id: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeasedJob:
        return cls(data["id"], data["queue"], data["kind"], data.get("payload"), int(data.get("attempts", 1)),
                   int(data.get("maxAttempts", 1)), data["leaseId"])


class _Http:
    def __init__(self, url: str, token: str, http_client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.headers = {"x-worker-token": token}
        self.http = http_client or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        self.owns_http = http_client is None

    async def aclose(self) -> None:
        if self.owns_http:
            await self.http.aclose()

    async def send(self, method: str, path: str, body: Any = UNSET, *, params: dict[str, Any] | None = None,
                   timeout: float | None = None) -> httpx.Response:
        kwargs: dict[str, Any] = {"headers": self.headers, "params": params}
        if body is not UNSET:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = timeout
        return await self.http.request(method, self.url + path, **kwargs)


class JobsClient(_Http):
    """One method per worker-plane route."""

    async def _call(self, path: str, body: dict[str, Any], timeout: float | None = None) -> httpx.Response:
        response = await self.send("POST", path, body, timeout=timeout)
        if response.status_code == 409:
            raise LeaseLostError(409, response.text)
        if not response.is_success:
            raise JobsError(response.status_code, response.text)
        return response

    async def lease(self, queues: list[str], *, capacity: int = 1, visibility_secs: int = 30,
                    wait_secs: float = 0) -> list[LeasedJob]:
        body = {"queues": list(queues), "capacity": capacity, "visibilitySecs": visibility_secs, "waitSecs": wait_secs}
        response = await self._call("/jobs/lease", body, timeout=DEFAULT_TIMEOUT + wait_secs)
        return [LeasedJob.from_json(j) for j in response.json().get("jobs", [])]

    async def heartbeat(self, job_id: str, lease_id: str, *, visibility_secs: int = 30) -> None:
        await self._call(f"/jobs/{job_id}/heartbeat", {"leaseId": lease_id, "visibilitySecs": visibility_secs})

    async def progress(self, job_id: str, lease_id: str, *, percent: float | None = None, message: str | None = None,
                       data: Any = None, visibility_secs: int = 30) -> None:
        body: dict[str, Any] = {"leaseId": lease_id, "visibilitySecs": visibility_secs}
        for key, value in (("percent", percent), ("message", message), ("data", data)):
            if value is not None:
                body[key] = value
        await self._call(f"/jobs/{job_id}/progress", body)

    async def complete(self, job_id: str, lease_id: str, result: Any = None) -> None:
        await self._call(f"/jobs/{job_id}/complete", {"leaseId": lease_id, "result": result})

    async def fail(self, job_id: str, lease_id: str, error: str = "", *, retryable: bool = False,
                   delay_secs: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"leaseId": lease_id, "error": error, "retryable": retryable}
        if delay_secs is not None:
            body["delaySecs"] = delay_secs
        return (await self._call(f"/jobs/{job_id}/fail", body)).json()  # type: ignore[no-any-return]


def actor_of(payload: Any) -> dict[str, Any] | None:
    """The CRUD actor of a job: ``payload.actor`` as ``userId`` (not ``worker:…`` principals), ``payload.tenantId``."""
    if not isinstance(payload, dict):
        return None
    actor: dict[str, Any] = {}
    user = payload.get("actor")
    if isinstance(user, str) and user and not user.startswith("worker:"):
        actor["userId"] = user
    if isinstance(payload.get("tenantId"), str):
        actor["tenantId"] = payload["tenantId"]
    return actor or None


class CrudClient(_Http):
    """Worker CRUD (``/api/worker/crud``) and the event store (``/api/worker/events``) as the job's actor;
    ``origin`` defaults to ``default_origin``."""

    def __init__(self, url: str, token: str, *, actor: dict[str, Any] | None = None, default_origin: str | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__(url, token, http_client)
        self.actor = actor
        self.default_origin = default_origin

    def _body(self, origin: Any, **fields: Any) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v is not None}
        if self.actor:
            body["actor"] = self.actor
        origin = self.default_origin if origin is UNSET else origin
        if origin is not None:
            body["origin"] = origin
        return body

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        if not response.is_success:
            raise CrudError(response.status_code, response.text)
        return response.json()

    async def create(self, model: str, data: dict[str, Any], *, origin: Any = UNSET) -> dict[str, Any]:
        return self._check(await self.send("POST", f"/api/worker/crud/{model}",  # type: ignore[no-any-return]
                                           self._body(origin, data=data)))

    async def find_by_id(self, model: str, record_id: str) -> dict[str, Any] | None:
        params = {"actor": json.dumps(self.actor)} if self.actor else None
        response = await self.send("GET", f"/api/worker/crud/{model}/{record_id}", params=params)
        return None if response.status_code == 404 else self._check(response)  # type: ignore[no-any-return]

    async def update(self, model: str, record_id: str, data: dict[str, Any], *, origin: Any = UNSET,
                     expected_version: int | None = None) -> dict[str, Any]:
        body = self._body(origin, data=data, expectedVersion=expected_version)
        return self._check(await self.send("PATCH", f"/api/worker/crud/{model}/{record_id}",  # type: ignore[no-any-return]
                                           body))

    async def delete(self, model: str, record_id: str, *, origin: Any = UNSET,
                     expected_version: int | None = None) -> int:
        body = self._body(origin, expectedVersion=expected_version)
        return int(self._check(await self.send("DELETE", f"/api/worker/crud/{model}/{record_id}", body))["deleted"])

    async def block_ops(self, model: str, record_id: str, field: str, ops: list[dict[str, Any]], *,
                        origin: Any = UNSET, expected_version: int | None = None) -> dict[str, Any]:
        """Block operations on one Blocks field, in order and atomically (content chapter §3): each op is
        ``{"op": "insert"|"update"|"move"|"remove", "blockId", "block", "position", "after", "expectedRev"}``;
        the answer is ``{"changes": [{"block", "index"}], "version", "record"}``."""
        body = self._body(origin, ops=ops, expectedVersion=expected_version)
        return self._check(await self.send(  # type: ignore[no-any-return]
            "POST", f"/api/worker/crud/{model}/{record_id}/blocks/{field}", body))

    async def find_many(self, model: str, where: Any = None, order_by: Any = None, limit: int | None = None,
                        offset: int | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        for key, value in (("where", where), ("orderBy", order_by), ("actor", self.actor or None)):
            if value is not None:
                params[key] = json.dumps(value)
        for key, value in (("limit", limit), ("offset", offset)):
            if value is not None:
                params[key] = str(value)
        return self._check(await self.send("GET", f"/api/worker/crud/{model}", params=params))  # type: ignore[no-any-return]

    # -- the event store (capability ``events:<pattern>``; the schema's stream rules apply to the actor) ------

    @staticmethod
    def _stream_path(stream: str) -> str:
        return "/api/worker/events/" + quote(stream, safe="")

    async def append_events(self, stream: str, events: list[dict[str, Any]], *, expected_version: int | None = None,
                            origin: Any = UNSET) -> dict[str, Any]:
        """Append events (``{"type", "data"?, "metadata"?}``) to a custom stream in one transaction:
        ``{"stream", "version", "events": [stored event]}``. ``expected_version`` (0: the stream must not exist
        yet) that is not the stream's version -> ``CrudError`` 409 whose body's ``details`` hold
        ``currentVersion``."""
        body = self._body(origin, events=list(events), expectedVersion=expected_version)
        return self._check(await self.send("POST", self._stream_path(stream), body))  # type: ignore[no-any-return]

    async def read_stream(self, stream: str, *, from_version: int = 1, limit: int = 100) -> list[dict[str, Any]]:
        """The events of a stream the actor may read, in version order from ``from_version`` (``limit`` at most
        1000); a record stream ``<Model>/<id>`` is its history (needs ``crud:<Model>:read`` too)."""
        params: dict[str, Any] = {"fromVersion": str(from_version), "limit": str(limit)}
        if self.actor:
            params["actor"] = json.dumps(self.actor)
        return self._check(await self.send("GET", self._stream_path(stream),  # type: ignore[no-any-return]
                                           params=params))
