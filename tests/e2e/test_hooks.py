"""Hooks (atomo.hooks) in a real `atomo serve`: a project with `hooks/rules.py`, driven over HTTP.

Before-hooks change or refuse an input before anything is written (a refusal reaches the client with its
code, a crash as INTERNAL_ERROR with the request id); after-hooks run after the commit and a failing one
neither undoes the write nor reaches the client; custom fields answer and append custom events. A hook
file that does not import, or a custom field that clashes, stops the boot with `file:line: message`.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROOT, ServerProcess, atomo_command, gql_post, login, server_env

RULES = '''
from atomo.hooks import PermissionDenied, ValidationError, after, before, mutation, query


@before("Deal", "create")
async def shape(data, ctx):
    title = data.get("title", "")
    if title.startswith("refuse"):
        raise ValidationError({"title": "refused by the hook"}, code="refused")
    if title.startswith("forbid"):
        raise PermissionDenied("deals named forbid are not allowed")
    if title.startswith("crash"):
        raise RuntimeError("the before hook crashed")
    data["title"] = title.upper()
    data["probability"] = 42 if ctx.operation == "create" and ctx.model == "Deal" else 0
    return data


@after("Deal", "create")
async def audit(deal, ctx):
    if deal["title"].startswith("AFTERCRASH"):
        raise RuntimeError("the after hook crashed")
    await ctx.events.append("audit", "DealAudited", {"id": deal["id"], "title": deal["title"],
                                                     "request": ctx.request_id, "event": ctx.event.type})


@before("Deal", "update")
async def keep_won(data, ctx):
    current = await ctx.data.record("Deal", ctx.id)
    if current is not None and current["stage"] == "won" and data.get("stage", "won") != "won":
        raise ValidationError("a won deal stays won", field="stage", code="closed")


@before("Deal", "delete")
async def keep_big_deals(target, ctx):
    current = await ctx.data.record("Deal", target["id"]) if target["id"] else None
    if current is not None and current["value"] >= 1000:
        raise PermissionDenied("big deals are never deleted")


@after("Deal", "delete")
async def note_delete(deal, ctx):
    await ctx.events.append("audit", "DealDeleted", {"id": deal["id"], "deletedAt": deal["deletedAt"]})


@query("dealTitles", args="prefix: String!", returns="[String!]!")
async def deal_titles(args, ctx):
    deals = await ctx.data.records("Deal", where={"title": {"startsWith": args["prefix"]}}, limit=50)
    return sorted(d["title"] for d in deals)


@mutation("logCall", args="dealId: String!, note: String", returns="JSON")
async def log_call(args, ctx):
    event = await ctx.events.append(f"Deal/{args['dealId']}", "CallLogged", {"note": args.get("note")})
    return {"position": event.position, "type": event.type, "stream": event.stream, "field": ctx.field,
            "operation": ctx.operation}
'''


def write_project(folder: Path, rules: str = RULES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "schema.ts").write_text((ROOT / "sample-data" / "schema.ts").read_text())
    (folder / "hooks").mkdir(exist_ok=True)
    (folder / "hooks" / "rules.py").write_text(rules)
    return folder


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    server = ServerProcess(write_project(tmp_path_factory.mktemp("hooks") / "project")).start()
    try:
        token = login(server.base_url)
        company = gql(server, token, 'mutation { create(model: "Company", data: {id: "c-1", name: "Acme"}) }')
        assert "errors" not in company, company
        yield server, token
    finally:
        server.stop()


def gql(server: ServerProcess, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    return gql_post(server.base_url, query, variables, token=token).json()


def create_deal(server: ServerProcess, token: str, title: str, value: float = 10) -> httpx.Response:
    return gql_post(server.base_url, "mutation($d: JSON!) { create(model: \"Deal\", data: $d) }",
                    {"d": {"title": title, "companyId": "c-1", "value": value}}, token=token)


def deal_count(server: ServerProcess, token: str) -> int:
    return int(gql(server, token, '{ count(model: "Deal") }')["data"]["count"])


def last_position(server: ServerProcess, token: str) -> int:
    events = gql(server, token, "{ events(after: 0, limit: 1000) { position } }")["data"]["events"]
    return max((e["position"] for e in events), default=0)


def events_after(server: ServerProcess, token: str, position: int) -> list[dict[str, Any]]:
    query = "query($a: Int!) { events(after: $a, limit: 100) { position type stream data } }"
    return list(gql(server, token, query, {"a": position})["data"]["events"])


def wait_for_events(server: ServerProcess, token: str, position: int, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        found = events_after(server, token, position)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_before_create_changes_the_stored_input(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    created = create_deal(server, token, "quiet lead").json()
    assert "errors" not in created, created
    deal = created["data"]["create"]
    assert deal["title"] == "QUIET LEAD" and deal["probability"] == 42
    stored = gql(server, token, f'{{ record(model: "Deal", id: "{deal["id"]}") }}')["data"]["record"]
    assert stored["title"] == "QUIET LEAD" and stored["probability"] == 42


def test_validation_error_from_a_hook_writes_nothing(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    count, position = deal_count(server, token), last_position(server, token)
    answer = create_deal(server, token, "refuse me")
    body = answer.json()
    (error,) = body["errors"]
    assert error["message"] == "refused by the hook"
    assert error["extensions"]["code"] == "VALIDATION_ERROR"
    assert error["extensions"]["details"] == [{"field": "title", "message": "refused by the hook", "code": "refused"}]
    assert body["data"] is None
    assert deal_count(server, token) == count
    assert events_after(server, token, position) == []


def test_permission_denied_from_a_hook(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    count, position = deal_count(server, token), last_position(server, token)
    (error,) = create_deal(server, token, "forbid this").json()["errors"]
    assert error["extensions"]["code"] == "PERMISSION_DENIED"
    assert error["message"] == "deals named forbid are not allowed"
    assert deal_count(server, token) == count and events_after(server, token, position) == []


def test_a_crashing_before_hook_is_an_internal_error_that_writes_nothing(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    count, position = deal_count(server, token), last_position(server, token)
    answer = create_deal(server, token, "crash please")
    (error,) = answer.json()["errors"]
    request_id = answer.headers["x-request-id"]
    assert error["message"] == "Internal server error" and "crashed" not in answer.text
    assert error["extensions"] == {"code": "INTERNAL_ERROR", "details": {"requestId": request_id}}
    assert deal_count(server, token) == count and events_after(server, token, position) == []
    deadline = time.monotonic() + 5
    while "the before hook crashed" not in server.stderr and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.stderr
    assert f"request {request_id}" in log and "RuntimeError: the before hook crashed" in log
    assert re.search(r"in the before-create hook shape on Deal \(.*hooks/rules\.py:\d+\)", log), log


def test_after_hook_runs_after_the_commit_with_the_request_id(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    position = last_position(server, token)
    answer = create_deal(server, token, "audited")
    deal = answer.json()["data"]["create"]
    events = wait_for_events(server, token, position, 2)
    assert [e["type"] for e in events] == ["Created", "DealAudited"], events
    audit = events[1]
    assert audit["stream"] == "audit"
    assert audit["data"] == {"id": deal["id"], "title": "AUDITED", "request": answer.headers["x-request-id"],
                             "event": "Created"}


def test_a_failing_after_hook_keeps_the_write_and_is_logged(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    position = last_position(server, token)
    answer = create_deal(server, token, "aftercrash")
    body = answer.json()
    assert "errors" not in body, body
    deal_id = body["data"]["create"]["id"]
    request_id = answer.headers["x-request-id"]
    deadline = time.monotonic() + 5
    while "the after hook crashed" not in server.stderr and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.stderr
    line = next(line for line in log.splitlines() if "after-create hook audit on Deal" in line)
    assert "ERROR atomo.hooks:" in line and f"request {request_id}" in line, line
    assert "Traceback (most recent call last)" in log and "RuntimeError: the after hook crashed" in log
    assert gql(server, token, f'{{ record(model: "Deal", id: "{deal_id}") }}')["data"]["record"]["title"] == "AFTERCRASH"
    assert [e["type"] for e in events_after(server, token, position)] == ["Created"]   # the write stays, no audit


def test_update_and_delete_hooks(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    deal = create_deal(server, token, "to close", value=5000).json()["data"]["create"]
    won = gql(server, token, f'mutation {{ update(model: "Deal", id: "{deal["id"]}", data: {{stage: "won"}}) }}')
    assert won["data"]["update"]["stage"] == "won", won
    lost = gql(server, token, f'mutation {{ update(model: "Deal", id: "{deal["id"]}", data: {{stage: "lost"}}) }}')
    assert lost["errors"][0]["extensions"]["details"] == [{"field": "stage", "message": "a won deal stays won",
                                                           "code": "closed"}]
    many = gql(server, token, 'mutation($i: [BulkUpdateInput!]) { updateMany(model: "Deal", items: $i) }',
               {"i": [{"id": deal["id"], "data": {"stage": "lead"}}]})
    assert many["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR", many
    refused = gql(server, token, f'mutation {{ delete(model: "Deal", id: "{deal["id"]}") }}')
    assert refused["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED", refused
    assert refused["errors"][0]["message"] == "big deals are never deleted"
    small = create_deal(server, token, "small one", value=3).json()["data"]["create"]
    position = last_position(server, token)
    deleted = gql(server, token, f'mutation {{ delete(model: "Deal", id: "{small["id"]}") }}')
    assert deleted["data"]["delete"] == 1, deleted
    events = wait_for_events(server, token, position, 2)
    assert [e["type"] for e in events] == ["Deleted", "DealDeleted"], events
    assert events[1]["data"]["id"] == small["id"] and events[1]["data"]["deletedAt"]


def test_custom_query_and_mutation(hooked: tuple[ServerProcess, str]) -> None:
    server, token = hooked
    for title in ("zeta one", "zeta two"):
        assert "errors" not in create_deal(server, token, title).json()
    titles = gql(server, token, '{ dealTitles(prefix: "ZETA") }')
    assert titles == {"data": {"dealTitles": ["ZETA ONE", "ZETA TWO"]}}
    missing = gql(server, token, "{ dealTitles }")
    assert missing["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"     # prefix: String! is required
    deal = create_deal(server, token, "called").json()["data"]["create"]
    position = last_position(server, token)
    logged = gql(server, token, f'mutation {{ logCall(dealId: "{deal["id"]}", note: "said yes") }}')
    answer = logged["data"]["logCall"]
    assert answer["type"] == "CallLogged" and answer["stream"] == f"Deal/{deal['id']}"
    assert (answer["field"], answer["operation"]) == ("logCall", "mutation")
    events = events_after(server, token, position)
    assert [(e["position"], e["type"], e["data"]) for e in events] == [(answer["position"], "CallLogged",
                                                                       {"note": "said yes"})]
    history = gql(server, token, f'{{ history(model: "Deal", id: "{deal["id"]}") {{ type }} }}')["data"]["history"]
    assert [e["type"] for e in history] == ["Created", "CallLogged"]
    unknown = gql(server, token, 'mutation { logCall(dealId: "nope") }')
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"     # a record stream must exist
    fields = gql(server, token, '{ __type(name: "Query") { fields { name description args { name } } } }')
    (titles_field,) = [f for f in fields["data"]["__type"]["fields"] if f["name"] == "dealTitles"]
    assert titles_field == {"name": "dealTitles", "description": None, "args": [{"name": "prefix"}]}


def boot(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(atomo_command(project, "serve", "--check"), cwd=project, env=server_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("rules", "message"), [
    ("from atomo.hooks import before\n\n@before('Deal', 'create')\nasync def f(data, ctx)\n    return data\n",
     r"atomo: hooks/rules\.py:4: SyntaxError: expected ':'"),
    ("import json\nimport not_a_module_anywhere\n",
     r"atomo: hooks/rules\.py:2: ModuleNotFoundError: No module named 'not_a_module_anywhere'"),
    ("from atomo.hooks import before\n\n@before('Dael', 'create')\nasync def f(data, ctx):\n    return data\n",
     r"atomo: hooks/rules\.py:3: @before\('Dael', 'create'\): the schema has no model 'Dael' \(models: Company, "
     r"Contact, Deal\)"),
    ("from atomo.hooks import before\n\n@before('Deal', 'insert')\nasync def f(data, ctx):\n    return data\n",
     r"atomo: hooks/rules\.py:3: ValueError: @before\('Deal', 'insert'\): the operation must be one of create, "
     r"update, delete, restore, hardDelete"),
    ("from atomo.hooks import query\n\n@query('records', returns='JSON')\nasync def f(args, ctx):\n    return 1\n",
     r"atomo: hooks/rules\.py:3: @query\('records'\): Query\.records already exists in the schema; choose another "
     r"name"),
    ("from atomo.hooks import query\n\n@query('totals', args='stage: String:', returns='JSON')\n"
     "async def f(args, ctx):\n    return 1\n",
     r"atomo: hooks/rules\.py:3: @query\('totals'\): args 'stage: String:' and returns 'JSON' are not valid GraphQL: "
     r"Unexpected token"),
    ("from atomo.hooks import mutation\n\n@mutation('close', returns='Dael')\nasync def f(args, ctx):\n    return 1\n",
     r"atomo: hooks/rules\.py:3: @mutation\('close'\): returns: unknown type 'Dael'"),
])
def test_a_broken_hook_file_stops_the_boot(tmp_path: Path, rules: str, message: str) -> None:
    project = write_project(tmp_path / "project", rules)
    result = boot(project)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert re.match(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr
