"""The GraphQL schema text (graphql chapter §2): model-generic, so the same for every project.

Other chapters add to it with ``extend type Query/Mutation { ... }`` blocks passed to the engine
(see ``atomo.graphql.engine.SchemaExtension``); ``full_sdl`` joins them in a stable order. ``ENQUEUE_SDL``
(jobs chapter §5, served by ``atomo.graphql.jobs``) is here so that the SDL can be assembled without
tartiflette (``atomo.graphql.served``).
"""

from __future__ import annotations

from collections.abc import Iterable

BASE_SDL = '''\
"""Any JSON value; inline object/list literals are allowed and bare names read as strings."""
scalar JSON

"""A JSON object (results)."""
scalar JSONObject

type PageInfo {
  totalCount: Int!
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  pageSize: Int!
  offset: Int!
}

type PaginatedRecords {
  data: JSON!
  pageInfo: PageInfo!
}

input BulkUpdateInput {
  id: String!
  data: JSON!
  expectedVersion: Int
}

enum EventType {
  CREATED
  UPDATED
  DELETED
  CUSTOM
  RESTORED
  HARD_DELETED
}

type StoredEvent {
  position: Int!
  eventId: String!
  stream: String!
  streamVersion: Int!
  type: String!
  model: String
  recordId: String
  data: JSON
  previousData: JSON
  actor: String
  tenantId: String
  origin: String
  recordedAt: String!
}

type ModelEvent {
  eventType: EventType!
  modelName: String!
  eventId: String!
  data: JSONObject!
  previousData: JSONObject
  timestamp: String!
  actor: String
  position: Int!
  blockOp: JSONObject
}

type Query {
  records(model: String!, where: JSON, orderBy: JSON, limit: Int, offset: Int): [JSONObject!]!
  record(model: String!, id: String!): JSONObject
  paginatedRecords(model: String!, where: JSON, orderBy: JSON, limit: Int = 20, offset: Int = 0): PaginatedRecords!
  deletedRecords(model: String!, where: JSON, orderBy: JSON, limit: Int = 20, offset: Int = 0): PaginatedRecords!
  count(model: String!, where: JSON): Int!
  history(model: String!, id: String!): [StoredEvent!]!
  events(after: Int = 0, limit: Int = 100, model: String): [StoredEvent!]!
}

type Mutation {
  create(model: String!, data: JSON!): JSONObject!
  update(model: String!, id: String, where: JSON, data: JSON!, expectedVersion: Int): JSONObject!
  updateMany(model: String!, items: [BulkUpdateInput!], updates: [BulkUpdateInput!]): [JSONObject!]!
  delete(model: String!, id: String, where: JSON, expectedVersion: Int): Int!
  restore(model: String!, id: String, where: JSON): Int!
  hardDelete(model: String!, id: String, where: JSON): Int!
}

type Subscription {
  modelChanges(model: String!, after: Int): ModelEvent!
}
'''

ENQUEUE_SDL = """extend type Mutation {
  enqueueJob(queue: String!, kind: String!, payload: JSON, idempotencyKey: String, maxAttempts: Int,
             priority: Int): String!
}"""


def full_sdl(extensions: Iterable[str] = ()) -> str:
    """The base SDL followed by each extension block, separated by one blank line."""
    parts = [BASE_SDL.rstrip("\n")]
    parts += [text.strip("\n") for text in extensions if text.strip()]
    return "\n\n".join(parts) + "\n"
