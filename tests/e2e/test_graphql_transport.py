"""The transport table of graphql chapter §1: statuses, media types, bodies, headers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.e2e.conftest import ServerProcess, gql_post

GRAPHQL_JSON = "application/graphql-response+json"
TYPENAME = {"query": "{ __typename }"}
INVALID_TOKEN_BODY = {"errors": [{"message": "invalid or expired token", "extensions": {"code": "UNAUTHENTICATED"}}]}


def post(base_url: str, content: bytes | str | None = None, *, json_body: object = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    if json_body is not None:
        content = json.dumps(json_body)
        headers = {"Content-Type": "application/json", **(headers or {})}
    return httpx.post(base_url + "/graphql", content=content, headers=headers, timeout=30.0)


def only_errors(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert "data" not in body, body
    assert body["errors"] and all(e["extensions"]["code"] == code for e in body["errors"]), body
    assert response.headers["x-request-id"]
    return body  # type: ignore[no-any-return]


# -- 400: the request is not a GraphQL request -----------------------------------------------
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_JSON])
@pytest.mark.parametrize("payload", [b"{not json", b"", b"\xff\xfe", b"[]", b'[{"query": "{ __typename }"}]',
                                     b'{"variables": {}}', b'{"query": 5}', b'{"query": null}',
                                     b'{"query": "{ __typename }", "operationName": 5}',
                                     b'{"query": "{ __typename }", "variables": [1]}',
                                     b'{"query": "{ __typename }", "variables": "{}"}',
                                     b'{"query": "{ __typename }", "extensions": 3}',
                                     b'{"query": "{ __typename }", "variables": {"x": NaN}}',
                                     b'{"query": "{ __typename }", "variables": {"x": ' + b"[" * 65 + b"]" * 65 + b"}}",
                                     b"[" * 100000 + b"]" * 100000])
def test_malformed_requests_are_400(base_url: str, payload: bytes, accept: str) -> None:
    response = post(base_url, payload, headers={"Content-Type": "application/json", "Accept": accept})
    only_errors(response, 400, "VALIDATION_ERROR")
    assert response.headers["content-type"].startswith(accept)


@pytest.mark.parametrize("params", [{}, {"query": "{ __typename }", "variables": "{bad"},
                                    {"query": "{ __typename }", "variables": "[1, 2]"}])
def test_malformed_get_requests_are_400(base_url: str, params: dict) -> None:
    response = httpx.get(base_url + "/graphql", params=params, headers={"Accept": "application/json"})
    only_errors(response, 400, "VALIDATION_ERROR")


def test_null_optional_parameters_are_accepted(base_url: str) -> None:
    response = post(base_url, json_body={"query": "{ __typename }", "variables": None, "operationName": None,
                                         "extensions": None})
    assert response.status_code == 200 and response.json() == {"data": {"__typename": "Query"}}


# -- document errors: 200 for application/json, 400 for graphql-response+json ---------------------
DOCUMENT_ERRORS = [
    {"query": "{ records(model: "},                                      # does not parse
    {"query": "{ nope }"},                                               # fails validation
    {"query": "{ " + "__typename " * 300 + "}"},                         # over the complexity limit
    {"query": "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType "
              "{ ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType "
              "{ ofType { name } } } } } } } } } } } } } } } } } } } } } }"},  # over the depth limit
    {"query": "query($n: Int!) { records(model: \"Contact\", limit: $n) }", "variables": {"n": "ten"}},
    {"query": "query A { __typename } query B { __typename }"},          # no operation selected
    {"query": "{ __typename }", "operationName": "Missing"},
]


@pytest.mark.parametrize("payload", DOCUMENT_ERRORS)
def test_document_errors_depend_on_accept(base_url: str, admin_token: str, payload: dict) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    as_json = post(base_url, json_body=payload, headers={**auth, "Accept": "application/json"})
    body = only_errors(as_json, 200, "VALIDATION_ERROR")
    assert all(e["message"] for e in body["errors"])
    assert as_json.headers["content-type"].startswith("application/json")
    as_graphql = post(base_url, json_body=payload, headers={**auth, "Accept": GRAPHQL_JSON})
    only_errors(as_graphql, 400, "VALIDATION_ERROR")
    assert as_graphql.headers["content-type"].startswith(GRAPHQL_JSON)


def test_operation_name_selects(base_url: str) -> None:
    response = post(base_url, json_body={"query": "query A { a: __typename } query B { b: __typename }",
                                         "operationName": "B"})
    assert response.json() == {"data": {"b": "Query"}}


# -- 401 ---------------------------------------------------------------------------------------
def test_anonymous_request_that_only_fails_unauthenticated_is_401(base_url: str) -> None:
    response = gql_post(base_url, '{ records(model: "Contact") }')
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


def test_anonymous_typename_and_partial_success_are_200(base_url: str) -> None:
    assert gql_post(base_url, "{ __typename }").json() == {"data": {"__typename": "Query"}}
    response = gql_post(base_url, '{ __typename records(model: "Contact") }')
    assert response.status_code == 200


@pytest.mark.parametrize("authorization", ["Bearer nonsense", "Bearer a.b.c", "Bearer", "Basic YTpi", "",
                                           "Token abc"])
def test_invalid_authorization_is_401_before_execution(base_url: str, authorization: str) -> None:
    response = post(base_url, json_body=TYPENAME, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == INVALID_TOKEN_BODY


def test_scheme_is_case_insensitive(base_url: str, admin_token: str) -> None:
    for scheme in ("bearer", "BEARER", "Bearer"):
        response = gql_post(base_url, "{ count(model: \"Company\") }",
                            headers={"Authorization": f"{scheme} {admin_token}"})
        assert response.status_code == 200 and response.json()["data"]["count"] >= 3


@pytest.fixture(scope="module")
def signing(server: ServerProcess, admin_token: str) -> Iterator[tuple[str, dict]]:
    secret = (Path(server.project) / ".atomo" / "jwt_secret").read_text().strip()
    yield secret, jwt.decode(admin_token, options={"verify_signature": False})


def test_expired_token_is_401(base_url: str, signing: tuple[str, dict]) -> None:
    secret, claims = signing
    now = int(time.time())
    valid = jwt.encode({**claims, "iat": now - 100, "exp": now + 100}, secret, algorithm="HS256")
    assert post(base_url, json_body=TYPENAME, headers={"Authorization": f"Bearer {valid}"}).status_code == 200
    expired = jwt.encode({**claims, "iat": now - 100, "exp": now - 1}, secret, algorithm="HS256")
    response = post(base_url, json_body=TYPENAME, headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and response.json() == INVALID_TOKEN_BODY


def test_alg_none_and_foreign_tokens_are_401(base_url: str, signing: tuple[str, dict]) -> None:
    secret, claims = signing
    forged = [jwt.encode(claims, None, algorithm="none"),
              jwt.encode(claims, "not-the-server-secret-but-long-enough", algorithm="HS256"),
              jwt.encode(claims, secret + secret, algorithm="HS512"),
              jwt.encode({**claims, "jti": "01UNKNOWNSESSION0000000000"}, secret, algorithm="HS256"),
              jwt.encode({k: v for k, v in claims.items() if k != "email"}, secret, algorithm="HS256")]
    for token in forged:
        response = post(base_url, json_body=TYPENAME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.json() == INVALID_TOKEN_BODY


# -- 405, 406, 413, 415 ------------------------------------------------------------------------
def test_mutation_over_get_is_405(base_url: str, admin_token: str) -> None:
    response = httpx.get(base_url + "/graphql", params={"query": 'mutation { delete(model: "Contact", id: "p-1") }'},
                         headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(base_url: str, method: str) -> None:
    response = httpx.request(method, base_url + "/graphql", json=TYPENAME)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("accept, expected", [
    (None, "application/json"), ("*/*", "application/json"), ("application/json", "application/json"),
    (GRAPHQL_JSON, GRAPHQL_JSON), ("application/*", "application/json"),
    (f"application/json;q=0.5, {GRAPHQL_JSON}", GRAPHQL_JSON),
    (f"{GRAPHQL_JSON};q=0.1, application/json", "application/json"),
    (f"application/json, {GRAPHQL_JSON}", "application/json"),
    (f"text/html, {GRAPHQL_JSON};q=0.9, */*;q=0.8", GRAPHQL_JSON),
    ("application/json; charset=utf-8", "application/json"),
])
def test_accept_negotiation(base_url: str, accept: str | None, expected: str) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = post(base_url, json_body=TYPENAME, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == expected


@pytest.mark.parametrize("accept", ["text/plain", "application/xml", "application/json;q=0", "image/*"])
def test_unsupported_accept_is_406(base_url: str, accept: str) -> None:
    only_errors(post(base_url, json_body=TYPENAME, headers={"Accept": accept}), 406, "NOT_ACCEPTABLE")


def test_oversized_body_is_413(base_url: str) -> None:
    big = json.dumps({"query": "{ __typename }", "variables": {"pad": "x" * (1024 * 1024 + 10)}})
    only_errors(post(base_url, big, headers={"Content-Type": "application/json"}), 413, "PAYLOAD_TOO_LARGE")


def test_oversized_streamed_body_is_413(base_url: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'
    response = httpx.post(base_url + "/graphql", content=chunks(), headers={"Content-Type": "application/json"})
    only_errors(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/graphql", "application/json; charset=latin-1"])
def test_post_without_json_content_type_is_415(base_url: str, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    only_errors(post(base_url, json.dumps(TYPENAME), headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE")


def test_json_content_type_with_charset_is_accepted(base_url: str) -> None:
    response = post(base_url, json.dumps(TYPENAME), headers={"Content-Type": "application/json; charset=UTF-8"})
    assert response.status_code == 200


# -- request id and tenancy ----------------------------------------------------------------------
def test_request_id_is_echoed_or_generated(base_url: str) -> None:
    assert post(base_url, json_body=TYPENAME, headers={"X-Request-ID": "abc.123_x-y"}).headers["x-request-id"] == \
        "abc.123_x-y"
    generated = post(base_url, json_body=TYPENAME).headers["x-request-id"]
    assert uuid.UUID(generated).version == 4
    replaced = post(base_url, json_body=TYPENAME, headers={"X-Request-ID": "has spaces"}).headers["x-request-id"]
    assert uuid.UUID(replaced).version == 4
    assert uuid.UUID(httpx.get(base_url + "/health").headers["x-request-id"]).version == 4


@pytest.mark.parametrize("tenant", ["", "t" * 129])
def test_bad_tenant_header_is_400(base_url: str, admin_token: str, tenant: str) -> None:
    response = gql_post(base_url, "{ __typename }", token=admin_token, headers={"X-Tenant-ID": tenant})
    only_errors(response, 400, "VALIDATION_ERROR")


def test_tenant_header_scopes_unbound_users(base_url: str, admin_token: str) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    created = gql_post(base_url, 'mutation { create(model: "Company", data: {name: "Scoped Inc"}) }', token=admin_token,
                       headers={"X-Tenant-ID": tenant}).json()["data"]["create"]
    assert created["tenantId"] == tenant
    scoped = gql_post(base_url, '{ records(model: "Company") }', token=admin_token, headers={"X-Tenant-ID": tenant})
    assert [r["id"] for r in scoped.json()["data"]["records"]] == [created["id"]]
