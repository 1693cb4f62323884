"""`atomo build` and `atomo deploy` with a real executable.

The session fixture ``built_executable`` (conftest) runs `atomo build` once, which itself runs the smoke
test (`--version`, `serve --check`). Here the binary serves a fresh empty folder (the bundled sample):
login + create + query over HTTP, with no Python involved. The deploy test packs that same binary.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import atomo, new_project
from tests.e2e.conftest import ServerProcess, free_port, gql_post, login, server_env

pytestmark = pytest.mark.slow


class ExeServer(ServerProcess):
    """ServerProcess running the built executable instead of `python -m atomo`."""

    def __init__(self, exe: Path, folder: Path, args: list[str], env: dict[str, str]) -> None:
        super().__init__(folder, free_port(), env)
        self.exe = exe
        self.args = args

    def start(self, timeout: float = 60.0) -> ExeServer:
        import tests.e2e.conftest as e2e
        original = e2e.atomo_command
        e2e.atomo_command = lambda project, *a: [str(self.exe), *self.args, "--port", str(self.port)]  # type: ignore
        try:
            super().start(timeout)
        finally:
            e2e.atomo_command = original
        return self


def exe_env(**extra: str) -> dict[str, str]:
    env = server_env(**extra)
    env.pop("PYTHONPATH", None)
    return env


def test_version_and_default_command(built_executable: Path, tmp_path: Path) -> None:
    version = subprocess.run([str(built_executable), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert re.fullmatch(r"atomo-server 0\.1\.0 \(commit \S+, built \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n",
                        version.stdout), version.stdout
    helped = subprocess.run([str(built_executable), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "Usage: atomo-server" in helped.stdout and "deploy" in helped.stdout
    server = ExeServer(built_executable, tmp_path, [], exe_env()).start()   # no command: serve
    try:
        assert server.stdout.startswith(f"Atomo 0.1.0 - no schema.ts in {tmp_path}, serving the bundled sample")
        body = httpx.get(server.base_url + "/version", timeout=10).json()
        assert body["name"] == "atomo-server" and body["buildTime"] != "unknown"
    finally:
        assert server.stop() == 0


def test_executable_serves_login_create_query(built_executable: Path, tmp_path: Path) -> None:
    server = ExeServer(built_executable, tmp_path, ["serve"], exe_env()).start()
    try:
        token = login(server.base_url)
        created = gql_post(server.base_url, 'mutation { create(model: "Deal", data: {title: "Binary deal", '
                                            'companyId: "c-2", value: 1234.5}) }', token=token).json()
        assert "errors" not in created, created
        deal_id = created["data"]["create"]["id"]
        found: Any = gql_post(server.base_url, '{ records(model: "Deal", where: {title: {equals: "Binary deal"}}) '
                                               'count(model: "Company") }', token=token).json()
        assert found["data"]["records"][0]["id"] == deal_id and found["data"]["records"][0]["value"] == 1234.5
        assert found["data"]["count"] == 3
        graphiql = httpx.get(server.base_url + "/graphql", headers={"Accept": "text/html"}, timeout=10)
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
        admin = httpx.get(server.base_url + "/_/", timeout=10)           # the admin UI ships in the binary
        assert admin.status_code == 200 and "/_/assets/admin.js" in admin.text
        script = httpx.get(server.base_url + "/_/assets/admin.js", timeout=10)
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        metrics = httpx.get(server.base_url + "/metrics", timeout=10)     # prometheus_client is bundled too
        assert metrics.status_code == 200 and "atomo_build_info" in metrics.text
    finally:
        assert server.stop() == 0


def test_executable_runs_project_commands(built_executable: Path, tmp_path: Path) -> None:
    project = new_project(tmp_path, "blog")
    (project / "migrations" / "001_x.sql").write_text("CREATE TABLE x (id TEXT);\n")
    run = subprocess.run([str(built_executable), "--project", str(project), "migrate"], capture_output=True,
                         text=True, timeout=120, env=exe_env())
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("applied 001_x.sql in ")
    bad = subprocess.run([str(built_executable), "--project", str(project), "nope"], capture_output=True, text=True,
                         timeout=60, env=exe_env())
    assert bad.returncode == 2


def test_build_leaves_no_work_folder(built_executable: Path, tmp_path: Path) -> None:
    """PyInstaller worked in a temporary folder, now removed; what stays is ignored by a new project's .gitignore."""
    folder = built_executable.parent.parent            # the fixture ran `atomo build --output dist` here
    assert not (folder / "build" / "pyinstaller").exists()
    assert sorted(p.name for p in (folder / "build").iterdir()) == ["atomo-build.log"]
    log = (folder / "build" / "atomo-build.log").read_text()
    work = {Path(m.group(0)) for m in re.finditer(r"/\S*?/atomo-build-[^/\s]+", log)}
    assert work and not any(p.exists() for p in work), work
    ignored = (new_project(tmp_path, "default") / ".gitignore").read_text().split()
    assert sorted(p.name for p in folder.iterdir()) == ["build", "dist"]
    assert {"build/", "dist/"} <= set(ignored)


