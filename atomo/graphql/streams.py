"""GraphQL over the event store (Atomo-Python extension): ``appendEvents``, ``stream``, ``streams``; the
``streamEvents`` subscription is served by ``atomo.subscriptions``. Each field is one ``EventStore`` call."""

from __future__ import annotations

from typing import Any

from atomo.data.streams import EventStore
from atomo.graphql.engine import SchemaExtension
from atomo.graphql.resolvers import RequestContext
from atomo.graphql.sdl import STREAMS_SDL

__all__ = ["STREAMS_SDL", "streams_extension"]


def _store(ctx: RequestContext) -> EventStore:
    return EventStore(ctx.service)


async def append_events(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    done = await _store(ctx).append(args["stream"], args.get("events"), expected_version=args.get("expectedVersion"),
                                    caller=ctx.caller)
    return {**done, "events": [e.to_graphql() for e in done["events"]]}


async def stream(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    from_version, limit = args.get("fromVersion"), args.get("limit")
    events = await _store(ctx).read(args["name"], from_version=1 if from_version is None else from_version,
                                    limit=100 if limit is None else limit, caller=ctx.caller)
    return [e.to_graphql() for e in events]


async def streams(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    limit = args.get("limit")
    return await _store(ctx).streams(prefix=args.get("prefix"), after=args.get("after"),
                                     limit=100 if limit is None else limit, caller=ctx.caller)


def streams_extension() -> SchemaExtension:
    return SchemaExtension(STREAMS_SDL, {"Mutation.appendEvents": append_events, "Query.stream": stream,
                                         "Query.streams": streams})
