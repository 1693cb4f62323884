"""CLI test helpers: the real `atomo` command through click's runner, or as a subprocess where a server runs.

``built_executable`` builds `atomo-server` once per session with `atomo build` (a few minutes on two
cores) and is shared by the build smoke test and the deploy test. It needs PyInstaller
(`pip install "atomo[build]"`): skipped without it locally, a failure in CI (CI=true).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from atomo.cli.main import cli
from tests.e2e.conftest import ROOT, server_env

SAMPLE = ROOT / "sample-data"
_DROPPED = ("ATOMO_", "ADMIN_", "JWT_", "DATABASE_", "GRAPHQL_", "RATE_LIMIT", "LOGIN_RATE", "PASSWORD_")


def clean_environ() -> dict[str, str | None]:
    """Environment overrides for CliRunner: unset every Atomo setting of the developer's shell."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith(_DROPPED) or k in ("HOST", "PORT")}
    unset.update({"ATOMO_NO_PROGRESS": "1", "ADMIN_PASSWORD": "Cli-admin-pass-42"})
    return unset


def atomo(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None
          ) -> Result:
    """Run `atomo ARGS` in-process (click's runner) in ``cwd``; stdout and stderr are kept apart."""
    environ = clean_environ()
    environ.update(env or {})
    runner = CliRunner()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), env=environ, input=input, catch_exceptions=False, prog_name="atomo")
    finally:
        os.chdir(old)


def atomo_process(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
                  ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atomo", *args], cwd=cwd, env=env or server_env(),
                          capture_output=True, text=True, timeout=timeout)


def new_project(tmp_path: Path, template: str = "crm", name: str = "app") -> Path:
    result = atomo("init", name, "-t", template, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    return tmp_path / name


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    """A project made by `atomo init app -t crm`."""
    return new_project(tmp_path)


@pytest.fixture(scope="session")
def built_executable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if importlib.util.find_spec("PyInstaller") is None:
        if os.environ.get("CI") == "true":
            pytest.fail('PyInstaller is required in CI for the executable tests: pip install "atomo[build]"')
        pytest.skip('PyInstaller is not installed (pip install "atomo[build]")')
    folder = tmp_path_factory.mktemp("build")
    run = atomo_process("--no-progress", "build", "--output", str(folder / "dist"), cwd=folder, timeout=1200)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "smoke test passed" in run.stdout, run.stdout
    exe = folder / "dist" / "atomo-server"
    assert exe.is_file()
    yield exe
    shutil.rmtree(folder / "build", ignore_errors=True)
