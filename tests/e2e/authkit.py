"""Helpers for the auth/tenancy/attack tests: a project with its own schema and users prepared with
the library before the server starts, and a keep-alive GraphQL client that reports outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from atomo import Atomo
from atomo.config import load_settings
from tests.e2e.conftest import ServerProcess, atomo_command, server_env

PASSWORD = "Matrix-pass-42"


def write_project(folder: Path, schema: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.ts").write_text(schema, encoding="utf-8")
    return folder


def with_library(project: Path, work: Callable[[Atomo], Awaitable[Any]]) -> Any:
    """Run ``work(app)`` with the project opened in-process (before the server starts)."""
    async def main() -> Any:
        async with Atomo(project, settings=load_settings({})) as app:
            return await work(app)
    return asyncio.run(main())


@contextlib.contextmanager
def served(folder: Path, schema: str, prepare: Callable[[Atomo], Awaitable[Any]]) -> Iterator[ServerProcess]:
    """A server of its own on a project with ``schema``, prepared with the library (users, rows) first."""
    project = write_project(folder / "project", schema)
    with_library(project, prepare)
    server = ServerProcess(project, env=server_env()).start()
    try:
        yield server
    finally:
        server.stop()


def cli(project: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(atomo_command(project, *args), cwd=project, env=env or server_env(), input=stdin,
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


class Outcome:
    """What a GraphQL root field produced: ``ok`` with its value, or the error code."""

    def __init__(self, status: int, body: dict[str, Any], field: str) -> None:
        self.status = status
        self.body = body
        errors = body.get("errors") or []
        self.code = errors[0].get("extensions", {}).get("code") if errors else None
        data = body.get("data") or {}
        self.value = data.get(field) if isinstance(data, dict) else None

    @property
    def ok(self) -> bool:
        return self.code is None

    def __repr__(self) -> str:
        return f"Outcome({self.status}, code={self.code}, value={json.dumps(self.value)[:200]})"


class Gql:
    """A keep-alive client for one server."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def login(self, email: str, password: str = PASSWORD) -> str:
        response = self.http.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def post(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None,
             tenant: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if tenant is not None:
            all_headers["X-Tenant-ID"] = tenant
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.http.post("/graphql", json=body, headers=all_headers)

    def field(self, field: str, args: str, variables: dict[str, Any] | None = None, *, mutation: bool = False,
              token: str | None = None, tenant: str | None = None, selection: str = "") -> Outcome:
        """Run one root field, e.g. ``field("count", 'model: "Doc"')``; variables are declared as JSON."""
        decl = ""
        if variables:
            types = {k: ("Int!" if isinstance(v, int) else "[BulkUpdateInput!]" if k == "items" else "JSON!")
                     for k, v in variables.items()}
            decl = "(" + ", ".join(f"${k}: {t}" for k, t in types.items()) + ")"
        query = f"{'mutation' if mutation else 'query'}{decl} {{ {field}({args}) {selection} }}"
        response = self.post(query, variables, token=token, tenant=tenant)
        return Outcome(response.status_code, response.json(), field)
