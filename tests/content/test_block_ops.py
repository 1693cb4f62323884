"""Block operations in the embedded library (content chapter §3, §5): the concurrent-editor table row by row,
placement rules, limits, and the actions and hooks that see a block event as an update."""

from __future__ import annotations

from typing import Any

import pytest

from atomo import Atomo
from atomo.content.blocks import MAX_BLOCKS
from atomo.errors import ConflictError, NotFoundError, ValidationError
from atomo.hooks import after

NOTES = [{"id": "p", "type": "paragraph", "text": "P"}, {"id": "x", "type": "task", "title": "X"}]


async def deal(app: Atomo, notes: list[dict[str, Any]] | None = None) -> str:
    if await app.record("Company", "c") is None:
        await app.create("Company", {"id": "c", "name": "Comp"})
    record = await app.create("Deal", {"title": "Doc", "companyId": "c", "notes": notes or NOTES})
    return str(record["id"])


def order(record: dict[str, Any]) -> list[str]:
    return [b["id"] for b in record["notes"]]


async def test_two_inserts_after_one_anchor_keep_both_the_later_first(app: Atomo) -> None:
    d = await deal(app)
    await app.insert_block("Deal", d, "notes", {"id": "a", "type": "divider"}, after="p")
    done = await app.insert_block("Deal", d, "notes", {"id": "b", "type": "divider"}, after="p")
    assert order(done["record"]) == ["p", "b", "a", "x"]


async def test_updates_of_different_keys_of_one_block_are_both_kept(app: Atomo) -> None:
    d = await deal(app)
    await app.update_block("Deal", d, "notes", "x", {"title": "Renamed"})
    done = await app.update_block("Deal", d, "notes", "x", {"completed": True})
    assert done["block"]["title"] == "Renamed" and done["block"]["completed"] is True and done["block"]["rev"] == 3


async def test_the_same_key_conflicts_only_with_expected_rev(app: Atomo) -> None:
    d = await deal(app)
    await app.update_block("Deal", d, "notes", "x", {"title": "A"}, expected_rev=1)
    with pytest.raises(ConflictError) as refused:
        await app.update_block("Deal", d, "notes", "x", {"title": "B"}, expected_rev=1)
    assert refused.value.details == {"field": "notes", "blockId": "x", "currentRev": 2, "expectedRev": 1}
    assert (await app.update_block("Deal", d, "notes", "x", {"title": "B"}))["block"]["title"] == "B"


async def test_a_removed_block_or_anchor_is_not_found(app: Atomo) -> None:
    d = await deal(app)
    await app.remove_block("Deal", d, "notes", "p")
    for attempt in (app.update_block("Deal", d, "notes", "p", {"text": "late"}),
                    app.move_block("Deal", d, "notes", "p", position=0),
                    app.insert_block("Deal", d, "notes", {"type": "divider"}, after="p"),
                    app.move_block("Deal", d, "notes", "x", after="p")):
        with pytest.raises(NotFoundError):
            await attempt
    assert order(await app.record("Deal", d)) == ["x"]  # type: ignore[arg-type]


async def test_a_remove_with_a_rev_read_before_an_update_conflicts(app: Atomo) -> None:
    d = await deal(app)
    await app.update_block("Deal", d, "notes", "x", {"title": "changed"})
    with pytest.raises(ConflictError):
        await app.remove_block("Deal", d, "notes", "x", expected_rev=1)


async def test_move_then_update_keeps_both_and_a_move_keeps_the_rev(app: Atomo) -> None:
    d = await deal(app)
    moved = await app.move_block("Deal", d, "notes", "x", position=0)
    assert moved["block"]["rev"] == 1 and moved["index"] == 0
    done = await app.update_block("Deal", d, "notes", "x", {"title": "Y"})
    assert order(done["record"]) == ["x", "p"] and done["block"]["title"] == "Y"


async def test_whole_field_update_then_block_mutation_is_last_write_wins_unless_expected_version(app: Atomo) -> None:
    d = await deal(app)
    seen = await app.record("Deal", d)
    assert seen is not None
    await app.update("Deal", id=d, data={"notes": [{"id": "p", "type": "paragraph", "text": "whole"}]})
    with pytest.raises(ConflictError) as refused:
        await app.insert_block("Deal", d, "notes", {"type": "divider"}, expected_version=seen["_version"])
    assert refused.value.details == {"currentVersion": 2, "expectedVersion": 1}
    done = await app.insert_block("Deal", d, "notes", {"type": "divider"})
    assert [b["type"] for b in done["record"]["notes"]] == ["paragraph", "divider"]


