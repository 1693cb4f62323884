"""POST /auth/login, and the session/user checks made on every GraphQL request."""

from __future__ import annotations

import subprocess
import uuid

import httpx
import jwt
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess, atomo_command, gql_post, login

BAD_LOGIN = {"error": {"code": "UNAUTHENTICATED", "message": "invalid email or password"}}


def cli(server: ServerProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(atomo_command(server.project, *args), cwd=server.project, env=server.env, input=stdin,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def create_user(server: ServerProcess, role: str = "sales", tenant: str | None = None) -> tuple[str, str]:
    email, password = f"user-{uuid.uuid4().hex[:10]}@example.com", "User-pass-123"
    extra = ["--tenant", tenant] if tenant else []
    cli(server, "users", "create", "--email", email, "--password-stdin", "--role", role, *extra, stdin=password + "\n")
    return email, password


def test_login_success(base_url: str) -> None:
    response = httpx.post(base_url + "/auth/login", json={"email": " Admin@Example.COM ", "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"token", "refresh_token", "expires_in", "user"}
    assert body["expires_in"] == 86400
    assert str(uuid.UUID(body["refresh_token"])) == body["refresh_token"]
    user = body["user"]
    assert user["email"] == ADMIN_EMAIL and user["role"] == "admin" and user["tenant_id"] is None
    assert (user["first_name"], user["last_name"]) == ("Admin", "User") and len(user["id"]) == 26
    assert jwt.get_unverified_header(body["token"]) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert set(claims) == {"sub", "email", "role", "iat", "exp", "jti"}
    assert claims["sub"] == user["id"] and claims["role"] == "admin" and claims["exp"] - claims["iat"] == 86400


@pytest.mark.parametrize("credentials", [{"email": ADMIN_EMAIL, "password": "wrong-password-1"},
                                         {"email": "nobody@example.com", "password": ADMIN_PASSWORD}])
def test_login_failure_is_401_with_the_canonical_body(base_url: str, credentials: dict) -> None:
    response = httpx.post(base_url + "/auth/login", json=credentials)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == BAD_LOGIN


@pytest.mark.parametrize("body, fields", [({}, ["email", "password"]), ({"email": ADMIN_EMAIL}, ["password"]),
                                          ({"password": "x"}, ["email"]), ({"email": "", "password": ""},
                                                                           ["email", "password"])])
def test_login_missing_fields_is_400(base_url: str, body: dict, fields: list[str]) -> None:
    response = httpx.post(base_url + "/auth/login", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [d["field"] for d in error["details"]] == fields


def test_login_body_problems(base_url: str) -> None:
    bad_json = httpx.post(base_url + "/auth/login", content=b"{oops", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "BAD_REQUEST"
    not_json = httpx.post(base_url + "/auth/login", content=b"email=a", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415 and not_json.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    deep = httpx.post(base_url + "/auth/login", content=b'{"email": ' + b"[" * 70 + b"]" * 70 + b"}",
                      headers={"Content-Type": "application/json"})
    assert deep.status_code == 400 and deep.json()["error"]["code"] == "BAD_REQUEST"
    empty = httpx.post(base_url + "/auth/login")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "VALIDATION_ERROR"
    wrong_method = httpx.get(base_url + "/auth/login")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in wrong_method.headers["allow"]


def test_deactivation_takes_effect_on_the_next_request(server: ServerProcess) -> None:
    email, password = create_user(server)
    token = login(server.base_url, email, password)
    assert gql_post(server.base_url, '{ count(model: "Contact") }', token=token).status_code == 200
    cli(server, "users", "deactivate", "--email", email)
    response = gql_post(server.base_url, '{ count(model: "Contact") }', token=token)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "invalid or expired token"
    again = httpx.post(server.base_url + "/auth/login", json={"email": email, "password": password})
    assert again.status_code == 401 and again.json() == BAD_LOGIN


def test_role_comes_from_the_user_row(server: ServerProcess) -> None:
    email, password = create_user(server, role="viewer")
    token = login(server.base_url, email, password)
    denied = gql_post(server.base_url, 'mutation { create(model: "Company", data: {name: "Viewer Co"}) }', token=token)
    assert denied.status_code == 200
    assert denied.json()["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    cli(server, "users", "create", "--email", email, "--update", "--role", "sales", "--password-stdin",
        stdin=password + "\n")
    allowed = gql_post(server.base_url, f'mutation {{ create(model: "Company", data: {{name: "{email}"}}) }}',
                       token=token)
    assert allowed.status_code == 200 and "errors" not in allowed.json(), allowed.text


def test_tenant_bound_user(server: ServerProcess, admin_token: str) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    email, password = create_user(server, tenant=tenant)
    token = login(server.base_url, email, password)
    created = gql_post(server.base_url, 'mutation { create(model: "Company", data: {name: "Bound Co"}) }', token=token)
    assert created.json()["data"]["create"]["tenantId"] == tenant
    same = gql_post(server.base_url, '{ records(model: "Company") }', token=token, headers={"X-Tenant-ID": tenant})
    assert [r["tenantId"] for r in same.json()["data"]["records"]] == [tenant]
    other = gql_post(server.base_url, '{ records(model: "Company") }', token=token, headers={"X-Tenant-ID": "other"})
    assert other.status_code == 403
    assert other.json() == {"errors": [{"message": other.json()["errors"][0]["message"],
                                        "extensions": {"code": "PERMISSION_DENIED"}}]}
