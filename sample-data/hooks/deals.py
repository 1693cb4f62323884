"""Business logic of the sample CRM's deals (atomo.hooks): loaded by `atomo serve`, `atomo dev` (reloaded on
change) and `Atomo(project=...)`."""

from __future__ import annotations

import logging
from typing import Any

from atomo.hooks import HookContext, ValidationError, after, before, query

log = logging.getLogger("atomo.hooks.deals")
PAGE = 500          # deals read per page by pipelineTotals
MAX_DEALS = 10_000  # and at most this many: the answer says when it stopped early


@before("Deal", "create")
async def clean_title(data: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """Strip the title and collapse runs of whitespace: "  Big   deal " is stored as "Big deal"."""
    title = data.get("title")
    if isinstance(title, str):
        data["title"] = " ".join(title.split())
        if not data["title"]:
            raise ValidationError("title must not be blank", field="title", code="required")
    return data


@after("Deal", "create")
async def log_new_deal(deal: dict[str, Any], ctx: HookContext) -> None:
    log.info("deal %s created: %r worth %s %s (request %s)", deal["id"], deal["title"], deal.get("value"),
             deal.get("currency"), ctx.request_id)


@query("pipelineTotals", args="stage: String", returns="JSON")
async def pipeline_totals(args: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    """The value of the deals the caller may read, per stage (one stage with `stage`)."""
    where = {"stage": args["stage"]} if args.get("stage") else None
    totals: dict[str, float] = {}
    counted = 0
    while counted < MAX_DEALS:
        page = await ctx.data.records("Deal", where=where, order_by={"id": "asc"}, limit=PAGE, offset=counted)
        for deal in page:
            totals[deal["stage"]] = totals.get(deal["stage"], 0) + (deal.get("value") or 0)
        counted += len(page)
        if len(page) < PAGE:
            return {"totals": totals, "deals": counted, "complete": True}
    return {"totals": totals, "deals": counted, "complete": False}
