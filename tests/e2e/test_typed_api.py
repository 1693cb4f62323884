"""The typed per-model API through the real server: every operation on the bundled sample, and a
second schema with has-many/has-one/belongs-to relations, enums, Blocks and doc comments; access
rules (owner) through a typed update; the typed subscription over /graphql/ws; introspection shows
the schema.ts docs (what GraphiQL displays)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.authkit import PASSWORD, with_library, write_project
from tests.e2e.conftest import ROOT, ServerProcess, gql_post, login
from tests.e2e.wskit import graphql_ws

CONTACT = "id firstName lastName email phone companyId tags notes ownerId createdAt updatedAt deletedAt tenantId _version"


def run(base_url: str, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    response = gql_post(base_url, query, variables or None, token=token)
    assert response.status_code == 200, response.text
    return response.json()


def data(base_url: str, token: str, query: str, **variables: Any) -> Any:
    body = run(base_url, token, query, **variables)
    assert "errors" not in body, body
    return body["data"]


def code_of(body: dict[str, Any]) -> str:
    return body["errors"][0]["extensions"]["code"]


# -- the bundled sample ---------------------------------------------------------------------------
def test_every_typed_operation_on_the_sample(base_url: str, admin_token: str) -> None:
    t = admin_token
    email = f"typed-{uuid.uuid4().hex[:8]}@example.com"
    created = data(base_url, t, f"mutation($d: ContactCreateInput!) {{ createContact(data: $d) {{ {CONTACT} }} }}",
                   d={"firstName": "Ty", "lastName": "Ped", "email": email, "tags": ["a"]})["createContact"]
    cid = created["id"]
    assert created["_version"] == 1 and created["tags"] == ["a"] and created["deletedAt"] is None
    one = data(base_url, t, "query($id: ID!) { contact(id: $id) { id email } }", id=cid)["contact"]
    assert one == {"id": cid, "email": email}
    assert data(base_url, t, '{ contact(id: "nope") { id } }')["contact"] is None
    found = data(base_url, t, "query($e: String) { contacts(where: {email: {equals: $e}}) { id } }", e=email)
    assert found["contacts"] == [{"id": cid}]
    page = data(base_url, t, "{ contactsPage(limit: 2, orderBy: [{lastName: asc}]) { data { lastName } "
                             "pageInfo { totalCount hasNextPage pageSize offset } } }")["contactsPage"]
    assert len(page["data"]) == 2 and page["pageInfo"]["pageSize"] == 2 and page["pageInfo"]["totalCount"] >= 7
    names = [c["lastName"] for c in page["data"]]
    assert names == sorted(names)
    count = data(base_url, t, "query($e: String) { contactsCount(where: {email: {equals: $e}}) }", e=email)
    assert count["contactsCount"] == 1
    updated = data(base_url, t, "mutation($id: ID!) { updateContact(id: $id, data: {phone: \"42\"}, "
                                "expectedVersion: 1) { phone _version updatedAt } }", id=cid)["updateContact"]
    assert updated["phone"] == "42" and updated["_version"] == 2
    stale = run(base_url, t, "mutation($id: ID!) { updateContact(id: $id, data: {phone: \"43\"}, expectedVersion: 1) "
                             "{ phone } }", id=cid)
    assert code_of(stale) == "CONFLICT"
    assert data(base_url, t, "mutation($id: ID!) { deleteContact(id: $id) }", id=cid)["deleteContact"] == 1
    assert data(base_url, t, "query($id: ID!) { contact(id: $id) { id } }", id=cid)["contact"] is None
    assert data(base_url, t, "mutation($id: ID!) { restoreContact(id: $id) }", id=cid)["restoreContact"] == 1
    assert data(base_url, t, "mutation($id: ID!) { hardDeleteContact(id: $id) }", id=cid)["hardDeleteContact"] == 1
    history = data(base_url, t, 'query($id: String!) { history(model: "Contact", id: $id) { type } }', id=cid)
    assert [e["type"] for e in history["history"]] == ["Created", "Updated", "Deleted", "Restored", "HardDeleted"]


def test_typed_errors_have_the_documented_shape(base_url: str, admin_token: str) -> None:
    invalid = run(base_url, admin_token, 'mutation { createContact(data: {firstName: "", lastName: "x", '
                                         'email: "not-an-email"}) { id } }')
    assert code_of(invalid) == "VALIDATION_ERROR" and invalid["data"] is None
    fields = {d["field"] for d in invalid["errors"][0]["extensions"]["details"]}
    assert fields == {"firstName", "email"}
    missing = run(base_url, admin_token, 'mutation { createContact(data: {firstName: "A"}) { id } }')
    assert "data" not in missing and code_of(missing) == "VALIDATION_ERROR"
    assert "lastName" in missing["errors"][0]["message"]
    enum = run(base_url, admin_token, "{ deals(where: {stage: {equals: nope}}) { id } }")
    assert "data" not in enum and code_of(enum) == "VALIDATION_ERROR"
    anonymous = gql_post(base_url, "{ contacts { id } }")        # as the generic twin: 401 when all are
    assert anonymous.status_code == 401 and code_of(anonymous.json()) == "UNAUTHENTICATED"
    too_many = run(base_url, admin_token, "{ contacts(limit: 100000) { id } }")
    assert code_of(too_many) == "VALIDATION_ERROR"


def test_relations_and_enums_on_the_sample(base_url: str, admin_token: str) -> None:
    deals = data(base_url, admin_token, "{ deals(where: {stage: {in: [won, proposal]}}, orderBy: [{title: asc}]) "
                                        "{ title stage currency company { name deals { title } } contact { lastName } } }")
    assert deals["deals"] and {d["stage"] for d in deals["deals"]} <= {"won", "proposal"}
    for deal in deals["deals"]:
        assert deal["currency"] in ("EUR", "USD")
        assert deal["title"] in [d["title"] for d in deal["company"]["deals"]]


def test_owner_rule_applies_to_typed_updates(tmp_path: Path, start_server: Any) -> None:
    project = write_project(tmp_path / "owner", (ROOT / "sample-data" / "schema.ts").read_text(encoding="utf-8"))

    async def users(app: Any) -> str:
        owner, _ = await app.users.create("typed-owner@example.com", PASSWORD, role="sales")
        await app.users.create("typed-other@example.com", PASSWORD, role="sales")
        return str(owner.id)
    owner_id = with_library(project, users)
    base_url = start_server(project).base_url
    owner, other = login(base_url, "typed-owner@example.com", PASSWORD), login(base_url, "typed-other@example.com",
                                                                               PASSWORD)
    cid = data(base_url, owner, "mutation($o: String) { createContact(data: {firstName: \"O\", lastName: \"W\", "
                                "ownerId: $o}) { id } }", o=owner_id)["createContact"]["id"]
    refused = run(base_url, other, 'mutation($id: ID!) { updateContact(id: $id, data: {phone: "1"}) { id } }', id=cid)
    generic = run(base_url, other, 'mutation($id: String) { update(model: "Contact", id: $id, data: {phone: "1"}) }',
                  id=cid)
    assert code_of(refused) == code_of(generic) and code_of(refused) in ("FORBIDDEN", "PERMISSION_DENIED", "NOT_FOUND")
    ok = data(base_url, owner, 'mutation($id: ID!) { updateContact(id: $id, data: {phone: "1"}) { phone } }', id=cid)
    assert ok["updateContact"]["phone"] == "1"


def test_typed_subscription_streams_typed_records(base_url: str, admin_token: str) -> None:
    async def scenario() -> None:
        async with await graphql_ws(base_url, {"token": admin_token}) as sock:
            await sock.send({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription { c: companyChanges { eventType __typename data { name employeeCount "
                         "__typename } previousData { name } } }"}})
            await sock.send({"id": "q", "type": "subscribe", "payload": {"query": "{ __typename }"}})
            await sock.expect("next")
            await sock.expect("complete")
            name = f"Typed Sub {uuid.uuid4().hex[:6]}"
            cid = data(base_url, admin_token, "mutation($n: String!) { createCompany(data: {name: $n, "
                                              "employeeCount: 3}) { id } }", n=name)["createCompany"]["id"]
            data(base_url, admin_token, 'mutation($id: ID!) { updateCompany(id: $id, data: {employeeCount: 4}) '
                                        "{ id } }", id=cid)
            first = (await sock.expect("next"))["payload"]["data"]["c"]
            second = (await sock.expect("next"))["payload"]["data"]["c"]
            assert first == {"eventType": "CREATED", "__typename": "CompanyEvent",
                             "data": {"name": name, "employeeCount": 3, "__typename": "Company"}, "previousData": None}
            assert second["data"]["employeeCount"] == 4 and second["previousData"] == {"name": name}
            await sock.send({"id": "2", "type": "subscribe", "payload": {
                "query": "subscription { dealChanges { data { company { name } } } }"}})
            error = await sock.expect("error")
            assert "relation" in error["payload"][0]["message"]
    asyncio.run(scenario())


# -- a second schema: relations of every kind, enums, Blocks, docs ---------------------------------
SECOND = """\
export enum Priority { Low = 'low', High = 'high' }

