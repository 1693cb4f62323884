"""``LOG_FORMAT=json`` (configuration chapter §2) of a real `atomo serve` at ``LOG_LEVEL=debug``: every line it
writes is one JSON object; a request's id is in its access line and in the error line of a request that
failed with INTERNAL_ERROR; no line carries the password or a token."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import ADMIN_PASSWORD, ROOT, ServerProcess, gql_post, login, server_env

RULES = '''
from atomo.hooks import query


@query("explode", returns="JSON")
async def explode(args, ctx):
    raise RuntimeError("the custom query exploded")
'''


def write_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.ts").write_text((ROOT / "sample-data" / "schema.ts").read_text())
    (folder / "hooks").mkdir(exist_ok=True)
    (folder / "hooks" / "rules.py").write_text(RULES)
    return folder


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.strip():
            parsed = json.loads(line)         # every line is one JSON object
            assert isinstance(parsed, dict), line
            lines.append(parsed)
    return lines


def test_json_logs(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(write_project(tmp_path / "project"), env=server_env(LOG_FORMAT="json", LOG_LEVEL="debug"))
    base = server.base_url
    token = login(base)
    ok = gql_post(base, '{ count(model: "Company") }', token=token, headers={"X-Request-ID": "req-ok-1"})
    assert ok.status_code == 200 and "errors" not in ok.json()
    failed = gql_post(base, "query Boom { explode }", token=token, headers={"X-Request-ID": "req-boom-1"})
    assert failed.json()["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"
    assert httpx.get(base + "/version", headers={"X-Request-ID": "req-version-1"}).status_code == 200
    refused = httpx.post(base + "/auth/login", json={"email": "admin@example.com", "password": "Wrong-password-9"})
    assert refused.status_code == 401

    deadline = time.monotonic() + 10
    while "req-version-1" not in server.stderr and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.stop() == 0
    lines = json_lines(server.stderr) + json_lines(server.stdout)
    for line in lines:
        assert {"time", "level", "logger", "message", "requestId"} <= line.keys(), line
        assert line["level"] in ("debug", "info", "warning", "error", "critical"), line

    access = {line["requestId"]: line for line in lines if line["logger"] == "atomo.access"}
    assert access["req-ok-1"]["route"] == "/graphql" and access["req-ok-1"]["status"] == 200
    assert access["req-ok-1"]["method"] == "POST" and access["req-ok-1"]["ip"] == "127.0.0.1"
    assert isinstance(access["req-ok-1"]["durationMs"], float | int)
    assert access["req-ok-1"]["userId"]                      # the admin who sent the token
    assert access["req-version-1"]["route"] == "/version" and access["req-version-1"]["userId"] is None
    assert access["req-boom-1"]["status"] == 200             # a GraphQL field error: the request itself answered
    errors = [line for line in lines if line["level"] == "error" and line["requestId"] == "req-boom-1"]
    assert errors, [line for line in lines if line["level"] == "error"]
    assert any("exploded" in json.dumps(line) for line in errors), errors
    logins = [line for line in lines if line["logger"] == "atomo.access" and line.get("route") == "/auth/login"]
    assert [line["status"] for line in logins] == [200, 401]

    everything = server.stderr + server.stdout
    for secret in (ADMIN_PASSWORD, "Wrong-password-9", token):
        assert secret not in everything
