"""``/graphql/ws`` (graphql chapter §10): GraphQL over WebSocket, backed by the event feed.

- ``endpoint``: the route, one ``GraphQLSocket`` per connection (handshake, ``connection_init``, limits);
- ``protocol``: the two sub-protocols (``graphql-transport-ws`` and legacy ``graphql-ws``), messages in and out;
- ``operations``: the operations of one socket (queries and mutations once, ``modelChanges`` streams);
- ``model_changes``: planning a ``modelChanges`` subscription and streaming events to it;
- ``outbox``: the bounded outbound queue of one socket (backpressure, slow consumers).

The transport sits above the GraphQL engine (``atomo.graphql``), the HTTP layer's services and the
WebSocket registry of ``atomo.realtime``; ``atomo.app`` mounts it.
"""
