"""Storage faults an operator meets (issue 11), through the real CLI and server: foreign, damaged, empty,
read-only and unreachable data files are refused at boot with one line (exit 3); a full disk gives
``STORAGE_FULL`` and recovers; the WAL stays bounded under sustained writes; integers beyond 2^53 are
refused."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from atomo.storage.files import APPLICATION_ID
from tests.e2e.conftest import ServerProcess, atomo_command, gql_post, login, server_env

CREATE = 'mutation($d: JSON!) { create(model: "Contact", data: $d) }'


def run_cli(project: Path, *args: str, env: dict[str, str] | None = None,
            user: str | None = None) -> subprocess.CompletedProcess[str]:
    project.mkdir(parents=True, exist_ok=True)
    command = atomo_command(project, *args)
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(command, cwd=project, env=env or server_env(), capture_output=True, text=True, timeout=120)


def one_line_exit_3(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("atomo: "), result.stderr
    assert "Traceback" not in result.stderr and "Internal server error" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def foreign_file(path: Path, *tables: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    for table in tables:
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute(f"INSERT INTO {table} (total) VALUES (42.5)")
    conn.commit()
    conn.close()


# -- identity: foreign, adopted, legacy, empty -----------------------------------------------------------
def test_a_foreign_database_is_refused_unless_adopted(tmp_path: Path) -> None:
    data = tmp_path / ".atomo" / "atomo.db"
    foreign_file(data, "invoices")
    line = one_line_exit_3(run_cli(tmp_path, "serve", "--check"), str(data), "not an Atomo data file", "invoices",
                           "--adopt-existing")
    assert "application_id" not in line
    conn = sqlite3.connect(data)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["invoices"]
    conn.close()
    adopted = run_cli(tmp_path, "--adopt-existing", "serve", "--check")
    assert adopted.returncode == 0, adopted.stderr
    conn = sqlite3.connect(data)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("SELECT total FROM invoices").fetchall() == [(42.5,)]
    assert {"events", "users", "contacts"} <= {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert run_cli(tmp_path, "serve", "--check").returncode == 0     # marked now: no flag needed again


def test_colliding_tables_and_other_applications(tmp_path: Path) -> None:
    data = tmp_path / "a" / ".atomo" / "atomo.db"
    foreign_file(data, "events", "users")
    one_line_exit_3(run_cli(tmp_path / "a", "serve", "--check"), str(data), "not an Atomo data file")
    one_line_exit_3(run_cli(tmp_path / "a", "--adopt-existing", "serve", "--check"), "cannot adopt",
                    "events, users")
    other = tmp_path / "b" / ".atomo" / "atomo.db"
    foreign_file(other)
    conn = sqlite3.connect(other)
    conn.execute("PRAGMA application_id = 1234")
    conn.close()
    one_line_exit_3(run_cli(tmp_path / "b", "--adopt-existing", "serve", "--check"), "another application")


def test_zero_byte_file_is_a_new_file(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    data = tmp_path / "project" / ".atomo" / "atomo.db"
    data.parent.mkdir(parents=True)
    data.touch()
    server = start_server()
    assert "(created; seeded 3 companies, 6 contacts, 4 deals)" in server.stdout


def test_a_file_of_an_earlier_build_is_marked_on_open(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "serve", "--check").returncode == 0
    data = tmp_path / ".atomo" / "atomo.db"
    conn = sqlite3.connect(data)
    conn.execute("PRAGMA application_id = 0")          # as the first build left its files
    conn.close()
    assert run_cli(tmp_path, "serve", "--check").returncode == 0
    conn = sqlite3.connect(data)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


# -- damage and unreachable files -----------------------------------------------------------------------
def test_damaged_pages_are_refused_at_boot(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "serve", "--check").returncode == 0       # the sample, seeded
    data = tmp_path / ".atomo" / "atomo.db"
    conn = sqlite3.connect(data)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'contacts'").fetchone()[0]
    conn.close()
    with open(data, "r+b") as f:                      # the contacts table's page: garbage after its header
        f.seek((root - 1) * page_size + 8)
        f.write(os.urandom(page_size - 64))
    line = one_line_exit_3(run_cli(tmp_path, "serve", "--check"), str(data), "damaged", "--no-integrity-check")
    assert "restore a backup" in line
    skipped = run_cli(tmp_path, "--no-integrity-check", "serve", "--check")
    assert skipped.returncode in (0, 3) and "damaged" not in skipped.stderr


def test_a_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("not a folder")
    env = server_env(ATOMO_DATA_FILE=str(tmp_path / "blocker" / "data" / "atomo.db"))
    one_line_exit_3(run_cli(tmp_path / "p", "serve", "--check", env=env), "blocker is a file, not a folder")


def can_run_as(user: str) -> bool:
    """Whether ``user`` can start this interpreter with Atomo importable (not when it lives under /root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *atomo_command(
        Path("/"), "--version")[:3], "--version"], capture_output=True, text=True, env=server_env(), timeout=60)
    return probe.returncode == 0


@pytest.mark.skipif(not can_run_as("65534"), reason="needs root, setpriv and an interpreter other users can run")
def test_read_only_file_and_folder_as_another_user(tmp_path: Path) -> None:
    project = tmp_path / "ro"
    assert run_cli(project, "serve", "--check").returncode == 0
    os.chmod(tmp_path, 0o755)
    for path in [project, *project.rglob("*")]:
        os.chown(path, 65534, 65534)
    env = server_env(HOME=str(project))
    data = project / ".atomo" / "atomo.db"
    data.chmod(0o444)
    one_line_exit_3(run_cli(project, "serve", "--check", env=env, user="65534"), str(data), "not writable")
    data.chmod(0o600)
    (project / ".atomo").chmod(0o555)
    for extra in ("atomo.db-wal", "atomo.db-shm"):
        with contextlib.suppress(FileNotFoundError):
            (project / ".atomo" / extra).unlink()
    one_line_exit_3(run_cli(project, "serve", "--check", env=env, user="65534"), "data folder", "not writable")
    (project / ".atomo").chmod(0o700)
    assert run_cli(project, "serve", "--check", env=env, user="65534").returncode == 0


