"""`atomo serve` takes its port before it creates anything: a busy port leaves no data file, admin or secret
behind, so the next start on a free port still creates the admin and shows its generated password."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ServerProcess, atomo_command, free_port, login, server_env


def env_without_admin_password() -> dict[str, str]:
    env = server_env()
    del env["ADMIN_PASSWORD"]
    return env


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def run_serve(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    project.mkdir(parents=True, exist_ok=True)
    return subprocess.run(atomo_command(project, "serve", *args), cwd=project, env=env_without_admin_password(),
                          capture_output=True, text=True, timeout=120)


def test_busy_port_creates_nothing_and_the_next_start_shows_the_password(
        busy_port: int, tmp_path: Path, start_server: Callable[..., ServerProcess]) -> None:
    project = tmp_path / "project"
    result = run_serve(project, "--port", str(busy_port))
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [f"atomo: port {busy_port} is already in use on 127.0.0.1 "
                                          "(set PORT or use --port)"]
    assert result.stdout == ""
    assert list(project.iterdir()) == []  # no .atomo: no data file, admin or JWT secret

    server = start_server(project, env=env_without_admin_password(), port=free_port())
    admin = [line for line in server.stdout.splitlines() if line.startswith("  Admin ")]
    assert len(admin) == 1, server.stdout
    assert admin[0].startswith(f"  Admin     {ADMIN_EMAIL} / ")
    password = admin[0].split(" / ")[1].split()[0]
    assert login(server.base_url, ADMIN_EMAIL, password)


def test_busy_port_in_a_project_with_data_leaves_the_data_file_alone(busy_port: int, tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert run_serve(project, "--check").returncode == 0
    data = project / ".atomo" / "atomo.db"
    before = {path.name: path.stat().st_mtime_ns for path in data.parent.iterdir()}
    result = run_serve(project, "--port", str(busy_port))
    assert result.returncode == 3, result.stderr
    assert {path.name: path.stat().st_mtime_ns for path in data.parent.iterdir()} == before


def test_check_does_not_bind(busy_port: int, tmp_path: Path) -> None:
    result = run_serve(tmp_path / "checked", "--check", "--port", str(busy_port))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: schema, migrations and settings are valid"



def test_dev_on_a_busy_port_creates_nothing_either(busy_port: int, tmp_path: Path) -> None:
    project = tmp_path / "dev"
    project.mkdir()
    result = subprocess.run(atomo_command(project, "dev", "--port", str(busy_port)), cwd=project,
                            env=env_without_admin_password(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert f"port {busy_port} is already in use" in result.stderr
    assert list(project.iterdir()) == []
