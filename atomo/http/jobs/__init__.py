"""Jobs over HTTP (jobs chapter): the routes of the jobs subsystem that ``atomo.jobs`` runs.

- ``routes``: the app plane (JWT), the admin plane (role ``admin``) and direct action invocation;
- ``worker_routes``: the worker plane (``X-Worker-Token``): lease, heartbeat, progress, complete, fail;
- ``crud_routes``: the worker CRUD API through the data service;
- ``event_routes``: the worker events API (append to and read event streams) through the event store;
- ``acting``: the caller a worker call runs as (its ``actor``), shared by those two;
- ``inputs``: what they share (``Plane``: the services they use, callers, workers; body fields).
"""