async def test_positions_clamp_and_moves_land_at_the_documented_index(app: Atomo) -> None:
    d = await deal(app, [{"id": k, "type": "divider"} for k in "abcde"])
    assert (await app.move_block("Deal", d, "notes", "a", position=99))["index"] == 4
    assert (await app.move_block("Deal", d, "notes", "e", after="b"))["index"] == 1
    done = await app.move_block("Deal", d, "notes", "b", after="d")
    assert order(done["record"]) == ["e", "c", "d", "b", "a"] and done["index"] == 3
    with pytest.raises(ValidationError):
        await app.insert_block("Deal", d, "notes", {"type": "divider"}, position=-1)
    with pytest.raises(ValidationError):
        await app.insert_block("Deal", d, "notes", {"type": "divider"}, position=1, after="a")
    with pytest.raises(ValidationError):
        await app.insert_block("Deal", d, "title", {"type": "divider"})


async def test_a_field_holds_at_most_max_blocks(app: Atomo) -> None:
    many = [{"id": f"b{i}", "type": "divider"} for i in range(MAX_BLOCKS)]
    d = await deal(app, many)
    with pytest.raises(ValidationError) as refused:
        await app.insert_block("Deal", d, "notes", {"type": "divider"})
    assert refused.value.details[0]["code"] == "max_items"
    with pytest.raises(ValidationError):
        await app.update("Deal", id=d, data={"notes": [*many, {"type": "divider"}]})


async def test_after_update_hooks_get_the_record_after_each_block_event(app: Atomo) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    @after("Deal", "update")
    async def record_it(record: dict[str, Any], ctx: Any) -> None:
        seen.append((ctx.event.type, record))

    app.runtime.data.hooks.hookset.extend([record_it])
    d = await deal(app)
    await app.apply_block_ops("Deal", d, "notes", [{"op": "remove", "blockId": "p"},
                                                    {"op": "insert", "block": {"id": "n", "type": "divider"}}])
    await app.runtime.data.hooks.drain()
    assert [(kind, order(r), r["_version"]) for kind, r in seen] == [("BlockRemoved", ["x"], 2),
                                                                      ("BlockInserted", ["x", "n"], 3)]


async def test_a_before_update_hook_can_refuse_a_block_mutation(app: Atomo) -> None:
    from atomo.hooks import ValidationError as Refused
    from atomo.hooks import before
    seen: list[tuple[Any, Any, Any]] = []

    @before("Deal", "update")
    async def frozen_when_won(data: dict[str, Any], ctx: Any) -> None:
        seen.append((data, ctx.id, ctx.field))
        record = await ctx.data.system.record("Deal", ctx.id)
        if record and record["stage"] == "won":
            raise Refused("a won deal is frozen")

    app.runtime.data.hooks.hookset.extend([frozen_when_won])
    d = await deal(app)
    await app.insert_block("Deal", d, "notes", {"type": "divider"})
    await app.update("Deal", id=d, data={"stage": "won"})
    with pytest.raises(ValidationError):
        await app.update_block("Deal", d, "notes", "p", {"text": "after the win"})
    assert seen[0] == ({}, d, "notes")
    assert (await app.record("Deal", d))["notes"][0]["text"] == "P"  # type: ignore[index]


async def test_block_operations_cannot_grow_a_field_past_its_size_limit(app: Atomo) -> None:
    from atomo.content.blocks import MAX_FIELD_CHARS
    d = await deal(app)
    big = "x" * (MAX_FIELD_CHARS // 4)
    for n in range(3):
        await app.insert_block("Deal", d, "notes", {"id": f"big{n}", "type": "paragraph", "text": big})
    with pytest.raises(ValidationError) as refused:
        await app.insert_block("Deal", d, "notes", {"type": "paragraph", "text": big})
    assert refused.value.details[0]["code"] == "max_length"
    with pytest.raises(ValidationError):
        await app.update_block("Deal", d, "notes", "p", {"text": big})
    done = await app.remove_block("Deal", d, "notes", "big0")           # shrinking is always allowed
    assert done["version"] == 5


async def test_action_bindings_on_updated_read_the_record_after_each_block_event(app: Atomo) -> None:
    import json

    def kinds_and_inputs(conn: Any) -> list[tuple[str, Any]]:
        return [(r["kind"], json.loads(r["payload"])["input"]) for r in
                conn.execute("SELECT kind, payload FROM jobs ORDER BY seq")]
    d = await deal(app)
    await app.update("Deal", id=d, data={"stage": "won", "value": 7})
    before = len(await app.runtime.db.read(kinds_and_inputs))
    await app.apply_block_ops("Deal", d, "notes", [{"op": "insert", "block": {"type": "divider"}},
                                                    {"op": "remove", "blockId": "p"}])
    jobs = (await app.runtime.db.read(kinds_and_inputs))[before:]
    # fieldEquals {stage: won} holds on the record after each block event; changedAny [value, ...] does not
    assert jobs == [("notifyDealWon", {"id": d, "title": "Doc", "value": 7, "ownerId": None})] * 2
