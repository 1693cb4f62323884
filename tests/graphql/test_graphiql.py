"""The bundled GraphiQL page: local assets only, endpoints configurable, licenses noted, a favicon,
short welcome lines (the page in a browser: tests/e2e/test_graphiql_browser.py)."""

from __future__ import annotations

import re

from atomo.http.graphiql import ASSETS, DEFAULT_QUERY, FAVICON, STATIC_DIR, graphiql_html


def test_page_loads_only_bundled_assets() -> None:
    page = graphiql_html()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources == ["/favicon.ico", *(f"/graphql/static/{name}" for name in ASSETS)]
    assert "http://" not in page and "https://" not in page and "<script>" not in page and "<style" not in page
    assert not re.search(r"\s(style|on[a-z]+)=", page)      # no inline script or style attributes either
    assert 'data-endpoint="/graphql"' in page and 'data-ws-endpoint="/graphql/ws"' in page
    # the log-in bar posts JSON from atomo-graphiql.js; without script it would POST (never GET a password)
    assert '<form id="atomo-login" class="atomo-login" method="post" action="/auth/login"' in page
    assert 'type="password"' in page and 'autocomplete="current-password"' in page


def test_welcome_lines_are_short() -> None:
    lines = DEFAULT_QUERY.splitlines()
    assert lines[0] == "# Welcome to Atomo's GraphiQL." and "query Contacts {" in lines
    assert all(len(line) <= 32 for line in lines if line.startswith("#")), lines
    assert "Log in" in DEFAULT_QUERY and "Headers" in DEFAULT_QUERY


def test_endpoints_and_prefix_are_escaped() -> None:
    page = graphiql_html(endpoint='/api/graphql?x="1"&y=<2>', static_prefix="/assets/gql/",
                         login_endpoint="/api/login?a=<b>", favicon="/i.ico?x=\"")
    assert 'href="/assets/gql/graphiql.min.css"' in page
    assert 'action="/api/login?a=&lt;b&gt;"' in page and 'href="/i.ico?x=&quot;"' in page
    assert 'data-endpoint="/api/graphql?x=&quot;1&quot;&amp;y=&lt;2&gt;"' in page


def test_assets_are_present_small_and_licensed() -> None:
    for name in ASSETS:
        assert (STATIC_DIR / name).is_file(), name
    files = [p for p in STATIC_DIR.iterdir() if p.is_file()]
    assert {p.name for p in files} == {*ASSETS, "LICENSES.txt"}
    assert sum(p.stat().st_size for p in files) < 2_500_000
    licenses = (STATIC_DIR / "LICENSES.txt").read_text(encoding="utf-8")
    for package in ("graphiql 3.8.3", "react 18.3.1", "react-dom 18.3.1", "MIT License", "atomo-graphiql.css",
                    "favicon.ico"):
        assert package in licenses
    assert "sourceMappingURL" not in (STATIC_DIR / "graphiql.min.js").read_text(encoding="utf-8")
    starter = (STATIC_DIR / "atomo-graphiql.js").read_text(encoding="utf-8")
    assert "GraphiQL.createFetcher" in starter and "subscriptionUrl" in starter
    assert "lineWrapping" in starter and "atomo-login" in starter and "shouldPersistHeaders: false" in starter


def test_favicon_is_a_small_ico() -> None:
    icon = FAVICON.read_bytes()
    assert icon[:4] == b"\x00\x00\x01\x00" and int.from_bytes(icon[4:6], "little") >= 1    # ICONDIR, type 1
    assert len(icon) < 10_000
