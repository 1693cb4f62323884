"""Running the project's hooks around the data service's writes (``atomo.hooks``).

Before-hooks run on the event loop after the access decision and before the write unit is built: a
refusal writes nothing. After-hooks run after the commit, in a task per write (never delaying or undoing
it); a failure is logged on ``atomo.hooks`` with the request id and the traceback.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from typing import Any

from atomo.auth.principal import Caller
from atomo.data.custom_events import custom_events_unit
from atomo.hooks.registry import CURRENT_REQUEST_ID, FieldHook, HookContext, HookSet, ModelHook
from atomo.storage.events import NewEvent, StoredEvent

log = logging.getLogger("atomo.hooks")
HOOK_CALLER = Caller(origin="hook")
WITH_INPUT = frozenset({"create", "update"})


def takes_caller(method: Any) -> bool:
    """A data service operation: a coroutine method with a ``caller`` keyword."""
    if not inspect.iscoroutinefunction(method):
        return False
    return "caller" in _parameters(getattr(method, "__func__", method))


@functools.cache
def _parameters(fn: Any) -> frozenset[str]:
    return frozenset(inspect.signature(fn).parameters)


async def call(fn: Any, value: Any, ctx: HookContext) -> Any:
    result = fn(value, ctx)
    if inspect.isawaitable(result):
        result = await result
    return result


class CallerData:
    """``ctx.data``: the data service's operations acting as one caller (its access rules and tenant
    apply). ``ctx.data.system`` acts as the system, with no access rules."""

    def __init__(self, service: Any, caller: Caller) -> None:
        self._service = service
        self._caller = caller

    def __getattr__(self, name: str) -> Any:
        method = None if name.startswith("_") else getattr(self._service, name, None)
        if method is None or not takes_caller(method):
            raise AttributeError(f"ctx.data has no operation {name!r} (operations: {', '.join(self.__dir__())})")
        return functools.partial(method, caller=self._caller)

    def __dir__(self) -> list[str]:
        names = [n for n in dir(self._service) if not n.startswith("_") and takes_caller(getattr(self._service, n))]
        return sorted({*names, "system"})

    @property
    def system(self) -> CallerData:
        return CallerData(self._service, HOOK_CALLER)


class HookEvents:
    """``ctx.events``: ``await ctx.events.append(stream, type, data)`` appends one custom event (type
    ``[A-Za-z][A-Za-z0-9_.]*``, not a model event type) in a write transaction of its own."""

    def __init__(self, service: Any, caller: Caller) -> None:
        self._service = service
        self._caller = caller

    async def append(self, stream: str, type: str, data: Any = None, *,  # noqa: A002 - the event's type
                     expected_version: int | None = None) -> StoredEvent:
        s, c = self._service, self._caller
        unit = custom_events_unit(s.schema, s.writer.appender, stream, [NewEvent(type, data)],
                                  expected_version=expected_version, actor=c.event_actor, tenant_id=c.tenant,
                                  origin=c.origin)
        stored: list[StoredEvent] = await s.db.write(unit)
        return stored[0]


def record_after(event: StoredEvent) -> dict[str, Any]:
    """The record an after-hook gets: after the operation (as it was, for a hard delete)."""
    if event.type in ("Created", "Updated") and isinstance(event.data, dict):
        return event.data
    record = dict(event.previous_data) if isinstance(event.previous_data, dict) else {"id": event.record_id}
    if event.type == "Deleted":
        record["deletedAt"] = event.data.get("deletedAt") if isinstance(event.data, dict) else None
    elif event.type == "Restored":
        record["deletedAt"] = None
    if event.type != "HardDeleted":
        record["_version"] = event.stream_version
    return record


class HookRunner:
    """The hooks of one data service (``DataService.hooks``)."""

    def __init__(self, hooks: HookSet, service: Any) -> None:
        self.hookset = hooks
        self._service = service
        self._tasks: set[asyncio.Task[None]] = set()

    def context(self, caller: Caller, operation: str, **extra: Any) -> HookContext:
        return HookContext(operation=operation, caller=caller, data=CallerData(self._service, caller),
                           events=HookEvents(self._service, caller), request_id=CURRENT_REQUEST_ID.get(), **extra)

    # -- before ----------------------------------------------------------------------------------
    def has_before(self, model: str, operation: str) -> bool:
        return (model, operation) in self.hookset.before

    async def before(self, model: str, operation: str, value: Any, caller: Caller, *, id: str | None = None,
                     where: Any = None, field: str | None = None) -> Any:
        """Run the before-hooks in order; the (possibly replaced) input of a create or update. A block mutation
        runs the ``update`` hooks with ``{}`` and ``ctx.field`` = its Blocks field (they may refuse it; what they
        return is not used: the operation has no field values to replace)."""
        hooks = self.hookset.before_hooks(model, operation)
        if operation in WITH_INPUT:
            if not isinstance(value, dict):
                return value          # the service refuses it ("data must be an object")
            value = dict(value)
        for hook in hooks:
            ctx = self.context(caller, operation, model=model, id=id, where=where, field=field)
            try:
                result = await call(hook.fn, value, ctx)
            except Exception as exc:
                exc.add_note(f"in the {hook.describe()}")
                raise
            if operation not in WITH_INPUT or result is None:
                continue
            if not isinstance(result, dict):
                raise TypeError(f"the {hook.describe()} returned {type(result).__name__}, not a dict or None")
            value = result
        return value

    # -- after -----------------------------------------------------------------------------------
    def has_after(self, model: str, operation: str) -> bool:
        return (model, operation) in self.hookset.after

    def after(self, model: str, operation: str, events: list[StoredEvent], caller: Caller,
              images: list[dict[str, Any]] | None = None) -> None:
        """Schedule the after-hooks for the committed ``events`` (one call per event and hook); ``images``:
        the record after each event when the events do not carry it (block operations)."""
        hooks = self.hookset.after_hooks(model, operation)
        if not hooks or not events:
            return
        task = asyncio.get_running_loop().create_task(self._run_after(hooks, model, operation, events, caller, images),
                                                      name=f"atomo-after-{operation}-{model}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_after(self, hooks: tuple[ModelHook, ...], model: str, operation: str, events: list[StoredEvent],
                         caller: Caller, images: list[dict[str, Any]] | None) -> None:
        for n, event in enumerate(events):
            record = images[n] if images is not None else record_after(event)
            for hook in hooks:
                ctx = self.context(caller, operation, model=model, id=event.record_id, event=event)
                try:
                    await call(hook.fn, record, ctx)
                except Exception as exc:
                    log.error("%s failed (request %s, event %s)", hook.describe(), ctx.request_id, event.event_id,
                              exc_info=(type(exc), exc, exc.__traceback__))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the after-hooks still running (at shutdown); cancel what is left after ``timeout``."""
        pending = set(self._tasks)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            log.warning("after-hook task %s cancelled at shutdown", task.get_name())
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)

    # -- custom fields ---------------------------------------------------------------------------
    async def resolve(self, field: FieldHook, args: dict[str, Any], caller: Caller, request_id: str | None) -> Any:
        ctx = self.context(caller, field.kind, field=field.name)
        if request_id is not None:
            ctx.request_id = request_id
        return await call(field.fn, dict(args), ctx)
