"""The `graphql-ws` npm client under Node subscribing to `modelChanges` (graphql chapter §10): creates,
updates and deletes made over HTTP (another connection) arrive in order. `npm install` runs in
tests/e2e/node when its node_modules is missing; the test is skipped only when node or npm is absent."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import gql_post
from tests.e2e.nodekit import NODE_DIR, node_script
from tests.e2e.wskit import ws_url


@pytest.fixture(scope="module")
def node_client() -> Path:
    return node_script("subscribe.mjs", "graphql-ws")


def test_graphql_ws_npm_client_receives_create_update_delete(node_client: Path, base_url: str,
                                                             admin_token: str) -> None:
    command = ["node", str(node_client), ws_url(base_url, "/graphql/ws"), admin_token, "Company", "3"]
    with subprocess.Popen(command, cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        try:
            assert proc.stdout.readline().strip() == "READY", proc.stderr.read()
            rid = f"node-{uuid.uuid4()}"
            for query in ('mutation($id: String) { create(model: "Company", data: {id: $id, name: "Node Inc"}) }',
                          'mutation($id: String) { update(model: "Company", id: $id, data: {name: "Node Ltd"}) }',
                          'mutation($id: String) { delete(model: "Company", id: $id) }'):
                body = gql_post(base_url, query, {"id": rid}, token=admin_token).json()
                assert "errors" not in body, body
            lines = [json.loads(proc.stdout.readline()) for _ in range(3)]
            assert proc.wait(30) == 0, proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    events = [line["data"]["modelChanges"] for line in lines]
    assert [e["eventType"] for e in events] == ["CREATED", "UPDATED", "DELETED"]
    assert {e["modelName"] for e in events} == {"Company"}
    assert events[0]["data"]["name"] == "Node Inc" and events[0]["previousData"] is None
    assert events[1]["data"]["name"] == "Node Ltd" and events[1]["previousData"]["name"] == "Node Inc"
    assert events[2]["data"]["id"] == rid and "deletedAt" in events[2]["data"]
    assert events[0]["position"] < events[1]["position"] < events[2]["position"]
