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


CONTENT_SDL = '''\
"""The result of one block mutation (content chapter §3)."""
type BlockChange {
  "The block after the change; null for removeBlock."
  block: JSONObject
  "Its index after the change; null for removeBlock."
  index: Int
  "The record's _version after the change."
  version: Int!
  "The whole record after the change."
  record: JSONObject!
}

"""One operation's outcome in applyBlockOps."""
type BlockOpResult {
  block: JSONObject
  index: Int
}

"""The result of applyBlockOps: one entry per operation, in order."""
type BlockOpsChange {
  changes: [BlockOpResult!]!
  version: Int!
  record: JSONObject!
}

"""One operation of applyBlockOps: op is insert, update, move or remove; the other keys are the
arguments of insertBlock/updateBlock/moveBlock/removeBlock."""
input BlockOpInput {
  op: String!
  blockId: String
  block: JSON
  position: Int
  after: String
  expectedRev: Int
}

extend type Query {
  "A Blocks field rendered as Markdown or HTML (format: markdown or html)."
  renderBlocks(model: String!, id: String!, field: String!, format: String = "markdown"): String!
}

extend type Mutation {
  insertBlock(model: String!, id: String!, field: String!, block: JSON!, position: Int, after: String,
              expectedVersion: Int): BlockChange!
  updateBlock(model: String!, id: String!, field: String!, blockId: String!, block: JSON!, expectedVersion: Int,
              expectedRev: Int): BlockChange!
  moveBlock(model: String!, id: String!, field: String!, blockId: String!, position: Int, after: String,
            expectedVersion: Int): BlockChange!
  removeBlock(model: String!, id: String!, field: String!, blockId: String!, expectedVersion: Int,
              expectedRev: Int): BlockChange!
  "Several block operations on one field, applied in order and atomically (one event each)."
  applyBlockOps(model: String!, id: String!, field: String!, ops: [BlockOpInput!]!, expectedVersion: Int): BlockOpsChange!
}'''


STREAMS_SDL = '''\
extend type StoredEvent {
  "The JSON object of metadata given to appendEvents (null for model events)."
  metadata: JSON
}

"""An event for appendEvents: a custom type (letters, digits, _ and ., starting with a letter; not a model
event type), a JSON object of data and an optional JSON object of metadata."""
input NewEventInput {
  type: String!
  data: JSON
  metadata: JSON
}

"""What appendEvents appended: the stream's version after it and the stored events."""
type AppendResult {
  stream: String!
  version: Int!
  events: [StoredEvent!]!
}

"""A custom stream: its version (last stream version), last position and last event time."""
type StreamInfo {
  name: String!
  version: Int!
  lastPosition: Int!
  lastEventAt: String!
}

extend type Query {
  "The events of one stream the caller may read, in version order (limit at most 1000)."
  stream(name: String!, fromVersion: Int = 1, limit: Int = 100): [StoredEvent!]!
  "The custom streams the caller may read, by name (after: the last name of the previous page)."
  streams(prefix: String, after: String, limit: Int = 100): [StreamInfo!]!
}

extend type Mutation {
  "Append events to a custom stream in one transaction; expectedVersion 0: the stream must not exist yet."
  appendEvents(stream: String!, expectedVersion: Int, events: [NewEventInput!]!): AppendResult!
}

extend type Subscription {
  "Readable events of one stream or of the custom streams named prefix* (exactly one): position > after, then live."
  streamEvents(stream: String, prefix: String, after: Int): StoredEvent!
}'''


def full_sdl(extensions: Iterable[str] = ()) -> str:
    """The base SDL followed by each extension block, separated by one blank line."""
    parts = [BASE_SDL.rstrip("\n")]
    parts += [text.strip("\n") for text in extensions if text.strip()]
    return "\n\n".join(parts) + "\n"
