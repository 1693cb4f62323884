"""Serving one data file from several processes (``atomo serve --workers N``).

- ``member``: what a worker process knows of its group (index, size, the relay socket, the shared table, the
  writer lock), read from the environment the supervisor sets.
- ``bus``: notifications between the processes of one server (the relay client); a no-op when alone.
- ``relay``: the supervisor's end of the bus (a Unix socket that forwards frames between workers).
- ``writelock``: one writer at a time across processes, before SQLite's own lock is tried.
- ``supervisor``: binds the port, boots once, starts the workers, restarts one that dies.
- ``shared_table``: rate-limit buckets and connection counts shared by the processes (shared memory).
"""
