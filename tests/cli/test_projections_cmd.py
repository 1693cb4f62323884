"""`atomo projections rebuild` and `atomo seed` with the custom projections (``@projection``) of a project's
hooks/*.py, through the real CLI."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from atomo import Atomo
from atomo.storage.events import NewEvent
from tests.cli.test_core_commands import atomo
from tests.conftest import SAMPLE, settings

HOOKS = '''
from atomo.hooks import projection


@projection("order-*", table="order_totals",
            schema="CREATE TABLE order_totals (order_id TEXT PRIMARY KEY, total REAL NOT NULL DEFAULT 0)")
def order_totals(event, db):
    if event.type == "OrderPlaced":
        db.execute("INSERT INTO order_totals VALUES (?, ?) ON CONFLICT (order_id) DO UPDATE SET total = total + "
                   "excluded.total", (event.stream, event.data["total"]))


@projection("Company/*", table="company_names", schema="CREATE TABLE company_names (id TEXT PRIMARY KEY, name TEXT)")
def company_names(event, db):
    if event.type in ("Created", "Updated") and "name" in event.data:
        db.execute("INSERT OR REPLACE INTO company_names VALUES (?, ?)", (event.record_id, event.data["name"]))
'''


def test_projections_rebuild_rebuilds_and_checks_the_tables_of_project_hooks(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text((SAMPLE / "schema.ts").read_text())
    (tmp_path / "seed.json").write_text((SAMPLE / "seed.json").read_text())
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "projections.py").write_text(HOOKS)
    seeded = atomo(tmp_path, "seed")                          # the CLI's seed runs the projections too
    assert seeded.returncode == 0, seeded.stderr

    async def prepare() -> None:
        async with Atomo(tmp_path, settings=settings()) as app:
            await app.events.append("order-1", [NewEvent("OrderPlaced", {"total": 10}),
                                                NewEvent("OrderPlaced", {"total": 2.5})])
            await app.events.append("order-2", [NewEvent("OrderPlaced", {"total": 4})])
            await app.update("Company", id="c-1", data={"name": "Renamed"})
    asyncio.run(prepare())
    db = tmp_path / ".atomo" / "atomo.db"
    conn = sqlite3.connect(db)
    names = conn.execute("SELECT id, name FROM companies ORDER BY id").fetchall()
    assert conn.execute("SELECT * FROM company_names ORDER BY id").fetchall() == names
    assert ("c-1", "Renamed") in names
    conn.close()

    result = atomo(tmp_path, "projections", "rebuild", "--check")
    assert result.returncode == 0, result.stderr
    assert "no differences" in result.stdout
    assert "order_totals    2 rows      3 events (projection)" in result.stdout
    assert "company_names    3 rows" in result.stdout

    conn = sqlite3.connect(db)
    conn.execute("UPDATE order_totals SET total = 0 WHERE order_id = 'order-2'")
    conn.commit()
    conn.close()
    result = atomo(tmp_path, "projections", "rebuild", "--check")
    assert result.returncode == 1
    assert "order_totals ('order-2', 0.0): missing rebuilt" in result.stdout
    assert "order_totals ('order-2', 4.0): missing live" in result.stdout

    result = atomo(tmp_path, "projections", "rebuild", "--model", "order_totals")
    assert result.returncode == 0, result.stderr
    assert "rebuilt 1 tables from 3 events" in result.stdout
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT * FROM order_totals ORDER BY order_id").fetchall() == [("order-1", 12.5), ("order-2", 4.0)]
    conn.close()
    assert atomo(tmp_path, "projections", "rebuild", "--check").returncode == 0
    result = atomo(tmp_path, "projections", "rebuild")
    assert result.returncode == 0 and "rebuilt 5 tables" in result.stdout
    assert atomo(tmp_path, "projections", "rebuild", "--model", "nope").returncode == 2
