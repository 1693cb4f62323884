"""Concurrent editors on one document (content chapter §5), through the real server: 8 HTTP writers make 200
random block operations on one Deal's notes while two WebSocket clients follow ``modelChanges``.

Each writer edits only its own blocks (and its own key of two shared blocks) and places blocks with ``after``
anchors of its own, so none of its operations may fail, and the order of its own blocks is decided by its
operations alone: every writer keeps a local model of its blocks, and the final document must agree with
each of them. The final document must also equal an independent sequential replay of the record's event
log (written here from the chapter's event table, not the server's code), every subscriber must see every
event once, in order, each ``previousData`` being the ``data`` before it, and ``projections rebuild --check``
must find the rebuilt table identical to the live one.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import threading
from typing import Any

import httpx

from tests.e2e.conftest import ServerProcess, atomo_command, login
from tests.e2e.wskit import graphql_ws

WRITERS = 8
OPS_PER_WRITER = 25
OWN_BLOCKS = 3
CHANGE = "{ version }"


def gql(http: httpx.Client, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = http.post("/graphql", json={"query": query, "variables": variables or {}},
                         headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def replay(body: list[dict[str, Any]], event: dict[str, Any]) -> list[dict[str, Any]]:
    """One stored block event applied as the chapter's event table says (independent of atomo.content.ops)."""
    data, kind, out = event["data"], event["type"], [dict(b) for b in body]
    where = {b["id"]: i for i, b in enumerate(out)}
    if kind == "BlockInserted":
        out.insert(data["index"], data["block"])
    elif kind == "BlockUpdated":
        block = out[where[data["blockId"]]]
        for key, value in data["patch"].items():
            if value is None:
                block.pop(key, None)
            else:
                block[key] = value
        block["rev"], block["updatedAt"] = data["rev"], event["recordedAt"]
    elif kind == "BlockMoved":
        assert where[data["blockId"]] == data["fromIndex"]
        out.insert(data["toIndex"], out.pop(data["fromIndex"]))
    elif kind == "BlockRemoved":
        assert where[data["blockId"]] == data["index"]
        del out[data["index"]]
    else:
        raise AssertionError(f"unexpected event {kind}")
    return out


class Writer(threading.Thread):
    """One editor: random operations on its own blocks; ``mine`` is its model of its blocks' order and text."""

    def __init__(self, n: int, base_url: str, token: str, deal: str) -> None:
        super().__init__(name=f"writer-{n}")
        self.n, self.token, self.deal = n, token, deal
        self.http = httpx.Client(base_url=base_url, timeout=60.0)
        self.rng = random.Random(1000 + n)
        self.mine: list[tuple[str, str]] = [(f"w{n}-{k}", f"w{n} block {k}") for k in range(OWN_BLOCKS)]
        self.shared: dict[str, int] = {}
        self.errors: list[Any] = []
        self.count = 0

    def call(self, mutation: str, variables: dict[str, Any] | None = None) -> None:
        body = gql(self.http, self.token, mutation, variables)
        self.count += 1
        if body.get("errors"):
            self.errors.append(body["errors"])

    def target(self) -> str:
        return f'model: "Deal", id: "{self.deal}", field: "notes"'

    def run(self) -> None:
        try:
            for step in range(OPS_PER_WRITER):
                self.step(step)
        finally:
            self.http.close()

    def step(self, step: int) -> None:
        rng, mine = self.rng, self.mine
        choice = rng.choice(["update", "update", "insert", "move", "remove", "shared"])
        if choice == "remove" and len(mine) < 2 or choice == "move" and len(mine) < 2:
            choice = "insert"
        if choice == "update":
            i = rng.randrange(len(mine))
            text = f"w{self.n} edit {step}"
            self.call(f'mutation($b: JSON!) {{ updateBlock({self.target()}, blockId: "{mine[i][0]}", block: $b) '
                      f'{CHANGE} }}', {"b": {"text": text}})
            mine[i] = (mine[i][0], text)
        elif choice == "insert":
            i = rng.randrange(len(mine))
            new = (f"w{self.n}-s{step}", f"w{self.n} new {step}")
            self.call(f'mutation($b: JSON!) {{ insertBlock({self.target()}, after: "{mine[i][0]}", block: $b) '
                      f'{CHANGE} }}', {"b": {"id": new[0], "type": "paragraph", "text": new[1]}})
            mine.insert(i + 1, new)
        elif choice == "move":
            x, anchor = rng.sample(range(len(mine)), 2)
            block, anchor_id = mine[x], mine[anchor][0]
            self.call(f'mutation {{ moveBlock({self.target()}, blockId: "{block[0]}", after: "{anchor_id}") '
                      f'{CHANGE} }}')
            mine.remove(block)
            mine.insert(mine.index(next(b for b in mine if b[0] == anchor_id)) + 1, block)
        elif choice == "remove":
            i = rng.randrange(len(mine))
            self.call(f'mutation {{ removeBlock({self.target()}, blockId: "{mine[i][0]}") {CHANGE} }}')
            del mine[i]
        else:
            shared = f"shared-{rng.randrange(2)}"
            self.call(f'mutation($b: JSON!) {{ updateBlock({self.target()}, blockId: "{shared}", block: $b) '
                      f'{CHANGE} }}', {"b": {f"k{self.n}": step + 1}})
            self.shared[shared] = step + 1


