"""Shared fixtures of the client SDK tests: the built `@atomo-cc/client` (npm install + tsc, once per session)
and a real `atomo serve` on the sample CRM schema in a temporary project, plus a helper that runs one Node
test file against it. Skipped only when node or npm is not installed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, ServerProcess, free_port, server_env

SDK = ROOT / "sdk" / "client-ts"
SAMPLE = ROOT / "sample-data"


@pytest.fixture(scope="session")
def built_sdk() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to build and test sdk/client-ts (not installed)")
    for command in ([npm, "install", "--no-audit", "--no-fund"], [npm, "run", "build"]):
        result = subprocess.run(command, cwd=SDK, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    assert (SDK / "dist" / "index.js").is_file() and (SDK / "dist" / "index.d.ts").is_file()
    return SDK


def crm_project(root: Path) -> Path:
    shutil.copy(SAMPLE / "schema.ts", root / "schema.ts")
    shutil.copytree(SAMPLE / "hooks", root / "hooks", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def crm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = crm_project(tmp_path_factory.mktemp("client-ts"))
    process = ServerProcess(project, env=server_env(ATOMO_ENABLE_SELF_REGISTRATION="1")).start()
    try:
        yield process
    finally:
        process.stop()


def node_env(server: ServerProcess, **extra: str) -> dict[str, str]:
    """What the Node test files read: ATOMO_URL, admin credentials, a closed port for network errors."""
    return {**os.environ, "ATOMO_URL": server.base_url, "ATOMO_ADMIN_EMAIL": ADMIN_EMAIL,
            "ATOMO_ADMIN_PASSWORD": ADMIN_PASSWORD, "ATOMO_CLOSED_URL": f"http://127.0.0.1:{free_port()}", **extra}


def run_node_tests(sdk: Path, test_file: str, env: dict[str, str], expected_pass: int, timeout: int = 300) -> str:
    """Run one `node --test` file; every test must pass, none skipped, and exactly ``expected_pass`` ran
    (so a test file that silently loses tests fails here)."""
    process = subprocess.Popen(["node", "--test", "--test-concurrency=1", test_file], cwd=sdk, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:       # whatever the test file left running (a server it started, a stuck child) goes with it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "# fail 0" in result.stdout and "# skipped 0" in result.stdout, result.stdout
    assert f"# pass {expected_pass}\n" in result.stdout, result.stdout
    return result.stdout
