"""The TypeScript client SDK `@atomo-cc/client` (sdk/client-ts) against a real server on the sample CRM schema:
`npm install`, `npm run build` (tsc), its Node test-runner suite (auth and refresh, every generic method, error
mapping, tenant header, typed model clients), and the strict type test against the sample's generated atomo.ts
(tests/cli/golden/crm/atomo.ts). Skipped only when node or npm is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, ServerProcess, free_port, server_env

SDK = ROOT / "sdk" / "client-ts"
SAMPLE = ROOT / "sample-data"


@pytest.fixture(scope="module")
def built_sdk() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to build and test sdk/client-ts (not installed)")
    for command in ([npm, "install", "--no-audit", "--no-fund"], [npm, "run", "build"]):
        result = subprocess.run(command, cwd=SDK, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    assert (SDK / "dist" / "index.js").is_file() and (SDK / "dist" / "index.d.ts").is_file()
    return SDK


@pytest.fixture(scope="module")
def crm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = tmp_path_factory.mktemp("client-ts")
    shutil.copy(SAMPLE / "schema.ts", project / "schema.ts")
    shutil.copytree(SAMPLE / "hooks", project / "hooks", ignore=shutil.ignore_patterns("__pycache__"))
    process = ServerProcess(project, env=server_env(ATOMO_ENABLE_SELF_REGISTRATION="1")).start()
    try:
        yield process
    finally:
        process.stop()


def test_node_test_suite_of_the_client(built_sdk: Path, crm_server: ServerProcess) -> None:
    env = {**os.environ, "ATOMO_URL": crm_server.base_url, "ATOMO_ADMIN_EMAIL": ADMIN_EMAIL,
           "ATOMO_ADMIN_PASSWORD": ADMIN_PASSWORD, "ATOMO_CLOSED_URL": f"http://127.0.0.1:{free_port()}"}
    result = subprocess.run(["npm", "test"], cwd=built_sdk, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "# fail 0" in result.stdout and "# skipped 0" in result.stdout, result.stdout
    assert "# pass 12" in result.stdout, result.stdout


def test_strict_type_test_against_the_generated_sample_types(built_sdk: Path) -> None:
    """test/types.test-d.ts: correct usage compiles, every `@ts-expect-error` (wrong model, field names and
    types in where/data/patch, unknown collection) must still be an error."""
    assert (ROOT / "tests" / "cli" / "golden" / "crm" / "atomo.ts").is_file()
    result = subprocess.run(["npm", "run", "test:types"], cwd=built_sdk, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_the_built_client_has_no_runtime_dependencies(built_sdk: Path) -> None:
    import json
    package = json.loads((built_sdk / "package.json").read_text())
    assert "dependencies" not in package and "peerDependencies" not in package
    for js in (built_sdk / "dist").glob("*.js"):
        for line in js.read_text().splitlines():
            if line.startswith("import ") and " from " in line:
                assert line.split(" from ")[1].strip().strip(";'\"").startswith("./"), f"{js.name}: {line}"
