"""The record as it was at one event of its stream, folded from the log.

``Created`` and ``Updated`` events carry the whole record; a block event (content chapter §4) carries
only its operation, so the record after it is the record before it with the operation applied. This is
what ``modelChanges`` delivers for a block event (``data``/``previousData``), what ``history`` checks a
row-level read rule on, and the same fold the projection rebuild performs on rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from atomo.content.ops import OP_OF_EVENT, apply_event, block_list
from atomo.storage.events import StoredEvent, read_stream

BLOCK_EVENT_TYPES = frozenset(OP_OF_EVENT)
FULL_IMAGE_TYPES = ("Created", "Updated")


def apply_block_event(record: dict[str, Any], event: StoredEvent) -> int | None:
    """Apply a block event to ``record`` in place (a new list for its field); the block's index after it."""
    data = event.data if isinstance(event.data, dict) else {}
    field = data.get("field")
    if not isinstance(field, str):
        return None
    blocks = block_list(record.get(field))
    index = apply_event(blocks, event.type, data, event.recorded_at_text)
    record[field] = blocks
    record["updatedAt"] = event.recorded_at_text
    record["_version"] = event.stream_version
    return index


def fold(record: dict[str, Any] | None, event: StoredEvent) -> dict[str, Any] | None:
    """The record after ``event``, given the record before it (None: not known, or hard-deleted)."""
    kind = event.type
    if kind in FULL_IMAGE_TYPES and isinstance(event.data, dict):
        return dict(event.data)
    if record is None or kind == "HardDeleted":
        return None
    out = dict(record)
    if kind in BLOCK_EVENT_TYPES:
        apply_block_event(out, event)
        return out
    if kind == "Deleted":
        out["deletedAt"] = event.data.get("deletedAt") if isinstance(event.data, dict) else event.recorded_at_text
    elif kind == "Restored":
        out["deletedAt"] = None
    out["_version"] = event.stream_version
    return out


def images_along(events: Iterable[StoredEvent]) -> Iterator[tuple[StoredEvent, dict[str, Any] | None]]:
    """Each event of one stream (in version order) with the record after it."""
    record: dict[str, Any] | None = None
    for event in events:
        record = fold(record, event)
        yield event, record


def images_at(conn: sqlite3.Connection, stream: str, version: int) -> tuple[dict[str, Any] | None,
                                                                             dict[str, Any] | None]:
    """(record before, record after) the event ``version`` of ``stream``: folded from the last event at
    or before it that carries the whole record."""
    row = conn.execute("SELECT max(stream_version) FROM events WHERE stream = ? AND stream_version <= ?"
                       " AND type IN ('Created', 'Updated')", (stream, version)).fetchone()
    anchor = row[0] if row is not None else None
    if anchor is None:
        return None, None
    before = after = None
    for event in read_stream(conn, stream, from_version=int(anchor), limit=version - int(anchor) + 1):
        before, after = after, fold(after, event)
    return before, after
