"""`atomo seed`: JSON through the write path (events with origin seed), skips on re-run, the first invalid
record aborts the file, SQL files with their warning, --dispatch-actions."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from tests.cli.conftest import atomo


def count(project: Path, sql: str) -> int:
    conn = sqlite3.connect(project / ".atomo" / "atomo.db")
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_seed_json_then_rerun_skips(crm: Path) -> None:
    result = atomo("--project", str(crm), "seed", cwd=crm)
    assert result.exit_code == 0, result.output
    summary = r"Seeded 13 records \(Company 3, Contact 6, Deal 4\), 0 skipped in \d+\.\d\d s\n"
    assert re.fullmatch(summary, result.stdout)
    assert "seed.json: started (13 to do)" in result.stderr and "seed.json: done 13/13" in result.stderr
    assert count(crm, "SELECT count(*) FROM events WHERE origin = 'seed' AND type = 'Created'") == 13
    again = atomo("--project", str(crm), "seed", cwd=crm)
    assert again.exit_code == 0
    assert re.fullmatch(r"Seeded 0 records, 13 skipped in \d+\.\d\d s\n", again.stdout)
    assert count(crm, "SELECT count(*) FROM events") == 13


def test_records_without_id_are_always_created(crm: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"Company": [{"name": "Nameless One"}, {"id": "x-1", "name": "With Id"}]}))
    for expected in ("Seeded 2 records (Company 2), 0 skipped", "Seeded 1 records (Company 1), 1 skipped"):
        result = atomo("--project", str(crm), "seed", "--file", str(extra), cwd=crm)
        assert result.exit_code == 1 or result.stdout.startswith(expected), result.output
        if result.exit_code:  # the unique name of the nameless company stops the second run
            assert "name must be unique" in result.stderr


def test_first_invalid_record_aborts_the_file(crm: Path) -> None:
    (crm / "seed.json").write_text(json.dumps({
        "Company": [{"id": "c-1", "name": "Initech"}],
        "Contact": [{"firstName": "A", "lastName": "B"}, {"firstName": "C", "lastName": "D"},
                    {"firstName": "E", "lastName": "F"}, {"firstName": "G", "lastName": "H", "email": "nope"}],
    }))
    result = atomo("--project", str(crm), "seed", cwd=crm)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "atomo: seed.json: Contact[3]: email must be a valid email"
    assert count(crm, "SELECT count(*) FROM events") == 0
    assert count(crm, "SELECT count(*) FROM companies") == 0


def test_invalid_json_and_missing_file(crm: Path) -> None:
    (crm / "bad.json").write_text("{nope")
    bad = atomo("--project", str(crm), "seed", "--file", str(crm / "bad.json"), cwd=crm)
    assert bad.exit_code == 1 and bad.stderr.startswith("atomo: bad.json: invalid JSON")
    missing = atomo("--project", str(crm), "seed", "--file", str(crm / "none.json"), cwd=crm)
    assert missing.exit_code == 1 and "does not exist" in missing.stderr


def test_sql_seed_runs_in_one_transaction_with_a_warning(crm: Path) -> None:
    (crm / "seed.sql").write_text("INSERT INTO companies (id, name, created_at, updated_at) VALUES "
                                  "('s-1', 'Sql Co', 'now', 'now');\nINSERT INTO companies (id, name, created_at, "
                                  "updated_at) VALUES ('s-2', 'Sql Two', 'now', 'now');\n")
    result = atomo("--project", str(crm), "seed", "--file", str(crm / "seed.sql"), cwd=crm)
    assert result.exit_code == 0, result.output
    assert "warning: seed.sql: rows written by SQL bypass the event log" in result.stderr
    assert re.fullmatch(r"Executed seed.sql: 2 statements, 2 rows changed in \d+\.\d\d s\n", result.stdout)
    assert count(crm, "SELECT count(*) FROM companies") == 2
    (crm / "bad.sql").write_text("INSERT INTO companies (id, name, created_at, updated_at) VALUES "
                                 "('s-3', 'Three', 'now', 'now');\nINSERT INTO nowhere VALUES (1);\n")
    bad = atomo("--project", str(crm), "seed", "--file", str(crm / "bad.sql"), cwd=crm)
    assert bad.exit_code == 1
    assert "bad.sql: statement 2 failed: no such table: nowhere; nothing was applied" in bad.stderr
    assert count(crm, "SELECT count(*) FROM companies") == 2


def test_actions_are_dispatched_only_with_dispatch_actions(crm: Path, tmp_path: Path) -> None:
    assert atomo("--project", str(crm), "seed", cwd=crm).exit_code == 0
    assert count(crm, "SELECT count(*) FROM jobs") == 0
    more = tmp_path / "more.json"
    more.write_text(json.dumps({"Deal": [{"id": "d-new", "title": "Seeded deal", "companyId": "c-1"}]}))
    result = atomo("--project", str(crm), "seed", "--file", str(more), "--dispatch-actions", cwd=crm)
    assert result.exit_code == 0, result.output
    assert count(crm, "SELECT count(*) FROM jobs WHERE queue = 'actions' AND kind = 'scoreDeal'") == 1

def test_embedded_default_seeds_the_sample(tmp_path: Path) -> None:
    result = atomo("seed", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Seeded 0 records, 13 skipped")   # the first start seeded the sample
    assert (tmp_path / ".atomo" / "atomo.db").is_file()
