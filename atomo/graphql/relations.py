"""Relation fields of the typed API, loaded once per list of parents (no N+1).

A list resolver calls ``mark(rows, ctx)``: the request context maps each record of the list (by
identity; the records are not changed and hold no reference back) to one ``Batch``. The
first relation field resolved on a record of the batch loads that relation for every record of the
batch in one query (a belongs-to: the targets whose id is one of the foreign keys; a has-many: the
children of every parent, ``where/orderBy/limit/offset`` applied per parent by a window query);
the rest of the batch reads the loaded map. A load is shared through a future, so concurrent field
resolution would not load twice either. A record outside any list (``contact(id)``, ``createContact``)
is its own batch of one. Loaded records are marked in turn, so nested relations batch the same way.
The reads run as the caller (rules and tenancy apply; an unreadable target resolves to null) and
count against the request's row budget.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from atomo.data.query import MAX_LIST_VALUES
from atomo.graphql.resolvers import RequestContext, Resolver
from atomo.schema.model import Model, Relationship


class Batch:
    __slots__ = ("rows", "loads")

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.loads: dict[Any, asyncio.Future[dict[Any, Any]]] = {}


def mark(rows: list[dict[str, Any]], ctx: RequestContext) -> list[dict[str, Any]]:
    batch = Batch(rows)
    batches = ctx.batches
    for row in rows:
        batches[id(row)] = batch
    return rows


def _batch_of(parent: dict[str, Any], ctx: RequestContext) -> Batch:
    """The list the parent came from in this request; a record outside any list is a batch of one."""
    batch = ctx.batches.get(id(parent))
    return Batch([parent]) if batch is None else batch


async def _shared_load(batch: Batch, key: Any, load: Callable[[], Any]) -> dict[Any, Any]:
    """The map ``load`` returns, computed once per batch and key."""
    future = batch.loads.get(key)
    if future is None:
        future = batch.loads[key] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(await load())
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: every reader re-raises it from the future
    return await future


def _chunks(values: list[Any]) -> list[list[Any]]:
    return [values[i:i + MAX_LIST_VALUES] for i in range(0, len(values), MAX_LIST_VALUES)]


def belongs_to_resolver(relation: Relationship, target: Model) -> Resolver:
    """``deal.company``: the target whose id is the parent's foreign key (null without one)."""
    foreign_key, target_name = relation.foreign_key, target.name

    async def resolve(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        value = parent.get(foreign_key)
        if value is None:
            return None
        batch = _batch_of(parent, ctx)

        async def load() -> dict[Any, Any]:
            keys = list(dict.fromkeys(r.get(foreign_key) for r in batch.rows if r.get(foreign_key) is not None))
            found: dict[Any, Any] = {}
            for chunk in _chunks(keys):
                rows = await ctx.rows.read(lambda max_rows, chunk=chunk: ctx.service.records(
                    target_name, where={"id": {"in": chunk}}, caller=ctx.caller, max_rows=max_rows))
                found.update((row["id"], row) for row in mark(rows, ctx))
            return found
        return (await _shared_load(batch, relation.name, load)).get(value)
    return resolve


def has_many_resolver(relation: Relationship, target: Model, order_by_arg: Callable[[Any], Any], *,
                      single: bool = False) -> Resolver:
    """``company.deals(where, orderBy, limit, offset)``: the children whose foreign key is the parent's
    id; ``single`` (has-one): the first of them or null."""
    foreign_key, target_name = relation.foreign_key, target.name

    async def resolve(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        batch = _batch_of(parent, ctx)
        where, order_by = args.get("where"), order_by_arg(args.get("orderBy"))
        limit, offset = (1, 0) if single else (args.get("limit"), args.get("offset"))
        key = (relation.name, json.dumps([where, order_by, limit, offset], sort_keys=True, default=str))

        async def load() -> dict[Any, Any]:
            ids = list(dict.fromkeys(r["id"] for r in batch.rows if r.get("id") is not None))
            grouped: dict[Any, list[dict[str, Any]]] = {}
            for chunk in _chunks(ids):
                rows = await ctx.rows.read(lambda max_rows, chunk=chunk: ctx.service.related_records(
                    target_name, foreign_key, chunk, where=where, order_by=order_by, limit=limit, offset=offset,
                    caller=ctx.caller, max_rows=max_rows))
                for row in mark(rows, ctx):
                    grouped.setdefault(row.get(foreign_key), []).append(row)
            return grouped
        children = (await _shared_load(batch, key, load)).get(parent.get("id"), [])
        if single:
            return children[0] if children else None
        return children
    return resolve
