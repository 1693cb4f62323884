"""The React example app (examples/crm-react) built as CI would (`npm ci`, `npm run build`: tsc + Vite),
served as static files from another origin and opened in headless Chromium against a real `atomo serve`
on the sample CRM: log in through the form, create a contact through the form, then see a contact
created by a second client (plain GraphQL over HTTP) appear without a reload, through the client
cache's `modelChanges` subscription.

Skipped when node/npm (the ``built_sdk`` fixture), Playwright for Python or a Chromium binary is missing,
like the other browser tests. Set ``ATOMO_TEST_SCREENSHOTS`` to a folder to keep the screenshot.
"""

from __future__ import annotations

import functools
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, ServerProcess, gql_post, login, server_env
from tests.e2e.test_graphiql_browser import TIMEOUT_MS, Problems, launched_browser, screenshot
from tests.sdk.conftest import crm_project

EXAMPLE = ROOT / "examples" / "crm-react"
LIVE_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launched_browser()


@pytest.fixture(scope="module")
def example_dist(built_sdk: Path) -> Path:
    """`npm ci` (the committed lockfile, the SDK linked from sdk/client-ts) and `npm run build`."""
    for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        started = time.monotonic()
        result = subprocess.run(command, cwd=EXAMPLE, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        print(f"{' '.join(command)}: {time.monotonic() - started:.1f} s")
    assert (EXAMPLE / "dist" / "index.html").is_file()
    return EXAMPLE / "dist"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_directory(directory: Path) -> Iterator[str]:
    """A static HTTP server of ``directory`` in a thread, on an origin of its own; stopped after the yield."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def app_origin(example_dist: Path) -> Iterator[str]:
    """The built app on its own origin (so every API call is cross-origin, as in a real deployment)."""
    yield from serve_directory(example_dist)


@pytest.fixture(scope="module")
def api_server(app_origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = crm_project(tmp_path_factory.mktemp("crm-react"))
    process = ServerProcess(project, env=server_env(CORS_ORIGINS=app_origin)).start()
    try:
        yield process
    finally:
        process.stop()


def contact(name: str) -> str:
    return f'[data-testid=contact-list] [data-testid=contact]:has-text("{name}")'


def test_example_app_logs_in_creates_a_contact_and_stays_live(browser: Any, app_origin: str, api_server: ServerProcess,
                                                              tmp_path: Path) -> None:
    base = api_server.base_url
    # the server answers the browser's preflight for the app's origin
    preflight = httpx.options(base + "/graphql", headers={"Origin": app_origin, "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "authorization,content-type"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == app_origin

    context = browser.new_context(viewport={"width": 900, "height": 700})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = Problems(page)
    try:
        page.goto(f"{app_origin}/?{urlencode({'api': base})}", wait_until="load")
        page.fill("[data-testid=login-email]", ADMIN_EMAIL)
        page.fill("[data-testid=login-password]", ADMIN_PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=contact-list]")
        assert page.text_content("[data-testid=current-user]") == ADMIN_EMAIL
        page.evaluate("window.__notReloaded = true")

        # a contact created through the app's form shows up in its list
        tag = uuid.uuid4().hex[:8]
        page.fill("[data-testid=contact-first-name]", "Ada")
        page.fill("[data-testid=contact-last-name]", f"Form-{tag}")
        page.fill("[data-testid=contact-email]", f"ada-{tag}@example.com")
        page.click("[data-testid=contact-submit]")
        page.wait_for_selector(contact(f"Ada Form-{tag}"))
        assert page.input_value("[data-testid=contact-last-name]") == ""       # the form was reset
        # its own event comes back over the WebSocket (useModelChanges): the subscriptions are live
        page.wait_for_selector(f'[data-testid=last-change]:has-text("created Ada Form-{tag}")')

        # a contact created by a second client appears without a reload (modelChanges -> refetch)
        created = gql_post(base, 'mutation($d: JSON!) { create(model: "Contact", data: $d) }',
                           {"d": {"firstName": "Grace", "lastName": f"Remote-{tag}"}}, token=login(base))
        assert created.status_code == 200 and "errors" not in created.json(), created.text
        page.wait_for_selector(contact(f"Grace Remote-{tag}"), timeout=LIVE_TIMEOUT_MS)
        assert page.evaluate("window.__notReloaded") is True
        page.wait_for_selector(f'[data-testid=last-change]:has-text("created Grace Remote-{tag}")')
        names = page.locator("[data-testid=contact-list] [data-testid=contact] strong").all_text_contents()
        assert names[:2] == [f"Grace Remote-{tag}", f"Ada Form-{tag}"], names     # newest first
        screenshot(page, tmp_path, "crm-react.png")
        assert problems.seen == []
    finally:
        context.close()