async def follow(base_url: str, token: str, after: int, deal: str, stop: asyncio.Event,
                 out: list[dict[str, Any]]) -> None:
    sock = await graphql_ws(base_url, {"authorization": f"Bearer {token}"})
    query = ('subscription($after: Int) { modelChanges(model: "Deal", after: $after) '
             '{ eventType position data previousData blockOp } }')
    try:
        await sock.send({"type": "subscribe", "id": "1", "payload": {"query": query, "variables": {"after": after}}})
        while not stop.is_set():
            try:
                frame = await sock.recv(timeout=0.5)
            except TimeoutError:
                continue
            assert frame["type"] == "next", frame
            event = frame["payload"]["data"]["modelChanges"]
            if event["data"]["id"] == deal:
                out.append(event)
    finally:
        await sock.close()


def test_eight_writers_and_two_subscribers_on_one_document(start_server: Any) -> None:
    server: ServerProcess = start_server()
    token = login(server.base_url)
    http = httpx.Client(base_url=server.base_url, timeout=60.0)
    company = gql(http, token, 'mutation { create(model: "Company", data: {name: "Editors Inc"}) }')["data"]["create"]
    notes = [{"id": f"w{n}-{k}", "type": "paragraph", "text": f"w{n} block {k}"}
             for k in range(OWN_BLOCKS) for n in range(WRITERS)]
    notes += [{"id": "shared-0", "type": "task", "title": "Shared A"}, {"id": "shared-1", "type": "task",
                                                                          "title": "Shared B"}]
    deal = gql(http, token, "mutation($d: JSON!) { create(model: \"Deal\", data: $d) }",
               {"d": {"title": "Shared document", "companyId": company["id"], "notes": notes}})["data"]["create"]
    start = gql(http, token, f'{{ history(model: "Deal", id: "{deal["id"]}") {{ position }} }}')
    created_at = start["data"]["history"][0]["position"]

    seen: list[list[dict[str, Any]]] = [[], []]
    writers = [Writer(n, server.base_url, token, deal["id"]) for n in range(WRITERS)]

    async def scenario() -> None:
        stop = asyncio.Event()
        followers = [asyncio.create_task(follow(server.base_url, token, created_at, deal["id"], stop, out))
                     for out in seen]
        await asyncio.sleep(0.3)
        for w in writers:
            w.start()
        await asyncio.to_thread(lambda: [w.join() for w in writers])
        total = len(gql(http, token, f'{{ history(model: "Deal", id: "{deal["id"]}") {{ position }} }}')
                    ["data"]["history"]) - 1
        for _ in range(200):                                   # every event reaches both subscribers
            if all(len(out) >= total for out in seen):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*followers)
    asyncio.run(scenario())

    assert sum(w.count for w in writers) == WRITERS * OPS_PER_WRITER == 200
    assert [e for w in writers for e in w.errors] == []                     # no conflicts between editors
    final = gql(http, token, f'{{ record(model: "Deal", id: "{deal["id"]}") }}')["data"]["record"]
    history = gql(http, token, f'{{ history(model: "Deal", id: "{deal["id"]}") '
                               '{ type streamVersion position data recordedAt } }')["data"]["history"]
    http.close()

    # the final document is the sequential replay of the log, and agrees with every writer's own view
    body = history[0]["data"]["notes"]
    for event in history[1:]:
        body = replay(body, event)
    assert body == final["notes"]
    assert final["_version"] == len(history) == history[-1]["streamVersion"]
    for w in writers:
        own = [(b["id"], b["text"]) for b in final["notes"] if b["id"].startswith(f"w{w.n}-")]
        assert own == w.mine, f"writer {w.n}"
    for shared in ("shared-0", "shared-1"):
        block = next(b for b in final["notes"] if b["id"] == shared)
        assert {k: v for k, v in block.items() if k.startswith("k")} == \
            {f"k{w.n}": w.shared[shared] for w in writers if shared in w.shared}

    # both subscribers saw every event once, in order, as updates chained by previousData
    positions = [e["position"] for e in history[1:]]
    for events in seen:
        assert [e["position"] for e in events] == positions
        assert all(e["eventType"] == "UPDATED" and e["blockOp"]["field"] == "notes" for e in events)
        assert events[0]["previousData"]["notes"] == history[0]["data"]["notes"]
        assert all(b["previousData"] == a["data"] for a, b in zip(events, events[1:], strict=False))
        assert events[-1]["data"] == final

    check = subprocess.run(atomo_command(server.project, "projections", "rebuild", "--check"), cwd=server.project,
                           env=server.env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no differences" in check.stdout


def test_the_same_key_of_one_block_is_last_write_wins_unless_expected_rev_is_sent(start_server: Any) -> None:
    server: ServerProcess = start_server()
    token = login(server.base_url)
    http = httpx.Client(base_url=server.base_url, timeout=60.0)
    company = gql(http, token, 'mutation { create(model: "Company", data: {name: "Rev Inc"}) }')["data"]["create"]
    deal = gql(http, token, "mutation($d: JSON!) { create(model: \"Deal\", data: $d) }",
               {"d": {"title": "Rev doc", "companyId": company["id"],
                      "notes": [{"id": "x", "type": "paragraph", "text": "v1"}]}})["data"]["create"]
    target = f'model: "Deal", id: "{deal["id"]}", field: "notes", blockId: "x"'
    update = f'mutation($b: JSON!, $rev: Int) {{ updateBlock({target}, block: $b, expectedRev: $rev) {{ block }} }}'
    a = gql(http, token, update, {"b": {"text": "A"}, "rev": 1})
    assert a["data"]["updateBlock"]["block"]["rev"] == 2
    b = gql(http, token, update, {"b": {"text": "B"}, "rev": 1})                       # read before A: refused
    assert b["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert b["errors"][0]["extensions"]["details"]["currentRev"] == 2
    c = gql(http, token, update, {"b": {"text": "C"}})                                   # without: last one wins
    assert c["data"]["updateBlock"]["block"]["text"] == "C"
    removed = gql(http, token, f'mutation {{ removeBlock({target}) {{ version }} }}')
    assert removed["data"]["removeBlock"]["version"] == 4
    late = gql(http, token, update, {"b": {"completed": True}})                          # removed: NOT_FOUND
    assert late["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    http.close()
