"""GET /meta/schema: the parsed schema, its ETag equal to codegen's schemaHash, 304, auth rules."""

from __future__ import annotations

import hashlib

import httpx

from atomo.codegen.meta import schema_hash
from atomo.schema import load_schema
from tests.conftest import SAMPLE
from tests.e2e.conftest import ServerProcess


def test_meta_schema_body_etag_and_conditional_get(server: ServerProcess, admin_token: str) -> None:
    response = httpx.get(server.base_url + "/meta/schema")     # development: anonymous allowed
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert [m["name"] for m in body["models"]] == ["Company", "Contact", "Deal"]
    deal = body["models"][2]
    assert deal["access"]["delete"] == "admin"
    assert {"name": "createdAt", "system": True} .items() <= next(f for f in deal["fields"]
                                                               if f["name"] == "createdAt").items()
    etag = hashlib.sha256(response.content).hexdigest()
    assert response.headers["etag"] == f'"{etag}"'
    assert etag == schema_hash(load_schema(SAMPLE / "schema.ts")), "ETag equals codegen's schemaHash"
    again = httpx.get(server.base_url + "/meta/schema", headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304 and again.content == b""
    bad = httpx.get(server.base_url + "/meta/schema", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "UNAUTHENTICATED"
    ok = httpx.get(server.base_url + "/meta/schema", headers={"Authorization": f"Bearer {admin_token}"})
    assert ok.status_code == 200


def test_meta_schema_needs_a_token_in_production(start_server, tmp_path) -> None:  # noqa: ANN001
    import shutil

    from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login, server_env
    project = tmp_path / "prod"
    project.mkdir()
    shutil.copy(SAMPLE / "schema.ts", project / "schema.ts")
    env = server_env(ATOMO_ENV="production", JWT_SECRET="prod-" + "0123456789abcdefghijklmnopqrstuv", ADMIN_EMAIL=ADMIN_EMAIL)
    server = start_server(project, env=env)
    anonymous = httpx.get(server.base_url + "/meta/schema")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "UNAUTHENTICATED"
    token = login(server.base_url, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert httpx.get(server.base_url + "/meta/schema", headers={"Authorization": f"Bearer {token}"}).status_code == 200
