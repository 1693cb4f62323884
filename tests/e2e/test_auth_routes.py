"""/auth/refresh, /auth/me, /auth/logout and the opt-in /auth/register through the real server."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.authkit import PASSWORD, cli
from tests.e2e.conftest import ServerProcess, atomo_command, gql_post, server_env

LOGIN_KEYS = {"token", "refresh_token", "expires_in", "user"}


def new_user(server: ServerProcess, role: str = "sales", tenant: str | None = None) -> str:
    email = f"r-{uuid.uuid4().hex[:10]}@routes.test"
    extra = ["--tenant", tenant] if tenant else []
    cli(server.project, "users", "create", "--email", email, "--password-stdin", "--role", role,
        "--first-name", "Ada", "--last-name", "Lovelace", *extra, stdin=PASSWORD + "\n", env=server.env)
    return email


def login_body(server: ServerProcess, email: str) -> dict[str, Any]:
    response = httpx.post(server.base_url + "/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def works(server: ServerProcess, token: str) -> bool:
    response = gql_post(server.base_url, '{ count(model: "Company") }', token=token)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


# -- refresh -------------------------------------------------------------------------------------------
def test_refresh_rotates_and_keeps_the_session(server: ServerProcess) -> None:
    first = login_body(server, new_user(server))
    response = httpx.post(server.base_url + "/auth/refresh", json={"refreshToken": first["refresh_token"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert set(second) == LOGIN_KEYS and second["expires_in"] == 86400
    assert second["refresh_token"] != first["refresh_token"]
    assert str(uuid.UUID(second["refresh_token"])) == second["refresh_token"]
    old, new = (jwt.decode(b["token"], options={"verify_signature": False}) for b in (first, second))
    assert new["jti"] == old["jti"] and new["sub"] == old["sub"]
    assert second["user"] == first["user"]
    assert works(server, first["token"]) and works(server, second["token"])   # earlier JWTs stay valid
    third = httpx.post(server.base_url + "/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200                                            # snake_case key accepted


def test_reusing_a_rotated_refresh_token_revokes_the_session(server: ServerProcess) -> None:
    first = login_body(server, new_user(server))
    second = httpx.post(server.base_url + "/auth/refresh", json={"refreshToken": first["refresh_token"]}).json()
    replay = httpx.post(server.base_url + "/auth/refresh", json={"refreshToken": first["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "UNAUTHENTICATED"
    assert replay.headers["www-authenticate"] == "Bearer"
    assert httpx.post(server.base_url + "/auth/refresh",
                      json={"refreshToken": second["refresh_token"]}).status_code == 401
    assert not works(server, second["token"]) and not works(server, first["token"])


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "VALIDATION_ERROR"), ({"refreshToken": 5}, 400, "VALIDATION_ERROR"), ([], 400, "VALIDATION_ERROR"),
    ({"refreshToken": "not-a-token"}, 401, "UNAUTHENTICATED"), ({"refreshToken": "x" * 5000}, 401, "UNAUTHENTICATED"),
])
def test_refresh_bad_input(server: ServerProcess, body: Any, status: int, code: str) -> None:
    response = httpx.post(server.base_url + "/auth/refresh", json=body)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_refresh_needs_json(server: ServerProcess) -> None:
    response = httpx.post(server.base_url + "/auth/refresh", content=b"refreshToken=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


# -- me ------------------------------------------------------------------------------------------------
def test_me(server: ServerProcess) -> None:
    email = new_user(server, role="manager", tenant="acme-me")
    body = login_body(server, email)
    response = httpx.get(server.base_url + "/auth/me", headers=bearer(body["token"]))
    assert response.status_code == 200
    assert response.json() == {"id": body["user"]["id"], "email": email, "role": "manager", "first_name": "Ada",
                               "last_name": "Lovelace", "tenant_id": "acme-me"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                                     {"Authorization": "Bearer a.b.c"}])
def test_me_without_a_valid_token(server: ServerProcess, headers: dict[str, str]) -> None:
    response = httpx.get(server.base_url + "/auth/me", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


# -- logout --------------------------------------------------------------------------------------------
def test_logout_revokes_this_session_only(server: ServerProcess) -> None:
    email = new_user(server)
    one, two = login_body(server, email), login_body(server, email)
    response = httpx.post(server.base_url + "/auth/logout", headers=bearer(one["token"]))
    assert response.status_code == 200 and response.json() == {"message": "Logged out successfully"}
    assert not works(server, one["token"]) and works(server, two["token"])
    assert httpx.post(server.base_url + "/auth/refresh", json={"refreshToken": one["refresh_token"]}).status_code == 401
    assert httpx.post(server.base_url + "/auth/logout", headers=bearer(one["token"])).status_code == 401


def test_logout_all(server: ServerProcess) -> None:
    email = new_user(server)
    sessions = [login_body(server, email) for _ in range(3)]
    response = httpx.post(server.base_url + "/auth/logout", json={"all": True}, headers=bearer(sessions[0]["token"]))
    assert response.status_code == 200
    assert not any(works(server, s["token"]) for s in sessions)
    assert all(httpx.post(server.base_url + "/auth/refresh", json={"refreshToken": s["refresh_token"]}).status_code
               == 401 for s in sessions)
    assert works(server, login_body(server, email)["token"])          # logging in again still works


def test_logout_bad_input(server: ServerProcess) -> None:
    token = login_body(server, new_user(server))["token"]
    bad = httpx.post(server.base_url + "/auth/logout", json={"all": "yes"}, headers=bearer(token))
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "all"
    assert httpx.post(server.base_url + "/auth/logout").status_code == 401
    assert works(server, token)


# -- register ------------------------------------------------------------------------------------------
def test_register_is_404_when_off(server: ServerProcess) -> None:
    response = httpx.post(server.base_url + "/auth/register", json={"email": "x@y.test", "password": PASSWORD})
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


@pytest.fixture(scope="module")
def reg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("register"),
                           env=server_env(ATOMO_ENABLE_SELF_REGISTRATION="true")).start()
    try:
        yield server
    finally:
        server.stop()


def test_register(reg_server: ServerProcess) -> None:
    server = reg_server
    url = server.base_url + "/auth/register"
    response = httpx.post(url, json={"email": " New@Example.TEST ", "password": "abcdefg1", "firstName": "New",
                                     "lastName": "Person"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == LOGIN_KEYS
    assert body["user"] | {"id": None} == {"id": None, "email": "new@example.test", "role": "viewer",
                                           "first_name": "New", "last_name": "Person", "tenant_id": None}
    assert works(server, body["token"])
    duplicate = httpx.post(url, json={"email": "NEW@example.test", "password": "abcdefg1"})
    assert duplicate.status_code == 409
    assert duplicate.json() == {"error": {"code": "CONFLICT", "message": "email already registered"}}
    assert httpx.post(server.base_url + "/auth/login", json={"email": "new@example.test",
                                                             "password": "abcdefg1"}).status_code == 200


@pytest.mark.parametrize("body, problems", [
    ({"email": "a@b.test", "password": "short1"}, [("password", "min_length")]),
    ({"email": "a@b.test", "password": "onlyletters"}, [("password", "complexity")]),
    ({"email": "a@b.test", "password": "12345678"}, [("password", "complexity")]),
    ({"email": "a@b.test", "password": "a1" * 129}, [("password", "max_length")]),
    ({"email": "not-an-email", "password": "x"}, [("email", "email"), ("password", "min_length"),
                                                   ("password", "complexity")]),
    ({"password": "abcdefg1", "firstName": "x" * 101}, [("email", "required"), ("firstName", "max_length")]),
    ({"email": 5, "password": None, "lastName": 3}, [("email", "type"), ("password", "required"),
                                                     ("lastName", "type")]),
])
def test_register_validation(reg_server: ServerProcess, body: dict[str, Any],
                             problems: list[tuple[str, str]]) -> None:
    response = httpx.post(reg_server.base_url + "/auth/register", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [(d["field"], d["code"]) for d in error["details"]] == problems


@pytest.mark.parametrize("tenant_setting, expected", [("per-user", "self"), ("self", "self"), ("acme", "acme")])
def test_register_tenant_and_role_provisioning(start_server: Callable[..., ServerProcess], tmp_path: Path,
                                               tenant_setting: str, expected: str | None) -> None:
    env = server_env(ATOMO_ENABLE_SELF_REGISTRATION="true", ATOMO_SELF_REGISTRATION_TENANT=tenant_setting,
                     ATOMO_SELF_REGISTRATION_ROLE="Support", PASSWORD_MIN_LENGTH="4",
                     PASSWORD_REQUIRE_COMPLEXITY="false")
    server = start_server(tmp_path / "p", env=env)
    response = httpx.post(server.base_url + "/auth/register", json={"email": "t@t.test", "password": "abcd"})
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["role"] == "support"
    assert user["tenant_id"] == (user["id"] if expected == "self" else expected)


@pytest.mark.parametrize("role", ["admin", "ADMIN", "Bad Role!", "public", ""])
def test_boot_refuses_a_bad_self_registration_role(tmp_path: Path, role: str) -> None:
    env = server_env(ATOMO_ENABLE_SELF_REGISTRATION="true", ATOMO_SELF_REGISTRATION_ROLE=role)
    result = subprocess.run(atomo_command(tmp_path, "serve", "--check"), cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert "ATOMO_SELF_REGISTRATION_ROLE" in result.stderr
