"""`atomo migrate`: file migrations (checksum rule, refusals, rollback), dry run, --generate, and every start."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path

from atomo.config import load_settings
from atomo.project import resolve_project
from atomo.runtime import Runtime
from atomo.storage.file_migrations import checksum
from tests.cli.conftest import atomo

DEAL_FIELD = "  probability?: number; closeDate?: Date"


def add_to_deal(project: Path, line: str) -> None:
    path = project / "schema.ts"
    path.write_text(path.read_text().replace(DEAL_FIELD, DEAL_FIELD + "\n" + line, 1))


def rows(project: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(project / ".atomo" / "atomo.db")
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def write(project: Path, name: str, sql: str) -> Path:
    path = project / "migrations" / name
    path.write_text(sql)
    return path


def migrate(project: Path, *args: str):  # noqa: ANN201
    return atomo("--project", str(project), "migrate", *args, cwd=project)


def test_applies_pending_files_in_order_then_nothing(crm: Path) -> None:
    assert migrate(crm).exit_code == 0
    write(crm, "002_fill.sql", "UPDATE companies SET industry = 'Other' WHERE industry IS NULL;\n")
    write(crm, "001_table.sql", "-- a comment\r\nCREATE TABLE notes_extra (id TEXT PRIMARY KEY, body TEXT);\r\n"
                                "CREATE TRIGGER t_extra AFTER INSERT ON notes_extra BEGIN SELECT 1; END;\r\n")
    result = migrate(crm)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" in ")[0] for line in lines] == ["applied 001_table.sql", "applied 002_fill.sql"]
    assert all(line.endswith(" ms") for line in lines)
    assert "002_fill.sql writes rows of companies: they bypass the event log" in result.stderr
    recorded = rows(crm, "SELECT name, checksum FROM _atomo_migrations ORDER BY name")
    raw = (crm / "migrations" / "001_table.sql").read_bytes()
    assert recorded[0] == ("001_table.sql", checksum(raw.replace(b"\r\n", b"\n")))
    assert recorded[0][1] == checksum(raw)
    again = migrate(crm)
    assert again.stdout == "Nothing to apply\n"


def test_tampered_applied_file_is_refused(crm: Path) -> None:
    path = write(crm, "001_a.sql", "CREATE TABLE a (id TEXT);\n")
    assert migrate(crm).exit_code == 0
    path.write_text("CREATE TABLE a (id TEXT, more TEXT);\n")
    write(crm, "002_b.sql", "CREATE TABLE b (id TEXT);\n")
    result = migrate(crm)
    assert result.exit_code == 5
    assert result.stderr == ("atomo: migration 001_a.sql changed after it was applied; restore it and put the "
                             "change in a new file\n")
    assert rows(crm, "SELECT name FROM _atomo_migrations") == [("001_a.sql",)]
    path.write_text("CREATE TABLE a (id TEXT);\r\n")   # CRLF only: the same checksum
    assert migrate(crm).exit_code == 0


def test_missing_applied_file_is_a_warning(crm: Path) -> None:
    path = write(crm, "001_a.sql", "CREATE TABLE a (id TEXT);\n")
    assert migrate(crm).exit_code == 0
    path.unlink()
    result = migrate(crm)
    assert result.exit_code == 0
    assert "warning: migration 001_a.sql was applied but is no longer in migrations/" in result.stderr


def test_failing_file_is_rolled_back_and_later_files_wait(crm: Path) -> None:
    write(crm, "001_ok.sql", "CREATE TABLE ok (id TEXT);\n")
    write(crm, "002_bad.sql", "CREATE TABLE half (id TEXT);\nINSERT INTO nowhere VALUES (1);\n")
    write(crm, "003_later.sql", "CREATE TABLE later (id TEXT);\n")
    result = migrate(crm)
    assert result.exit_code == 5
    assert result.stdout.startswith("applied 001_ok.sql in ")
    assert "atomo: migration 002_bad.sql failed at statement 2: no such table: nowhere; it was rolled back" \
        in result.stderr
    tables = {r[0] for r in rows(crm, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "ok" in tables and "half" not in tables and "later" not in tables
    assert rows(crm, "SELECT name FROM _atomo_migrations") == [("001_ok.sql",)]


def test_transaction_control_and_edit_required_are_refused(crm: Path) -> None:
    for body in ("BEGIN;\nCREATE TABLE x (id TEXT);\nCOMMIT;\n", "VACUUM;\n", "CREATE TABLE x (id TEXT);\nEND;\n"):
        path = write(crm, "001_x.sql", body)
        result = migrate(crm)
        assert result.exit_code == 5, body
        assert "each file already runs in its own transaction" in result.stderr
        path.unlink()
    write(crm, "001_x.sql", "-- fill it\n-- atomo:edit-required\n")
    result = migrate(crm)
    assert result.exit_code == 5
    assert "still contains '-- atomo:edit-required'" in result.stderr


def test_dry_run_changes_nothing(crm: Path) -> None:
    write(crm, "001_a.sql", "CREATE TABLE a (id TEXT);\n")
    result = migrate(crm, "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "would apply 001_a.sql (1 statements)"
    assert lines[1] == "  CREATE TABLE a (id TEXT);"
    assert lines[2].startswith("would run the boot migration (")
    assert not (crm / ".atomo" / "atomo.db").exists()
    assert migrate(crm).exit_code == 0
    assert migrate(crm, "--dry-run").stdout == "Nothing to apply\n"


def test_database_url_and_usage_errors(crm: Path, tmp_path: Path) -> None:
    target = tmp_path / "other.db"
    result = migrate(crm, "--database-url", f"sqlite:///{target}")
    assert result.exit_code == 0, result.output
    assert target.is_file() and not (crm / ".atomo" / "atomo.db").exists()
    unreachable = migrate(crm, "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert unreachable.exit_code == 3 and "cannot connect to PostgreSQL" in unreachable.output
    assert migrate(crm, "--database-url", "mysql://x/y").exit_code == 3
    named = migrate(crm, "--name", "x")
    assert named.exit_code == 2 and "--name needs --generate" in named.stderr


def test_generate_writes_file_and_snapshot_then_no_changes(crm: Path) -> None:
    first = migrate(crm, "--generate", "--name", "Initial Schema!")
    assert first.exit_code == 0, first.output
    files = sorted((crm / "migrations").glob("*.sql"))
    assert len(files) == 1 and files[0].name.endswith("_initial_schema.sql") and files[0].name[:14].isdigit()
    assert re.fullmatch(rf"wrote migrations/{files[0].name} \(\d+ statements\)\n", first.stdout), first.stdout
    assert (crm / "migrations" / "schema.snapshot.json").is_file()
    unchanged = migrate(crm, "--generate")
    assert unchanged.exit_code == 0 and unchanged.stdout == "No schema changes detected\n"
    applied = migrate(crm)
    assert applied.stdout.startswith(f"applied {files[0].name} in ")
    assert "boot migration" not in applied.stdout   # the file created everything


def test_generate_after_an_additive_change_records_it_when_dev_applied_it(crm: Path) -> None:
    assert migrate(crm, "--generate", "--name", "init").exit_code == 0
    assert migrate(crm).exit_code == 0
    add_to_deal(crm, "  priority?: number             // @index")
    assert migrate(crm).stdout.splitlines() == ["Deal +1 field (priority)",
                                                "boot migration: 2 statements applied"]   # as atomo dev would
    result = migrate(crm, "--generate", "--name", "add_deal_priority")
    assert result.exit_code == 0, result.output
    name = result.stdout.split()[1]
    assert name.endswith("_add_deal_priority.sql")
    assert result.stdout.splitlines() == [f"wrote {name} (2 statements)", "recorded as applied in .atomo/atomo.db"]
    text = (crm / name).read_text()
    assert 'ALTER TABLE "deals" ADD COLUMN "priority" NUMERIC;' in text
    assert 'CREATE INDEX "idx_deals_priority" ON "deals" ("priority");' in text
    assert migrate(crm).stdout == "Nothing to apply\n"


def test_generate_required_field_needs_an_edit(crm: Path) -> None:
    assert migrate(crm, "--generate", "--name", "init").exit_code == 0
    add_to_deal(crm, "  region: string")
    result = migrate(crm, "--generate", "--name", "add_region")
    assert result.exit_code == 0, result.output
    path = crm / result.stdout.split()[1]
    text = path.read_text()
    assert "-- atomo:edit-required" in text and "DROP TABLE" not in text
    assert '-- ALTER TABLE "deals" ADD COLUMN "region" TEXT;' in text
    assert migrate(crm).exit_code == 5
    path.write_text(text.replace('-- ALTER TABLE "deals" ADD COLUMN "region" TEXT;',
                                 'ALTER TABLE "deals" ADD COLUMN "region" TEXT;')
                    .replace("-- atomo:edit-required\n", ""))
    assert migrate(crm).exit_code == 0


def test_generate_needs_a_project_and_a_valid_schema(tmp_path: Path, crm: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    sample = atomo("migrate", "--generate", cwd=empty)
    assert sample.exit_code == 1 and "migrate --generate needs a project" in sample.stderr
    (crm / "schema.ts").write_text("export interface Broken { id: string; x: ??? }\n")
    assert migrate(crm, "--generate").exit_code == 4


def test_every_start_applies_pending_files_before_the_boot_migration(crm: Path) -> None:
    write(crm, "001_pre.sql",
          "CREATE TABLE companies (id TEXT PRIMARY KEY, name TEXT NOT NULL, industry TEXT, website TEXT, "
          "employee_count NUMERIC, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT, tenant_id "
          "TEXT, _version INTEGER NOT NULL DEFAULT 1, legacy TEXT);\n"
          "INSERT INTO companies (id, name, created_at, updated_at) VALUES ('c-9', 'Old', 'x', 'x');\n")
    settings = load_settings({}, project_dir=str(crm))

    async def start() -> Runtime:
        runtime = await Runtime(settings, resolve_project(settings, project_dir=crm)).start()
        await runtime.close()
        return runtime

    runtime = asyncio.run(start())
    assert [a.name for a in runtime.applied_files] == ["001_pre.sql"]
    assert runtime.migration is not None
    assert "column companies.legacy is no longer in the schema; kept" in runtime.migration.warnings
    assert "Company: created table companies" not in runtime.migration.notes
    assert rows(crm, "SELECT id, legacy FROM companies") == [("c-9", None)]


def test_migrate_on_postgres_applies_then_has_nothing_to_apply(crm: Path, postgres_url: str) -> None:
    """``--database-url postgresql://…`` (issue 21): files and the boot migration on the server's schema."""
    (crm / "migrations").mkdir(exist_ok=True)
    (crm / "migrations" / "20260101000000_note.sql").write_text("CREATE TABLE notes (id text PRIMARY KEY);\n")
    dry = migrate(crm, "--database-url", postgres_url, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would apply 20260101000000_note.sql" in dry.stdout and "would run the boot migration" in dry.stdout
    first = migrate(crm, "--database-url", postgres_url)
    assert first.exit_code == 0, first.output
    assert "applied 20260101000000_note.sql" in first.stdout and "boot migration:" in first.stdout
    assert migrate(crm, "--database-url", postgres_url).stdout == "Nothing to apply\n"
    assert migrate(crm, "--database-url", postgres_url, "--dry-run").stdout == "Nothing to apply\n"
    assert not (crm / ".atomo" / "atomo.db").exists()
