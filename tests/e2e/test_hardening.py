"""Security headers, CORS, body limits and the one REST error shape, through the real server (auth §10)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import ServerProcess, server_env

DEFAULT_CSP = ("default-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "script-src 'self' 'unsafe-inline' 'unsafe-eval'")
SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "content-security-policy": DEFAULT_CSP}
HSTS = "max-age=63072000; includeSubDomains; preload"
ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Small body limits, a custom CSP, any origin."""
    env = server_env(ATOMO_MAX_BODY_BYTES="2048", GRAPHQL_MAX_BODY_BYTES="4096", CSP="default-src 'none'",
                     CORS_ORIGINS="*")
    server = ServerProcess(tmp_path_factory.mktemp("small"), env=env).start()
    try:
        yield server
    finally:
        server.stop()


def requests(base: str, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    h = headers or {}
    return [httpx.get(base + "/health", headers=h), httpx.get(base + "/version", headers=h),
            httpx.get(base + "/nope", headers=h), httpx.post(base + "/health", headers=h),
            httpx.post(base + "/auth/login", json={"email": "a@b.c", "password": "x"}, headers=h),
            httpx.post(base + "/graphql", json={"query": "{ __typename }"}, headers=h),
            httpx.get(base + "/graphql", headers={"Accept": "text/html", **h}),
            httpx.get(base + "/graphql/static/atomo-graphiql.js", headers=h), httpx.get(base + "/favicon.ico", headers=h),
            httpx.options(base + "/graphql", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST", **h}),
            httpx.post(base + "/graphql", content=b" " * 2_000_000, headers={"Content-Type": "application/json", **h})]


def test_security_headers_on_every_response(base_url: str) -> None:
    for response in requests(base_url):
        for name, value in SECURITY.items():
            assert response.headers.get(name) == value, (response.request.url, name)
        assert response.headers["x-request-id"]
        assert len(response.headers.get_list("content-security-policy")) == 1
        assert "strict-transport-security" not in response.headers, response.request.url   # plain HTTP


# -- HSTS: only when the request came over HTTPS ------------------------------------------------------
def test_hsts_when_a_trusted_proxy_says_https(base_url: str) -> None:
    """The test client connects from 127.0.0.1, a trusted proxy by default (ATOMO_TRUSTED_PROXIES)."""
    for proto in ("https", "HTTPS", "https, http", "http ,https"):
        for response in requests(base_url, {"X-Forwarded-Proto": proto}):
            assert response.headers.get_list("strict-transport-security") == [HSTS], (proto, response.request.url)
            for name, value in SECURITY.items():
                assert response.headers.get(name) == value, (response.request.url, name)
    for proto in ("http", "", "ws", "httpsx", "https-ish"):
        response = httpx.get(base_url + "/health", headers={"X-Forwarded-Proto": proto})
        assert "strict-transport-security" not in response.headers, proto
    several = httpx.get(base_url + "/health", headers=[("X-Forwarded-Proto", "http"), ("X-Forwarded-Proto", "https")])
    assert several.headers["strict-transport-security"] == HSTS


def test_hsts_ignores_forwarded_proto_from_an_untrusted_peer(start_server, tmp_path) -> None:  # noqa: ANN001
    server = start_server(tmp_path / "p", env=server_env(ATOMO_TRUSTED_PROXIES="10.0.0.0/8"))
    for response in requests(server.base_url, {"X-Forwarded-Proto": "https"}):
        assert "strict-transport-security" not in response.headers, response.request.url
        assert response.headers["content-security-policy"] == DEFAULT_CSP
    # X-Forwarded-For from the untrusted peer does not make it trusted either
    response = httpx.get(server.base_url + "/health", headers={"X-Forwarded-Proto": "https",
                                                                "X-Forwarded-For": "10.1.2.3"})
    assert "strict-transport-security" not in response.headers


def test_custom_csp(small: ServerProcess) -> None:
    assert httpx.get(small.base_url + "/health").headers["content-security-policy"] == "default-src 'none'"


def test_disable_security_headers(start_server, tmp_path) -> None:  # noqa: ANN001
    server = start_server(tmp_path / "p", env=server_env(DISABLE_SECURITY_HEADERS="true"))
    for response in requests(server.base_url, {"X-Forwarded-Proto": "https"}):
        assert not {*SECURITY, "strict-transport-security"} & set(response.headers), response.request.url
        assert response.headers["x-request-id"]


# -- CORS -------------------------------------------------------------------------------------------
def test_cors_allowed_origin_is_echoed(base_url: str) -> None:
    response = httpx.post(base_url + "/graphql", json={"query": "{ __typename }"}, headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in response.headers.get_list("vary")
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"x-request-id", "retry-after"}
    assert "access-control-allow-credentials" not in response.headers


def test_cors_other_origin_gets_nothing(base_url: str) -> None:
    for origin in ("http://evil.example", "http://localhost:3000.evil.example", "null"):
        response = httpx.get(base_url + "/version", headers={"Origin": origin})
        assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
        preflight = httpx.options(base_url + "/graphql", headers={"Origin": origin,
                                                                   "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and "access-control-allow-origin" not in preflight.headers


def test_cors_preflight(base_url: str) -> None:
    response = httpx.options(base_url + "/auth/login", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization, x-tenant-id"})
    assert response.status_code == 204 and response.content == b""
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-max-age"] == "600"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "content-type, authorization, x-tenant-id"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_cors_any_origin(small: ServerProcess) -> None:
    response = httpx.get(small.base_url + "/version", headers={"Origin": "https://whoever.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = httpx.options(small.base_url + "/graphql", headers={"Origin": "https://whoever.example",
                                                                     "Access-Control-Request-Method": "PUT"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"


# -- body limits, media types, nesting -------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/auth/login", "/auth/refresh", "/auth/logout", "/health", "/nope"])
def test_rest_bodies_over_the_limit_are_413(small: ServerProcess, path: str) -> None:
    response = httpx.post(small.base_url + path, content=b"x" * 3000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": {"code": "PAYLOAD_TOO_LARGE",
                                         "message": "request body is larger than 2048 bytes"}}
    assert response.headers["x-request-id"]


def test_streamed_bodies_are_counted(small: ServerProcess) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "'
        for _ in range(10):
            yield b"a" * 500
        yield b'"}'
    response = httpx.post(small.base_url + "/auth/login", content=chunks(),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_graphql_has_its_own_limit(small: ServerProcess) -> None:
    padding = " " * 3000
    ok = httpx.post(small.base_url + "/graphql", content=b'{"query": "{ __typename }"' + padding.encode() + b"}",
                    headers={"Content-Type": "application/json"})
    assert ok.status_code == 200, ok.text
    big = httpx.post(small.base_url + "/graphql", content=b'{"query": "' + b" " * 5000 + b'{ __typename }"}',
                     headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    assert big.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_json_routes_need_json(base_url: str) -> None:
    for path in ("/auth/login", "/auth/refresh"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"):
            response = httpx.post(base_url + path, content=b'{"a": 1}', headers={"Content-Type": content_type})
            assert response.status_code == 415, (path, content_type)
            assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        no_type = httpx.post(base_url + path, content=b'{"a": 1}', headers={"Content-Type": ""})
        assert no_type.status_code == 415


@pytest.mark.parametrize("path", ["/auth/login", "/auth/refresh", "/auth/register"])
def test_deep_json_is_400_bad_request(base_url: str, small: ServerProcess, path: str) -> None:
    deep = b'{"a": ' + b"[" * 65 + b"]" * 65 + b"}"
    base = small.base_url if path == "/auth/register" else base_url
    response = httpx.post(base + path, content=deep, headers={"Content-Type": "application/json"})
    if path == "/auth/register":
        assert response.status_code == 404          # not mounted on this server: routing comes first
        return
    assert response.status_code == 400 and response.json()["error"]["code"] == "BAD_REQUEST"
    ok_depth = b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}"
    assert httpx.post(base + path, content=ok_depth, headers={"Content-Type": "application/json"}).status_code == 400
    assert httpx.post(base + path, content=ok_depth, headers={"Content-Type": "application/json"}).json()["error"][
        "code"] == "VALIDATION_ERROR"


# -- one error shape --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path, allow", [("POST", "/auth/me", "GET"), ("GET", "/auth/logout", "POST"),
                                                 ("GET", "/auth/refresh", "POST"), ("DELETE", "/health", "GET"),
                                                 ("PUT", "/version", "GET")])
def test_wrong_method_is_405_with_allow(base_url: str, method: str, path: str, allow: str) -> None:
    response = httpx.request(method, base_url + path)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert allow in response.headers["allow"]


@pytest.mark.parametrize("path", ["/nope", "/auth", "/auth/nope", "/graphql/static/x.js", "/%2e%2e/etc/passwd"])
def test_unknown_routes_are_404(base_url: str, path: str) -> None:
    response = httpx.get(base_url + path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert response.headers["content-type"].startswith("application/json")


def test_junk_never_gives_500(base_url: str) -> None:
    junk = [("POST", "/auth/login", b"\xff\xfe\x00", "application/json"),
            ("POST", "/auth/refresh", b"null", "application/json"),
            ("POST", "/auth/logout", b"[1,2]", "application/json"),
            ("POST", "/auth/login", b'{"email": {"$ne": 1}, "password": ["x"]}', "application/json"),
            ("POST", "/auth/login", b'{"email": "a@b.c", "password": "' + b"x" * 5000 + b'"}', "application/json"),
            ("PATCH", "/graphql", b"{}", "application/json"), ("POST", "/graphql", b"\x00", "application/json")]
    for method, path, body, content_type in junk:
        response = httpx.request(method, base_url + path, content=body, headers={"Content-Type": content_type})
        assert 400 <= response.status_code < 500, (path, body, response.status_code, response.text)
