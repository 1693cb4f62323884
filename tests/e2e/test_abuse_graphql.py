"""GraphQL abuse through the real server: documents that crashed the C parser (deep nesting), response
amplification by aliases (the row budget), and filters too large for SQLite.

One server for the module, with a model of a few thousand rows seeded before it starts and a small
``GRAPHQL_MAX_ROWS``. Time and memory bounds are generous (a loaded 2-core CI machine) but far below
what the attacks cost before the fixes: a crash, seconds of CPU, hundreds of MB.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atomo import Atomo
from tests.e2e.authkit import with_library, write_project
from tests.e2e.conftest import ServerProcess, login, server_env
from tests.e2e.wskit import Socket, ws_url

SCHEMA = """
export interface Doc { id: string; title: string; body?: string; rank?: number }
export const schema = { models: { Doc: {} } }
export default schema
"""
ROWS = 2500
MAX_ROWS = 1000
BODY = "lorem ipsum dolor sit amet " * 8     # ~220 bytes: a row encodes to about 400 bytes
DEPTH = 25_000                              # the reported crash: 50 KB of nested lists


class Site:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.url = server.base_url
        self.http = httpx.Client(base_url=server.base_url, timeout=60.0)
        self.token = login(server.base_url)

    def post(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post("/graphql", json=body, headers=headers)

    def alive(self) -> None:
        assert self.server.proc is not None and self.server.proc.poll() is None, self.server.stderr[-3000:]
        assert self.http.get("/health").status_code == 200

    def memory(self, field: str) -> int:
        """``VmRSS`` or ``VmHWM`` (peak) of the server process, in bytes."""
        assert self.server.proc is not None
        for line in Path(f"/proc/{self.server.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(field)


async def seed(app: Atomo) -> None:
    await app.runtime.seed({"Doc": [{"title": f"doc {i}", "body": BODY, "rank": i} for i in range(ROWS)]})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    project = write_project(tmp_path_factory.mktemp("abuse") / "project", SCHEMA)
    with_library(project, seed)
    server = ServerProcess(project, env=server_env(GRAPHQL_MAX_ROWS=str(MAX_ROWS))).start()
    try:
        s = Site(server)
        yield s
        s.http.close()
    finally:
        server.stop()


def document_error(body: dict[str, Any], message: str) -> None:
    assert list(body) == ["errors"], str(body)[:500]
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR", body
    assert message in body["errors"][0]["message"], body


# -- item 1: documents nested deep enough to crash libgraphqlparser ----------------------------------
def deep(kind: str, depth: int = DEPTH, broken: bool = False) -> str:
    """A document nesting one bracket kind ``depth`` levels; ``broken`` adds a trailing syntax error
    (the parser then frees the partial tree, recursively: the reported segfault)."""
    if kind == "[":
        query = "{ a(b: " + "[" * depth + "]" * depth + ") }"
    elif kind == "{":
        query = "{" + "a{" * depth + "b" + "}" * depth + "}"
    else:
        query = "{ a" + "(" * depth + ")" * depth + " }"
    return query + (" }" if broken else "")


KINDS = [pytest.param(kind, broken, id=f"{kind}{'-broken' if broken else ''}") for kind in "[{(" for broken in (False, True)]
NESTING = "Document nesting exceeds 64 levels (GRAPHQL_MAX_DEPTH)"


@pytest.mark.parametrize(("kind", "broken"), KINDS)
def test_deep_documents_over_post_are_refused_quickly(site: Site, kind: str, broken: bool) -> None:
    started = time.monotonic()
    response = site.http.post("/graphql", json={"query": deep(kind, broken=broken)})   # anonymous
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text[:500]
    document_error(response.json(), NESTING)
    assert elapsed < 2.0        # ~20 ms; before: a segfault, or 21 s of parsing for 12,000 selections
    site.alive()


@pytest.mark.parametrize(("kind", "broken"), KINDS)
def test_deep_documents_over_get_are_refused(site: Site, kind: str, broken: bool) -> None:
    query = deep(kind, depth=1500, broken=broken)      # stays under the request-line limit once URL-encoded
    started = time.monotonic()
    response = site.http.get("/graphql", params={"query": query}, headers={"Accept": "application/json"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text[:500]
    document_error(response.json(), NESTING)
    assert elapsed < 2.0
    site.alive()


async def ws_frames(url: str, protocol: str, messages: list[dict[str, Any]], expect: int) -> list[dict[str, Any]]:
    """Open /graphql/ws anonymously, init, send ``messages``, return the next ``expect`` frames (no ``ka``)."""
    sock = await Socket.open(ws_url(url, "/graphql/ws"), subprotocols=[protocol])  # type: ignore[list-item]
    try:
        await sock.send({"type": "connection_init", "payload": {}})
        frames: list[dict[str, Any]] = []
        for message in messages:
            await sock.send(message)
        while len(frames) < expect + 1:
            frame = await sock.recv(timeout=10.0)
            if frame.get("type") != "ka":
                frames.append(frame)
        assert frames[0]["type"] == "connection_ack", frames
        return frames[1:]
    finally:
        await sock.close()


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize(("kind", "broken"), KINDS)
def test_deep_documents_over_websocket_are_refused(site: Site, protocol: str, kind: str, broken: bool) -> None:
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    messages = [{"type": start, "id": "deep", "payload": {"query": deep(kind, broken=broken)}},
                {"type": start, "id": "after", "payload": {"query": "{ __typename }"}}]
    started = time.monotonic()
    frames = asyncio.run(ws_frames(site.url, protocol, messages, expect=3))
    elapsed = time.monotonic() - started
    error = next(f for f in frames if f["id"] == "deep")
    assert error["type"] == "error", frames
    payload = error["payload"] if protocol == "graphql-ws" else error["payload"][0]
    assert payload["extensions"]["code"] == "VALIDATION_ERROR" and payload["message"] == NESTING, payload
    answered = [f for f in frames if f["id"] == "after"]                          # the socket still works
    assert answered[0]["payload"] == {"data": {"__typename": "Query"}}, frames
    assert elapsed < 5.0
    site.alive()


def test_many_tokens_are_refused(site: Site) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }"    # 3,002 tokens, 17 KB
    started = time.monotonic()
    response = site.post(query)
    assert time.monotonic() - started < 2.0
    document_error(response.json(), "Document has more than 2000 tokens (GRAPHQL_MAX_TOKENS)")


def test_brackets_in_strings_and_comments_do_not_count(site: Site) -> None:
    text = "[[[[{{{{((((" * 20
    query = f'# {text}\n{{ records(model: "Doc", where: {{title: "{text}"}}, limit: 1) }}'
    response = site.post(query, token=site.token)
    assert response.json() == {"data": {"records": []}}


# -- item 5: response amplification -------------------------------------------------------------------
ALIASES = 199


def aliases(n: int = ALIASES, args: str = 'model: "Doc"') -> str:
    return "{ " + " ".join(f"a{i}: records({args})" for i in range(n)) + " }"


def test_aliases_of_unlimited_records_hit_the_row_budget(site: Site) -> None:
    site.post('{ records(model: "Doc", limit: 10) }', token=site.token)    # warm up
    before = site.memory("VmRSS")
    started = time.monotonic()
    response = site.post(aliases(), token=site.token)                         # 5 KB asking for 497,500 rows
    elapsed = time.monotonic() - started
    peak = site.memory("VmHWM")
    body = response.json()
    assert response.status_code == 200 and body["data"] is None
    assert len(body["errors"]) == ALIASES
    for error in body["errors"]:
        assert error["extensions"] == {"code": "LIMIT_EXCEEDED", "details": {"maxRows": MAX_ROWS}}, error
        assert error["message"] == f"The request returns more than {MAX_ROWS} rows (GRAPHQL_MAX_ROWS)"
    assert len(response.content) < 100_000
    assert elapsed < 3.0                  # ~0.1 s; before: many seconds of CPU
    assert peak - before < 60 * 2**20     # a few MB; before: a response of ~200 MB and RSS growth of ~500 MB
    site.alive()


def test_rows_are_summed_over_the_fields_of_a_request(site: Site) -> None:
    ok = site.post('{ a: records(model: "Doc", limit: 600) b: paginatedRecords(model: "Doc", limit: 300) { data } '
                   'c: record(model: "Doc", id: "nope") n: count(model: "Doc") }', token=site.token)
    body = ok.json()
    assert "errors" not in body, str(body)[:500]
    assert len(body["data"]["a"]) == 600 and len(body["data"]["b"]["data"]) == 300 and body["data"]["n"] == ROWS
    over = site.post('{ a: records(model: "Doc", limit: 600) b: records(model: "Doc", limit: 600) '
                     'c: events(limit: 10) { position } }', token=site.token).json()
    assert over["data"] is None
    assert [e["path"] for e in over["errors"]] == [["b"], ["c"]], over["errors"]
    assert {e["extensions"]["code"] for e in over["errors"]} == {"LIMIT_EXCEEDED"}
    exact = site.post(f'{{ a: records(model: "Doc", where: {{rank: {{lt: {MAX_ROWS}}}}}) }}', token=site.token)
    assert len(exact.json()["data"]["a"]) == MAX_ROWS                 # the budget itself is allowed


def test_row_budget_is_per_request_and_applies_over_websocket(site: Site) -> None:
    for _ in range(3):
        response = site.post('{ records(model: "Doc", limit: 1000) }', token=site.token)
        assert len(response.json()["data"]["records"]) == 1000
    messages = [{"type": "subscribe", "id": "q", "payload": {"query": aliases(3)}}]

    async def run() -> list[dict[str, Any]]:
        sock = await Socket.open(ws_url(site.url, "/graphql/ws"), subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        try:
            await sock.send({"type": "connection_init", "payload": {"authorization": site.token}})
            await sock.expect("connection_ack")
            for message in messages:
                await sock.send(message)
            return [await sock.recv(timeout=10.0), await sock.recv(timeout=10.0)]
        finally:
            await sock.close()
    result, complete = asyncio.run(run())
    assert result["type"] == "next" and complete["type"] == "complete"
    assert result["payload"]["data"] is None
    assert {e["extensions"]["code"] for e in result["payload"]["errors"]} == {"LIMIT_EXCEEDED"}


# -- item 10b: filters too large for SQLite ----------------------------------------------------------
def count_where(site: Site, where: Any) -> dict[str, Any]:
    response = site.post('query($w: JSON) { count(model: "Doc", where: $w) }', {"w": where}, token=site.token)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_a_thousand_term_or_is_a_validation_error(site: Site) -> None:
    body = count_where(site, {"OR": [{"title": f"doc {i}"} for i in range(1000)]})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "VALIDATION_ERROR", error
    assert error["extensions"]["details"] == [{"field": "where", "code": "invalid_filter",
                                               "message": "where has more than 500 terms (ATOMO_MAX_FILTER_TERMS)"}]
    assert "Traceback" not in site.server.stderr and "Expression tree" not in site.server.stderr


def test_five_hundred_terms_work(site: Site) -> None:
    body = count_where(site, {"OR": [{"title": f"doc {i}"} for i in range(499)]})    # 499 conditions + the OR
    assert body == {"data": {"count": 499}}
    mixed = {"AND": [{"OR": [{"rank": {"gte": i, "lt": i + 1}} for i in range(200)]},
                     {"NOT": {"OR": [{"title": f"doc {i}"} for i in range(0, 200, 2)]}}]}    # 2+400+2+100 = 504
    assert count_where(site, mixed)["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    mixed["AND"][0]["OR"] = mixed["AND"][0]["OR"][:198]                                    # 500
    assert count_where(site, mixed) == {"data": {"count": 99}}


def test_deep_not_and_nesting_is_a_validation_error(site: Site) -> None:
    for combinator in ("NOT", "AND", "OR"):
        where: Any = {"title": "doc 1"}
        for _ in range(30):
            where = {combinator: where if combinator == "NOT" else [where]}
        error = count_where(site, where)["errors"][0]
        assert error["extensions"]["code"] == "VALIDATION_ERROR", error
    wide: Any = {"title": "doc 1"}
    for level in range(8):                      # 8 levels (the most allowed), 3 children each: 3^8 leaves
        wide = {("AND", "NOT")[level % 2]: [wide, wide, wide]}
    error = count_where(site, wide)["errors"][0]
    assert error["extensions"]["code"] == "VALIDATION_ERROR" and error["extensions"]["details"][0]["field"] == "where"
    many_lists = {"OR": [{"title": {"in": [f"x{i}-{j}" for j in range(1000)]}} for i in range(11)]}
    error = count_where(site, many_lists)["errors"][0]
    assert error["extensions"]["code"] == "VALIDATION_ERROR" and error["extensions"]["details"][0]["field"] == "where"
    assert "Traceback" not in site.server.stderr, site.server.stderr[-3000:]
    site.alive()


def test_no_tracebacks_in_the_server_log(site: Site) -> None:
    assert "Traceback" not in site.server.stderr, site.server.stderr[-3000:]
    assert json.dumps(site.post("{ __typename }").json()) == '{"data": {"__typename": "Query"}}'
