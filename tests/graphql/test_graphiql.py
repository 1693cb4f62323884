"""The bundled GraphiQL page: local assets only, endpoints configurable, licenses noted."""

from __future__ import annotations

import re

from atomo.http.graphiql import ASSETS, STATIC_DIR, graphiql_html


def test_page_loads_only_bundled_assets() -> None:
    page = graphiql_html()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources == [f"/graphql/static/{name}" for name in ASSETS]
    assert "http://" not in page and "https://" not in page and "<script>" not in page
    assert 'data-endpoint="/graphql"' in page and 'data-ws-endpoint="/graphql/ws"' in page


def test_endpoints_and_prefix_are_escaped() -> None:
    page = graphiql_html(endpoint='/api/graphql?x="1"&y=<2>', static_prefix="/assets/gql/")
    assert 'href="/assets/gql/graphiql.min.css"' in page
    assert 'data-endpoint="/api/graphql?x=&quot;1&quot;&amp;y=&lt;2&gt;"' in page


def test_assets_are_present_small_and_licensed() -> None:
    for name in ASSETS:
        assert (STATIC_DIR / name).is_file(), name
    files = [p for p in STATIC_DIR.iterdir() if p.is_file()]
    assert {p.name for p in files} == {*ASSETS, "LICENSES.txt"}
    assert sum(p.stat().st_size for p in files) < 2_500_000
    licenses = (STATIC_DIR / "LICENSES.txt").read_text(encoding="utf-8")
    for package in ("graphiql 3.8.3", "react 18.3.1", "react-dom 18.3.1", "MIT License"):
        assert package in licenses
    assert "sourceMappingURL" not in (STATIC_DIR / "graphiql.min.js").read_text(encoding="utf-8")
    starter = (STATIC_DIR / "atomo-graphiql.js").read_text(encoding="utf-8")
    assert "GraphiQL.createFetcher" in starter and "subscriptionUrl" in starter
