"""``streamEvents(stream, prefix, after)`` (Atomo-Python extension): the events of custom streams, live.

Planned like ``modelChanges`` (``model_changes.prepare``: the engine's validation and limits, the
client's selection of ``StoredEvent`` with aliases and fragments) and run by the same gapless cursor
over the event feed (``cursor.FeedCursor``: ``position > after`` replayed, then live).

Exactly one of ``stream`` (one stream; the caller's ``read`` on it is checked when subscribing; a
record stream ``<Model>/<id>`` of a schema model is refused: ``modelChanges`` streams those) and
``prefix`` (every custom stream whose name starts with it; record streams of schema models are
skipped, and the ``read`` rule is decided per stream name, remembered for ``ALLOWED_CACHE`` names).
Names starting with ``$`` are reserved. Every event passes the caller's tenant scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atomo.auth.principal import Caller
from atomo.data.streams import EventStore
from atomo.errors import ValidationError
from atomo.storage.events import StoredEvent, check_stream_name
from atomo.subscriptions.cursor import FeedCursor, Sink
from atomo.subscriptions.model_changes import Fields, Root, View, selected

STREAM_EVENTS = "streamEvents"
EVENT_TYPE = "StoredEvent"
ALLOWED_CACHE = 10_000      # stream names whose read verdict a prefix subscription remembers (then forgets all)
MAX_PREFIX = 200


@dataclass(frozen=True)
class StreamPlan:
    root_key: str
    stream: str | None
    prefix: str | None
    after: int | None
    fields: Fields


def _invalid(field: str, message: str, code: str = "invalid_stream") -> ValidationError:
    return ValidationError.single(field, message, code)


async def plan(engine: Any, root: Root, store: EventStore) -> StreamPlan:
    """The plan of a ``streamEvents`` field; ``ValidationError`` for arguments it cannot run with."""
    stream, prefix, after = root.args.get("stream"), root.args.get("prefix"), root.args.get("after")
    if (stream is None) == (prefix is None):
        raise _invalid("stream", "streamEvents takes exactly one of stream and prefix", "invalid_arguments")
    if after is not None and type(after) is not int:
        raise _invalid("after", "after must be an integer position", "type")
    if stream is not None:
        check_stream_name(stream)
        if stream.startswith("$"):
            raise _invalid("stream", "stream names starting with $ are reserved")
        model = store.record_model(stream)
        if model is not None:
            raise _invalid("stream", f"stream '{stream}' is the record stream of a {model.name}: "
                                     f"subscribe to modelChanges(model: \"{model.name}\") for its events")
    elif not isinstance(prefix, str) or len(prefix) > MAX_PREFIX or prefix.startswith("$"):
        raise _invalid("prefix", f"prefix must be a string of at most {MAX_PREFIX} characters, "
                                 "not starting with $ (reserved)")
    fields = tuple((key, nodes[0].name.value, None, EVENT_TYPE if nodes[0].name.value == "__typename" else None)
                   for key, nodes in (await selected(root, engine, EVENT_TYPE)).items())
    return StreamPlan(root.key, stream, prefix, None if after is None else max(0, after), fields)


class StreamEvents(FeedCursor):
    def __init__(self, plan: StreamPlan, store: EventStore, caller: Caller, sink: Sink) -> None:
        super().__init__(caller, sink, plan.after)
        self.plan = plan
        self.root_key = plan.root_key
        self.store = store
        self.readable: dict[str, bool] = {}    # prefix: stream name -> the caller may read it
        self.rebind(caller, None)

    def rebind(self, caller: Caller, data: Any) -> None:
        if self.plan.stream is not None:
            self.store.check(self.plan.stream, "read", caller)    # UNAUTHENTICATED / PERMISSION_DENIED
        self.caller = caller
        self.readable = {}

    def wants(self, event: StoredEvent) -> bool:
        name, plan = event.stream, self.plan
        if plan.stream is not None:
            return name == plan.stream
        return name.startswith(plan.prefix or "") and not name.startswith("$")

    async def message(self, event: StoredEvent) -> str | None:
        if not self.caller.sees_tenant(event.tenant_id):
            return None
        if self.plan.prefix is not None and not self._readable(event.stream):
            return None
        values = event.to_graphql()
        values["__typename"] = EVENT_TYPE
        return self.head + View(values, None).text(self.plan.fields) + self.tail

    def _readable(self, name: str) -> bool:
        verdict = self.readable.get(name)
        if verdict is None:
            store = self.store
            verdict = store.record_model(name) is None and store.allowed(name, "read", self.caller.principal)
            if len(self.readable) >= ALLOWED_CACHE:
                self.readable.clear()
            self.readable[name] = verdict
        return verdict
