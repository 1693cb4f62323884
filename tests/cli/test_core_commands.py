"""`atomo schema check` and `atomo projections rebuild` through the real CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, SAMPLE


def atomo(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMO_", "ADMIN_", "JWT_", "DATABASE_"))}
    base.update({"PYTHONPATH": str(ROOT), "ATOMO_NO_PROGRESS": "1", **(env or {})})
    return subprocess.run([sys.executable, "-m", "atomo", "--project", str(project), *args], capture_output=True,
                          text=True, env=base, cwd=project, timeout=120)


def test_schema_check_sample_is_clean(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text((SAMPLE / "schema.ts").read_text())
    result = atomo(tmp_path, "schema", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("3 models, 31 fields; 0 errors, 0 warnings")
    data = json.loads(atomo(tmp_path, "schema", "check", "--format", "json").stdout)
    assert data["models"] == 3 and data["diagnostics"] == []


def test_schema_check_reports_positions_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(
        "export interface Deal {\n  id: string\n  title: string // @index @shiny\n}\n"
        "export const schema = { models: { Deal: { validation: { title: 'required|minimum:2' } } } }\n")
    result = atomo(tmp_path, "schema", "check")
    assert result.returncode == 4
    assert "schema.ts:3:27: error[unknown-annotation]: unknown annotation '@shiny'" in result.stdout
    assert "error[invalid-rule]: unknown validation rule 'minimum' in 'required|minimum:2'" in result.stdout
    assert result.stdout.splitlines()[-1].endswith("1 model, 4 fields; 2 errors, 0 warnings")
    (tmp_path / "schema.ts").write_text("export interface Deal {\n  id: string\n  title: string\n  URL?: string\n}\n")
    assert atomo(tmp_path, "schema", "check").returncode == 0      # key-rename is a plain warning
    assert atomo(tmp_path, "schema", "check", "--strict").returncode == 4


TYPO = "export interface Deal {\n  id: string\n  title: Strin\n}\n"
HARMLESS = ("export interface Deal {\n  id: string\n  title: string\n}\nlet x = 1\n"
            "export const schema = { models: { Deal: { ui: { listView: ['title', 'titel'] } } } }\n")


def test_schema_check_counts_an_unknown_type_as_an_error(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(TYPO)
    result = atomo(tmp_path, "schema", "check")
    assert result.returncode == 4
    file = tmp_path / "schema.ts"
    assert result.stdout.splitlines() == [
        f"{file}:3:10: error[unknown-type]: unknown type 'Strin'. Did you mean 'string'?",
        f"{file}: 1 model, 4 fields; 1 error, 0 warnings"]
    data = json.loads(atomo(tmp_path, "schema", "check", "--format", "json").stdout)
    assert [(d["severity"], d["code"]) for d in data["diagnostics"]] == [("error", "unknown-type")]


def test_schema_check_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(HARMLESS)
    result = atomo(tmp_path, "schema", "check")
    assert result.returncode == 0, result.stdout
    file = tmp_path / "schema.ts"
    assert result.stdout.splitlines() == [
        f"{file}:5:1: warning[ignored-syntax]: 'let' is read as 'const'",
        f"{file}:6:69: warning[ui-field]: ui.listView: 'titel' is not a field of Deal. Did you mean 'title'?",
        f"{file}: 1 model, 4 fields; 0 errors, 2 warnings"]
    assert atomo(tmp_path, "schema", "check", "--strict").returncode == 4


def test_serve_check_refuses_what_schema_check_counts_as_errors(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(TYPO)
    refused = atomo(tmp_path, "serve", "--check")
    assert refused.returncode == 4, refused.stderr
    assert refused.stderr.splitlines() == [
        f"atomo: {tmp_path / 'schema.ts'}: 1 error, 0 warnings: {tmp_path / 'schema.ts'}:3:10: error[unknown-type]: "
        "unknown type 'Strin'. Did you mean 'string'?",
        f"{tmp_path / 'schema.ts'}:3:10: error[unknown-type]: unknown type 'Strin'. Did you mean 'string'?"]
    assert not (tmp_path / ".atomo").exists()
    (tmp_path / "schema.ts").write_text(HARMLESS)
    served = atomo(tmp_path, "serve", "--check")
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == "ok: schema, migrations and settings are valid"
    strict = atomo(tmp_path, "serve", "--check", "--strict-schema")
    assert strict.returncode == 4 and "warning[ui-field]" in strict.stderr


def test_projections_rebuild_and_check(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text((SAMPLE / "schema.ts").read_text())
    (tmp_path / "seed.json").write_text((SAMPLE / "seed.json").read_text())
    import asyncio

    from atomo import Atomo
    from tests.conftest import settings

    async def prepare() -> None:
        async with Atomo(tmp_path, settings=settings()) as app:
            await app.runtime.seed_file(tmp_path / "seed.json")
            await app.update("Deal", id="d-2", data={"stage": "won"})
            await app.delete("Deal", id="d-4")
    asyncio.run(prepare())
    result = atomo(tmp_path, "projections", "rebuild", "--check")
    assert result.returncode == 0, result.stderr
    assert "no differences" in result.stdout
    # one progress over every model's events: started with the total, done at total/total, once
    conn = sqlite3.connect(tmp_path / ".atomo" / "atomo.db")
    total = conn.execute("SELECT count(*) FROM events WHERE model IS NOT NULL").fetchone()[0]
    conn.close()
    progress = [line for line in result.stderr.splitlines() if line.startswith("events:")]
    assert progress[0] == f"events: started ({total} to do)" and progress[1].startswith(f"events: done {total}/{total} ")
    assert len(progress) == 2, result.stderr
    # a row deleted by hand: the summary shows the live count next to the rebuilt one
    conn = sqlite3.connect(tmp_path / ".atomo" / "atomo.db")
    conn.execute("DELETE FROM contacts WHERE id = (SELECT min(id) FROM contacts)")
    conn.commit()
    rebuilt = conn.execute("SELECT count(*) FROM contacts").fetchone()[0] + 1
    conn.close()
    result = atomo(tmp_path, "projections", "rebuild", "--check")
    assert result.returncode == 1 and f"Contact   {rebuilt:>4} rows" in result.stdout
    assert f"(live table: {rebuilt - 1} rows)" in result.stdout
    assert atomo(tmp_path, "projections", "rebuild").returncode == 0
    # a raw SQL change is outside the log: --check finds it and exits 1, rebuild repairs it
    db = tmp_path / ".atomo" / "atomo.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE deals SET value = 1 WHERE id = 'd-2'")
    conn.commit()
    conn.close()
    result = atomo(tmp_path, "projections", "rebuild", "--check")
    assert result.returncode == 1 and "Deal d-2: value live=1 rebuilt=82000.5" in result.stdout
    result = atomo(tmp_path, "projections", "rebuild")
    assert result.returncode == 0 and "rebuilt 3 tables from" in result.stdout
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value, deleted_at IS NOT NULL FROM deals WHERE id IN ('d-2','d-4') ORDER BY id"
                        ).fetchall() == [(82000.5, 0), (5000, 1)]
    conn.close()
    assert atomo(tmp_path, "projections", "rebuild", "--model", "Nope").returncode == 2
