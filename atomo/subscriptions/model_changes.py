"""``modelChanges(model, after)`` (graphql chapter §10): planning a subscription and streaming events.

``plan`` validates the document with the engine (limits included), coerces the variables and
collects the selection once (aliases, fragments, ``@skip``/``@include``): a subscription becomes a
list of (response key, ``ModelEvent`` field, and for the typed ``<model>Changes`` the selected fields
of ``data``/``previousData``). Per event, ``EventViews`` builds the ``ModelEvent``
once (cached by position, shared by every subscriber) and caches the encoded object per selection,
so a delivery is a dictionary look-up and a string splice.

``prepare`` is the part every subscription shares (``streamEvents`` too): the document checked by
the engine (limits included), the variables coerced, the one root field and its arguments.

A ``ModelChanges`` stream is a cursor over the event feed (``cursor.FeedCursor``: replay ``position >
after``, then live, no gap, no duplicate, reading only into room reserved on the socket's outbox). Each
event passes the tenant scope and the read access (row-level terms on the after-image, the
before-image for delete-type events) of the caller.
"""
# ruff: noqa: E402

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from atomo.graphql import import_tartiflette

import_tartiflette()

from tartiflette.execution.collect import collect_fields
from tartiflette.language.ast import IntValueNode, NullValueNode, StringValueNode, VariableNode

from atomo.auth.principal import Caller
from atomo.auth.rbac import Access
from atomo.graphql.engine import document_error_body
from atomo.graphql.limits import error_message_and_locations
from atomo.graphql.resolvers import RequestContext
from atomo.schema.graphql_names import model_names, typed_relations
from atomo.schema.model import Model, Schema
from atomo.storage.events import StoredEvent
from atomo.storage.record_images import fold, images_at
from atomo.subscriptions.cursor import FeedCursor, Sink
from atomo.subscriptions.protocol import encode

EVENT_TYPES = {"Created": "CREATED", "Updated": "UPDATED", "Deleted": "DELETED", "Restored": "RESTORED",
               "HardDeleted": "HARD_DELETED"}
BLOCK_OPS = {"BlockInserted": "insert", "BlockUpdated": "update", "BlockMoved": "move", "BlockRemoved": "remove"}
BEFORE_IMAGE_TYPES = frozenset({"Deleted", "Restored", "HardDeleted"})
VIEW_CACHE = 2048
VIEW_CACHE_CHARS = 64 << 20  # and at most this much of their encoded text (a view of a large record weighs more)
LAST_IMAGES = 16            # streams whose latest block-event record is kept for folding the next one
VIEW_ENCODINGS = 4          # selections whose encoding one cached view keeps (others are encoded per delivery)
Sub = tuple[tuple[str, str, str | None], ...]          # (key, record field, constant) of a typed record
Fields = tuple[tuple[str, str, Sub | None, str | None], ...]  # (key, ModelEvent field, record selection, constant)


class PlanError(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "invalid subscription")
        self.errors = errors


@dataclass(frozen=True)
class Plan:
    root_key: str
    model: str
    after: int | None
    fields: Fields


@dataclass(frozen=True)
class Root:
    """The one root field of a subscription document, validated and with its arguments' values."""

    execution: Any
    key: str                            # its response key (alias)
    node: Any
    args: dict[str, Any]

    @property
    def field(self) -> str:
        return str(self.node.name.value)


def plan_error(message: str) -> PlanError:
    return PlanError(document_error_body([(message, None)])["errors"])


def _argument(node: Any, variables: dict[str, Any]) -> Any:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode):
        return node.value
    if isinstance(node, NullValueNode):
        return None
    raise plan_error("subscriptions: unsupported argument value")


async def prepare(engine: Any, query: str, variables: dict[str, Any] | None, operation_name: str | None,
                  context: RequestContext) -> Root:
    """The subscription's root field; ``PlanError`` with the wire errors when the document may not run."""
    prepared, info, problem = engine._check(query, operation_name)
    if problem is not None or info is None:
        raise PlanError((problem or {"errors": []})["errors"])
    execution, errors = await engine._execution_context(prepared, info, context, variables)
    if errors:
        raise PlanError(document_error_body(error_message_and_locations(e) for e in errors)["errors"])
    root = await collect_fields(execution, engine._schema.get_operation_root_type(execution.operation),
                                execution.operation.selection_set)
    if len(root) != 1:
        raise plan_error("a subscription must select exactly one field")
    (root_key, nodes), = root.items()
    node = nodes[0]
    args = {a.name.value: _argument(a.value, execution.variable_values) for a in node.arguments or ()}
    return Root(execution, root_key, node, args)


