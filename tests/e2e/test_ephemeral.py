"""`atomo serve --ephemeral` and in-memory data through the real server, as a test suite drives it.

The child process prints one JSON line ``{"url", "adminToken"}`` when ready (stdout holds nothing else),
``POST /__test__/reset`` (admin token) brings back boot + seed + the admin's session (records, users and
sessions made since are gone; rate-limit buckets refilled; open sockets closed with 1012), and closing its
stdin stops it with exit code 0. Without ``--ephemeral`` the route does not exist (404), and
``ATOMO_DATA_FILE=:memory:`` leaves no file behind.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from atomo.storage.files import memory_root
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess, atomo_command, gql_post, server_env
from tests.e2e.wskit import graphql_ws, realtime

RESET = "/__test__/reset"
COUNT = '{ count(model: "Contact") }'
SEEDED_CONTACTS = 6


@dataclass
class Ephemeral:
    proc: subprocess.Popen[bytes]
    url: str
    token: str
    ready_line: bytes
    project: Path
    err: IO[bytes]

    def stderr(self) -> str:
        return (self.project / "ephemeral.err").read_text(encoding="utf-8", errors="replace")

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url + path, headers=headers, timeout=30.0, **kwargs)

    def count(self, token: str | None = None) -> int:
        response = gql_post(self.url, COUNT, token=token or self.token)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        return int(response.json()["data"]["count"])

    def stop(self, timeout: float = 10.0) -> int:
        """Close stdin (EOF) and wait for the exit code."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.err.close()


def start_ephemeral(project: Path, env: dict[str, str] | None = None, timeout: float = 60.0) -> Ephemeral:
    project.mkdir(parents=True, exist_ok=True)
    err = open(project / "ephemeral.err", "wb")  # closed by Ephemeral.stop
    proc = subprocess.Popen(atomo_command(project, "serve", "--ephemeral", "--port", "0"), cwd=project,
                            env=env or server_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        if proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            line += chunk
    if not line.endswith(b"\n"):
        proc.kill()
        proc.wait()
        err.close()
        proc.stdout.close()
        if proc.stdin is not None:
            proc.stdin.close()
        raise RuntimeError(f"no ready line (exit {proc.returncode}): {line!r}\n"
                           f"{(project / 'ephemeral.err').read_text(errors='replace')}")
    ready_json = json.loads(line)
    return Ephemeral(proc, ready_json["url"], ready_json["adminToken"], line, project, err)


@pytest.fixture(scope="module")
def eph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ephemeral]:
    env = server_env(ATOMO_ENABLE_SELF_REGISTRATION="true", LOGIN_RATE_LIMIT_ATTEMPTS="2")
    server = start_ephemeral(tmp_path_factory.mktemp("ephemeral"), env)
    try:
        yield server
    finally:
        server.stop()


def memory_folders_of(pid: int) -> set[Path]:
    """The in-memory data folders a process has files open in."""
    root = memory_root()
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue
        if target.parent.parent == root and target.parent.name.startswith("atomo-mem-"):
            found.add(target.parent)
    return found


# -- the ready line ------------------------------------------------------------------------------------
def test_ready_line_is_one_json_line_with_a_working_admin_token(eph: Ephemeral) -> None:
    assert eph.ready_line.count(b"\n") == 1
    assert set(json.loads(eph.ready_line)) == {"url", "adminToken"}
    assert eph.url.startswith("http://127.0.0.1:") and int(eph.url.rsplit(":", 1)[1]) > 0
    me = httpx.get(eph.url + "/auth/me", headers={"authorization": f"Bearer {eph.token}"}, timeout=30.0)
    assert me.status_code == 200 and me.json()["email"] == ADMIN_EMAIL and me.json()["role"] == "admin"
    assert eph.count() == SEEDED_CONTACTS, "the bundled sample is seeded"
    assert "Data      in memory" in eph.stderr(), "the banner goes to stderr"
    assert not (eph.project / ".atomo").exists(), "nothing is written in the project folder"


