"""``/graphql/ws`` (graphql chapter §10): GraphQL over WebSocket, backed by the event feed.

- ``endpoint``: the route, one ``GraphQLSocket`` per connection (handshake, ``connection_init``, limits);
- ``protocol``: the two sub-protocols (``graphql-transport-ws`` and legacy ``graphql-ws``), messages in and out;
- ``operations``: the operations of one socket (queries and mutations once, subscription streams);
- ``cursor``: a subscription as a gapless cursor over the event feed, reading into reserved outbox room;
- ``model_changes``: planning a subscription (shared) and ``modelChanges``/``<model>Changes`` streams;
- ``stream_events``: ``streamEvents`` streams (custom event-store streams, by name or prefix);
- ``outbox``: the bounded outbound queue of one socket (backpressure, slow consumers).

The transport sits above the GraphQL engine (``atomo.graphql``), the HTTP layer's services and the
WebSocket registry of ``atomo.realtime``; ``atomo.app`` mounts it.
"""
