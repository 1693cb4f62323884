"""Projection rebuild == live tables, after random operation sequences (property test), block operations
(content chapter §3) included: the rebuild replays them to the same bytes. Custom projections (``@projection``
of hooks) too: one over custom ``order-*`` streams, one over every Deal event."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from atomo import Atomo
from atomo.errors import AtomoError
from atomo.hooks import projection
from atomo.storage.events import NewEvent, StoredEvent
from tests.conftest import make_project, new_postgres_schema, settings

ops = st.lists(st.tuples(
    st.sampled_from(["create", "update", "delete", "restore", "hard_delete", "custom", "insert_block",
                     "update_block", "move_block", "remove_block", "block_batch", "order", "order", "order_batch"]),
    st.integers(0, 5),                                   # which record
    st.one_of(st.none(), st.integers(-5, 200), st.floats(0, 1e6, allow_nan=False)),
    st.sampled_from(["lead", "qualified", "won", "lost"]),
), min_size=1, max_size=40)


@projection("order-*", table="order_book",
            schema="CREATE TABLE order_book (stream TEXT PRIMARY KEY, total REAL NOT NULL, lines INTEGER NOT NULL,"
                   " last_stage TEXT, version INTEGER NOT NULL); CREATE INDEX order_book_total ON order_book (total)")
def order_book(event: StoredEvent, db: object) -> None:
    data = event.data if isinstance(event.data, dict) else {}
    if event.type == "OrderClosed":
        db.execute("DELETE FROM order_book WHERE stream = ?", (event.stream,))  # type: ignore[attr-defined]
        return
    db.execute("INSERT INTO order_book VALUES (?, ?, 1, ?, ?) ON CONFLICT (stream) DO UPDATE SET total = "  # type: ignore[attr-defined]
               "order_book.total + excluded.total, lines = order_book.lines + 1, last_stage = excluded.last_stage,"
               " version = excluded.version",
               (event.stream, data.get("amount") or 0, data.get("stage"), event.stream_version))


@projection("Deal/*", table="deal_activity",
            schema="CREATE TABLE deal_activity (deal_id TEXT NOT NULL, type TEXT NOT NULL, n INTEGER NOT NULL,"
                   " last_position INTEGER NOT NULL, PRIMARY KEY (deal_id, type))")
def deal_activity(event: StoredEvent, db: object) -> None:
    db.execute("INSERT INTO deal_activity VALUES (?, ?, 1, ?) ON CONFLICT (deal_id, type) DO UPDATE SET"  # type: ignore[attr-defined]
               " n = deal_activity.n + 1, last_position = excluded.last_position",
               (event.record_id, event.type, event.position))


CUSTOM_TABLES = ("order_book", "deal_activity")


async def custom_rows(app: Atomo) -> dict[str, list[tuple[object, ...]]]:
    def read(conn: object) -> dict[str, list[tuple[object, ...]]]:
        return {t: sorted(tuple(r) for r in conn.execute(f"SELECT * FROM {t}")) for t in CUSTOM_TABLES}  # type: ignore[attr-defined]
    return await app.runtime.db.read(read)  # type: ignore[union-attr]


async def apply(app: Atomo, sequence: list[tuple[str, int, object, str]]) -> None:
    await app.create("Company", {"id": "c", "name": "Comp"})
    for op, n, value, stage in sequence:
        rid = f"d{n}"
        try:
            if op == "create":
                await app.create("Deal", {"id": rid, "title": f"Deal {n}", "companyId": "c", "stage": stage,
                                          "probability": value if isinstance(value, int) else None,
                                          "notes": [{"id": f"b{k}", "type": "paragraph", "text": f"{k}"} for k in range(3)]})
            elif op == "update":
                await app.update("Deal", id=rid, data={"stage": stage, "value": abs(value) if value else 0,
                                                       "notes": [{"type": "paragraph", "text": f"v{value}"},
                                                                 {"id": f"b{n % 4}", "type": "divider"}]})
            elif op == "delete":
                await app.delete("Deal", id=rid)
            elif op == "restore":
                await app.restore("Deal", id=rid)
            elif op == "hard_delete":
                await app.hard_delete("Deal", id=rid)
            elif op.endswith("block") or op == "block_batch":
                await block_op(app, rid, op, n, value, stage)
            elif op == "order":
                kind = "OrderClosed" if value == 0 else "OrderLine"
                await app.events.append(f"order-{n % 3}", [NewEvent(kind, {"amount": value, "stage": stage})],
                                        expected_version=n - 1 if n % 2 else None)   # sometimes a conflict
            elif op == "order_batch":
                await app.events.append(f"order-{n % 3}", [NewEvent("OrderLine", {"amount": k, "stage": stage})
                                                            for k in range(n + 1)])
            else:
                await app.events.append(f"Deal/{rid}", [NewEvent("Noted", {"n": n})])
        except AtomoError:
            pass


async def block_op(app: Atomo, rid: str, op: str, n: int, value: object, stage: str) -> None:
    """A block operation on the deal's notes: block ids from a small pool so that operations meet."""
    number = int(value) if isinstance(value, int | float) else n
    bid, anchor = f"b{number % 4}", f"b{n % 4}"
    if op == "insert_block":
        block = {"id": bid, "type": "task", "title": stage} if number % 2 else {"id": bid, "type": "paragraph",
                                                                                 "text": f"t{value}"}
        await app.insert_block("Deal", rid, "notes", block, after=anchor if n % 3 else None)
    elif op == "update_block":
        await app.update_block("Deal", rid, "notes", bid, {"text": stage, "extra": value, "title": None}
                               if number % 2 == 0 else {"completed": bool(n % 2), "title": f"{stage} {value}"})
    elif op == "move_block":
        await app.move_block("Deal", rid, "notes", bid, **({"after": anchor} if n % 2 else {"position": n}))
    elif op == "remove_block":
        await app.remove_block("Deal", rid, "notes", bid)
    else:
        await app.apply_block_ops("Deal", rid, "notes", [
            {"op": "insert", "block": {"type": "quote", "text": stage}, "position": n},
            {"op": "move", "blockId": bid, "position": 0}])


