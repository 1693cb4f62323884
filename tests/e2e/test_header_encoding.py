"""Text header values are UTF-8 (auth chapter §8): a user bound to tenant ``tënant`` sends it as UTF-8 in
``X-Tenant-ID`` on /graphql and on REST routes; invalid UTF-8 is a 400."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env

SCHEMA = """
export interface Note { id: string; title: string }
export default { models: {} }
"""
TENANT = "tënant"


async def prepare(app: Atomo) -> None:
    await app.users.create("tina@t.test", PASSWORD, role="sales", tenant_id=TENANT)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gql, str]]:
    project = write_project(tmp_path_factory.mktemp("utf8-headers") / "project", SCHEMA)
    with_library(project, prepare)
    server = ServerProcess(project, env=server_env()).start()
    gql = Gql(server.base_url)
    try:
        yield gql, gql.login("tina@t.test")
    finally:
        gql.close()
        server.stop()


def test_utf8_tenant_header_on_graphql(site: tuple[Gql, str]) -> None:
    gql, token = site
    utf8 = {"X-Tenant-ID": TENANT.encode("utf-8")}
    created = gql.http.post("/graphql", json={"query": 'mutation { create(model: "Note", data: {title: "a"}) }'},
                            headers={"Authorization": f"Bearer {token}", **utf8})
    assert created.status_code == 200 and "errors" not in created.json(), created.text
    assert created.json()["data"]["create"]["tenantId"] == TENANT
    listed = gql.http.post("/graphql", json={"query": '{ records(model: "Note") }'},
                           headers={"Authorization": f"Bearer {token}", **utf8})
    assert listed.status_code == 200 and [r["title"] for r in listed.json()["data"]["records"]] == ["a"], listed.text
    bad = gql.http.post("/graphql", json={"query": '{ records(model: "Note") }'},
                        headers={"Authorization": f"Bearer {token}", "X-Tenant-ID": b"t\xebnant"})   # latin-1
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR", bad.text


def test_utf8_tenant_header_on_rest_routes(site: tuple[Gql, str]) -> None:
    gql, token = site
    auth = {"Authorization": f"Bearer {token}"}
    same = gql.http.get("/jobs/no-such-job", headers={**auth, "X-Tenant-ID": TENANT.encode("utf-8")})
    assert same.status_code == 404, same.text                          # the header matched the binding
    other = gql.http.get("/jobs/no-such-job", headers={**auth, "X-Tenant-ID": "other"})
    assert other.status_code == 403, other.text
    bad = gql.http.get("/jobs/no-such-job", headers={**auth, "X-Tenant-ID": b"\xff"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR", bad.text