def test_read_only_file_system(tmp_path: Path) -> None:
    project = tmp_path / "rofs"
    assert run_cli(project, "serve", "--check").returncode == 0
    folder = project / ".atomo"
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(folder), str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        assert subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode == 0
        one_line_exit_3(run_cli(project, "serve", "--check"), str(folder / "atomo.db"), "not writable")
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# -- a full disk ---------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_full_disk_is_storage_full_and_recovers(small_disk: Path, start_server: Callable[..., ServerProcess]) -> None:
    env = server_env(ATOMO_DATA_FILE=str(small_disk / "atomo.db"))     # the default WAL limit adapts to the disk
    server = start_server(env=env)          # the project (and the server's log files) on the normal disk
    token = login(server.base_url)
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (1 << 20))
    notes = "x" * 4000
    codes: list[str | None] = []
    for i in range(2000):
        body = gql_post(server.base_url, CREATE, {"d": {"firstName": f"F{i}", "lastName": "L", "tags": [notes]}},
                        token=token).json()
        codes.append(body["errors"][0]["extensions"]["code"] if "errors" in body else None)
        if codes[-1] is not None and codes[-3:] == [codes[-1]] * 3:
            break
    assert codes[-1] == "STORAGE_FULL", codes[-5:]
    accepted = codes.index("STORAGE_FULL")
    assert accepted > 200, accepted           # the WAL is bounded: most of the disk holds data, not WAL
    message = gql_post(server.base_url, CREATE, {"d": {"firstName": "x", "lastName": "y", "tags": [notes]}},
                       token=token).json()["errors"][0]["message"]
    assert "disk is full" in message
    # writes that need no new space may still fit in the WAL; one that needs space is refused with 507
    for _ in range(50):
        job = httpx.post(server.base_url + "/jobs", json={"queue": "q", "kind": "k", "payload": {"n": notes * 50}},
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if job.status_code != 201:
            break
    assert job.status_code == 507 and job.json()["error"]["code"] == "STORAGE_FULL", job.text
    ready = httpx.get(server.base_url + "/ready", timeout=30)
    assert ready.status_code == 503 and ready.json()["error"]["details"]["checks"]["database"] == "writes failing"
    assert httpx.get(server.base_url + "/health", timeout=30).status_code == 200
    read = gql_post(server.base_url, '{ count(model: "Contact") }', token=token).json()
    assert read["data"]["count"] >= accepted                      # reads keep working
    ballast.unlink()                                              # space returns: writes succeed again
    again = gql_post(server.base_url, CREATE, {"d": {"firstName": "after", "lastName": "L"}}, token=token).json()
    assert "errors" not in again, again
    assert httpx.get(server.base_url + "/ready", timeout=30).status_code == 200
    server.stop()
    log = server.stderr
    failing, again = log.count("writes are failing"), log.count("writes succeed again")
    assert 1 <= failing <= 5 and again == failing, log      # a line per state change, not per request
    assert "Traceback" not in log and "Internal server error" not in log


# -- the WAL under sustained writes --------------------------------------------------------------------
def test_wal_stays_bounded_under_sustained_writes(start_server: Callable[..., ServerProcess]) -> None:
    limit = 1 << 20
    server = start_server(env=server_env(ATOMO_WAL_CHECKPOINT_BYTES=str(limit)))
    token = login(server.base_url)
    wal = server.project / ".atomo" / "atomo.db-wal"
    largest, stop = 0, threading.Event()

    def sample() -> None:
        nonlocal largest
        while not stop.is_set():
            with contextlib.suppress(OSError):
                largest = max(largest, wal.stat().st_size)
            time.sleep(0.005)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            for i in range(1500):
                data = {"firstName": f"w{i}", "lastName": "y", "tags": ["t" * 300]}
                body = c.post("/graphql", json={"query": CREATE, "variables": {"d": data}})
                assert "errors" not in body.json()
    finally:
        stop.set()
        sampler.join()
    # about 60 KB of WAL per single create: unbounded, 1,500 creates leave ~90 MB of WAL
    assert 0 < largest < 8 * limit, largest


# -- numbers -------------------------------------------------------------------------------------------
def test_integers_beyond_the_exact_range_are_refused(base_url: str, admin_token: str) -> None:
    email = f"big-{uuid.uuid4().hex[:6]}@example.com"
    company = 'mutation($d: JSON!) { create(model: "Company", data: $d) }'
    big = gql_post(base_url, company, {"d": {"name": "Big", "employeeCount": 2**70}}, token=admin_token).json()
    assert big["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    assert big["errors"][0]["extensions"]["details"][0]["code"] == "out_of_range"
    edge = gql_post(base_url, company, {"d": {"name": email, "employeeCount": 2**53 - 1}}, token=admin_token).json()
    assert edge["data"]["create"]["employeeCount"] == 2**53 - 1
    over = gql_post(base_url, company, {"d": {"name": email, "employeeCount": 2**53}}, token=admin_token).json()
    assert over["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    where = gql_post(base_url, '{ records(model: "Company", where: {employeeCount: {gt: 1180591620717411303424}}) }',
                     token=admin_token).json()
    assert "errors" not in where or where["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR", where
