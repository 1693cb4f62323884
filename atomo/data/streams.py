"""The event store over the API (Atomo-Python extension): append to custom streams, read a stream, list streams.

Access:
- A custom stream needs a rule of the schema's ``streams`` (``'order-*': { append: 'sales|admin', read:
  'authenticated' }``; patterns as for realtime channels). A stream no rule matches, or an action its rule
  does not name, is refused (default deny); ``admin`` and the system principal may do everything.
- A record stream ``<Model>/<id>`` of a schema model is read-only here (its events come from the model's
  mutations) and readable under the model's ``read`` rule, event by event as ``history``.
- Tenancy: an appended event carries the caller's tenant; a custom stream belongs to the tenant of its first
  event, so a caller of another tenant scope can neither read it (it looks empty) nor append to it.
- Names starting with ``$`` are reserved for the platform.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from atomo.auth.principal import SYSTEM_CALLER, Caller, Principal
from atomo.data.custom_events import MAX_EVENTS
from atomo.data.service import DataService, readable_history
from atomo.errors import PermissionDeniedError, UnauthenticatedError, ValidationError
from atomo.schema.model import AccessRule, Model, StreamRule
from atomo.schema.patterns import compile_rules, match
from atomo.storage.events import NewEvent, StoredEvent, check_custom_type, check_stream_name, read_stream
from atomo.storage.idempotency import claim_in_transaction
from atomo.storage.records import now_iso

MAX_READ = 1000
MAX_LIST = 1000
LIST_SCAN = 10_000          # streams looked at by one `streams` call at most (the rest: page with `after`)


def rule_allows(rule: AccessRule | None, principal: Principal) -> bool:
    """A stream rule's verdict: ``public``, ``authenticated`` or a role (row terms never apply to streams)."""
    if rule is None:
        return False
    for alt in rule.alternatives:
        if alt.kind == "public":
            return True
        if principal.authenticated and (alt.kind == "authenticated" or
                                        alt.kind == "role" and alt.value == (principal.role or "")):
            return True
    return False


def _new_event(raw: Any, i: int) -> NewEvent:
    if not isinstance(raw, dict):
        raise ValidationError.single("events", f"events[{i}] must be an object {{type, data?, metadata?}}", "type")
    type_ = raw.get("type")
    if not isinstance(type_, str):
        raise ValidationError.single("events", f"events[{i}].type must be a string", "invalid_event_type")
    check_custom_type(type_)
    data = raw.get("data")
    metadata = raw.get("metadata")
    if data is not None and not isinstance(data, dict):
        raise ValidationError.single("events", f"events[{i}].data must be an object", "type")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationError.single("events", f"events[{i}].metadata must be an object", "type")
    return NewEvent(type_, data if data is not None else {}, metadata=metadata)


