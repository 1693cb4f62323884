"""`atomo serve`: banner, restart on the same data file, signals, --check, port in use, settings errors."""

from __future__ import annotations

import shutil
import signal
import socket
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ROOT,
    ServerProcess,
    atomo_command,
    gql_post,
    login,
    server_env,
)


def run_cli(project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> \
        subprocess.CompletedProcess[str]:
    project.mkdir(parents=True, exist_ok=True)
    return subprocess.run(atomo_command(project, *args), cwd=project, env=env or server_env(), capture_output=True,
                          text=True, timeout=timeout)


def test_banner_with_generated_admin_password(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    env = server_env()
    del env["ADMIN_PASSWORD"]
    server = start_server(env=env)
    lines = server.stdout.splitlines()
    assert lines[0] == f"Atomo 0.1.0 - no schema.ts in {server.project}, serving the bundled sample project (CRM)"
    assert lines[1] == f"  GraphQL   http://127.0.0.1:{server.port}/graphql"
    assert lines[2] == f"  GraphiQL  http://127.0.0.1:{server.port}/graphql   (open in a browser)"
    assert lines[3] == "  Data      .atomo/atomo.db (created; seeded 3 companies, 6 contacts, 4 deals)"
    assert lines[4].startswith(f"  Admin     {ADMIN_EMAIL} / ")
    assert lines[4].endswith("   (shown once; set ADMIN_PASSWORD to choose it)")
    assert lines[5:] == ["Press Ctrl+C to stop."]
    password = lines[4].split(" / ")[1].split()[0]
    assert len(password) == 20 and password.isalnum()
    assert login(server.base_url, ADMIN_EMAIL, password)
    assert stat.S_IMODE((server.project / ".atomo" / "jwt_secret").stat().st_mode) == 0o600


def test_restart_keeps_data_sessions_and_password(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    lines = server.stdout.splitlines()
    assert lines[3] == "  Data      .atomo/atomo.db (created; seeded 3 companies, 6 contacts, 4 deals)"
    assert not any(line.startswith("  Admin") for line in lines)
    token = login(server.base_url)
    created = gql_post(server.base_url, 'mutation { create(model: "Contact", data: {id: "keep-1", firstName: "Kept", '
                                        'lastName: "Row"}) }', token=token)
    assert created.status_code == 200 and "errors" not in created.json(), created.text
    assert server.stop(signal.SIGTERM) == 0

    server.start()
    lines = server.stdout.splitlines()
    assert lines[3] == "  Data      .atomo/atomo.db"
    assert not any(line.startswith("  Admin") for line in lines)
    record = gql_post(server.base_url, '{ record(model: "Contact", id: "keep-1") }', token=token)
    assert record.status_code == 200, record.text  # same jwt_secret file, session still live
    assert record.json()["data"]["record"]["firstName"] == "Kept"
    fresh = login(server.base_url, ADMIN_EMAIL, ADMIN_PASSWORD)
    count = gql_post(server.base_url, '{ count(model: "Contact") }', token=fresh).json()["data"]["count"]
    assert count == 7
    history = gql_post(server.base_url, '{ history(model: "Contact", id: "keep-1") { type } }', token=fresh)
    assert [e["type"] for e in history.json()["data"]["history"]] == ["Created"]
    assert server.stop(signal.SIGINT) == 0
    assert "Traceback" not in server.stderr
    wal = server.project / ".atomo" / "atomo.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # writer drained, WAL checkpointed


def test_project_banner_and_schema_errors(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    project = tmp_path / "crm"
    project.mkdir()
    shutil.copy(ROOT / "sample-data" / "schema.ts", project / "schema.ts")
    server = start_server(project)
    lines = server.stdout.splitlines()
    assert lines[0] == f"Atomo 0.1.0 - project {project}"
    assert lines[3] == "  Data      .atomo/atomo.db (created)"
    token = login(server.base_url)
    assert gql_post(server.base_url, '{ count(model: "Deal") }', token=token).json() == {"data": {"count": 0}}
    server.stop()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "schema.ts").write_text("export interface Deal { id: string; title: Strin }\n"
                                      "export const schema = { models: { Deal: { access: { read: 'nobody|' } } } }\n")
    result = run_cli(broken, "serve", "--check")
    assert result.returncode == 4, (result.returncode, result.stderr)
    assert result.stderr.startswith("atomo: ") and "Traceback" not in result.stderr


def test_serve_check(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "checked", "serve", "--check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: schema, migrations and settings are valid"
    assert (tmp_path / "checked" / ".atomo" / "atomo.db").exists()


def test_port_in_use_is_exit_3(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(tmp_path / "busy", "serve", "--port", str(port))
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [f"atomo: port {port} is already in use on 127.0.0.1 "
                                                  "(set PORT or use --port)"]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_production_without_jwt_secret_is_exit_3(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "prod", "serve", "--check", env=server_env(ATOMO_ENV="production"))
    assert result.returncode == 3
    assert "JWT_SECRET" in result.stderr and "Traceback" not in result.stderr


def test_bad_setting_is_exit_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "bad", "serve", "--check", env=server_env(ATOMO_JWT_TTL_SECS="soon"))
    assert result.returncode == 2
    assert "ATOMO_JWT_TTL_SECS" in result.stderr

