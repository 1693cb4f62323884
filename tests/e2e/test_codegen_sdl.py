"""`atomo codegen`'s schema.graphql is the schema a running server exposes: introspect the real server of the bundled
sample (schema.ts and hooks/) and compare with what the real `atomo codegen` writes for a copy of that project.
Both are printed by graphql-core, types sorted, descriptions and default values included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
from graphql import build_client_schema, build_schema, get_introspection_query, lexicographic_sort_schema, print_schema

from atomo.graphql.served import served_sdl
from atomo.hooks.loader import load_hooks
from atomo.schema import load_schema
from tests.e2e.conftest import ROOT, atomo_command, server_env

SAMPLE = ROOT / "sample-data"


def printed(schema: object) -> str:
    return print_schema(lexicographic_sort_schema(schema))  # type: ignore[arg-type]


def test_codegen_writes_the_schema_the_server_serves(base_url: str, admin_token: str, tmp_path: Path) -> None:
    project = tmp_path / "copy"
    project.mkdir()
    shutil.copy(SAMPLE / "schema.ts", project / "schema.ts")
    shutil.copytree(SAMPLE / "hooks", project / "hooks", ignore=shutil.ignore_patterns("__pycache__"))
    run = subprocess.run(atomo_command(project, "codegen"), cwd=project, env=server_env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    written = (project / "generated" / "schema.graphql").read_text(encoding="utf-8")

    response = httpx.post(base_url + "/graphql", json={"query": get_introspection_query(descriptions=True)},
                          headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    served = printed(build_client_schema(body["data"]))

    assert printed(build_schema(written)) == served
    assert "pipelineTotals(stage: String): JSON" in served and "dealChanges(after: Int): DealEvent!" in served
    # and the text is served_sdl's, after the header line
    assert written.endswith(served_sdl(load_schema(SAMPLE / "schema.ts"), load_hooks(SAMPLE / "hooks")))