# -- POST /__test__/reset ------------------------------------------------------------------------------
def test_reset_removes_what_a_test_made_and_keeps_the_admin(eph: Ephemeral) -> None:
    for i in range(3):
        made = gql_post(eph.url, 'mutation($d: JSON!) { create(model: "Contact", data: $d) }',
                        {"d": {"firstName": "Temp", "lastName": str(i)}}, token=eph.token)
        assert made.status_code == 200 and "errors" not in made.json(), made.text
    registered = eph.post("/auth/register", json={"email": "temp@example.test", "password": "abcdefg1"})
    assert registered.status_code == 200, registered.text
    user_token = registered.json()["token"]
    login = eph.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    second_admin_token = login.json()["token"]
    assert eph.count() == SEEDED_CONTACTS + 3 and eph.count(user_token) == SEEDED_CONTACTS + 3

    reset = eph.post(RESET, eph.token)
    assert reset.status_code == 200, reset.text
    body = reset.json()
    assert body["ok"] is True and isinstance(body["position"], int) and body["position"] > 0

    assert eph.count() == SEEDED_CONTACTS, "records made since boot are gone"
    assert eph.post(RESET, eph.token).json() == body, "the event log position is the snapshot's"
    assert httpx.get(eph.url + "/auth/me", headers={"authorization": f"Bearer {user_token}"},
                     timeout=30.0).status_code == 401, "the registered user and its session are gone"
    assert eph.post("/auth/login", json={"email": "temp@example.test", "password": "abcdefg1"}).status_code == 401
    assert httpx.get(eph.url + "/auth/me", headers={"authorization": f"Bearer {second_admin_token}"},
                     timeout=30.0).status_code == 401, "a session opened after the snapshot is gone"
    assert eph.count() == SEEDED_CONTACTS, "the admin token of the ready line still works"


def test_reset_needs_the_admin_token(eph: Ephemeral) -> None:
    anonymous = eph.post(RESET)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "UNAUTHENTICATED"
    assert eph.post(RESET, "not-a-token").status_code == 401
    registered = eph.post("/auth/register", json={"email": "viewer@example.test", "password": "abcdefg1"})
    assert registered.status_code == 200, registered.text
    denied = eph.post(RESET, registered.json()["token"])
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "PERMISSION_DENIED"
    assert eph.post(RESET, eph.token).status_code == 200


def test_reset_refills_the_login_buckets(eph: Ephemeral) -> None:
    wrong = {"email": ADMIN_EMAIL, "password": "wrong-password-1"}
    statuses = [eph.post("/auth/login", json=wrong).status_code for _ in range(3)]
    assert statuses == [401, 401, 429], "LOGIN_RATE_LIMIT_ATTEMPTS=2"
    assert eph.post(RESET, eph.token).status_code == 200
    assert eph.post("/auth/login", json=wrong).status_code == 401, "refilled by the reset"
    assert eph.post(RESET, eph.token).status_code == 200


async def test_open_sockets_are_closed_with_1012(eph: Ephemeral) -> None:
    sub = await graphql_ws(eph.url, {"authorization": eph.token})
    await sub.send({"type": "subscribe", "id": "1",
                    "payload": {"query": 'subscription { modelChanges(model: "Contact") { position } }'}})
    live = await realtime(eph.url, eph.token)
    idle = await graphql_ws(eph.url, {"authorization": eph.token})
    try:
        reset = httpx.AsyncClient(timeout=30.0)
        async with reset:
            response = await reset.post(eph.url + RESET, headers={"authorization": f"Bearer {eph.token}"})
        assert response.status_code == 200
        assert await sub.closed_with(5) == 1012
        assert await live.closed_with(5) == 1012
        assert await idle.closed_with(5) == 1012
    finally:
        for sock in (sub, live, idle):
            await sock.close()
    again = await graphql_ws(eph.url, {"authorization": eph.token})      # reconnecting works at once
    await again.close()


