"""Helpers of the jobs e2e tests: a project with users, an admin HTTP client, waiting for job states."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, with_library, write_project
from tests.e2e.conftest import ADMIN_PASSWORD, ServerProcess, server_env
from tests.jobs.schemas import INTERFACE

USERS = {"alice": ("alice@jobs.test", "sales", None), "bob": ("bob@jobs.test", "sales", None),
         "carol": ("carol@acme.test", "sales", "acme"), "root": ("root@acme.test", "admin", "acme")}


def make_project(folder: Path) -> dict[str, str]:
    """The jobs schema and its users (created with the library before the server starts); name -> user id."""
    write_project(folder, INTERFACE)

    async def work(app: Atomo) -> dict[str, str]:
        ids = {}
        for name, (email, role, tenant) in USERS.items():
            user, _ = await app.users.create(email, PASSWORD, role=role, tenant_id=tenant)
            ids[name] = user.id
        return ids
    return with_library(folder, work)  # type: ignore[no-any-return]


def start(folder: Path, **env: str) -> ServerProcess:
    return ServerProcess(folder, env=server_env(ATOMO_JOB_RECLAIM_INTERVAL="1", **env)).start()


class Api:
    """httpx against one server, logged in as a user (admin by default)."""

    def __init__(self, base_url: str, email: str = "admin@example.com", password: str = ADMIN_PASSWORD) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=60.0)
        response = self.http.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.post("/graphql", json={"query": query, "variables": variables or {}}).json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    def create(self, model: str, data: dict[str, Any]) -> dict[str, Any]:
        query = "mutation($m: String!, $d: JSON!) { create(model: $m, data: $d) }"
        return self.gql(query, {"m": model, "d": data})["create"]  # type: ignore[no-any-return]

    def worker_token(self, queues: list[str] | None = None, capabilities: list[str] | None = None) -> str:
        response = self.post("/jobs/workers", json={"name": f"w-{uuid.uuid4().hex[:8]}", "queues": queues or ["*"],
                                                    "capabilities": capabilities or []})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_job(self, job_id: str, statuses: tuple[str, ...] = ("succeeded", "dead", "cancelled"),
                 timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.05)

    def action_jobs(self, kind: str | None = None) -> list[dict[str, Any]]:
        jobs = self.get("/jobs/recent", params={"queue": "actions", "limit": 200}).json()["jobs"]
        return [j for j in jobs if kind is None or j["kind"] == kind]
