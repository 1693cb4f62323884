"""Actions, durable jobs and external workers (jobs chapter).

- ``store``: the jobs and workers tables and the job state machine as write units; ``reports``: stats, recent;
- ``queue``: the running queue (leases, long polls, realtime frames, reclaim sweep);
- ``workers``: worker tokens and capabilities;
- ``actions``: the dispatcher (model events -> jobs in the same transaction) and direct invocation;
- ``service``: the ``Jobs`` subsystem a runtime owns, and the rules shared by REST and GraphQL;

The surfaces live with the other surfaces, above the runtime that owns ``Jobs``: the routes in
``atomo.http.jobs``, ``enqueueJob`` in ``atomo.graphql.jobs``, job status frames wired to the realtime
hub by ``atomo.app``. Nothing here imports them.
"""

from atomo.jobs.service import Jobs
from atomo.jobs.store import create_job_tables

__all__ = ["Jobs", "create_job_tables"]
