"""GraphiQL in headless Chromium (Playwright) against the real server: no console errors or failed
requests (fonts under the CSP, the favicon), lines wrap in a 700 px window, the log-in bar puts a token
into the Headers editor and the starter query returns data.

The browser tests are skipped when Playwright for Python or a Chromium binary is missing (CI installs both: Debian's
``chromium`` package and ``pip install playwright``; ``playwright install`` is never needed). The binary
is ``$CHROMIUM``, ``/usr/bin/chromium`` or ``chromium``/``chromium-browser`` on the PATH.
Set ``ATOMO_TEST_SCREENSHOTS`` to a folder to keep the screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def launched_browser() -> Iterator[Any]:
    """Headless Chromium through Playwright (skips the test when either is missing); closed after the yield."""
    try:
        from playwright import sync_api
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install playwright)")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium binary (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launched_browser()


class Problems:
    """Console errors, uncaught exceptions, failed requests and HTTP errors seen by one page."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.seen.append(f"console: {m.text[:300]} ({m.location})"))
        page.on("pageerror", lambda e: self.seen.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.seen.append(f"request failed: {r.url[:200]} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.seen.append(f"HTTP {r.status}: {r.url[:200]}"))


def open_graphiql(browser: Any, base_url: str, width: int = 700) -> tuple[Any, Any, Problems]:
    context = browser.new_context(viewport={"width": width, "height": 700})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = Problems(page)
    page.goto(base_url + "/graphql", wait_until="load")
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    page.wait_for_function("document.fonts.status === 'loaded'")
    return context, page, problems


def editor_text(page: Any, selector: str) -> str:
    return str(page.evaluate("s => document.querySelector(s).CodeMirror.getValue()", selector))


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(os.environ.get("ATOMO_TEST_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


def test_graphiql_logs_in_and_runs_the_starter_query(browser: Any, base_url: str, tmp_path: Path) -> None:
    context, page, problems = open_graphiql(browser, base_url)
    try:
        # the welcome comment is not cut: every editor wraps and nothing overflows sideways
        query = editor_text(page, ".graphiql-query-editor .CodeMirror")
        assert query.startswith("# Welcome to Atomo's GraphiQL.") and "records(" in query
        page.wait_for_function("""() => [...document.querySelectorAll('#graphiql .CodeMirror')].every(
            e => e.CodeMirror.getOption('lineWrapping'))""")
        overflow = page.evaluate("""() => { const s = document.querySelector('.graphiql-query-editor .CodeMirror-scroll');
            return s.scrollWidth - s.clientWidth; }""")
        assert overflow <= 1, overflow
        # every font GraphiQL asked for loaded (the CSP allows its data: fonts)
        fonts = page.evaluate("[...document.fonts].filter(f => f.status !== 'unloaded').map(f => [f.family, f.status])")
        assert fonts and all(status == "loaded" for _, status in fonts), fonts
        assert {"Roboto", "Fira Code"} <= {family.strip("\"'") for family, _ in fonts}, fonts

        page.fill("#atomo-login input[name=email]", ADMIN_EMAIL)
        page.fill("#atomo-login input[name=password]", ADMIN_PASSWORD)
        page.click("#atomo-login button[type=submit]")
        page.wait_for_function("document.getElementById('atomo-login-status').textContent.startsWith('Logged in')")
        status = page.text_content("#atomo-login-status") or ""
        assert f"Logged in as {ADMIN_EMAIL} (admin)" in status, status
        assert page.input_value("#atomo-login input[name=password]") == ""
        headers = json.loads(editor_text(page, ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"))
        token = headers["Authorization"].removeprefix("Bearer ")
        assert list(headers) == ["Authorization"] and token.count(".") == 2
        assert httpx.get(base_url + "/auth/me", headers=headers).json()["email"] == ADMIN_EMAIL

        page.click(".graphiql-execute-button")
        page.wait_for_function("""() => document.querySelector('.graphiql-response .CodeMirror')
            .CodeMirror.getValue().includes('"data"')""")
        result = json.loads(editor_text(page, ".graphiql-response .CodeMirror"))
        assert "errors" not in result, result
        assert isinstance(result["data"]["records"], list), result
        screenshot(page, tmp_path, "graphiql-700.png")
        assert problems.seen == []
    finally:
        context.close()


def test_graphiql_in_a_wide_window_has_no_errors(browser: Any, base_url: str, tmp_path: Path) -> None:
    context, page, problems = open_graphiql(browser, base_url, width=1280)
    try:
        page.wait_for_selector(".graphiql-response .CodeMirror")
        # the page's icon is the bundled one
        icon = page.evaluate("document.querySelector('link[rel=icon]').href")
        assert icon == base_url + "/favicon.ico"
        response = page.request.get(icon)
        assert response.status == 200 and response.headers["content-type"] == "image/x-icon"
        screenshot(page, tmp_path, "graphiql-1280.png")
        assert problems.seen == []
    finally:
        context.close()


def test_login_bar_reports_a_wrong_password(browser: Any, base_url: str) -> None:
    context, page, _ = open_graphiql(browser, base_url)
    try:
        page.fill("#atomo-login input[name=email]", ADMIN_EMAIL)
        page.fill("#atomo-login input[name=password]", "not-the-password")
        page.click("#atomo-login button[type=submit]")
        page.wait_for_function("document.getElementById('atomo-login-status').textContent.startsWith('Log-in failed')")
        assert page.text_content("#atomo-login-status") == "Log-in failed: invalid email or password"
        assert page.get_attribute("#atomo-login-status", "class") == "atomo-login-status error"
        assert "Bearer" not in editor_text(page, ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")
        assert page.url == base_url + "/graphql"           # the form never navigated
    finally:
        context.close()


def test_favicon_is_bundled_and_cached(base_url: str) -> None:
    response = httpx.get(base_url + "/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/x-icon"
    assert response.headers["cache-control"] == "public, max-age=31536000"
    assert response.content[:4] == b"\x00\x00\x01\x00" and len(response.content) < 10_000
