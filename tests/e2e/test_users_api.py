"""The users administration API (/auth/users, issue 19) through a real server: list, create, change role or
activity, who may do it and inside which tenant."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, served
from tests.e2e.conftest import ADMIN_EMAIL, ServerProcess, login

SCHEMA = """
export interface Note { id: string; title: string }
export default { models: {} }
"""
A, B = "tenant-a", "tenant-b"
USER_KEYS = {"id", "email", "role", "tenantId", "isActive", "firstName", "lastName", "createdAt"}


async def prepare(app: Atomo) -> None:
    await app.users.create("boss@a.test", PASSWORD, role="admin", tenant_id=A)
    await app.users.create("alice@a.test", PASSWORD, role="sales", tenant_id=A)
    await app.users.create("bob@b.test", PASSWORD, role="sales", tenant_id=B)
    await app.users.create("vera@x.test", PASSWORD, role="viewer")


class Api:
    def __init__(self, server: ServerProcess) -> None:
        self.url = server.base_url
        self.client = httpx.Client(base_url=server.base_url, timeout=30.0)
        self.root = login(server.base_url)
        self.boss = login(server.base_url, "boss@a.test", PASSWORD)
        self.vera = login(server.base_url, "vera@x.test", PASSWORD)

    def call(self, method: str, path: str, token: str | None, body: Any = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, path, headers=headers, json=body, params=params or None)

    def create(self, token: str, **body: Any) -> dict[str, Any]:
        response = self.call("POST", "/auth/users", token, {"email": email(), "password": PASSWORD, "role": "sales",
                                                       **body})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def me(self, token: str) -> int:
        return self.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code

    def login_status(self, email: str, password: str = PASSWORD) -> int:
        return self.client.post("/auth/login", json={"email": email, "password": password}).status_code


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with served(tmp_path_factory.mktemp("users-api"), SCHEMA, prepare) as server:
        api = Api(server)
        yield api
        api.client.close()


def email(tag: str = "u") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@users.test"


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return dict(body)


# -- list --------------------------------------------------------------------------------------------------
def test_list_searches_pages_and_orders_newest_first(api: Api) -> None:
    marker = uuid.uuid4().hex[:8]
    made = [api.create(api.root, email=f"list{i}-{marker}@users.test", firstName=f"N{i}") for i in range(5)]
    response = api.call("GET", "/auth/users", api.root, q=marker.upper())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 5
    assert [u["id"] for u in body["users"]] == [u["id"] for u in reversed(made)]
    assert all(set(u) == USER_KEYS for u in body["users"])
    first = body["users"][0]
    assert first["email"] == f"list4-{marker}@users.test" and first["firstName"] == "N4"
    assert first["isActive"] is True and first["role"] == "sales" and first["tenantId"] is None

    page = api.call("GET", "/auth/users", api.root, q=marker, limit=2, offset=2).json()
    assert page["total"] == 5 and [u["id"] for u in page["users"]] == [made[2]["id"], made[1]["id"]]
    everyone = api.call("GET", "/auth/users", api.root).json()
    assert {ADMIN_EMAIL, "boss@a.test", "bob@b.test"} <= {u["email"] for u in everyone["users"]}
    assert everyone["total"] >= 9
    assert "password" not in response.text and "hash" not in response.text


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "x"}, {"offset": -1}])
def test_list_refuses_bad_paging(api: Api, params: dict[str, Any]) -> None:
    error(api.call("GET", "/auth/users", api.root, **params), 400, "VALIDATION_ERROR")


def test_only_admins_may_use_it(api: Api) -> None:
    someone = api.create(api.root)
    for method, path, body in [("GET", "/auth/users", None), ("POST", "/auth/users", {"email": email(), "role": "x"}),
                               ("PATCH", f"/auth/users/{someone['id']}", {"role": "viewer"})]:
        error(api.call(method, path, None, body), 401, "UNAUTHENTICATED")
        error(api.call(method, path, api.vera, body), 403, "PERMISSION_DENIED")
    assert api.call("GET", f"/auth/users/{someone['id']}", api.root).status_code in (404, 405)


# -- create ------------------------------------------------------------------------------------------------
def test_create_with_a_password(api: Api) -> None:
    address = email("with")
    response = api.call("POST", "/auth/users", api.root, {"email": address.upper(), "password": PASSWORD,
                                                          "role": "Editor", "firstName": "Ada", "lastName": "L"})
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == USER_KEYS
    assert user["email"] == address and user["role"] == "editor" and user["isActive"] is True
    assert (user["firstName"], user["lastName"], user["tenantId"]) == ("Ada", "L", None)
    token = login(api.url, address, PASSWORD)
    assert api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "editor"


def test_create_without_a_password_answers_a_generated_one_once(api: Api) -> None:
    address = email("gen")
    response = api.call("POST", "/auth/users", api.root, {"email": address, "role": "viewer", "tenantId": B})
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == USER_KEYS | {"password"} and user["tenantId"] == B
    assert len(user["password"]) >= 12
    login(api.url, address, user["password"])
    listed = api.call("GET", "/auth/users", api.root, q=address).json()["users"]
    assert [u["id"] for u in listed] == [user["id"]] and "password" not in listed[0]


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not-an-email", "role": "sales"}, "email"),
    ({"email": "x" * 250 + "@a.test", "role": "sales"}, "email"),
    ({"role": "sales"}, "email"),
    ({"email": "w@users.test", "password": "short1", "role": "sales"}, "password"),
    ({"email": "w@users.test", "password": "onlyletters", "role": "sales"}, "password"),
    ({"email": "w@users.test", "role": "system"}, "role"),
    ({"email": "w@users.test", "role": "Not A Role"}, "role"),
    ({"email": "w@users.test", "role": "public"}, "role"),
    ({"email": "w@users.test"}, "role"),
    ({"email": "w@users.test", "role": "sales", "tenantId": ""}, "tenantId"),
    ({"email": "w@users.test", "role": "sales", "tenantId": "t" * 129}, "tenantId"),
    ({"email": "w@users.test", "role": "sales", "tenantId": 7}, "tenantId"),
    ({"email": "w@users.test", "role": "sales", "firstName": 3}, "firstName"),
    ({"email": "w@users.test", "role": "sales", "isAdmin": True}, "isAdmin"),
])
def test_create_validation(api: Api, body: dict[str, Any], field: str) -> None:
    details = error(api.call("POST", "/auth/users", api.root, body), 400, "VALIDATION_ERROR")["details"]
    assert field in {d["field"] for d in details}, details
    assert api.login_status("w@users.test") == 401


def test_create_body_must_be_an_object(api: Api) -> None:
    error(api.call("POST", "/auth/users", api.root, ["x"]), 400, "VALIDATION_ERROR")


def test_duplicate_email_is_a_conflict(api: Api) -> None:
    address = email("dup")
    api.create(api.root, email=address)
    error(api.call("POST", "/auth/users", api.root, {"email": address.upper(), "role": "sales"}), 409, "CONFLICT")
    error(api.call("POST", "/auth/users", api.root, {"email": ADMIN_EMAIL, "role": "sales"}), 409, "CONFLICT")


# -- change ------------------------------------------------------------------------------------------------
def test_role_change_revokes_existing_tokens(api: Api) -> None:
    address = email("role")
    user = api.create(api.root, email=address)
    token = login(api.url, address, PASSWORD)
    assert api.me(token) == 200
    response = api.call("PATCH", f"/auth/users/{user['id']}", api.root, {"role": "manager"})
    assert response.status_code == 200, response.text
    assert response.json() == {**user, "role": "manager"}
    assert api.me(token) == 401
    fresh = login(api.url, address, PASSWORD)
    assert api.client.get("/auth/me", headers={"Authorization": f"Bearer {fresh}"}).json()["role"] == "manager"
    # the same role again changes nothing and keeps the sessions
    assert api.call("PATCH", f"/auth/users/{user['id']}", api.root, {"role": "manager"}).status_code == 200
    assert api.me(fresh) == 200


def test_deactivation_revokes_and_reactivation_restores_no_session(api: Api) -> None:
    address = email("off")
    user = api.create(api.root, email=address)
    body = httpx.post(api.url + "/auth/login", json={"email": address, "password": PASSWORD}).json()
    token, refresh_token = body["token"], body["refresh_token"]
    response = api.call("PATCH", f"/auth/users/{user['id']}", api.root, {"isActive": False})
    assert response.status_code == 200, response.text
    assert response.json()["isActive"] is False
    assert api.me(token) == 401
    assert api.login_status(address) == 401
    assert httpx.post(api.url + "/auth/refresh", json={"refreshToken": refresh_token}).status_code == 401
    listed = api.call("GET", "/auth/users", api.root, q=address).json()["users"]
    assert listed[0]["isActive"] is False

    response = api.call("PATCH", f"/auth/users/{user['id']}", api.root, {"isActive": True})
    assert response.status_code == 200 and response.json()["isActive"] is True
    assert api.me(token) == 401
    assert httpx.post(api.url + "/auth/refresh", json={"refreshToken": refresh_token}).status_code == 401
    assert api.login_status(address) == 200


def test_an_admin_cannot_lock_itself_out(api: Api) -> None:
    me = api.client.get("/auth/me", headers={"Authorization": f"Bearer {api.root}"}).json()
    for body, field in [({"isActive": False}, "isActive"), ({"role": "viewer"}, "role")]:
        details = error(api.call("PATCH", f"/auth/users/{me['id']}", api.root, body), 400, "VALIDATION_ERROR")["details"]
        assert details[0]["field"] == field
    assert api.me(api.root) == 200
    assert api.call("PATCH", f"/auth/users/{me['id']}", api.root, {"role": "admin", "isActive": True}).status_code == 200
    assert api.me(api.root) == 200


@pytest.mark.parametrize("body", [{"isActive": "no"}, {"role": "system"}, {"role": ""}, {"email": "x@y.z"}, [1]])
def test_change_validation(api: Api, body: Any) -> None:
    user = api.create(api.root)
    error(api.call("PATCH", f"/auth/users/{user['id']}", api.root, body), 400, "VALIDATION_ERROR")


def test_unknown_user_is_404(api: Api) -> None:
    error(api.call("PATCH", "/auth/users/01NOSUCHUSER", api.root, {"role": "viewer"}), 404, "NOT_FOUND")


# -- tenants -----------------------------------------------------------------------------------------------
def test_a_tenant_bound_admin_sees_only_its_tenant(api: Api) -> None:
    mine = api.create(api.boss, email=email("boss"))
    assert mine["tenantId"] == A
    listed = api.call("GET", "/auth/users", api.boss, limit=500).json()
    assert listed["total"] == len(listed["users"])
    assert {u["tenantId"] for u in listed["users"]} == {A}
    assert {"boss@a.test", "alice@a.test", mine["email"]} <= {u["email"] for u in listed["users"]}
    assert api.call("GET", "/auth/users", api.boss, q="bob@b.test").json() == {"users": [], "total": 0}
    # an unbound admin narrows the list with X-Tenant-ID
    narrowed = api.client.get("/auth/users", params={"limit": 500},
                              headers={"Authorization": f"Bearer {api.root}", "X-Tenant-ID": B}).json()
    assert narrowed["users"] and {u["tenantId"] for u in narrowed["users"]} == {B}


def test_a_tenant_bound_admin_creates_in_its_tenant_only(api: Api) -> None:
    same = api.create(api.boss, email=email("same"), tenantId=A)
    assert same["tenantId"] == A
    address = email("other")
    error(api.call("POST", "/auth/users", api.boss, {"email": address, "password": PASSWORD, "role": "sales",
                                                      "tenantId": B}), 403, "PERMISSION_DENIED")
    assert api.login_status(address) == 401


def test_a_tenant_bound_admin_changes_its_tenant_only(api: Api) -> None:
    outsider = api.create(api.root, email=email("out"), tenantId=B)
    unbound = api.create(api.root, email=email("unb"))
    for target in (outsider, unbound):
        error(api.call("PATCH", f"/auth/users/{target['id']}", api.boss, {"isActive": False}), 404, "NOT_FOUND")
    token = login(api.url, outsider["email"], PASSWORD)
    assert api.me(token) == 200
    insider = api.create(api.boss, email=email("in"))
    token = login(api.url, insider["email"], PASSWORD)
    response = api.call("PATCH", f"/auth/users/{insider['id']}", api.boss, {"isActive": False})
    assert response.status_code == 200, response.text
    assert api.me(token) == 401
