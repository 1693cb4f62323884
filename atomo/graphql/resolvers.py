"""Root resolvers: every Query/Mutation field maps onto one ``DataService`` call.

Each resolver receives the request's ``RequestContext`` as tartiflette's ``ctx``; camelCase
arguments become the service's snake_case keywords. Errors propagate; ``format_field_error`` at the
end of this module is the GraphQL adapter of the error tree (graphql chapter §9).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from atomo.auth.principal import Caller
from atomo.data.service import DataService
from atomo.errors import AtomoError, ValidationError
from atomo.graphql.row_budget import RowBudget, one_row, page_rows

logger = logging.getLogger("atomo.graphql")
INTERNAL_MESSAGE = "Internal server error"
Resolver = Callable[[Any, dict[str, Any], "RequestContext", Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a resolver needs about the request: the data service, the caller, the request id, the
    rows the request may still return (mutable, see row_budget.py; unbounded unless given) and the
    lists the typed API's records came from (relations load per list)."""

    service: DataService
    caller: Caller
    request_id: str | None = None
    rows: RowBudget = field(default_factory=RowBudget)
    batches: dict[int, Any] = field(default_factory=dict)   # id(record) -> its list (graphql/relations.py)


async def default_resolver(parent: Any, args: dict[str, Any], ctx: Any, info: Any) -> Any:
    """Fields of result objects (PageInfo, StoredEvent, ...) are plain dict entries."""
    if isinstance(parent, dict):
        return parent.get(info.field_name)
    return getattr(parent, info.field_name, None)


# -- Query -----------------------------------------------------------------------------------
async def records(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.rows.read(lambda max_rows: ctx.service.records(
        args["model"], where=args.get("where"), order_by=args.get("orderBy"), limit=args.get("limit"),
        offset=args.get("offset"), caller=ctx.caller, max_rows=max_rows))


async def record(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.rows.read(lambda _: ctx.service.record(args["model"], args["id"], caller=ctx.caller), one_row)


def _page_args(args: dict[str, Any]) -> dict[str, Any]:
    limit, offset = args.get("limit"), args.get("offset")
    return {"where": args.get("where"), "order_by": args.get("orderBy"),
            "limit": 20 if limit is None else limit, "offset": 0 if offset is None else offset}


async def paginated_records(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.rows.read(lambda max_rows: ctx.service.paginated_records(
        args["model"], **_page_args(args), caller=ctx.caller, max_rows=max_rows), page_rows)


async def deleted_records(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.rows.read(lambda max_rows: ctx.service.deleted_records(
        args["model"], **_page_args(args), caller=ctx.caller, max_rows=max_rows), page_rows)


async def count(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.count(args["model"], where=args.get("where"), caller=ctx.caller)


async def history(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    events = await ctx.rows.read(lambda _: ctx.service.history(args["model"], args["id"], caller=ctx.caller))
    return [event.to_graphql() for event in events]


async def events(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    after, limit = args.get("after"), args.get("limit")
    found = await ctx.rows.read(lambda _: ctx.service.events(
        after=0 if after is None else after, limit=100 if limit is None else limit, model=args.get("model"),
        caller=ctx.caller))
    return [event.to_graphql() for event in found]


# -- Mutation --------------------------------------------------------------------------------
async def create(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.create(args["model"], args["data"], caller=ctx.caller)


async def update(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.update(args["model"], id=args.get("id"), where=args.get("where"), data=args["data"],
                                    expected_version=args.get("expectedVersion"), caller=ctx.caller)


async def update_many(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.update_many(args["model"], args.get("items"), updates=args.get("updates"),
                                         caller=ctx.caller)


async def delete(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.delete(args["model"], id=args.get("id"), where=args.get("where"),
                                    expected_version=args.get("expectedVersion"), caller=ctx.caller)


async def restore(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.restore(args["model"], id=args.get("id"), where=args.get("where"), caller=ctx.caller)


async def hard_delete(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.hard_delete(args["model"], id=args.get("id"), where=args.get("where"),
                                         caller=ctx.caller)


ROOT_RESOLVERS: dict[str, Resolver] = {
    "Query.records": records,
    "Query.record": record,
    "Query.paginatedRecords": paginated_records,
    "Query.deletedRecords": deleted_records,
    "Query.count": count,
    "Query.history": history,
    "Query.events": events,
    "Mutation.create": create,
    "Mutation.update": update,
    "Mutation.updateMany": update_many,
    "Mutation.delete": delete,
    "Mutation.restore": restore,
    "Mutation.hardDelete": hard_delete,
}


# -- errors ----------------------------------------------------------------------------------
def atomo_error_extensions(exc: AtomoError) -> dict[str, Any]:
    """``extensions`` of a GraphQL error raised from an ``AtomoError`` (not INTERNAL_ERROR)."""
    extensions: dict[str, Any] = {"code": exc.code}
    if isinstance(exc, ValidationError):
        details = list(exc.details or [])
        extensions["details"] = details
        extensions["fields"] = json.dumps(details, separators=(",", ":"), ensure_ascii=False, default=str)
    elif exc.details is not None:
        extensions["details"] = exc.details
    return extensions


def format_field_error(error: Any, request_id: str | None) -> dict[str, Any]:
    """One execution error of tartiflette in the wire shape: message, locations, path, extensions."""
    try:
        raw = error.coerce_value() if callable(getattr(error, "coerce_value", None)) else {}
    except Exception:  # pragma: no cover - defensive
        raw = {}
    return field_error(getattr(error, "original_error", None), raw.get("locations"), raw.get("path"), request_id,
                       raw.get("message", error))


def field_error(original: BaseException | None, locations: Any, path: Any, request_id: str | None,
                description: Any = None) -> dict[str, Any]:
    """The wire shape of a field's failure: an ``AtomoError`` shows its code and message; anything else
    is logged and answered as ``INTERNAL_ERROR`` with the request id."""
    out: dict[str, Any] = {"message": INTERNAL_MESSAGE}
    if locations:
        out["locations"] = locations
    if path:
        out["path"] = path
    if isinstance(original, AtomoError) and original.code != "INTERNAL_ERROR":
        out["message"] = original.message
        out["extensions"] = atomo_error_extensions(original)
        return out
    if original is not None:
        logger.error("GraphQL resolver failed (request %s, path %s)", request_id, path,
                     exc_info=(type(original), original, original.__traceback__))
    else:
        logger.error("GraphQL execution error (request %s, path %s): %s", request_id, path, description)
    out["extensions"] = {"code": "INTERNAL_ERROR", "details": {"requestId": request_id}}
    return out
