"""The operations of one ``/graphql/ws`` connection: one task per operation id.

A query or mutation runs once through the engine (``next``/``data`` then ``complete``). A
subscription is planned (``model_changes.prepare``, then ``model_changes.plan`` or
``stream_events.plan``), its read access decided for the caller, and then runs as a ``ModelChanges``
or ``StreamEvents`` cursor until the client stops it or the socket closes. Problems before the
stream starts (document errors, unknown model, bad arguments, ``UNAUTHENTICATED``,
``PERMISSION_DENIED``) are one ``error`` message for that id. When the caller's principal changes
(role, tenant binding) the access of every stream is decided again.

Before an operation starts, ``refusal`` takes a token from the client address's bucket of the general
limiter (``RATE_LIMITED`` with ``retryAfter``) and checks ``GRAPHQL_WS_MAX_OPERATIONS`` (operations
running on this socket; ``LIMIT_EXCEEDED``): a refused operation does not run, the socket stays open.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from atomo.auth.principal import Caller
from atomo.data.streams import EventStore
from atomo.errors import AtomoError, LimitExceededError, RateLimitedError
from atomo.graphql.resolvers import INTERNAL_MESSAGE, RequestContext, atomo_error_extensions
from atomo.http.ratelimit import RATE_LIMITED_MESSAGE, retry_after
from atomo.subscriptions import protocol as wp
from atomo.subscriptions.cursor import FeedCursor, Sink

if TYPE_CHECKING:
    from atomo.subscriptions.endpoint import GraphQLSocket

log = logging.getLogger("atomo.graphql")


def field_error(exc: AtomoError, root_key: str | None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": exc.message}
    if root_key is not None:
        error["path"] = [root_key]
    error["extensions"] = atomo_error_extensions(exc)
    return error


class Operations:
    def __init__(self, sock: GraphQLSocket) -> None:
        self.sock = sock
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.streams: dict[str, tuple[Any, FeedCursor]] = {}

    def active(self, key: str) -> bool:
        return key in self.tasks

    def refusal(self) -> dict[str, Any] | None:
        """The error of a ``subscribe``/``start`` that may not run now, or None (a token is taken)."""
        services = self.sock.services
        buckets = services.request_buckets
        if buckets is not None:
            wait = buckets.take(self.sock.address)
            if wait:
                return field_error(RateLimitedError(RATE_LIMITED_MESSAGE, {"retryAfter": retry_after(wait)}), None)
        limit = services.settings.graphql_ws_max_operations
        if len(self.tasks) >= limit:
            return field_error(LimitExceededError(f"at most {limit} operations may run at once on one socket "
                                                  "(GRAPHQL_WS_MAX_OPERATIONS)", {"maxOperations": limit}), None)
        return None

    def start(self, op_id: Any, operation: wp.Operation) -> None:
        key = str(op_id)
        live_from = self.sock.services.runtime.feed.known_now()   # "now" is when the message arrived
        self.tasks[key] = self.sock.spawn(self._run(op_id, key, operation, live_from))

    def stop(self, key: str) -> Any:
        """Cancel the operation; its id as sent, or None when no such operation runs."""
        task = self.tasks.pop(key, None)
        self.streams.pop(key, None)
        if task is None:
            return None
        task.cancel()
        return self._id(key, task)

    @staticmethod
    def _id(key: str, task: asyncio.Task[None]) -> Any:
        return getattr(task, "atomo_op_id", key)

    def cancel_all(self) -> None:
        tasks, self.tasks = self.tasks, {}
        self.streams.clear()
        for task in tasks.values():
            task.cancel()

    def caller_changed(self, caller: Caller) -> None:
        data = self.sock.services.current.data
        for key, (op_id, stream) in list(self.streams.items()):
            try:
                stream.rebind(caller, data)
            except AtomoError as exc:
                self.stop(key)
                message = wp.error_message(self.sock.protocol, op_id, [field_error(exc, stream.root_key)])
                self.sock.spawn(self.sock.send(message))

    async def _run(self, op_id: Any, key: str, operation: wp.Operation, live_from: int | None) -> None:
        sock = self.sock
        current = asyncio.current_task()
        if current is not None:
            current.atomo_op_id = op_id  # type: ignore[attr-defined]
        protocol, root_key = sock.protocol, None
        from atomo.subscriptions.model_changes import PlanError, prepare  # tartiflette: loaded lazily
        try:
            services = sock.services
            engine, data = services.current.engine, services.current.data
            query, variables, name = operation.query, operation.variables, operation.operation_name
            if engine.operation_type(query, name) in ("query", "mutation"):
                outcome = await engine.execute(query, variables, name, service=data, caller=sock.caller)
                if outcome.document_error:
                    await sock.send(wp.error_message(protocol, op_id, outcome.body.get("errors", [])))
                    return
                await sock.send(wp.result_message(protocol, op_id, outcome.body))
                await sock.send(wp.complete_message(op_id))
                return
            caller = sock.caller
            root = await prepare(engine, query, variables, name, RequestContext(data, caller))
            root_key = root.key
            state = services.state
            sink = Sink(services.runtime.feed, sock.outbox, wp.next_prefix(protocol, op_id, root_key),
                        lambda: sock.closed or state.shutting_down, live_from)
            stream = await self._cursor(engine, data, caller, root, sink)
            self.streams[key] = (op_id, stream)
            await stream.run()
        except asyncio.CancelledError:
            raise
        except PlanError as exc:
            await sock.send(wp.error_message(protocol, op_id, exc.errors))
        except AtomoError as exc:
            await sock.send(wp.error_message(protocol, op_id, [field_error(exc, root_key)]))
        except Exception:
            if not sock.closed:
                log.exception("/graphql/ws operation %s failed", key)
                error = {"message": INTERNAL_MESSAGE, "extensions": {"code": "INTERNAL_ERROR"}}
                await sock.send(wp.error_message(protocol, op_id, [error]))
        finally:
            if self.tasks.get(key) is current:
                del self.tasks[key]
                self.streams.pop(key, None)

    async def _cursor(self, engine: Any, data: Any, caller: Caller, root: Any, sink: Sink) -> FeedCursor:
        """The cursor of a subscription's root field, its access decided (``AtomoError`` when refused)."""
        from atomo.subscriptions import model_changes, stream_events
        if root.field == stream_events.STREAM_EVENTS:
            store = EventStore(data)
            return stream_events.StreamEvents(await stream_events.plan(engine, root, store), store, caller, sink)
        planned = await model_changes.plan(engine, root)
        model = data.model(planned.model)
        access = data.access(model, "read", caller)
        return model_changes.ModelChanges(planned, model, access, caller, self.sock.endpoint.event_views(), sink)
