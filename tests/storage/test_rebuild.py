"""Projection rebuild == live tables, after random operation sequences (property test), block operations
(content chapter §3) included: the rebuild replays them to the same bytes."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from atomo import Atomo
from atomo.errors import AtomoError
from tests.conftest import make_project, settings

ops = st.lists(st.tuples(
    st.sampled_from(["create", "update", "delete", "restore", "hard_delete", "custom", "insert_block",
                     "update_block", "move_block", "remove_block", "block_batch"]),
    st.integers(0, 5),                                   # which record
    st.one_of(st.none(), st.integers(-5, 200), st.floats(0, 1e6, allow_nan=False)),
    st.sampled_from(["lead", "qualified", "won", "lost"]),
), min_size=1, max_size=40)


async def apply(app: Atomo, sequence: list[tuple[str, int, object, str]]) -> None:
    from atomo.storage.events import NewEvent
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


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_rebuild_equals_live(sequence: list[tuple[str, int, object, str]]) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp))
            async with Atomo(project, settings=settings()) as app:
                await apply(app, sequence)
                before = await app.records("Deal") + (await app.deleted_records("Deal", limit=100))["data"]
                check = await app.projections.rebuild(check=True)
                assert check.differences == []
                report = await app.projections.rebuild()
                assert not report.differences
                after = await app.records("Deal") + (await app.deleted_records("Deal", limit=100))["data"]
                assert sorted(after, key=lambda r: r["id"]) == sorted(before, key=lambda r: r["id"])
                # the rebuilt table keeps working: constraints and indexes are back
                await app.create("Deal", {"title": "After rebuild", "companyId": "c"})
    asyncio.run(scenario())
