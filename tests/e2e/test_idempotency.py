"""`Idempotency-Key` on POST /graphql mutations, against a real server: a retry gets the first answer and
writes nothing, concurrent duplicates write once, the key is per user, the answer survives `kill -9`, the
crash window between the write and its stored answer gives ALREADY_APPLIED, and bad keys are refused."""

from __future__ import annotations

import signal
import sqlite3
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.e2e.authkit import cli
from tests.e2e.conftest import ServerProcess, gql_post, login

CREATE = 'mutation($d: JSON!) { create(model: "Contact", data: $d) }'
COUNT = 'query($w: JSON) { count(model: "Contact", where: $w) }'


def contact(tag: str) -> dict[str, str]:
    return {"firstName": "Idem", "lastName": tag, "email": f"{tag}@idem.test"}


def keyed(base: str, token: str, key: str, query: str = CREATE, variables: dict | None = None) -> httpx.Response:
    return gql_post(base, query, variables, token=token, headers={"Idempotency-Key": key})


def count(base: str, token: str, tag: str) -> int:
    body = gql_post(base, COUNT, {"w": {"lastName": tag}}, token=token).json()
    return int(body["data"]["count"])


def test_a_retry_gets_the_first_answer_and_writes_nothing(server: ServerProcess, admin_token: str) -> None:
    base, tag, key = server.base_url, uuid.uuid4().hex[:10], str(uuid.uuid4())
    first = keyed(base, admin_token, key, variables={"d": contact(tag)})
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    assert "idempotent-replayed" not in first.headers
    again = keyed(base, admin_token, key, variables={"d": contact(tag)})
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content                 # byte for byte, same record id
    assert count(base, admin_token, tag) == 1
    # without the key, the same request is a second create (proves the key is what prevented it)
    plain = gql_post(base, CREATE, {"d": {**contact(tag), "email": f"2{tag}@idem.test"}}, token=admin_token)
    assert "errors" not in plain.json()
    assert count(base, admin_token, tag) == 2


def test_the_same_key_with_another_request_is_refused(server: ServerProcess, admin_token: str) -> None:
    base, tag, key = server.base_url, uuid.uuid4().hex[:10], str(uuid.uuid4())
    assert "errors" not in keyed(base, admin_token, key, variables={"d": contact(tag)}).json()
    other = keyed(base, admin_token, key, variables={"d": contact(tag + "x")})
    assert other.status_code == 422
    assert other.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert count(base, admin_token, tag + "x") == 0


def test_concurrent_duplicates_write_once_and_share_the_answer(server: ServerProcess, admin_token: str) -> None:
    base, tag, key = server.base_url, uuid.uuid4().hex[:10], str(uuid.uuid4())
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: keyed(base, admin_token, key, variables={"d": contact(tag)}), range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert len({a.content for a in answers}) == 1, {a.text for a in answers}
    assert sum(1 for a in answers if "idempotent-replayed" not in a.headers) == 1
    assert count(base, admin_token, tag) == 1


def test_a_failed_mutation_keeps_no_key_and_runs_again(server: ServerProcess, admin_token: str) -> None:
    base, key = server.base_url, str(uuid.uuid4())
    bad = {"d": {"firstName": "NoEmail"}}
    first = keyed(base, admin_token, key, variables=bad)
    assert first.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    again = keyed(base, admin_token, key, variables=bad)
    assert "idempotent-replayed" not in again.headers      # nothing was written, so nothing was kept
    assert again.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"


def test_keys_belong_to_their_user(server: ServerProcess, admin_token: str) -> None:
    base, tag, key = server.base_url, uuid.uuid4().hex[:10], str(uuid.uuid4())
    email = f"idem-{tag}@example.com"
    cli(server.project, "users", "create", "--email", email, "--password-stdin", "--role", "admin",
        stdin="Idem-pass-4242\n")
    other = login(base, email, "Idem-pass-4242")
    a = keyed(base, admin_token, key, variables={"d": contact(tag)})
    b = keyed(base, other, key, variables={"d": {**contact(tag), "email": f"b{tag}@idem.test"}})
    assert "errors" not in a.json() and "errors" not in b.json(), b.text
    assert "idempotent-replayed" not in b.headers
    assert a.json()["data"]["create"]["id"] != b.json()["data"]["create"]["id"]
    assert count(base, admin_token, tag) == 2


def test_several_mutation_fields_are_one_keyed_request(server: ServerProcess, admin_token: str) -> None:
    base, tag, key = server.base_url, uuid.uuid4().hex[:10], str(uuid.uuid4())
    query = ('mutation($a: JSON!, $b: JSON!) { a: create(model: "Contact", data: $a) '
             'b: create(model: "Contact", data: $b) }')
    variables = {"a": contact(tag), "b": {**contact(tag), "email": f"b{tag}@idem.test"}}
    first = keyed(base, admin_token, key, query, variables)
    assert "errors" not in first.json(), first.text
    again = keyed(base, admin_token, key, query, variables)
    assert again.headers.get("idempotent-replayed") == "true" and again.content == first.content
    assert count(base, admin_token, tag) == 2


def test_bad_keys_and_anonymous_keys_are_refused_and_queries_ignore_the_key(server: ServerProcess,
                                                                             admin_token: str) -> None:
    base = server.base_url
    for bad in ("x" * 201, "has space", "ключ"):
        answer = httpx.post(base + "/graphql", json={"query": CREATE, "variables": {"d": contact("bad")}},
                            headers={"Authorization": f"Bearer {admin_token}", "Idempotency-Key": bad.encode()},
                            timeout=30)
        assert answer.status_code == 400 and answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    anonymous = gql_post(base, CREATE, {"d": contact("anon")}, headers={"Idempotency-Key": "k1"})
    assert anonymous.status_code == 400
    assert "authenticated" in anonymous.json()["errors"][0]["message"]
    key = str(uuid.uuid4())
    for _ in range(2):
        read = keyed(base, admin_token, key, COUNT, {"w": {"lastName": "nobody"}})
        assert read.json() == {"data": {"count": 0}} and "idempotent-replayed" not in read.headers


def test_the_answer_survives_kill_9_and_a_lost_answer_gives_already_applied(
        start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    project = tmp_path / "project"
    first_server = start_server(project)
    token = login(first_server.base_url)
    tag, key = uuid.uuid4().hex[:10], str(uuid.uuid4())
    first = keyed(first_server.base_url, token, key, variables={"d": contact(tag)})
    assert "errors" not in first.json()
    lost_key = str(uuid.uuid4())
    lost = keyed(first_server.base_url, token, lost_key, variables={"d": contact(tag + "l")})
    assert "errors" not in lost.json()
    first_server.stop(signal.SIGKILL)
    # the crash window: the write and its key committed, the answer not yet stored
    with sqlite3.connect(project / ".atomo" / "atomo.db") as conn:
        changed = conn.execute("UPDATE _atomo_idempotency SET response = NULL, status = NULL WHERE key = ?",
                               (lost_key,)).rowcount
    assert changed == 1
    second = start_server(project, port=first_server.port)
    token = login(second.base_url)
    replay = keyed(second.base_url, token, key, variables={"d": contact(tag)})
    assert replay.headers.get("idempotent-replayed") == "true" and replay.content == first.content
    applied = keyed(second.base_url, token, lost_key, variables={"d": contact(tag + "l")})
    error = applied.json()["errors"][0]
    assert error["extensions"]["code"] == "ALREADY_APPLIED" and isinstance(error["extensions"]["position"], int)
    assert count(second.base_url, token, tag) == 1 and count(second.base_url, token, tag + "l") == 1
