"""The cache of ``ModelEvent`` views that every subscriber shares: bounded by count and by the size of the
encoded events, and block events folded into whole records."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atomo.storage.events import StoredEvent
from atomo.subscriptions import model_changes
from atomo.subscriptions.model_changes import EventViews

FIELDS = (("data", "data", None, None),)


def event(position: int, kind: str, data: Any, version: int = 1) -> StoredEvent:
    return StoredEvent(position=position, event_id=f"e{position}", stream="Doc/d", stream_version=version, type=kind,
                       model="Doc", record_id="d", data=data, previous_data=None, actor=None, tenant_id=None,
                       origin=None, recorded_at_text=f"2026-01-01T00:00:{position:02d}.000000+00:00")


def test_large_views_leave_the_cache_by_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_changes, "VIEW_CACHE_CHARS", 10_000)

    async def never(_event: StoredEvent) -> tuple[Any, Any]:
        raise AssertionError("not a block event")

    async def scenario() -> None:
        views = EventViews(never)
        for n in range(1, 30):
            view = await views.view(event(n, "Created", {"id": "d", "text": "x" * 2_000}), None)  # type: ignore[arg-type]
            view.text(FIELDS)
        assert views._size <= 10_000 and 1 <= len(views._cache) <= 5
        assert sum(v.size for v in views._cache.values()) == views._size
        small = EventViews(never)
        for n in range(1, 30):
            (await small.view(event(n, "Created", {"id": "d"}), None)).text(FIELDS)  # type: ignore[arg-type]
        assert len(small._cache) == 29
    asyncio.run(scenario())


def test_block_events_are_folded_one_after_the_other() -> None:
    reads: list[int] = []
    created = {"id": "d", "body": [{"id": "a", "type": "divider", "rev": 1}], "updatedAt": "t0", "_version": 1}

    async def read(e: StoredEvent) -> tuple[Any, Any]:   # the log read: only for the first block event
        reads.append(e.position)
        return created, {**created, "body": [*created["body"], {"id": "b", "type": "divider", "rev": 1}],
                         "_version": 2}

    async def scenario() -> None:
        views = EventViews(read)
        first = await views.view(event(2, "BlockInserted", {"field": "body", "index": 1, "block": {
            "id": "b", "type": "divider", "rev": 1}}, version=2), None)  # type: ignore[arg-type]
        moved = await views.view(event(3, "BlockMoved", {"field": "body", "blockId": "b", "fromIndex": 1,
                                                        "toIndex": 0}, version=3), None)  # type: ignore[arg-type]
        assert reads == [2]
        assert first.values["blockOp"] == {"op": "insert", "field": "body", "blockId": "b", "index": 1}
        assert moved.values["blockOp"] == {"op": "move", "field": "body", "blockId": "b", "index": 0}
        assert [b["id"] for b in moved.values["data"]["body"]] == ["b", "a"] and moved.values["data"]["_version"] == 3
        assert moved.values["previousData"] == first.values["data"] and moved.values["eventType"] == "UPDATED"
    asyncio.run(scenario())
