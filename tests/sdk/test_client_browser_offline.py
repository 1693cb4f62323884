"""The offline queue in a real browser (headless Chromium): items queued while the network is down persist in
IndexedDB (`atomo-offline`) across a page reload and drain once the network is back; three tabs holding the same
queue replay it under the Web Lock `atomo-offline-sync`, and every item is applied exactly once. The page loads
the built `@atomo-cc/client` as ES modules from a static server on another origin than the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.e2e.conftest import ServerProcess, gql_post, login, server_env
from tests.e2e.test_graphiql_browser import TIMEOUT_MS, launched_browser
from tests.sdk.conftest import crm_project
from tests.sdk.test_client_example import serve_directory

PAGE = """<!doctype html>
<meta charset="utf-8"><title>offline queue</title>
<script type="module">
import { createClient } from '/sdk/dist/index.js'
const params = new URLSearchParams(location.search)
const atomo = createClient({
  url: params.get('api'), token: params.get('token'),
  offline: { enabled: true, retryBaseMs: 100, retryMaxMs: 400, syncIntervalMs: 300 },
})
window.atomo = atomo
window.problems = []
atomo.offline.on('rejected', (e) => window.problems.push(`${e.error.code}: ${e.error.message}`))
atomo.offline.on('conflict', (e) => window.problems.push(`${e.error.code}: ${e.error.message}`))
window.loaded = atomo.offline.ready.then(() => true)
</script>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launched_browser()


@pytest.fixture(scope="module")
def page_origin(built_sdk: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("offline-page")
    (root / "sdk").symlink_to(built_sdk)
    (root / "index.html").write_text(PAGE)
    yield from serve_directory(root)


@pytest.fixture(scope="module")
def api_server(page_origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = crm_project(tmp_path_factory.mktemp("offline-api"))
    process = ServerProcess(project, env=server_env(CORS_ORIGINS=page_origin)).start()
    try:
        yield process
    finally:
        process.stop()


def companies(base: str, token: str, industry: str) -> list[dict[str, Any]]:
    body = gql_post(base, 'query($w: JSON) { records(model: "Company", where: $w, limit: 100) }',
                    {"w": {"industry": industry}}, token=token).json()
    return list(body["data"]["records"])


def open_page(context: Any, origin: str, base: str, token: str) -> Any:
    page = context.new_page()
    page.goto(f"{origin}/?{urlencode({'api': base, 'token': token})}", wait_until="load")
    page.wait_for_function("window.loaded !== undefined")
    page.evaluate("window.loaded")
    return page


DRAINED = "window.atomo.offline.getStatus().pendingCount === 0"


def create_companies(page: Any, prefix: str, count: int) -> None:
    page.evaluate("""([prefix, count]) => {
      for (let n = 0; n < count; n++) window.atomo.create('Company', { name: `${prefix} ${n}`, industry: prefix.split(' ')[1] })
    }""", [prefix, count])


def test_queued_items_survive_in_indexeddb_and_drain_when_back_online(browser: Any, page_origin: str,
                                                                      api_server: ServerProcess) -> None:
    base, token, tag = api_server.base_url, login(api_server.base_url), uuid.uuid4().hex[:10]
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        first = open_page(context, page_origin, base, token)
        context.set_offline(True)                           # navigator.onLine false, requests fail
        create_companies(first, f"Browser {tag}", 3)
        first.wait_for_function("window.atomo.offline.pending().length === 3")
        assert first.evaluate("window.atomo.offline.getStatus().online") is False
        first.wait_for_timeout(1500)                        # retries while offline are not counted as failures
        assert first.evaluate("window.atomo.offline.pending().map((i) => i.attempts)") == [0, 0, 0]
        assert first.evaluate("indexedDB.databases().then((d) => d.map((x) => x.name))") == ["atomo-offline"]
        first.evaluate("window.atomo.offline.saved()")
        first.close()                                       # the app is closed while offline
        assert companies(base, token, tag) == []
        context.set_offline(False)
        page = open_page(context, page_origin, base, token)   # opened again: the queue comes from IndexedDB
        page.wait_for_function(DRAINED + " && window.atomo.offline.getStatus().lastSyncAt")
        assert page.evaluate("window.problems") == [] and page.evaluate("window.atomo.offline.failed().length") == 0
        assert sorted(c["name"] for c in companies(base, token, tag)) == [f"Browser {tag} {n}" for n in range(3)]
        # offline again, then the browser's `online` event replays without a reload
        context.set_offline(True)
        create_companies(page, f"Online {tag}", 1)
        page.wait_for_function("window.atomo.offline.pending().length === 1")
        context.set_offline(False)
        page.wait_for_function(DRAINED)
        assert len(companies(base, token, tag)) == 4
    finally:
        context.close()


def test_three_tabs_replay_one_queue_exactly_once(browser: Any, page_origin: str, api_server: ServerProcess) -> None:
    base, token, tag = api_server.base_url, login(api_server.base_url), uuid.uuid4().hex[:10]
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        first = open_page(context, page_origin, base, token)
        context.set_offline(True)
        create_companies(first, f"Tabs {tag}", 8)
        first.wait_for_function("window.atomo.offline.pending().length === 8")
        first.evaluate("window.atomo.offline.saved()")       # written to IndexedDB before the tab goes
        first.close()
        context.set_offline(False)
        tabs = [open_page(context, page_origin, base, token) for _ in range(3)]
        for tab in tabs:
            tab.wait_for_function(DRAINED + " && !window.atomo.offline.getStatus().syncing")
            assert tab.evaluate("window.problems") == []
        names = sorted(c["name"] for c in companies(base, token, tag))
        assert names == [f"Tabs {tag} {n}" for n in range(8)]      # each once, though three tabs held the queue
    finally:
        context.close()
