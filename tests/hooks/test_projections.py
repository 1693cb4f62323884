"""Custom projections (``@projection`` in hooks, atomo.hooks.projections): a table maintained from events on every
append path inside the append's transaction, rebuilt (and checked) by the projection rebuild."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from atomo import Atomo
from atomo.data.streams import EventStore
from atomo.errors import ConfigError, ConflictError, StorageError
from atomo.hooks import HookContext, HookSet, ProjectionDB, after, projection
from atomo.hooks.loader import load_hooks
from atomo.storage.events import NewEvent, StoredEvent
from tests.conftest import SAMPLE, make_project, settings

ORDER_SCHEMA = ("CREATE TABLE order_totals (order_id TEXT PRIMARY KEY, total REAL NOT NULL DEFAULT 0,"
                " placed INTEGER NOT NULL DEFAULT 0);"
                " CREATE INDEX order_totals_by_total ON order_totals (total)")


@projection("order-*", table="order_totals", schema=ORDER_SCHEMA)
def order_totals(event: StoredEvent, db: Any) -> None:
    if event.type == "OrderPlaced":
        db.execute("INSERT INTO order_totals (order_id, total, placed) VALUES (?, ?, 1) ON CONFLICT (order_id) DO "
                   "UPDATE SET total = order_totals.total + excluded.total, placed = order_totals.placed + 1",
                   (event.stream, event.data["total"]))
    elif event.type == "OrderCancelled":
        db.execute("DELETE FROM order_totals WHERE order_id = ?", (event.stream,))
    elif event.type == "Explode":
        raise RuntimeError("kaboom")


@projection("Deal/{id}", table="deal_events",
            schema="CREATE TABLE deal_events (deal_id TEXT NOT NULL, type TEXT NOT NULL, version INTEGER NOT NULL,"
                   " PRIMARY KEY (deal_id, version))")
def deal_events(event: StoredEvent, db: Any) -> None:
    db.execute("INSERT INTO deal_events VALUES (?, ?, ?)", (event.record_id, event.type, event.stream_version))


def rows(app: Atomo, sql: str, params: tuple[Any, ...] = ()) -> Any:
    return app.runtime.db.read(lambda c: [tuple(r) for r in c.execute(sql, params)])


async def test_every_append_path_runs_the_projection_in_its_transaction(tmp_path: Path, backend_settings: Any) -> None:
    @after("Deal", "create")
    async def announce(deal: dict[str, Any], ctx: HookContext) -> None:
        await ctx.events.append("order-from-hook", "OrderPlaced", {"total": 1.5})

    async with Atomo(make_project(tmp_path), settings=backend_settings, hooks=[order_totals, deal_events, announce]
                     ) as app:
        await app.runtime.seed_file(SAMPLE / "seed.json")                        # seed: model events
        seeded = await rows(app, "SELECT count(*) FROM deal_events")
        assert seeded == [(4,)]
        deal = await app.create("Deal", {"title": "Projected", "companyId": "c-1"})    # a model write
        await app.update("Deal", id=deal["id"], data={"stage": "won"})
        await app.delete("Deal", id=deal["id"])
        await app.events.append(f"Deal/{deal['id']}", [NewEvent("Noted", {})])       # custom event on a record
        await app.events.append("order-1", [NewEvent("OrderPlaced", {"total": 10}),   # library append
                                            NewEvent("OrderPlaced", {"total": 2.5})])
        await EventStore(app.runtime.data).append("order-2", [{"type": "OrderPlaced", "data": {"total": 7}}])  # GraphQL
        await app.events.append("orders-elsewhere", [NewEvent("OrderPlaced", {"total": 99})])  # not matched
        await app.runtime.data.hooks.drain()
        assert await rows(app, "SELECT * FROM order_totals ORDER BY order_id") == [
            ("order-1", 12.5, 2), ("order-2", 7.0, 1), ("order-from-hook", 1.5, 1)]
        assert await rows(app, "SELECT type, version FROM deal_events WHERE deal_id = ? ORDER BY version",
                          (deal["id"],)) == [("Created", 1), ("Updated", 2), ("Deleted", 3), ("Noted", 4)]
        check = await app.projections.rebuild(check=True)
        assert check.differences == []
        custom = {m.model: m for m in check.models if m.projection}
        assert (custom["order_totals"].rows, custom["order_totals"].events) == (3, 4)
        assert custom["deal_events"].rows == custom["deal_events"].events == 8


async def test_a_failing_projection_fails_the_append_with_internal_error(tmp_path: Path, backend_settings: Any,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    async with Atomo(make_project(tmp_path), settings=backend_settings, hooks=[order_totals]) as app:
        await app.events.append("order-1", [NewEvent("OrderPlaced", {"total": 10})])
        before = await app.events.last_position()
        with caplog.at_level(logging.ERROR), pytest.raises(StorageError) as failed:
            await app.events.append("order-1", [NewEvent("OrderPlaced", {"total": 5}), NewEvent("Explode", {})])
        assert failed.value.code == "INTERNAL_ERROR"
        assert await app.events.last_position() == before               # nothing appended, the row untouched
        assert await rows(app, "SELECT total FROM order_totals") == [(10.0,)]
        logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
        assert "projection order_totals ('order-*' -> table order_totals)" in logged
        assert "Explode on order-1" in logged and "kaboom" in logged
        # concurrent appends batched with a failing one: the others commit, each projected once
        results = await asyncio.gather(*(app.events.append("order-9", [NewEvent("Explode" if n == 3 else "OrderPlaced",
                                                                                 {"total": 1})])
                                         for n in range(8)), return_exceptions=True)
        assert sum(isinstance(r, StorageError) for r in results) == 1
        assert await rows(app, "SELECT total, placed FROM order_totals WHERE order_id = 'order-9'") == [(7.0, 7)]
        assert (await app.projections.rebuild(check=True)).differences == []


async def test_a_projection_reaches_only_its_table(tmp_path: Path, backend_settings: Any) -> None:
    attempts = {"read": "SELECT count(*) FROM events", "write": "DELETE FROM deals",
                "ddl": "DROP TABLE spy", "pragma": "PRAGMA user_version = 3", "tx": "COMMIT"}

    @projection("spy-*", table="spy", schema="CREATE TABLE spy (n INTEGER)")
    def spy(event: StoredEvent, db: Any) -> None:
        db.execute("INSERT INTO spy VALUES (1)")
        db.execute(attempts[event.type])

    async with Atomo(make_project(tmp_path), settings=backend_settings, hooks=[spy]) as app:
        await app.runtime.seed_file(SAMPLE / "seed.json")
        for kind in attempts:
            with pytest.raises(StorageError):
                await app.events.append("spy-1", [NewEvent(kind, {})])
        assert not hasattr(ProjectionDB, "commit") and not hasattr(ProjectionDB, "executescript")
        assert await rows(app, "SELECT count(*) FROM spy") == [(0,)]
        assert await rows(app, "SELECT count(*) FROM deals") == [(4,)]
        # the writer works as before afterwards (statements prepared under the authorizer are not kept denied)
        await app.create("Deal", {"title": "Still fine", "companyId": "c-1"})
        assert await rows(app, "SELECT count(*) FROM deals") == [(5,)]


async def test_rebuild_repairs_checks_and_recreates_projection_tables(tmp_path: Path) -> None:
    async with Atomo(make_project(tmp_path), settings=settings(), hooks=[order_totals, deal_events]) as app:
        for n in range(5):
            await app.events.append(f"order-{n % 2}", [NewEvent("OrderPlaced", {"total": n})])
        await app.events.append("order-0", [NewEvent("OrderCancelled", {})])
        live = await rows(app, "SELECT * FROM order_totals ORDER BY order_id")
        assert live == [("order-1", 4.0, 2)]
        conn = sqlite3.connect(app.runtime.project.data_file)
        conn.execute("UPDATE order_totals SET total = 0")
        conn.execute("INSERT INTO order_totals VALUES ('ghost', 1, 1)")
        conn.commit()
        check = await app.projections.rebuild(["order_totals"], check=True)
        assert [m.model for m in check.models] == ["order_totals"] and check.skipped_events == 0
        assert check.differences == ["order_totals ('ghost', 1.0, 1): missing rebuilt",
                                     "order_totals ('order-1', 0.0, 2): missing rebuilt",
                                     "order_totals ('order-1', 4.0, 2): missing live"]
        assert check.models[0].live_rows == 2 and check.models[0].rows == 1
        report = await app.projections.rebuild(["order_totals"])
        assert report.models[0].events == 6
        assert await rows(app, "SELECT * FROM order_totals ORDER BY order_id") == live
        # the table is recreated from its schema: index back, no leftover shadow, live appends continue
        schema = conn.execute("SELECT type, name, tbl_name FROM sqlite_master WHERE tbl_name LIKE '%order_totals%'"
                              " ORDER BY type, name").fetchall()
        assert schema == [("index", "order_totals_by_total", "order_totals"),
                          ("index", "sqlite_autoindex_order_totals_1", "order_totals"),
                          ("table", "order_totals", "order_totals")]
        conn.close()
        await app.events.append("order-1", [NewEvent("OrderPlaced", {"total": 1})])
        assert await rows(app, "SELECT total FROM order_totals") == [(5.0,)]
        assert (await app.projections.rebuild(check=True)).differences == []
        everything = await app.projections.rebuild()
        assert {m.model for m in everything.models if m.projection} == {"order_totals", "deal_events"}


async def test_project_hooks_files_declare_projections(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "hooks").mkdir()
    (project / "hooks" / "orders.py").write_text(
        "from atomo.hooks import projection\n\n"
        "@projection('order-*', table='order_count', schema='CREATE TABLE order_count (n INTEGER NOT NULL)')\n"
        "def count(event, db):\n"
        "    if db.execute('SELECT count(*) FROM order_count').fetchone()[0] == 0:\n"
        "        db.execute('INSERT INTO order_count VALUES (0)')\n"
        "    db.execute('UPDATE order_count SET n = n + 1')\n")
    async with Atomo(project, settings=settings()) as app:
        assert list(app.runtime.hooks.projections) == ["order_count"]
        await app.events.append("order-1", [NewEvent("OrderPlaced", {}), NewEvent("OrderShipped", {})])
        assert await rows(app, "SELECT n FROM order_count") == [(2,)]
    async with Atomo(project, settings=settings()) as app:          # the table exists: kept as it is
        assert await rows(app, "SELECT n FROM order_count") == [(2,)]


async def test_reloaded_hooks_take_over_the_projections(tmp_path: Path, backend_settings: Any) -> None:
    async with Atomo(make_project(tmp_path), settings=backend_settings, hooks=[order_totals]) as app:
        await app.events.append("order-1", [NewEvent("OrderPlaced", {"total": 1})])
        app.runtime.hooks = HookSet([deal_events])        # what atomo dev does after a reload
        await asyncio.gather(*app.runtime._tasks)          # the exclusive unit switching them
        assert await rows(app, "SELECT count(*) FROM deal_events") == [(0,)]
        await app.create("Company", {"id": "c", "name": "Comp"})
        deal = await app.create("Deal", {"title": "After reload", "companyId": "c"})
        await app.events.append("order-1", [NewEvent("OrderPlaced", {"total": 1})])
        assert await rows(app, "SELECT deal_id FROM deal_events") == [(deal["id"],)]
        assert await rows(app, "SELECT total FROM order_totals") == [(1.0,)]   # no longer maintained


def test_declarations_are_checked_when_the_hooks_load(tmp_path: Path) -> None:
    ok = "CREATE TABLE t (n INTEGER)"
    bad = [
        (lambda: projection("order-*-x", table="t", schema=ok), "pattern"),
        (lambda: projection("o-*", table="bad name", schema=ok), "plain identifier"),
        (lambda: projection("o-*", table="events", schema="CREATE TABLE events (n INTEGER)"), "reserved"),
        (lambda: projection("o-*", table="_atomo_x", schema="CREATE TABLE _atomo_x (n INTEGER)"), "reserved"),
        (lambda: projection("o-*", table="t", schema="CREATE TABLE u (n INTEGER)"), "CREATE TABLE t"),
        (lambda: projection("o-*", table="t", schema=ok + "; CREATE INDEX i ON deals (n)"), "CREATE INDEX"),
        (lambda: projection("o-*", table="t", schema=ok + "; DROP TABLE deals"), "CREATE INDEX"),
        (lambda: projection("o-*", table="t", schema="CREATE TABLE t (n INTEGER"), "schema"),
        (lambda: projection("o-*", table="t", schema="CREATE TABLE t (n INTEGER); CREATE INDEX i ON t (m)"),
         "no such column"),
    ]
    for make, message in bad:
        with pytest.raises(ValueError, match=message):
            make()

    async def coroutine(event: Any, db: Any) -> None: ...
    with pytest.raises(ValueError, match="plain"):
        projection("o-*", table="t", schema=ok)(coroutine)

    def one(event: Any, db: Any) -> None: ...

    def two(event: Any, db: Any) -> None: ...
    with pytest.raises(ConfigError, match="already maintained"):
        HookSet([projection("a-*", table="t", schema=ok)(one), projection("b-*", table="T", schema=ok)(two)])
    # in a hooks file: a ConfigError naming the file and line
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / "bad.py").write_text("from atomo.hooks import projection\n\n"
                                   "@projection('o-*', table='users', schema='CREATE TABLE users (n INTEGER)')\n"
                                   "def f(event, db):\n    pass\n")
    with pytest.raises(ConfigError, match=r"bad\.py:3: ValueError: .*reserved"):
        load_hooks(folder)


async def test_a_projection_table_may_not_be_a_model_table(tmp_path: Path) -> None:
    @projection("o-*", table="deals", schema="CREATE TABLE deals (n INTEGER)")
    def clash(event: Any, db: Any) -> None: ...

    with pytest.raises(ConfigError, match="table 'deals' is the table of a model"):
        async with Atomo(make_project(tmp_path), settings=settings(), hooks=[clash]):
            pass


async def test_patterns_select_the_streams(tmp_path: Path) -> None:
    seen: list[str] = []

    @projection("tenant:{id}:orders", table="seen", schema="CREATE TABLE seen (stream TEXT)")
    def watch(event: StoredEvent, db: Any) -> None:
        seen.append(event.stream)
        db.execute("INSERT INTO seen VALUES (?)", (event.stream,))

    async with Atomo(make_project(tmp_path), settings=settings(), hooks=[watch]) as app:
        for stream in ("tenant:a:orders", "tenant:a:b:orders", "tenant::orders", "tenant:b:orders", "x-tenant:a:orders"):
            await app.events.append(stream, [NewEvent("Seen", {})])
        with pytest.raises(ConflictError):
            await app.events.append("tenant:a:orders", [NewEvent("Seen", {})], expected_version=0)
        assert await rows(app, "SELECT stream FROM seen") == [("tenant:a:orders",), ("tenant:b:orders",)]
        assert (await app.projections.rebuild(check=True)).differences == []
