"""/health, /ready, /version, unknown routes, GraphiQL and its bundled files."""

from __future__ import annotations

import httpx

from atomo._version import __version__


def test_health(base_url: str) -> None:
    response = httpx.get(base_url + "/health")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "OK"


def test_ready(base_url: str) -> None:
    response = httpx.get(base_url + "/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


def test_version(base_url: str) -> None:
    response = httpx.get(base_url + "/version")
    assert response.status_code == 200
    assert response.json() == {"name": "atomo-server", "version": __version__, "commit": "unknown",
                               "buildTime": "unknown"}


def test_unknown_route_is_404_with_the_canonical_body(base_url: str) -> None:
    response = httpx.get(base_url + "/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "not found"}}
    assert response.headers["x-request-id"]


def test_graphiql_for_browsers(base_url: str) -> None:
    response = httpx.get(base_url + "/graphql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<html" in page and "/graphql/static/" in page
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js", "atomo-graphiql.js"):
        assert asset in page
        static = httpx.get(base_url + "/graphql/static/" + asset)
        assert static.status_code == 200, asset
        assert len(static.content) > 100
    js = httpx.get(base_url + "/graphql/static/graphiql.min.js")
    assert "javascript" in js.headers["content-type"]
    assert httpx.get(base_url + "/graphql/static/nope.js").status_code == 404
    assert httpx.get(base_url + "/graphql/static/../../app.py").status_code == 404


def test_html_with_a_query_runs_the_query(base_url: str) -> None:
    response = httpx.get(base_url + "/graphql", params={"query": "{ __typename }"},
                         headers={"Accept": "text/html, application/json;q=0.9"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