/** A piece of work with tasks and one brief. */
export interface Project {
  id: string
  /** The project's display name. */
  name: string                 // @unique
  priority: Priority           // @default('low')
  body?: Block[]
  budget?: number
  active?: boolean
  startsAt?: Date
  status?: 'to do' | 'done'
}

export interface Task {
  id: string
  title: string
  projectId: string
  done?: boolean
  estimate?: number
}

export interface Brief {
  id: string
  projectId: string
  summary: string
}

export const schema = {
  models: {
    Project: {
      relationships: {
        tasks: { type: 'hasMany', model: 'Task', foreignKey: 'projectId' },
        brief: { type: 'hasOne', model: 'Brief', foreignKey: 'projectId' },
      },
    },
    Task: { relationships: { project: { type: 'belongsTo', model: 'Project', foreignKey: 'projectId' } } },
    Brief: { relationships: { project: { type: 'belongsTo', model: 'Project', foreignKey: 'projectId' } } },
  },
}
export default schema
"""


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    project = write_project(tmp_path_factory.mktemp("typed-second") / "project", SECOND)
    process = ServerProcess(Path(project)).start()
    try:
        yield process.base_url, login(process.base_url)
    finally:
        process.stop()


def test_second_schema_relations_enums_and_blocks(second: tuple[str, str]) -> None:
    base_url, t = second
    blocks = [{"type": "paragraph", "text": "Kick-off"}]
    made = data(base_url, t, "mutation($d: ProjectCreateInput!) { createProject(data: $d) { id name priority body "
                             "budget active startsAt status } }",
                d={"name": "Apollo", "priority": "high", "body": blocks, "budget": 12.5, "active": True,
                   "startsAt": "2026-12-01T09:00:00Z", "status": "to do"})["createProject"]
    pid = made["id"]
    assert made["priority"] == "high" and made["active"] is True and made["budget"] == 12.5
    assert made["status"] == "to do"                      # not GraphQL names: a String, not an enum
    assert made["body"][0]["text"] == "Kick-off" and made["body"][0]["id"]
    assert made["startsAt"].startswith("2026-12-01T09:00:00")
    defaulted = data(base_url, t, 'mutation { createProject(data: {name: "Low one"}) { priority } }')
    assert defaulted["createProject"]["priority"] == "low"
    for i in range(5):
        data(base_url, t, "mutation($d: TaskCreateInput!) { createTask(data: $d) { id } }",
             d={"title": f"T{i}", "projectId": pid, "estimate": i, "done": i % 2 == 0})
    data(base_url, t, "mutation($p: String!) { createBrief(data: {projectId: $p, summary: \"Go\"}) { id } }", p=pid)
    tree = data(base_url, t, "{ projects(where: {priority: {equals: high}}) { name "
                             "tasks(where: {done: {equals: false}}, orderBy: [{estimate: desc}], limit: 1) { title } "
                             "all: tasks { title project { name } } brief { summary } } }")["projects"]
    assert tree == [{"name": "Apollo", "tasks": [{"title": "T3"}],
                     "all": [{"title": f"T{i}", "project": {"name": "Apollo"}} for i in range(5)],
                     "brief": {"summary": "Go"}}]
    lonely = data(base_url, t, '{ projects(where: {name: {equals: "Low one"}}) { tasks { id } brief { id } } }')
    assert lonely["projects"] == [{"tasks": [], "brief": None}]
    counted = data(base_url, t, "{ tasksCount(where: {estimate: {gte: 2}}) projectsCount }")
    assert counted == {"tasksCount": 3, "projectsCount": 2}
    dated = data(base_url, t, '{ projects(where: {startsAt: {gt: "2026-11-30"}}) { name } }')
    assert dated["projects"] == [{"name": "Apollo"}]


def test_introspection_shows_the_docs_of_schema_ts(second: tuple[str, str]) -> None:
    base_url, t = second
    found = data(base_url, t, '{ __type(name: "Project") { description fields { name description } } }')["__type"]
    assert found["description"] == "A piece of work with tasks and one brief."
    assert {f["name"]: f["description"] for f in found["fields"]}["name"] == "The project's display name."
    query_type = data(base_url, t, "{ __schema { queryType { fields { name } } } }")["__schema"]["queryType"]
    names = {f["name"] for f in query_type["fields"]}
    assert {"project", "projects", "projectsPage", "projectsCount", "tasks", "briefs", "records"} <= names