class EventStore:
    """``appendEvents``, ``stream`` and ``streams`` for any caller, over one data service."""

    def __init__(self, data: DataService) -> None:
        self.data = data

    @property
    def rules(self) -> tuple[StreamRule, ...]:
        return self.data.schema.streams

    def record_model(self, stream: str) -> Model | None:
        """The schema model whose record stream ``stream`` is (``Deal/d-1``), else None."""
        name, sep, record_id = stream.partition("/")
        return self.data.schema.model(name) if sep and record_id else None

    def allowed(self, stream: str, action: str, principal: Principal) -> bool:
        if principal.system or (principal.role or "") == "admin":
            return True
        found = match(compile_rules(self.rules), stream)
        return found is not None and rule_allows(getattr(found[0], action), principal)

    def check(self, stream: str, action: str, caller: Caller) -> None:
        if self.allowed(stream, action, caller.principal):
            return
        if not caller.principal.authenticated:
            raise UnauthenticatedError(f"Authentication required for '{action}' on stream '{stream}'")
        raise PermissionDeniedError(f"Access denied for '{action}' on stream '{stream}'",
                                    {"stream": stream, "action": action})

    @staticmethod
    def _name(stream: Any) -> str:
        check_stream_name(stream)
        if stream.startswith("$"):
            raise ValidationError.single("stream", "stream names starting with $ are reserved", "invalid_stream")
        return str(stream)

    # -- append ------------------------------------------------------------------------------
    async def append(self, stream: Any, events: Any, *, expected_version: int | None = None,
                     caller: Caller = SYSTEM_CALLER) -> dict[str, Any]:
        """``appendEvents``: ``{"stream", "version", "events": [StoredEvent]}``; ``CONFLICT`` (with the stream's
        current version) when ``expected_version`` is not its version (0: the stream must not exist yet)."""
        stream = self._name(stream)
        model = self.record_model(stream)
        if model is not None:
            raise PermissionDeniedError(f"stream '{stream}' is the record stream of a {model.name}: it is written "
                                        "by the model's mutations", {"stream": stream, "action": "append"})
        self.check(stream, "append", caller)
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
            raise ValidationError.single("events", f"append takes 1 to {MAX_EVENTS} events", "invalid_events")
        new = [_new_event(raw, i) for i, raw in enumerate(events)]
        if expected_version is not None and (type(expected_version) is not int or expected_version < 0):
            raise ValidationError.single("expectedVersion", "expectedVersion must be an integer of 0 or more", "type")
        appender, now = self.data.writer.appender, now_iso()
        tenant = caller.tenant if caller.scoped else None

        def unit(conn: sqlite3.Connection) -> list[StoredEvent]:
            first = conn.execute("SELECT tenant_id FROM events WHERE stream = ? AND stream_version = 1",
                                 (stream,)).fetchone()
            if first is not None and not caller.sees_tenant(first[0]):
                raise PermissionDeniedError(f"stream '{stream}' belongs to another tenant",
                                            {"stream": stream, "action": "append"})
            stored = appender.append_many(conn, stream, new, expected_version, actor=caller.event_actor,
                                          tenant_id=tenant if first is None or caller.scoped else first[0],
                                          origin=caller.origin, recorded_at=now)
            if caller.idempotency is not None:
                claim_in_transaction(conn, caller.idempotency, stored[0].position)
            return stored
        stored = await self.data.db.write(unit)
        return {"stream": stream, "version": stored[-1].stream_version, "events": stored}

    # -- read --------------------------------------------------------------------------------
    async def read(self, stream: Any, *, from_version: int = 1, limit: int = 100,
                   caller: Caller = SYSTEM_CALLER) -> list[StoredEvent]:
        """``stream(name, fromVersion, limit)``: the events the caller may read, in version order."""
        stream = self._name(stream)
        if type(limit) is not int or not 0 <= limit <= MAX_READ:
            raise ValidationError.single("limit", f"limit must be between 0 and {MAX_READ}", "invalid_limit")
        if type(from_version) is not int or from_version < 1:
            raise ValidationError.single("fromVersion", "fromVersion must be at least 1", "invalid_limit")
        model = self.record_model(stream)
        if model is not None:
            access = self.data.access(model, "read", caller)

            def record_events(conn: sqlite3.Connection) -> list[StoredEvent]:
                events = readable_history(read_stream(conn, stream), caller, access)
                return [e for e in events if e.stream_version >= from_version][:limit]
            return await self.data.db.read(record_events)  # type: ignore[no-any-return]
        self.check(stream, "read", caller)

        def custom(conn: sqlite3.Connection) -> list[StoredEvent]:
            first = conn.execute("SELECT tenant_id FROM events WHERE stream = ? AND stream_version = 1",
                                 (stream,)).fetchone()
            if first is None or not caller.sees_tenant(first[0]):
                return []
            return [e for e in read_stream(conn, stream, from_version=from_version, limit=limit)
                    if caller.sees_tenant(e.tenant_id)]
        return await self.data.db.read(custom)  # type: ignore[no-any-return]

    # -- list --------------------------------------------------------------------------------
    async def streams(self, *, prefix: str | None = None, after: str | None = None, limit: int = 100,
                      caller: Caller = SYSTEM_CALLER) -> list[dict[str, Any]]:
        """``streams(prefix, after, limit)``: the custom streams the caller may read, by name, with their version,
        last position and last event time. Record streams are left out (``history`` reads them)."""
        if type(limit) is not int or not 0 <= limit <= MAX_LIST:
            raise ValidationError.single("limit", f"limit must be between 0 and {MAX_LIST}", "invalid_limit")
        for key, value in (("prefix", prefix), ("after", after)):
            if value is not None and (not isinstance(value, str) or len(value) > 200):
                raise ValidationError.single(key, f"{key} must be a string of at most 200 characters", "type")
        low = max(prefix or "", after or "")
        principal = caller.principal

        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            scanned, cursor = 0, low
            strict = after is not None and after >= (prefix or "")
            while len(out) < limit and scanned < LIST_SCAN:
                rows = conn.execute(
                    "SELECT stream, max(stream_version), max(position), max(recorded_at) FROM events"
                    f" WHERE stream {'>' if strict else '>='} ? GROUP BY stream ORDER BY stream LIMIT 200",
                    (cursor,)).fetchall()
                if not rows:
                    break
                for name, version, position, at in rows:
                    scanned += 1
                    if prefix and not name.startswith(prefix):
                        return out
                    if name.startswith("$") or self.record_model(name) is not None \
                            or not self.allowed(name, "read", principal):
                        continue
                    owner = conn.execute("SELECT tenant_id FROM events WHERE stream = ? AND stream_version = 1",
                                         (name,)).fetchone()
                    if owner is not None and caller.sees_tenant(owner[0]):
                        out.append({"name": name, "version": version, "lastPosition": position, "lastEventAt": at})
                        if len(out) >= limit:
                            break
                cursor, strict = rows[-1][0], True
            return out
        return await self.data.db.read(run)  # type: ignore[no-any-return]
