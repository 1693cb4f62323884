"""The real Node clients of the e2e tests (tests/e2e/node): installed with npm on first use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"


def node_script(name: str, package: str) -> Path:
    """``tests/e2e/node/<name>`` with the npm packages installed (``package`` is the one it needs);
    skips the test only when node or npm is absent."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the Node client tests (not installed)")
    if not (NODE_DIR / "node_modules" / package).is_dir():
        result = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, f"npm install failed:\n{result.stdout}\n{result.stderr}"
    return NODE_DIR / name
