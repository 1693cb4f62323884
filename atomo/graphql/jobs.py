"""GraphQL ``enqueueJob`` (jobs chapter §5): the rules of ``POST /jobs``; a duplicate key returns the existing id."""

from __future__ import annotations

from typing import Any

from atomo.graphql.engine import SchemaExtension
from atomo.graphql.sdl import ENQUEUE_SDL
from atomo.jobs.service import Jobs, new_app_job

__all__ = ["ENQUEUE_SDL", "jobs_extension"]


def jobs_extension(jobs: Jobs) -> SchemaExtension:
    """The ``enqueueJob`` mutation on the running jobs subsystem."""

    async def enqueue_job(parent: Any, args: dict[str, Any], ctx: Any, info: Any) -> str:
        job = new_app_job(args, ctx.caller)
        job_id, _ = await jobs.enqueue(job)
        return job_id

    return SchemaExtension(ENQUEUE_SDL, {"Mutation.enqueueJob": enqueue_job})
