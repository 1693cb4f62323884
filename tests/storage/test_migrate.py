"""Boot migration: create, extend additively, idempotent, and refuse what would lose or invent data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from atomo import Atomo
from atomo.errors import MigrationError
from tests.conftest import settings

V1 = """
export interface Deal {
  id: string
  title: string
  value?: number
}
"""


async def open_with(project: Path, text: str) -> Atomo:
    (project / "schema.ts").write_text(text)
    return await Atomo(project, settings=settings()).start()


def columns(db: Path, table: str) -> dict[str, tuple]:
    conn = sqlite3.connect(db)
    try:
        return {r[1]: (r[2], r[3], r[4]) for r in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


def objects(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    finally:
        conn.close()


async def test_create_then_idempotent(tmp_path: Path) -> None:
    app = await open_with(tmp_path, V1)
    assert app.runtime.migration.statements
    db = app.runtime.project.data_file
    await app.close()
    cols = columns(db, "deals")
    assert list(cols) == ["id", "title", "value", "created_at", "updated_at", "deleted_at", "tenant_id", "_version"]
    assert {"idx_deals_tenant_id", "idx_deals_deleted_at", "events", "users", "sessions"} <= objects(db)
    app = await open_with(tmp_path, V1)
    assert app.runtime.migration.statements == [], "a second run changes nothing"
    await app.close()


async def test_additive_changes(tmp_path: Path) -> None:
    app = await open_with(tmp_path, V1)
    await app.create("Deal", {"title": "Existing"})
    await app.close()
    v2 = V1.replace("value?: number", "value?: number\n  stage: string // @default('lead') @index\n"
                    "  notes?: string[]\n  code?: string // @unique")
    app = await open_with(tmp_path, v2)
    [row] = await app.records("Deal")
    assert row["stage"] == "lead" and row["notes"] == [] and row["code"] is None
    db = app.runtime.project.data_file
    await app.close()
    assert {"idx_deals_stage", "uq_deals_code"} <= objects(db)
    # dropping the annotation drops the index; the column stays
    app = await open_with(tmp_path, v2.replace("// @unique", ""))
    await app.close()
    assert "uq_deals_code" not in objects(db) and "code" in columns(db, "deals")


async def test_required_field_on_populated_table_fails_and_changes_nothing(tmp_path: Path) -> None:
    app = await open_with(tmp_path, V1)
    await app.create("Deal", {"title": "Existing"})
    db = app.runtime.project.data_file
    await app.close()
    before = columns(db, "deals")
    with pytest.raises(MigrationError) as err:
        await open_with(tmp_path, V1.replace("value?: number", "value?: number\n  priority: number"))
    assert 'cannot add required field Deal.priority: table "deals" has 1 rows' in err.value.message
    assert "atomo migrate --generate --name" in err.value.message
    assert columns(db, "deals") == before


async def test_required_field_on_empty_table_recreates_it(tmp_path: Path) -> None:
    app = await open_with(tmp_path, V1)
    await app.close()
    app = await open_with(tmp_path, V1.replace("value?: number", "value?: number\n  priority: number"))
    db = app.runtime.project.data_file
    await app.close()
    assert columns(db, "deals")["priority"][1] == 1   # NOT NULL


async def test_unique_index_over_duplicates_fails(tmp_path: Path) -> None:
    app = await open_with(tmp_path, V1)
    await app.create("Deal", {"title": "Same"})
    await app.create("Deal", {"title": "Same"})
    await app.close()
    with pytest.raises(MigrationError, match="uq_deals_title"):
        await open_with(tmp_path, V1.replace("title: string", "title: string // @unique"))


async def test_check_rule_trigger(tmp_path: Path) -> None:
    from atomo.errors import ValidationError
    app = await open_with(tmp_path, V1.replace("value?: number", "value?: number\n  // @@check(value >= 0)"))
    await app.create("Deal", {"title": "ok", "value": 3})
    await app.create("Deal", {"title": "null passes"})
    with pytest.raises(ValidationError) as err:
        await app.create("Deal", {"title": "bad", "value": -1})
    assert err.value.details[0]["code"] == "check" and err.value.details[0]["field"] is None
    await app.close()