async def selected(root: Root, engine: Any, type_name: str) -> dict[str, Any]:
    """The fields the client selected of the root field's ``type_name`` (aliases, fragments, directives)."""
    return await collect_fields(root.execution, engine._schema.find_type(type_name), root.node.selection_set)  # type: ignore[no-any-return]


async def plan(engine: Any, root: Root) -> Plan:
    """The plan of ``modelChanges`` or a typed ``<model>Changes`` field."""
    execution, schema, args = root.execution, engine._schema, root.args
    typed = _typed_models(engine.schema).get(root.field)
    if root.field != "modelChanges" and typed is None:
        raise plan_error(f"'{root.field}' cannot be subscribed to; use modelChanges, a <model>Changes field "
                         "or streamEvents")
    event_type = model_names(typed).event_type if typed is not None else "ModelEvent"
    fields: list[tuple[str, str, Sub | None, str | None]] = []
    for key, field_nodes in (await selected(root, engine, event_type)).items():
        name = field_nodes[0].name.value
        if name == "__typename":
            fields.append((key, name, None, event_type))
        elif typed is not None and name in ("data", "previousData"):
            fields.append((key, name, await _record_fields(execution, schema, typed, field_nodes[0]), None))
        else:
            fields.append((key, name, None, None))
    model, after = (typed.name if typed is not None else args.get("model")), args.get("after")
    if not isinstance(model, str) or (after is not None and not isinstance(after, int)):
        raise plan_error("modelChanges needs model: String! and after: Int")
    return Plan(root.key, model, None if after is None else max(0, after), tuple(fields))


def _typed_models(schema: Schema) -> dict[str, Model]:
    """``contactChanges`` -> the model, for the typed subscriptions of ``schema``."""
    found = schema.__dict__.get("_typed_changes")
    if found is None:
        found = {model_names(m).changes: m for m in schema.models}
        object.__setattr__(schema, "_typed_changes", found)
    return found


async def _record_fields(execution: Any, schema: Any, model: Model, node: Any) -> Sub:
    """The selection of a typed record (``data { id name }``): plain fields only; relations are
    resolved by queries, not streamed."""
    selected = await collect_fields(execution, schema.find_type(model_names(model).type), node.selection_set)
    relations = {r.name for r in typed_relations(model)}
    out = []
    for key, field_nodes in selected.items():
        name = field_nodes[0].name.value
        if name in relations:
            raise PlanError(document_error_body([(
                f"{model.name}.{name} is a relation: subscriptions stream the record's own fields; "
                "query the relation when an event arrives", None)])["errors"])
        out.append((key, name, model_names(model).type if name == "__typename" else None))
    return tuple(out)


# -- events as ModelEvent ------------------------------------------------------------------------
class View:
    __slots__ = ("values", "image", "encoded", "size", "owner")

    def __init__(self, values: dict[str, Any], image: Any) -> None:
        self.values = values            # every ModelEvent field
        self.image = image              # the record the row-level rules are evaluated on
        self.encoded: dict[Fields, str] = {}
        self.size = 0                   # characters of its largest encoding: what the cache charges for it
        self.owner: EventViews | None = None

    def text(self, fields: Fields) -> str:
        text = self.encoded.get(fields)
        if text is None:
            values = self.values
            out: dict[str, Any] = {}
            for key, name, sub, constant in fields:
                value = values[name] if constant is None else constant
                if sub is not None and isinstance(value, dict):
                    value = {k: value.get(n) if c is None else c for k, n, c in sub}
                out[key] = value
            text = encode(out)
            if len(self.encoded) < VIEW_ENCODINGS:
                self.encoded[fields] = text
            if len(text) > self.size:
                grown, self.size = len(text) - self.size, len(text)
                if self.owner is not None:
                    self.owner.grew(grown)
        return text


