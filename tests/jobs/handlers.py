"""Handlers run by `atomo worker run tests.jobs.handlers:handlers` in the e2e tests."""

from __future__ import annotations

import asyncio
from typing import Any

from atomo.worker import JobContext, NonRetryableError


async def triage(ctx: JobContext) -> dict[str, Any]:
    """Reports progress, raises the ticket's priority through worker CRUD (origin `triage`: no new job)."""
    ticket_id = ctx.job.payload["input"]["id"]
    await ctx.progress(percent=50, message="triaging", data={"attempt": ctx.job.attempts})
    ticket = await ctx.crud.find_by_id("Ticket", ticket_id)
    if ticket is None:
        raise NonRetryableError("ticket vanished")
    updated = await ctx.crud.update("Ticket", ticket_id, {"priority": (ticket["priority"] or 0) + 10},
                                    expected_version=ticket["_version"])
    return {"priority": updated["priority"], "by": "python"}


async def once(ctx: JobContext) -> dict[str, Any]:
    """Hangs on its first attempt (the test kills that worker); later attempts record the run and finish."""
    await ctx.progress(percent=10, message=f"attempt {ctx.job.attempts}")
    if ctx.job.attempts == 1:
        await asyncio.sleep(3600)
    note = await ctx.crud.create("Note", {"text": f"done {ctx.job.id}"})
    return {"note": note["id"], "attempts": ctx.job.attempts}


handlers = {"triage": triage, "once": once}
