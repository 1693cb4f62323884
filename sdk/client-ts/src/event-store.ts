/**
 * The event store (Atomo-Python extension): `atomo.events.append / readStream / streams` over GraphQL
 * (`appendEvents`, `stream`, `streams`). `atomo.events(options)` itself still reads the global event log.
 *
 * Access follows the schema's `streams` rules (`'order-*': { append: 'sales|admin', read: 'authenticated' }`):
 * a stream no rule matches is refused (PERMISSION_DENIED) unless the caller is an admin; a record stream
 * `<Model>/<id>` is read-only and read under the model's `read` rule. A stale `expectedVersion` rejects with
 * CONFLICT whose `details` are `{ currentVersion, expectedVersion }`.
 */

import type { AtomoError } from './errors.js'
import { subscribeAfterPosition, type GraphQLWsClient } from './graphql-ws.js'
import type { Transport } from './transport.js'
import type { StoredEvent } from './types.js'

type Json = Record<string, unknown>

/** An event to append: a custom type (letters, digits, `_` and `.`, starting with a letter; not a model event
 * type such as `Created`), a JSON object of data and an optional JSON object of metadata. */
export interface NewEvent<D extends Json = Json> { type: string; data?: D; metadata?: Json }

export interface AppendEventsOptions {
  /** The stream's version the events were decided on; 0: the stream must not exist yet. Else CONFLICT. */
  expectedVersion?: number
}

/** What `append` appended: the stream's version after it and the stored events. */
export interface AppendResult { stream: string; version: number; events: StoredEvent[] }

export interface ReadStreamOptions {
  /** The first stream version returned (default 1). */
  fromVersion?: number
  /** At most this many events (default 100, at most 1000). */
  limit?: number
}

export interface StreamsOptions {
  /** Only streams whose name starts with it. */
  prefix?: string
  /** Only streams named after it (the last name of the previous page). */
  after?: string
  /** At most this many streams (default 100, at most 1000). */
  limit?: number
}

/** A custom stream the caller may read: its version (last stream version), last position and last event time. */
export interface StreamInfo { name: string; version: number; lastPosition: number; lastEventAt: string }

/** What `subscribe` listens to: one stream by name, or every custom stream whose name starts with `prefix`. */
export type StreamTarget = { stream: string; prefix?: undefined } | { prefix: string; stream?: undefined }

export interface SubscribeEventsOptions {
  /** Replay every event with `position > after` first, then continue live. */
  after?: number
  onError?: (error: AtomoError) => void
}

export interface EventStoreApi {
  /** `appendEvents`: append events to a custom stream in one transaction. */
  append(stream: string, events: NewEvent[], options?: AppendEventsOptions): Promise<AppendResult>
  /** `stream(name, fromVersion, limit)`: the events of one stream the caller may read, in version order. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]>
  /** `streams(prefix, after, limit)`: the custom streams the caller may read, by name. */
  streams(options?: StreamsOptions): Promise<StreamInfo[]>
  /** `streamEvents(stream | prefix, after)` over `/graphql/ws`: events appended from now on (or with `position >
   * after` first), in position order; resumes after a reconnect from the last delivered position, so nothing is
   * missed or delivered twice. Returns the unsubscribe function. */
  subscribe(target: StreamTarget, handler: (event: StoredEvent) => void, options?: SubscribeEventsOptions): () => void
}

/** `atomo.events`: the global event log when called (`events({ after, limit, model })`), the event store's methods. */
export interface EventsApi<M extends string = string> extends EventStoreApi {
  (options?: { after?: number; limit?: number; model?: M }): Promise<StoredEvent[]>
}

/** The fields of `StoredEvent` every request of the client selects. */
export const STORED_EVENT_FIELDS =
  'position eventId stream streamVersion type model recordId data previousData actor tenantId origin recordedAt metadata'

export const STREAM_EVENTS_QUERY =
  `subscription($stream: String, $prefix: String, $after: Int) { streamEvents(stream: $stream, prefix: $prefix, after: $after) { ${STORED_EVENT_FIELDS} } }`

/** `ws` is the client's `/graphql/ws` client (`subscribe` needs it). */
export function createEventStoreApi(transport: Transport, ws?: GraphQLWsClient): EventStoreApi {
  return {
    subscribe: (target, handler, o = {}) => {
      if (!ws) throw new TypeError('events.subscribe needs a GraphQL WebSocket client')
      const variables = typeof target?.stream === 'string' ? { stream: target.stream } : { prefix: target?.prefix }
      return subscribeAfterPosition<StoredEvent>(ws, STREAM_EVENTS_QUERY, 'streamEvents', variables, handler,
        { after: o.after, onError: o.onError })
    },
    append: (stream, events, o = {}) =>
      transport.field<AppendResult>(
        `mutation($stream: String!, $expectedVersion: Int, $events: [NewEventInput!]!) { appendEvents(stream: $stream, expectedVersion: $expectedVersion, events: $events) { stream version events { ${STORED_EVENT_FIELDS} } } }`,
        'appendEvents', { stream, expectedVersion: o.expectedVersion, events }),
    readStream: (stream, o = {}) =>
      transport.field<StoredEvent[]>(
        `query($name: String!, $fromVersion: Int, $limit: Int) { stream(name: $name, fromVersion: $fromVersion, limit: $limit) { ${STORED_EVENT_FIELDS} } }`,
        'stream', { name: stream, fromVersion: o.fromVersion, limit: o.limit }),
    streams: (o = {}) =>
      transport.field<StreamInfo[]>(
        'query($prefix: String, $after: String, $limit: Int) { streams(prefix: $prefix, after: $after, limit: $limit) { name version lastPosition lastEventAt } }',
        'streams', { prefix: o.prefix, after: o.after, limit: o.limit }),
  }
}

/** `atomo.events`: `log` called as a function, with the event store's methods attached. */
export function eventsApi<M extends string = string>(
  log: (options?: { after?: number; limit?: number; model?: M }) => Promise<StoredEvent[]>, store: EventStoreApi,
): EventsApi<M> {
  return Object.assign(log, store)
}