# -- stopping ------------------------------------------------------------------------------------------
def test_closing_stdin_stops_the_server_and_removes_the_data(tmp_path: Path) -> None:
    server = start_ephemeral(tmp_path / "stdin")
    folders = memory_folders_of(server.proc.pid)
    assert len(folders) == 1
    started = time.monotonic()
    assert server.stop(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert not any(folder.exists() for folder in folders), "the in-memory data file is removed"
    assert not (tmp_path / "stdin" / ".atomo").exists()


def test_sigterm_stops_it_too(tmp_path: Path) -> None:
    server = start_ephemeral(tmp_path / "term")
    folders = memory_folders_of(server.proc.pid)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0
    server.stop()
    assert not any(folder.exists() for folder in folders)


# -- without --ephemeral -------------------------------------------------------------------------------
def test_test_users_have_tokens_no_password_and_go_with_the_reset(eph: Ephemeral) -> None:
    assert eph.post("/__test__/users", json={"role": "sales"}).status_code == 401
    made = eph.post("/__test__/users", eph.token, json={"role": "sales", "tenant": "t1", "email": "S@Example.test"})
    assert made.status_code == 201, made.text
    user = made.json()
    assert user["role"] == "sales" and user["tenant"] == "t1" and user["email"] == "s@example.test"
    me = httpx.get(eph.url + "/auth/me", headers={"authorization": f"Bearer {user['token']}"}, timeout=30.0)
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    denied = eph.post("/__test__/users", user["token"], json={"role": "admin"})
    assert denied.status_code == 403
    bad = eph.post("/__test__/users", eph.token, json={"role": "no such role"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    login = eph.post("/auth/login", json={"email": user["email"], "password": "anything-1A"})
    assert login.status_code == 401, "test users have no password"
    assert eph.post(RESET, eph.token).status_code == 200
    gone = httpx.get(eph.url + "/auth/me", headers={"authorization": f"Bearer {user['token']}"}, timeout=30.0)
    assert gone.status_code == 401


def test_reset_route_is_404_on_a_normal_server(base_url: str, admin_token: str) -> None:
    assert httpx.post(base_url + "/__test__/users", headers={"authorization": f"Bearer {admin_token}"},
                      json={"role": "sales"}, timeout=30.0).status_code == 404
    reset = httpx.post(base_url + RESET, headers={"authorization": f"Bearer {admin_token}"}, timeout=30.0)
    unknown = httpx.post(base_url + "/__test__/nothing", headers={"authorization": f"Bearer {admin_token}"},
                         timeout=30.0)
    assert reset.status_code == 404 and unknown.status_code == 404
    assert reset.json() == unknown.json() and reset.json()["error"]["code"] == "NOT_FOUND"
    assert httpx.post(base_url + RESET, timeout=30.0).status_code == 404


def test_memory_data_file_serve_leaves_nothing_behind(start_server: Callable[..., ServerProcess],
                                                       tmp_path: Path) -> None:
    server = start_server(env=server_env(ATOMO_DATA_FILE=":memory:"))
    assert server.proc is not None
    folders = memory_folders_of(server.proc.pid)
    assert len(folders) == 1
    assert "  Data      in memory, removed when the server stops (seeded 3 companies, 6 contacts, 4 deals)" in \
        server.stdout.splitlines()
    token = httpx.post(server.base_url + "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                       timeout=30.0).json()["token"]
    assert gql_post(server.base_url, COUNT, token=token).json()["data"]["count"] == SEEDED_CONTACTS
    assert server.stop() == 0
    assert not any(folder.exists() for folder in folders)
    assert sorted(p.name for p in server.project.iterdir()) == ["serve-1.err", "serve-1.out"], \
        "no .atomo folder, no data file, no jwt_secret"


def test_ephemeral_takes_no_data_file(tmp_path: Path) -> None:
    result = subprocess.run(atomo_command(tmp_path, "--data-file", "x.db", "serve", "--ephemeral", "--port", "0"),
                            cwd=tmp_path, env=server_env(), capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "atomo: --ephemeral keeps the data in memory: it takes no --data-file"
    assert result.stdout == "" and list(tmp_path.iterdir()) == []
