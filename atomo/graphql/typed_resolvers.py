"""Resolvers of the typed per-model API: each root field is its generic twin with typed arguments.

``contacts(where, orderBy, limit, offset)`` calls the same ``DataService`` operation as
``records(model: "Contact", ...)``: the typed ``where`` input has the generic filter's shape already
(``{field: {operator: value}}``, ``AND/OR/NOT``), ``orderBy`` becomes the generic array form, and
results are the same record dicts, whose fields the object type reads by name. So access rules,
tenancy, validation, events, ``_version``, page limits and the row budget are the generic ones.

Relations are loaded per page, not per row (no N+1): a list resolver marks each record it returns
in the request context with its list (``relations.Batch``); the first relation field resolved on any of them loads the
related records of the whole list in one query, the others read the result.
"""

from __future__ import annotations

from typing import Any

from atomo.graphql.content import block_ops_resolver, block_resolver
from atomo.graphql.engine import SchemaExtension
from atomo.graphql.relations import belongs_to_resolver, has_many_resolver, mark
from atomo.graphql.resolvers import RequestContext, Resolver
from atomo.graphql.row_budget import one_row, page_rows
from atomo.graphql.typed_sdl import typed_sdl
from atomo.schema.graphql_names import model_names, typed_relations
from atomo.schema.model import Model, Schema


def order_by_arg(value: Any) -> Any:
    """``[{firstName: desc}, {createdAt: asc}]`` -> the generic array form, in the given order."""
    if not value:
        return None
    return [{"field": key, "direction": direction} for entry in value for key, direction in entry.items()
            if direction is not None]


def _read_args(args: dict[str, Any]) -> dict[str, Any]:
    return {"where": args.get("where"), "order_by": order_by_arg(args.get("orderBy"))}


def _model_resolvers(model: Model) -> dict[str, Resolver]:
    name = model.name
    n = model_names(model)

    async def one(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.rows.read(lambda _: ctx.service.record(name, args["id"], caller=ctx.caller), one_row)

    async def many(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        rows = await ctx.rows.read(lambda max_rows: ctx.service.records(
            name, **_read_args(args), limit=args.get("limit"), offset=args.get("offset"), caller=ctx.caller,
            max_rows=max_rows))
        return mark(rows, ctx)

    async def page(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        limit, offset = args.get("limit"), args.get("offset")
        result = await ctx.rows.read(lambda max_rows: ctx.service.paginated_records(
            name, **_read_args(args), limit=20 if limit is None else limit, offset=0 if offset is None else offset,
            caller=ctx.caller, max_rows=max_rows), page_rows)
        mark(result["data"], ctx)
        return result

    async def count(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.service.count(name, where=args.get("where"), caller=ctx.caller)

    async def create(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.service.create(name, args["data"], caller=ctx.caller)

    async def update(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.service.update(name, id=args["id"], data=args["data"],
                                        expected_version=args.get("expectedVersion"), caller=ctx.caller)

    async def delete(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.service.delete(name, id=args["id"], expected_version=args.get("expectedVersion"),
                                        caller=ctx.caller)

    async def restore(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.service.restore(name, id=args["id"], caller=ctx.caller)

    async def hard_delete(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        return await ctx.service.hard_delete(name, id=args["id"], caller=ctx.caller)

    blocks = {f"Mutation.{n.block_mutation(op)}": block_resolver(op, name) for op in ("insert", "update", "move", "remove")
              if n.blocks}
    if n.blocks:
        blocks[f"Mutation.{n.block_mutation('apply')}"] = block_ops_resolver(name)
    return {
        **blocks,
        f"Query.{n.one}": one, f"Query.{n.many}": many, f"Query.{n.page}": page, f"Query.{n.count}": count,
        f"Mutation.{n.mutation('create')}": create, f"Mutation.{n.mutation('update')}": update,
        f"Mutation.{n.mutation('delete')}": delete, f"Mutation.{n.mutation('restore')}": restore,
        f"Mutation.{n.mutation('hardDelete')}": hard_delete,
    }


def typed_extension(schema: Schema) -> SchemaExtension:
    """The typed API of ``schema`` as an engine extension (SDL + resolvers). Its block mutations use the types of
    ``content_extension()`` (``BlockOpInput``, ``BlockOpResult``), which an engine must have with it."""
    resolvers: dict[str, Resolver] = {}
    for model in schema.models:
        resolvers.update(_model_resolvers(model))
        for relation in typed_relations(model):
            target = schema.model(relation.model)
            if target is None:
                continue
            path = f"{model_names(model).type}.{relation.name}"
            if relation.type == "hasMany":
                resolvers[path] = has_many_resolver(relation, target, order_by_arg)
            elif relation.type == "hasOne":
                resolvers[path] = has_many_resolver(relation, target, order_by_arg, single=True)
            else:
                resolvers[path] = belongs_to_resolver(relation, target)
    return SchemaExtension(typed_sdl(schema), resolvers)

