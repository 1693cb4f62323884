"""What a booting server imports (issue 13: cold start and idle memory): the CLI loads only the command
it runs, and litestar's optional pydantic/attrs plugins are not loaded. A fresh interpreter runs
`atomo serve --check` on the bundled sample and reports its modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from atomo.cli.main import main
try:
    main(["serve", "--check"])
except SystemExit as exit:
    assert not exit.code, exit.code
print(json.dumps(sorted(sys.modules)))
"""
NOT_FOR_SERVE = ("atomo.cli.build_cmd", "atomo.cli.init_cmd", "atomo.cli.deploy_cmd", "atomo.cli.worker_cmd",
                 "atomo.cli.codegen_cmd", "atomo.cli.dev_cmd", "atomo.devserver", "atomo.worker",
                 "litestar.plugins.pydantic", "litestar.plugins.attrs", "pydantic", "attr")


def test_serve_loads_only_what_it_serves(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ADMIN_PASSWORD": "Startup-imports-42", "ATOMO_NO_PROGRESS": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "atomo.cli.serve_cmd" in modules and "tartiflette" in modules   # the probe did boot a server
    assert sorted(modules & set(NOT_FOR_SERVE)) == []
