"""The realtime tier (realtime chapter): ephemeral channels, presence and coordinator sessions.

- ``hub``: channels, presence, fan-out, statistics and the in-process ``publish`` API (job progress);
- ``sessions``: coordinator sessions; ``access``: channel rules and reserved channels;
- ``protocol``: client frames in, server frames out (JSON or MessagePack);
- ``connection``: one socket's bounded outbound queue, writer task and throttles;
- ``liveness``: the registry of open sockets of both tiers (login sessions re-checked, 4403; 1001 at shutdown);
- ``cluster``: channels, presence and sessions across the workers of ``atomo serve --workers N``;
- ``plugin``: the routes ``/realtime/ws``, ``/realtime/health`` and ``POST /realtime/token``.
"""