def test_executable_init_writes_editor_types(built_executable: Path, tmp_path: Path) -> None:
    """The executable bundles every init template file, the editor types of schema.ts included."""
    run = subprocess.run([str(built_executable), "init", "app", "-t", "blog"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env=exe_env())
    assert run.returncode == 0, run.stderr
    assert "created app/types/atomo-schema/index.d.ts" in run.stdout.splitlines()
    assert (tmp_path / "app" / "types" / "atomo-schema" / "index.d.ts").read_text() == (
        new_project(tmp_path, "blog", "reference") / "types" / "atomo-schema" / "index.d.ts").read_text()


def test_build_without_pyinstaller_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "PyInstaller" else real(name, *a))
    result = atomo("build", "--output", str(tmp_path / "dist"), cwd=tmp_path)
    assert result.exit_code == 3
    assert result.stderr == 'atomo: PyInstaller is not installed: pip install "atomo[build]"\n'


def test_deploy_bundle(built_executable: Path, tmp_path: Path) -> None:
    project = new_project(tmp_path, "crm", "acme")
    (project / "hooks" / "deal.py").write_text("# a hook\n")        # next to the template's hooks/deals.py
    missing = atomo("--project", str(project), "deploy", "--no-build", cwd=project)
    assert missing.exit_code == 1 and "dist/atomo-server is missing" in missing.stderr
    (project / "dist").mkdir()
    shutil.copy(built_executable, project / "dist" / "atomo-server")   # a fresh mtime: newer than the package
    result = atomo("--project", str(project), "deploy", "--no-build", "--with-seed", cwd=project)
    assert result.exit_code == 0, result.output
    bundle = project / "deploy" / "acme-production"
    assert result.stdout.splitlines()[:2] == ["wrote deploy/acme-production/", "wrote deploy/acme-production.tar.gz"]
    names = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*"))
    assert names == ["Dockerfile", "INSTALL.md", "acme.service", "atomo-server", "atomo.env.example", "hooks",
                     "hooks/deal.py", "hooks/deals.py", "migrations", "migrations/.gitkeep", "schema.ts", "seed.json"]
    assert os.access(bundle / "atomo-server", os.X_OK)
    unit = (bundle / "acme.service").read_text()
    for line in ("User=atomo", "WorkingDirectory=/opt/acme", "EnvironmentFile=/etc/acme/atomo.env",
                 "ExecStart=/opt/acme/atomo-server --project /opt/acme serve", "Restart=on-failure",
                 "TimeoutStopSec=30", "ProtectSystem=strict", "ReadWritePaths=/var/lib/acme"):
        assert line in unit.splitlines(), line
    env = (bundle / "atomo.env.example").read_text().splitlines()
    for line in ("ATOMO_ENV=production", "HOST=127.0.0.1", "PORT=3000", "ATOMO_DATA_FILE=/var/lib/acme/atomo.db",
                 "JWT_SECRET=", "ADMIN_PASSWORD="):
        assert line in env, line
    suggested = next(x for x in env if x.startswith("#   JWT_SECRET="))
    assert re.fullmatch(r"#   JWT_SECRET=[0-9a-f]{64}", suggested)
    assert "systemctl enable --now acme" in (bundle / "INSTALL.md").read_text()
    assert "ENTRYPOINT [\"/opt/acme/atomo-server\"" in (bundle / "Dockerfile").read_text()
    with tarfile.open(project / "deploy" / "acme-production.tar.gz") as tar:
        members = {m.name for m in tar.getmembers()}
    assert "acme-production/atomo-server" in members and "acme-production/schema.ts" in members

    # the bundle boots in production with its own files only
    secret = suggested.split("=", 1)[1]
    check = subprocess.run([str(bundle / "atomo-server"), "--project", str(bundle), "serve", "--check"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path,
                           env=exe_env(ATOMO_ENV="production", JWT_SECRET=secret,
                                       ATOMO_DATA_FILE=str(tmp_path / "data" / "atomo.db")))
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "ok: schema, migrations and settings are valid"


def test_deploy_refusals(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    sample = atomo("deploy", "--no-build", cwd=empty)
    assert sample.exit_code == 1 and "deploy needs a project" in sample.stderr
    project = new_project(tmp_path)
    (project / "schema.ts").write_text("export interface A { id: string; x: ??? }\n")
    assert atomo("--project", str(project), "deploy", "--no-build", cwd=project).exit_code == 4


def test_bundle_contents(built_executable: Path) -> None:
    """The SDL parser tables are baked in (start-up), and litestar's pydantic/attrs plugins and PyJWT's
    RSA/EC backend are left out, whether or not the build environment has them (issue 13)."""
    listing = subprocess.run([sys.executable, "-m", "PyInstaller.utils.cliutils.archive_viewer", "-r", "-b",
                              str(built_executable)], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    names = set(listing.stdout.split())
    assert "atomo/graphql/sdl_grammar.lark-cache" in names
    for left_out in ("pydantic", "pydantic_core", "attr", "cryptography"):
        assert not any(n == left_out or n.startswith(left_out + ".") or n.startswith(left_out + "/")
                       for n in names), left_out
