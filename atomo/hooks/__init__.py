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
```

``atomo serve``/``atomo dev``, the standalone executable and ``Atomo(project=...)`` load them
(``atomo.hooks.loader``); ``Atomo(hooks=[module, ...])`` adds more.
"""

from __future__ import annotations

from atomo.hooks.refusals import PermissionDenied, ValidationError
from atomo.hooks.registry import CURRENT_REQUEST_ID, FieldHook, HookContext, HookSet, ModelHook, after, before, mutation, query

__all__ = ["before", "after", "query", "mutation", "ValidationError", "PermissionDenied", "HookContext", "HookSet",
           "ModelHook", "FieldHook", "CURRENT_REQUEST_ID"]
