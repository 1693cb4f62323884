"""Bad credentials and attacks that must fail, through the real server (issue 4): foreign signatures,
``alg: none``, expired and revoked tokens, deactivated users, forged role claims, SQL-looking input,
row-level bypass attempts via ``where``, and password guessing."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from atomo import Atomo
from tests.e2e.authkit import PASSWORD, Gql, cli, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env

SECRET = "attack-tests-secret-0123456789-abcdefgh-0123456789-abcdefghijklmn"
SCHEMA = """
export interface Secret { id: string; title: string; ownerId?: string }
export const schema = { models: {
  Secret: { access: { read: 'owner(ownerId)', create: 'authenticated|owner(ownerId)', update: 'owner(ownerId)',
                      delete: 'owner(ownerId)' } },
} }
export default schema
"""
INVALID = {"errors": [{"message": "invalid or expired token", "extensions": {"code": "UNAUTHENTICATED"}}]}


class Site:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.url = server.base_url
        self.gql = Gql(server.base_url)

    def fresh_user(self, role: str = "viewer") -> tuple[str, str]:
        email = f"u-{uuid.uuid4().hex[:10]}@attack.test"
        cli(self.server.project, "users", "create", "--email", email, "--password-stdin", "--role", role,
            stdin=PASSWORD + "\n", env=self.server.env)
        return email, self.gql.login(email)


async def prepare(app: Atomo) -> None:
    await app.users.create("mallory@attack.test", PASSWORD, role="viewer")
    await app.users.create("victim@attack.test", PASSWORD, role="viewer")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    project = write_project(tmp_path_factory.mktemp("attacks") / "project", SCHEMA)
    with_library(project, prepare)
    env = server_env(JWT_SECRET=SECRET, LOGIN_RATE_LIMIT_ATTEMPTS="3", LOGIN_RATE_LIMIT_IP_ATTEMPTS="5",
                     LOGIN_RATE_LIMIT_WINDOW_SECS="300")
    server = ServerProcess(project, env=env).start()
    try:
        s = Site(server)
        yield s
        s.gql.close()
    finally:
        server.stop()


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def assert_rejected(site: Site, token: str) -> None:
    """The token gets 401 everywhere: GraphQL (even for __typename) and the REST routes."""
    response = site.gql.post("{ __typename }", token=token)
    assert response.status_code == 401 and response.json() == INVALID
    assert response.headers["www-authenticate"] == "Bearer"
    me = httpx.get(site.url + "/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401 and me.json()["error"]["code"] == "UNAUTHENTICATED"


def test_a_genuine_token_works(site: Site) -> None:
    token = site.gql.login("mallory@attack.test")
    assert site.gql.post("{ __typename }", token=token).status_code == 200


def test_token_signed_with_another_secret(site: Site) -> None:
    claims = claims_of(site.gql.login("mallory@attack.test"))
    assert_rejected(site, jwt.encode(claims, "some-other-secret-of-enough-length-123", algorithm="HS256"))


@pytest.mark.parametrize("signature", ["", "AAAA", "sig"])
def test_alg_none(site: Site, signature: str) -> None:
    claims = claims_of(site.gql.login("mallory@attack.test"))
    claims["role"] = "admin"
    header = b64(b'{"alg":"none","typ":"JWT"}')
    token = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert_rejected(site, token)


def test_other_algorithms_with_the_right_key(site: Site) -> None:
    claims = claims_of(site.gql.login("mallory@attack.test"))
    assert_rejected(site, jwt.encode(claims, SECRET, algorithm="HS512"))


def test_expired_token(site: Site) -> None:
    claims = claims_of(site.gql.login("mallory@attack.test"))
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 1)
    assert_rejected(site, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_token_with_a_missing_claim_or_unknown_session(site: Site) -> None:
    claims = claims_of(site.gql.login("mallory@attack.test"))
    assert_rejected(site, jwt.encode({k: v for k, v in claims.items() if k != "jti"}, SECRET, algorithm="HS256"))
    assert_rejected(site, jwt.encode({**claims, "jti": "01JD3Q8W7C9G1X0H5E2PZ4K8RS"}, SECRET, algorithm="HS256"))
    victim = claims_of(site.gql.login("victim@attack.test"))
    assert_rejected(site, jwt.encode({**claims, "sub": victim["sub"]}, SECRET, algorithm="HS256"))


def test_revoked_session_token(site: Site) -> None:
    response = site.gql.http.post("/auth/login", json={"email": "mallory@attack.test", "password": PASSWORD})
    token, refresh_token = response.json()["token"], response.json()["refresh_token"]
    out = httpx.post(site.url + "/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200
    assert_rejected(site, token)
    again = httpx.post(site.url + "/auth/refresh", json={"refreshToken": refresh_token})
    assert again.status_code == 401 and again.json()["error"]["code"] == "UNAUTHENTICATED"


def test_deactivated_users_token(site: Site) -> None:
    email, token = site.fresh_user()
    assert site.gql.post("{ __typename }", token=token).status_code == 200
    cli(site.server.project, "users", "deactivate", "--email", email, env=site.server.env)
    assert_rejected(site, token)


def test_forged_role_claim_is_ignored(site: Site) -> None:
    email, token = site.fresh_user("viewer")
    forged = jwt.encode({**claims_of(token), "role": "admin"}, SECRET, algorithm="HS256")
    me = httpx.get(site.url + "/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert me.status_code == 200 and me.json()["role"] == "viewer"
    response = site.gql.post("{ events(limit: 5) { position } }", token=forged)   # admin only
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


# -- SQL-looking input ---------------------------------------------------------------------------
SQL_FIELD_NAMES = ['title" = title; DROP TABLE users; --', "1=1) OR (1", "title; --", "sqlite_master", "rowid"]


@pytest.mark.parametrize("name", SQL_FIELD_NAMES)
def test_sql_looking_field_names_are_validation_errors(site: Site, name: str) -> None:
    token = site.gql.login("mallory@attack.test")
    where = site.gql.field("records", 'model: "Secret", where: $w', {"w": {name: 1}}, token=token)
    assert where.code == "VALIDATION_ERROR", where
    assert where.body["errors"][0]["extensions"]["details"][0]["code"] == "invalid_filter"
    order = site.gql.field("records", 'model: "Secret", orderBy: $o', {"o": {name: "asc"}}, token=token)
    assert order.code == "VALIDATION_ERROR", order
    data = site.gql.field("create", 'model: "Secret", data: $d', {"d": {"title": "t", name: "x"}}, mutation=True,
                          token=token)
    assert data.code == "VALIDATION_ERROR", data
    assert data.body["errors"][0]["extensions"]["details"][0]["code"] == "unknown_field"
    model = site.gql.post("query($m: String!) { count(model: $m) }", {"m": name}, token=token)
    assert model.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"


def test_sql_looking_values_are_plain_data(site: Site) -> None:
    token = site.gql.login("mallory@attack.test")
    nasty = "x'); DROP TABLE users; --"
    created = site.gql.field("create", 'model: "Secret", data: $d', {"d": {"title": nasty}}, mutation=True,
                             token=token)
    assert created.ok and created.value["title"] == nasty
    for where in ({"title": "' OR '1'='1"}, {"title": {"contains": "%"}}, {"title": {"in": ["1) OR (1=1"]}},
                  {"id": {"not": "' OR 1=1 --"}, "title": {"startsWith": "zzz'"}}):
        found = site.gql.field("records", 'model: "Secret", where: $w', {"w": where}, token=token)
        assert found.ok and found.value == [], (where, found)
    exact = site.gql.field("records", 'model: "Secret", where: $w', {"w": {"title": nasty}}, token=token)
    assert [r["id"] for r in exact.value] == [created.value["id"]]
    bad_direction = site.gql.field("records", 'model: "Secret", orderBy: $o', {"o": {"title": "asc; DROP TABLE x"}},
                                   token=token)
    assert bad_direction.code == "VALIDATION_ERROR"
    assert site.gql.login("victim@attack.test")          # the users table is intact


# -- row-level rules cannot be bypassed with where ----------------------------------------------------
def test_owner_rule_bypass_via_where(site: Site) -> None:
    mallory, victim = site.gql.login("mallory@attack.test"), site.gql.login("victim@attack.test")
    hidden = site.gql.field("create", 'model: "Secret", data: $d', {"d": {"title": "victim's"}}, mutation=True,
                            token=victim).value
    mine = site.gql.field("create", 'model: "Secret", data: $d', {"d": {"title": "mine"}}, mutation=True,
                          token=mallory).value
    me, them = mine["ownerId"], hidden["ownerId"]
    assert me != them and me is not None
    attempts = [{"ownerId": {"not": me}}, {"ownerId": them}, {"OR": [{"ownerId": them}, {"ownerId": me}]},
                {"NOT": {"ownerId": me}}, {"ownerId": {"isNull": False}}, {"id": hidden["id"]},
                {"OR": [{"id": {"in": [hidden["id"]]}}, {"title": {"contains": "victim"}}]}]
    for where in attempts:
        rows = site.gql.field("records", 'model: "Secret", where: $w', {"w": where}, token=mallory).value
        assert all(r["ownerId"] == me for r in rows), (where, rows)
        assert hidden["id"] not in {r["id"] for r in rows}
        count = site.gql.field("count", 'model: "Secret", where: $w', {"w": where}, token=mallory).value
        assert count == len(rows)
        assert site.gql.field("update", 'model: "Secret", where: $w, data: $d', {"w": where, "d": {"title": "p"}},
                              mutation=True, token=mallory).ok
        assert site.gql.field("delete", 'model: "Secret", where: $w', {"w": {**where, "title": "nope"}},
                              mutation=True, token=mallory).value == 0
    assert site.gql.field("record", f'model: "Secret", id: "{hidden["id"]}"', token=mallory).value is None
    assert site.gql.field("record", f'model: "Secret", id: "{hidden["id"]}"', token=victim).value["title"] == \
        "victim's"


# -- password guessing -------------------------------------------------------------------------------
def test_brute_force_login_is_limited(site: Site) -> None:
    """3 failures per (IP, email): the 4th attempt is refused before the password check, even if right."""
    ip = {"X-Forwarded-For": "203.0.113.77"}
    url = site.url + "/auth/login"
    for attempt in range(3):
        response = httpx.post(url, json={"email": "victim@attack.test", "password": f"guess-{attempt}"}, headers=ip)
        assert response.status_code == 401, response.text
    refused = httpx.post(url, json={"email": "victim@attack.test", "password": PASSWORD}, headers=ip)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    retry = int(refused.headers["retry-after"])
    assert retry >= 1 and refused.json()["error"]["details"] == {"retryAfter": retry}
    assert "token" not in refused.text
    other_ip = httpx.post(url, json={"email": "victim@attack.test", "password": PASSWORD},
                          headers={"X-Forwarded-For": "203.0.113.78"})
    assert other_ip.status_code == 200
    # the per-IP bucket (5) across emails: 2 more failures on another email, then everything is refused
    for attempt in range(2):
        assert httpx.post(url, json={"email": "mallory@attack.test", "password": f"g{attempt}"},
                          headers=ip).status_code == 401
    assert httpx.post(url, json={"email": "mallory@attack.test", "password": PASSWORD}, headers=ip).status_code == 429
