"""Actions: model events -> jobs, in the write transaction (jobs chapter §1-§3).

``Dispatcher.hook(schema)`` is a ``RecordWriter.event_hooks`` entry: for every model event it
evaluates the model's bindings (``created``/``updated``/``deleted``, conditions ``changedAny`` and
``fieldEquals``, all ANDed) and inserts one job per matching binding, on queue ``actions`` with
idempotency key ``<eventId>:<action>``, inside the transaction that appends the event. A binding
whose action is the event's origin is skipped (loop prevention); seed writes dispatch nothing unless
``dispatch_seed`` is set (``atomo seed --dispatch-actions``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from atomo.auth.principal import Caller
from atomo.errors import BadRequestError, NotFoundError, ValidationError
from atomo.schema.model import Action, ActionBinding, Condition, Model, Schema
from atomo.storage.events import StoredEvent
from atomo.storage.tally import Tally

from . import store
from .store import NewJob

ACTIONS_QUEUE = "actions"
DEFAULT_MAX_ATTEMPTS = 5
BINDING_OF = {"Created": "created", "Updated": "updated", "Deleted": "deleted", "HardDeleted": "deleted",
              "BlockInserted": "updated", "BlockUpdated": "updated", "BlockMoved": "updated",
              "BlockRemoved": "updated"}
EVENT_NAME = {"Created": "created", "Deleted": "deleted", "HardDeleted": "harddeleted"}  # others: updated
INPUT_TYPES = {"string": (str,), "number": (int, float), "boolean": (bool,), "object": (dict,), "array": (list,)}
Hook = Callable[[sqlite3.Connection, Model, StoredEvent, Caller, "dict[str, Any] | None"], None]


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality: ``1`` equals ``1.0``, but ``true`` never equals ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _holds(condition: Condition, event: StoredEvent, image: dict[str, Any]) -> bool:
    if condition.changed_any is not None and BINDING_OF[event.type] == "updated":
        if event.type.startswith("Block"):
            changed = isinstance(event.data, dict) and event.data.get("field") in condition.changed_any
        else:
            before, after = event.previous_data or {}, event.data or {}
            changed = any(not json_equal(before.get(k), after.get(k)) for k in condition.changed_any)
        if not changed:
            return False
    if condition.field_equals is not None:
        return all(k in image and json_equal(image[k], v) for k, v in condition.field_equals)
    return True


def matches(binding: ActionBinding, event: StoredEvent, image: dict[str, Any]) -> bool:
    return all(_holds(c, event, image) for c in binding.conditions)


def action_input(action: Action | None, model: Model, record: dict[str, Any]) -> Any:
    """``input.pick`` of this model copies the listed fields; anything else gets the whole record."""
    spec = action.input if action is not None else None
    if isinstance(spec, dict) and isinstance(spec.get("pick"), dict) and spec["pick"].get("model") == model.name:
        out = {}
        for name in spec["pick"].get("fields") or []:
            field = model.field(str(name))
            key = field.key if field is not None else str(name)
            out[key] = record.get(key)
        return out
    return record


def _image(event: StoredEvent, record: dict[str, Any] | None) -> dict[str, Any]:
    """The record the conditions read: after-image, before-image for deletes, the record the writer hands
    over for block events (whose event carries only the operation)."""
    if record is not None:
        return record
    if event.type in ("Deleted", "HardDeleted"):
        return event.previous_data if isinstance(event.previous_data, dict) else {}
    return event.data if isinstance(event.data, dict) else {}


def event_payload(action: str, model: Model, event: StoredEvent, input_: Any) -> dict[str, Any]:
    return {"action": action, "model": model.name, "event": EVENT_NAME.get(event.type, "updated"),
            "eventId": event.event_id, "input": input_, "actor": event.actor, "timestamp": event.recorded_at_text,
            "origin": event.origin, "recordId": event.record_id, "tenantId": event.tenant_id,
            "position": event.position}


class Dispatcher:
    def __init__(self) -> None:
        self.dispatch_seed = False          # `atomo seed --dispatch-actions`
        self.bound_models: set[str] = set()  # models with bindings (their commits wake long polls)
        self.enqueued = Tally()             # /metrics: jobs enqueued by model events (writer thread only)

    def hook(self, schema: Schema) -> Hook:
        actions = {a.name: a for a in schema.actions}
        self.bound_models |= {m.name for m in schema.models if any(m.events.values())}

        def dispatch(conn: sqlite3.Connection, model: Model, event: StoredEvent, caller: Caller,
                     record: dict[str, Any] | None = None) -> None:
            kind = BINDING_OF.get(event.type)
            bindings = model.events.get(kind, ()) if kind is not None else ()
            if not bindings or (event.origin == "seed" and not self.dispatch_seed):
                return
            image = _image(event, record)
            now = event.recorded_at
            for binding in bindings:
                if binding.action == event.origin or not matches(binding, event, image):
                    continue
                payload = event_payload(binding.action, model, event,
                                        action_input(actions.get(binding.action), model, image))
                _, existed = store.enqueue(conn, NewJob(ACTIONS_QUEUE, binding.action, payload,
                                                        tenant_id=event.tenant_id, created_by=event.actor,
                                                        max_attempts=DEFAULT_MAX_ATTEMPTS,
                                                        idempotency_key=f"{event.event_id}:{binding.action}"), now)
                if not existed:
                    self.enqueued.add(ACTIONS_QUEUE)
        dispatch.atomo_dispatcher = True  # type: ignore[attr-defined]
        return dispatch


# -- direct invocation (§3) ----------------------------------------------------------------------------
def callable_action(schema: Schema, name: str) -> Action:
    action = schema.action(name)
    if action is None:
        raise NotFoundError(f"action '{name}' not found")
    if not action.callable:
        raise BadRequestError(f"action '{name}' is not callable")
    return action


def check_object_input(action: Action, body: Any) -> None:
    """A body against ``input.object`` (``string``, ``number``, ``boolean``, ``object``, ``array``, ``any``; ``?``)."""
    spec = action.input.get("object") if isinstance(action.input, dict) else None
    if not isinstance(spec, dict):
        return
    if not isinstance(body, dict):
        raise ValidationError.single(None, f"input of action '{action.name}' must be an object", "type")
    problems = []
    for key, kind in spec.items():
        kind = str(kind)
        optional, kind = kind.endswith("?"), kind.rstrip("?")
        value = body.get(key)
        if value is None:
            if not optional:
                problems.append({"field": key, "message": f"{key} is required", "code": "required"})
            continue
        types = INPUT_TYPES.get(kind)
        if types is not None and (not isinstance(value, types) or (kind == "number" and isinstance(value, bool))):
            problems.append({"field": key, "message": f"{key} must be of type {kind}", "code": "type"})
    if problems:
        raise ValidationError(details=problems)


def direct_payload(action: str, body: Any, actor: str | None, tenant: str | None) -> dict[str, Any]:
    return {"action": action, "event": "direct", "input": body, "actor": actor, "tenantId": tenant,
            "timestamp": store.iso(store.utcnow()), "origin": None}