async def records_and_rebuild(app: Atomo, *, custom: bool = False) -> None:
    """Rebuild --check, then rebuild, with the same records (and ``custom`` projection rows) before and after; the
    rebuilt tables keep working (constraints, indexes, live maintenance of the projections)."""
    before = await app.records("Deal") + (await app.deleted_records("Deal", limit=100))["data"]
    custom_before = await custom_rows(app) if custom else None
    check = await app.projections.rebuild(check=True)
    assert check.differences == []
    if custom:
        assert {m.model for m in check.models if m.projection} == set(CUSTOM_TABLES)
    report = await app.projections.rebuild()
    assert not report.differences
    after = await app.records("Deal") + (await app.deleted_records("Deal", limit=100))["data"]
    assert sorted(after, key=lambda r: r["id"]) == sorted(before, key=lambda r: r["id"])
    if custom:
        assert await custom_rows(app) == custom_before
        await app.events.append("order-0", [NewEvent("OrderLine", {"amount": 1, "stage": "won"})])
    await app.create("Deal", {"title": "After rebuild", "companyId": "c"})
    assert (await app.projections.rebuild(check=True)).differences == []


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_rebuild_equals_live_on_postgres(postgres_server, sequence: list[tuple[str, int, object, str]]) -> None:  # noqa: ANN001
    """The same sequences on PostgreSQL (issue 21), custom projections included: the rebuild there is the rows the
    live writes made."""
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            url = new_postgres_schema(postgres_server, "rebuild")
            async with Atomo(make_project(Path(tmp)), settings=settings(database_url=url),
                             hooks=[order_book, deal_activity]) as app:
                await apply(app, sequence)
                await records_and_rebuild(app, custom=True)
    asyncio.run(scenario())


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_rebuild_equals_live(sequence: list[tuple[str, int, object, str]]) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp))
            async with Atomo(project, settings=settings(), hooks=[order_book, deal_activity]) as app:
                await apply(app, sequence)
                await records_and_rebuild(app, custom=True)
    asyncio.run(scenario())