class EventViews:
    """``ModelEvent`` objects by position (events are immutable, so one per event serves everyone).

    A block event carries only its operation; its ``data``/``previousData`` are the record folded from
    the log (``record_images``). The record after the last block event of a few streams is kept, so a
    run of edits to one document is folded one event at a time instead of from the log each time."""

    def __init__(self, read_images: Callable[[StoredEvent], Awaitable[tuple[Any, Any]]]) -> None:
        self.read_images = read_images
        self._cache: OrderedDict[int, View] = OrderedDict()
        self._size = 0                          # the cached views' sizes
        self._last: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()   # stream -> (version, record)

    async def view(self, event: StoredEvent, model: Model) -> View:
        cached = self._cache.get(event.position)
        if cached is not None:
            return cached
        view = await self._build(event, model)
        view.owner = self
        self._cache[event.position] = view
        self._evict()
        return view

    def grew(self, chars: int) -> None:
        self._size += chars
        self._evict()

    def _evict(self) -> None:
        """At most ``VIEW_CACHE`` views and ``VIEW_CACHE_CHARS`` of their encodings (large records make few)."""
        while len(self._cache) > VIEW_CACHE or (self._size > VIEW_CACHE_CHARS and len(self._cache) > 1):
            _, old = self._cache.popitem(last=False)
            self._size -= old.size
            old.owner = None

    async def _build(self, event: StoredEvent, model: Model) -> View:
        kind, data, previous, block_op = event.type, event.data, event.previous_data, None
        if kind in BLOCK_OPS:
            block_op, data, previous = await self._block(event)
            event_type = "UPDATED"
        else:
            event_type = EVENT_TYPES.get(kind, "CUSTOM")
        image = previous if kind in BEFORE_IMAGE_TYPES else data
        values = {"__typename": "ModelEvent", "eventType": event_type, "modelName": event.model,
                  "eventId": event.event_id, "data": data if isinstance(data, dict) else {"value": data},
                  "previousData": previous if event_type != "CREATED" else None,
                  "timestamp": event.recorded_at_text, "actor": event.actor, "position": event.position,
                  "blockOp": block_op}
        return View(values, image)

    async def _block(self, event: StoredEvent) -> tuple[dict[str, Any], Any, Any]:
        """A block event as an update: ``blockOp``, the whole record after and before it."""
        data = event.data if isinstance(event.data, dict) else {}
        last = self._last.get(event.stream)
        if last is not None and last[0] == event.stream_version - 1:
            before: Any = last[1]
            after = fold(before, event)
        else:
            before, after = await self.read_images(event)
        if after is None:   # not foldable (a log without the record's image): the event's own identity
            after = {"id": event.record_id, "_version": event.stream_version}
        else:
            self._last[event.stream] = (event.stream_version, after)
            self._last.move_to_end(event.stream)
            if len(self._last) > LAST_IMAGES:
                self._last.popitem(last=False)
        block = data.get("block") if isinstance(data.get("block"), dict) else {}
        block_id = data.get("blockId", block.get("id"))
        field = data.get("field")
        blocks = after.get(field) if isinstance(field, str) else None
        index = next((i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("id") == block_id), None) \
            if isinstance(blocks, list) and event.type != "BlockRemoved" else data.get("index")
        op = {"op": BLOCK_OPS[event.type], "field": field, "blockId": block_id, "index": index}
        return op, after, before


def image_reader(db: Any) -> Callable[[StoredEvent], Awaitable[tuple[Any, Any]]]:
    """The records before and after one event, folded from the log on a reader connection."""
    async def read(event: StoredEvent) -> tuple[Any, Any]:
        return await db.read(lambda conn: images_at(conn, event.stream, event.stream_version),  # type: ignore[no-any-return]
                             inline=True)
    return read


# -- one subscription ----------------------------------------------------------------------------
class ModelChanges(FeedCursor):
    def __init__(self, plan: Plan, model: Model, access: Access, caller: Caller, views: EventViews,
                 sink: Sink) -> None:
        super().__init__(caller, sink, plan.after)
        self.plan = plan
        self.root_key = plan.root_key
        self.model = model
        self.access = access
        self.views = views

    def allows(self, event: StoredEvent, view: View) -> bool:
        caller = self.caller
        if not caller.sees_tenant(event.tenant_id):
            return False
        if self.access.unrestricted:
            return True
        image = view.image
        return isinstance(image, dict) and self.access.allows(image)

    def wants(self, event: StoredEvent) -> bool:
        return event.model == self.model.name

    async def message(self, event: StoredEvent) -> str | None:
        view = await self.views.view(event, self.model)
        return self.head + view.text(self.plan.fields) + self.tail if self.allows(event, view) else None

    def rebind(self, caller: Caller, data: Any) -> None:
        self.access = data.access(self.model, "read", caller)
        self.caller = caller
