"""The Python worker SDK (jobs chapter §11): lease jobs over HTTP and run async handlers.

```python
from atomo.worker import create_worker, NonRetryableError

worker = create_worker(url="http://localhost:3000", token=TOKEN, queues=["actions"], concurrency=4)

@worker.on("notifyWon")
async def notify_won(ctx):
    deal = await ctx.crud.find_by_id("Deal", ctx.job.payload["input"]["id"])
    if deal is None:
        raise NonRetryableError("deal vanished")
    await ctx.progress(percent=50, message="sending")
    await ctx.crud.append_events(f"deal-{deal['id']}", [{"type": "WinNotified", "data": {"to": deal["ownerId"]}}])
    return {"notified": deal["ownerId"]}

worker.run()   # or: await worker.start() ... await worker.stop()
```

``ctx.crud`` also reaches the event store: ``append_events(stream, events, expected_version=, origin=)`` and
``read_stream(stream, from_version=, limit=)`` (token capability ``events:<pattern>``; the schema's stream
rules apply to the job's actor). ``atomo worker run module:handlers`` runs a ``Worker`` or a mapping of kind ->
handler.
"""

from atomo.worker.client import CrudClient, CrudError, JobsClient, JobsError, LeasedJob, LeaseLostError
from atomo.worker.worker import JobContext, NonRetryableError, Worker, create_worker, handle_job

__all__ = ["CrudClient", "CrudError", "JobContext", "JobsClient", "JobsError", "LeaseLostError", "LeasedJob",
           "NonRetryableError", "Worker", "create_worker", "handle_job"]
