"""GraphQL block mutations and ``renderBlocks`` (content chapter §3, §6): each field is one ``DataService`` call."""

from __future__ import annotations

from typing import Any

from atomo.graphql.engine import SchemaExtension
from atomo.graphql.resolvers import RequestContext, Resolver
from atomo.graphql.sdl import CONTENT_SDL

__all__ = ["CONTENT_SDL", "block_resolver", "content_extension"]


def block_resolver(op: str, model: str | None = None) -> Resolver:
    """``insertBlock``/``updateBlock``/``moveBlock``/``removeBlock`` (``model`` fixed for the typed API's
    ``insertContactBlock``...)."""

    async def resolve(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        extra: dict[str, Any] = {}
        if op != "insert":
            extra["block_id"] = args.get("blockId")
        if op in ("insert", "update"):
            extra["block"] = args.get("block")
        if op in ("insert", "move"):
            extra.update(position=args.get("position"), after=args.get("after"))
        if op in ("update", "remove"):
            extra["expected_rev"] = args.get("expectedRev")
        return await ctx.service.block_op(model or args["model"], args["id"], args["field"], op,
                                          expected_version=args.get("expectedVersion"), caller=ctx.caller, **extra)
    return resolve


def block_ops_resolver(model: str | None = None) -> Resolver:
    async def resolve(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
        ops = [{k: v for k, v in op.items() if v is not None} for op in args.get("ops") or []]
        return await ctx.service.block_ops(model or args["model"], args["id"], args["field"], ops,
                                           expected_version=args.get("expectedVersion"), caller=ctx.caller)
    return resolve


async def render_blocks(parent: Any, args: dict[str, Any], ctx: RequestContext, info: Any) -> Any:
    return await ctx.service.render_blocks(args["model"], args["id"], args["field"], args.get("format") or "markdown",
                                           caller=ctx.caller)


def content_extension() -> SchemaExtension:
    resolvers: dict[str, Resolver] = {f"Mutation.{op}Block": block_resolver(op)
                                      for op in ("insert", "update", "move", "remove")}
    resolvers["Mutation.applyBlockOps"] = block_ops_resolver()
    resolvers["Query.renderBlocks"] = render_blocks
    return SchemaExtension(CONTENT_SDL, resolvers)
