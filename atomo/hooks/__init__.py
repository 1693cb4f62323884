"""Business logic in Python next to ``schema.ts``: the project's ``hooks/*.py`` modules use these decorators.

```python
from atomo.hooks import ValidationError, after, before, query


@before("Deal", "create")
async def clean_title(data, ctx):
    data["title"] = " ".join(str(data.get("title", "")).split())
    if len(data["title"]) < 2:
        raise ValidationError("title is too short", field="title")
    return data


@after("Deal", "create")
async def announce(deal, ctx):
    await ctx.events.append(f"Deal/{deal['id']}", "DealAnnounced", {"title": deal["title"]})


@query("dealCount", args="stage: String", returns="Int!")
async def deal_count(args, ctx):
    return await ctx.data.count("Deal", where={"stage": args["stage"]} if args.get("stage") else None)


@projection("order-*", table="order_totals",
            schema="CREATE TABLE order_totals (order_id TEXT PRIMARY KEY, total REAL NOT NULL DEFAULT 0)")
def order_totals(event, db):      # sync, inside the write transaction of every matching append
    if event.type == "OrderPlaced":
        db.execute("INSERT INTO order_totals (order_id, total) VALUES (?, ?)", (event.stream, event.data["total"]))
```

Custom projections (``@projection``): ``atomo.hooks.projections``.

``atomo serve``/``atomo dev``, the standalone executable and ``Atomo(project=...)`` load them
(``atomo.hooks.loader``); ``Atomo(hooks=[module, ...])`` adds more.
"""

from __future__ import annotations

from atomo.hooks.refusals import PermissionDenied, ValidationError
from atomo.hooks.registry import (
    CURRENT_REQUEST_ID,
    FieldHook,
    HookContext,
    HookSet,
    ModelHook,
    ProjectionDB,
    ProjectionHook,
    after,
    before,
    mutation,
    projection,
    query,
)

__all__ = ["before", "after", "query", "mutation", "projection", "ValidationError", "PermissionDenied", "HookContext",
           "HookSet", "ModelHook", "FieldHook", "ProjectionHook", "ProjectionDB", "CURRENT_REQUEST_ID"]
