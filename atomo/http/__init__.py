"""The HTTP layer: the services of a running server (``services``), request plumbing and the HTTP routes.

Its bottom (``services``, ``errors``, ``request_context``, ``ratelimit``, ``security``) is shared by the
surfaces above it (``atomo.realtime``, ``atomo.subscriptions``); ``atomo.app.create_app`` mounts them all.
"""
