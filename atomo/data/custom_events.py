"""Custom events: appended to any stream in a write unit of their own (``app.events.append`` of the library,
``ctx.events.append`` of a hook). On a record's stream (``Deal/<id>``) the record must exist and its
``_version`` follows the stream."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from atomo.errors import NotFoundError, ValidationError
from atomo.schema.model import Schema
from atomo.storage.events import EventAppender, NewEvent, StoredEvent, check_custom_type, check_stream_name
from atomo.storage.records import now_iso
from atomo.storage.tables import q

MAX_EVENTS = 1000


def custom_events_unit(schema: Schema | None, appender: EventAppender, stream: str, events: list[NewEvent], *,
                       expected_version: int | None = None, actor: str | None = None, tenant_id: str | None = None,
                       origin: str | None = None) -> Callable[[sqlite3.Connection], list[StoredEvent]]:
    """The write unit appending ``events`` to ``stream``; checks the stream name and event types first."""
    check_stream_name(stream)
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        raise ValidationError.single("events", f"append takes 1 to {MAX_EVENTS} events", "invalid_events")
    for event in events:
        check_custom_type(event.type)
    model_name, _, record_id = stream.partition("/")
    model = schema.model(model_name) if record_id and schema is not None else None
    now = now_iso()

    def unit(conn: sqlite3.Connection) -> list[StoredEvent]:
        if model is not None:
            row = conn.execute(f"SELECT _version FROM {q(model.table)} WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"{model.name} {record_id} not found", {"model": model.name, "id": record_id})
        stored = appender.append_many(conn, stream, events, expected_version, actor=actor, tenant_id=tenant_id,
                                      origin=origin, recorded_at=now)
        if model is not None:
            conn.execute(f"UPDATE {q(model.table)} SET _version = ? WHERE id = ?", (stored[-1].stream_version, record_id))
        return stored
    return unit
