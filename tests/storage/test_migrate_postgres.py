"""The boot migration on PostgreSQL (issue 21): model tables with PostgreSQL types, the same additive and idempotent
plan as on SQLite, checks as constraints and unique indexes with the documented validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomo import Atomo, ValidationError
from tests.conftest import postgres_schema_connection, settings

pytest.importorskip("psycopg")

V1 = """
export interface Deal {
  id: string
  title: string
  value?: number
  open?: boolean
  // @@check(value >= 0)
  // @@unique([title, value])
}
"""
V2 = V1.replace("  open?: boolean\n", "  open?: boolean\n  note?: string\n").replace(
    "  // @@unique([title, value])\n", "  // @@index([title])\n")


async def open_with(project: Path, text: str, url: str) -> Atomo:
    (project / "schema.ts").write_text(text)
    return await Atomo(project, settings=settings(database_url=url)).start()


def catalog(server, schema: str) -> tuple[dict[str, str], set[str]]:  # noqa: ANN001
    conn = postgres_schema_connection(server, schema)
    try:
        columns = {r[0]: r[1] for r in conn.execute(
            "SELECT column_name, data_type || coalesce(' ' || collation_name, '') FROM information_schema.columns"
            " WHERE table_schema = ? AND table_name = 'deals'", (schema,))}
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = ?", (schema,))}
        names |= {r[0] for r in conn.execute("SELECT conname FROM pg_constraint k JOIN pg_namespace n"
                                             " ON n.oid = k.connamespace WHERE n.nspname = ?", (schema,))}
        return columns, names
    finally:
        conn.close()


def schema_of(url: str) -> str:
    return url.rsplit("%3D", 1)[1]


async def test_tables_types_and_a_second_boot_changes_nothing(tmp_path: Path, postgres_server, postgres_url: str
                                                             ) -> None:  # noqa: ANN001
    app = await open_with(tmp_path, V1, postgres_url)
    assert app.runtime.migration is not None and app.runtime.migration.statements
    await app.close()
    columns, names = catalog(postgres_server, schema_of(postgres_url))
    assert columns["id"] == "text C" and columns["title"] == "text C" and columns["value"] == "numeric"
    assert columns["open"] == "bigint" and columns["_version"] == "bigint"
    assert {"idx_deals_tenant_id", "idx_deals_created_at", "uq_deals_title_value"} <= names
    assert any(n.startswith("chk_deals_") for n in names)
    app = await open_with(tmp_path, V1, postgres_url)
    assert app.runtime.migration is not None and app.runtime.migration.statements == [], "a second boot changes nothing"
    await app.close()


async def test_constraints_answer_as_on_sqlite_and_changes_are_additive(tmp_path: Path, postgres_server,
                                                                       postgres_url: str) -> None:  # noqa: ANN001
    app = await open_with(tmp_path, V1, postgres_url)
    deal = await app.create("Deal", {"title": "Pilot", "value": 10, "open": True})
    assert deal["value"] == 10 and deal["open"] is True
    with pytest.raises(ValidationError) as err:
        await app.create("Deal", {"title": "Pilot", "value": 10})
    assert err.value.details == [{"field": "title, value", "message": "title, value must be unique together",
                                  "code": "unique"}]
    with pytest.raises(ValidationError) as err:
        await app.create("Deal", {"title": "Negative", "value": -1})
    assert err.value.details[0]["code"] == "check" and "chk_deals_" in err.value.message
    with pytest.raises(ValidationError) as err:
        await app.create("Deal", {"title": "a\x00b"})
    assert err.value.details[0]["code"] == "type" and "NUL" in err.value.message
    assert await app.count("Deal") == 1 and len(await app.events.read_all()) == 1   # nothing half-written
    await app.close()

    app = await open_with(tmp_path, V2, postgres_url)
    plan = app.runtime.migration
    assert plan is not None and any("ADD COLUMN" in s and '"note"' in s for s in plan.statements)
    assert any(s.startswith('DROP INDEX "uq_deals_title_value"') for s in plan.statements)
    same = await app.create("Deal", {"title": "Pilot", "value": 10, "note": "a second one may exist now"})
    assert same["note"] == "a second one may exist now"
    assert [r["title"] for r in await app.records("Deal", order_by={"note": "asc"})] == ["Pilot", "Pilot"]
    await app.close()
    columns, names = catalog(postgres_server, schema_of(postgres_url))
    assert columns["note"] == "text C" and "idx_deals_title" in names and "uq_deals_title_value" not in names
    app = await open_with(tmp_path, V2, postgres_url)
    assert app.runtime.migration is not None and app.runtime.migration.statements == []
    await app.close()
