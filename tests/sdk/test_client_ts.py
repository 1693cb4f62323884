"""The TypeScript client SDK `@atomo-cc/client` (sdk/client-ts) against a real server on the sample CRM schema:
`npm install`, `npm run build` (tsc), its Node test-runner suite (auth and refresh, every generic method, error
mapping, tenant header, typed model clients), and the strict type test against the sample's generated atomo.ts
(tests/cli/golden/crm/atomo.ts). Skipped only when node or npm is not installed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.e2e.conftest import ROOT, ServerProcess
from tests.sdk.conftest import node_env, run_node_tests


def test_node_test_suite_of_the_client(built_sdk: Path, crm_server: ServerProcess) -> None:
    run_node_tests(built_sdk, "test/client.test.mjs", node_env(crm_server), expected_pass=12)


def test_strict_type_test_against_the_generated_sample_types(built_sdk: Path) -> None:
    """test/types.test-d.ts: correct usage compiles, every `@ts-expect-error` (wrong model, field names and
    types in where/data/patch, unknown collection) must still be an error."""
    assert (ROOT / "tests" / "cli" / "golden" / "crm" / "atomo.ts").is_file()
    result = subprocess.run(["npm", "run", "test:types"], cwd=built_sdk, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


def test_the_built_client_has_no_runtime_dependencies(built_sdk: Path) -> None:
    """The core imports nothing but its own modules; React is only an optional peer dependency, imported by
    the `@atomo-cc/client/react` entry (dist/react.js) alone."""
    import json
    package = json.loads((built_sdk / "package.json").read_text())
    assert "dependencies" not in package
    assert package.get("peerDependencies", {}) in ({}, {"react": ">=18"}), package.get("peerDependencies")
    if "peerDependencies" in package:
        assert package["peerDependenciesMeta"]["react"]["optional"] is True
    assert package["exports"]["./react"]["import"] == "./dist/react.js"
    assert (built_sdk / "dist" / "react.js").is_file()
    specifier = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]""")
    for js in (built_sdk / "dist").glob("*.js"):
        code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", js.read_text(), flags=re.S | re.M)   # comments may show usage
        for source in specifier.findall(code):
            if js.name == "react.js" and source == "react":
                continue
            assert source.startswith("./"), f"{js.name} imports {source!r}"
