"""`atomo init`: the files of each template, refusals, and a project that checks and serves at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import SAMPLE, atomo, new_project
from tests.e2e.conftest import ROOT

FILES = ["schema.ts", "seed.json", "migrations/.gitkeep", ".env", ".env.example", ".gitignore", "package.json",
         "tsconfig.json", "types/atomo-schema/package.json", "types/atomo-schema/index.d.ts", "README.md"]


@pytest.mark.parametrize("template", ["default", "crm", "blog"])
def test_init_creates_a_checked_project(tmp_path: Path, template: str) -> None:
    result = atomo("init", "shop", "-t", template, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    files = [*FILES[:2], "hooks/deals.py", *FILES[2:]] if template == "crm" else FILES   # the crm sample's hooks
    assert result.stdout.splitlines() == [f"created shop/{f}" for f in files] + ["Next: cd shop && atomo dev"]
    project = tmp_path / "shop"
    for name in files:
        assert (project / name).is_file(), name
    assert (project / ".env").read_text() == "ATOMO_ENV=development\nPORT=3000\n"
    assert "# JWT_SECRET=" in (project / ".env.example").read_text()
    assert (project / ".gitignore").read_text().split() == [".atomo/", ".env", "build/", "dist/", "deploy/",
                                                             "node_modules/"]
    assert json.loads((project / "package.json").read_text())["devDependencies"] == {
        "@atomo-cc/schema": "file:types/atomo-schema", "typescript": "^5.4.0"}
    check = atomo("--project", str(project), "schema", "check", cwd=tmp_path)
    assert check.exit_code == 0, check.output
    assert check.stdout.rstrip().endswith("0 errors, 0 warnings")


def test_templates_content(tmp_path: Path) -> None:
    atomo("init", "a", cwd=tmp_path)
    atomo("init", "b", "-t", "crm", cwd=tmp_path)
    atomo("init", "c", "-t", "blog", cwd=tmp_path)
    assert "export interface Note" in (tmp_path / "a" / "schema.ts").read_text()
    assert json.loads((tmp_path / "a" / "seed.json").read_text()) == {}
    assert (tmp_path / "b" / "schema.ts").read_text() == (SAMPLE / "schema.ts").read_text()
    assert (tmp_path / "b" / "seed.json").read_text() == (SAMPLE / "seed.json").read_text()
    assert (tmp_path / "b" / "hooks" / "deals.py").read_text() == (SAMPLE / "hooks" / "deals.py").read_text()
    assert not (tmp_path / "a" / "hooks").exists() and not (tmp_path / "c" / "hooks").exists()
    blog = (tmp_path / "c" / "schema.ts").read_text()
    assert all(f"export interface {m}" in blog for m in ("Author", "Post", "Category", "Comment"))


def test_editor_types_have_one_source(tmp_path: Path) -> None:
    """The types package is the file shipped in atomo/templates, copied verbatim, named as schema.ts imports it."""
    project = new_project(tmp_path, "blog")
    types = project / "types" / "atomo-schema"
    assert (types / "index.d.ts").read_bytes() == (ROOT / "atomo" / "templates" / "schema-types" / "index.d.ts").read_bytes()
    package = json.loads((types / "package.json").read_text())
    assert (package["name"], package["version"], package["types"]) == ("@atomo-cc/schema", "0.1.0", "./index.d.ts")
    assert "from '@atomo-cc/schema'" in (project / "schema.ts").read_text()
    tsconfig = json.loads((project / "tsconfig.json").read_text())
    assert tsconfig["compilerOptions"]["paths"]["@atomo-cc/schema"] == ["./types/atomo-schema"]
    assert "schema.ts" in tsconfig["include"]


def test_init_dot_uses_an_empty_current_folder(tmp_path: Path) -> None:
    folder = tmp_path / "here"
    folder.mkdir()
    result = atomo("init", ".", cwd=folder)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "created schema.ts"
    assert result.stdout.splitlines()[-1] == "Next: atomo dev"
    assert json.loads((folder / "package.json").read_text())["name"] == "here"


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = atomo("init", "taken", cwd=tmp_path)
    assert result.exit_code == 1
    assert result.stderr == "atomo: folder taken already exists and is not empty\n"
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert atomo("init", "empty", cwd=tmp_path).exit_code == 0


def test_init_usage_errors(tmp_path: Path) -> None:
    bad_template = atomo("init", "x", "-t", "ecommerce", cwd=tmp_path)
    assert bad_template.exit_code == 2
    assert "'default', 'crm', 'blog'" in bad_template.stderr
    bad_name = atomo("init", "-bad", cwd=tmp_path)
    assert bad_name.exit_code == 2
    assert atomo("init", "bad name", cwd=tmp_path).exit_code == 2
    assert not any(tmp_path.iterdir())
