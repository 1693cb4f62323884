/**
 * A small `graphql-transport-ws` client for `/graphql/ws` (graphql.md §10): one socket per client, opened
 * lazily when the first subscription starts and closed shortly after the last one ends; subscriptions are
 * multiplexed on it. Keep-alive with `ping`/`pong`; reconnects with backoff 500 ms × 2ⁿ (capped at 10 s)
 * and re-sends every subscription after the new `connection_ack`. On a transport reset (login, logout,
 * tenant change, auth error) the socket is closed and reopened with the new identity. A 4403 close (token
 * expired or session ended) triggers one token refresh before reconnecting.
 *
 * `subscribeModelChanges` builds `modelChanges(model, after)` on top: it tracks the highest `position`
 * delivered and resubscribes with `after: <last position>`, so a dropped socket misses nothing and
 * delivers nothing twice.
 */

import { AtomoError, graphqlError } from './errors.js'
import type { Transport, WebSocketLike } from './transport.js'

export const PROTOCOL = 'graphql-transport-ws'
const BACKOFF_BASE_MS = 500
const BACKOFF_MAX_MS = 10000
const PING_INTERVAL_MS = 15000
const PONG_TIMEOUT_MS = 10000
const IDLE_CLOSE_MS = 1000
const OPEN = 1

export interface SubscribeRequest { query: string; variables?: Record<string, unknown>; operationName?: string }

/** What one subscription hears. `live`/`drop` tell when it is (or stops being) active on an acknowledged socket. */
export interface SubscriptionSink {
  next(payload: { data?: Record<string, unknown> | null; errors?: unknown[] }): void
  /** The operation failed (an `error` message, or the connection was refused for good); it is over. */
  error(error: AtomoError): void
  /** The server completed the operation; it is over. */
  complete?(): void
  /** `subscribe` was sent on an acknowledged socket. */
  live?(): void
  /** The socket closed; the subscription is re-sent after reconnecting. */
  drop?(): void
}

export interface GraphQLWsClient {
  /** Start an operation; `request` is evaluated on every (re)subscribe. Returns the unsubscribe function. */
  subscribe(request: () => SubscribeRequest, sink: SubscriptionSink): () => void
  /** True while a socket is open and acknowledged. */
  readonly connected: boolean
  /** The socket in use (advanced use and tests), or null. */
  readonly socket: WebSocketLike | null
  /** End every subscription and close the socket. */
  close(): void
}

type Timer = ReturnType<typeof setTimeout>

/** Timers must not keep a Node process alive on their own (the socket does while it is needed). */
function unref(timer: Timer): Timer {
  (timer as unknown as { unref?: () => void }).unref?.()
  return timer
}

interface Operation { id: string; request: () => SubscribeRequest; sink: SubscriptionSink; sent: boolean }

export function createGraphQLWs(transport: Transport): GraphQLWsClient {
  const operations = new Map<string, Operation>()
  let socket: WebSocketLike | null = null
  let acked = false
  let attempt = 0
  let counter = 0
  let refreshedSinceAck = false
  let reconnectTimer: Timer | null = null
  let idleTimer: Timer | null = null
  let pingTimer: Timer | null = null
  let pongTimer: Timer | null = null

  function clearTimer(t: Timer | null): null {
    if (t !== null) clearTimeout(t)
    return null
  }

  function send(s: WebSocketLike, message: Record<string, unknown>): void {
    if (s.readyState === OPEN) s.send(JSON.stringify(message))
  }

  function sendSubscribe(s: WebSocketLike, op: Operation): void {
    let payload: SubscribeRequest
    try {
      payload = op.request()
    } catch (cause) {
      fail(op, new AtomoError({ code: 'BAD_REQUEST', message: String((cause as Error)?.message ?? cause), cause }))
      return
    }
    send(s, { id: op.id, type: 'subscribe', payload })
    op.sent = true
    op.sink.live?.()
  }

  function fail(op: Operation, error: AtomoError): void {
    operations.delete(op.id)
    try { op.sink.error(error) } catch { /* a sink's own problem */ }
    scheduleIdleClose()
  }

  function failAll(error: AtomoError): void {
    for (const op of [...operations.values()]) fail(op, error)
  }

  function open(): void {
    reconnectTimer = clearTimer(reconnectTimer)
    if (socket || operations.size === 0) return
    let Impl
    try {
      Impl = transport.webSocket()
    } catch (e) {
      failAll(e instanceof AtomoError ? e : new AtomoError({ code: 'NETWORK_ERROR', message: String(e), cause: e }))
      return
    }
    let s: WebSocketLike
    try {
      s = new Impl(transport.wsUrl('/graphql/ws'), PROTOCOL)
    } catch {
      scheduleReconnect()
      return
    }
    socket = s
    acked = false
    s.onopen = () => {
      if (socket !== s) return
      const payload: Record<string, unknown> = {}
      const token = transport.tokens()?.token
      if (token) payload.authorization = `Bearer ${token}`
      if (transport.tenantId) payload.tenant = transport.tenantId
      send(s, { type: 'connection_init', payload })
    }
    s.onmessage = (ev) => { if (socket === s) receive(s, ev.data) }
    s.onclose = (ev) => { if (socket === s) dropped(ev?.code ?? 1006, ev?.reason ?? '') }
    s.onerror = () => { /* a close event follows */ }
  }

  function receive(s: WebSocketLike, raw: unknown): void {
    let message: { type?: string; id?: string; payload?: any }
    try {
      message = JSON.parse(typeof raw === 'string' ? raw : String(raw))
    } catch {
      return
    }
    const op = message.id !== undefined ? operations.get(String(message.id)) : undefined
    switch (message.type) {
      case 'connection_ack':
        acked = true
        attempt = 0
        refreshedSinceAck = false
        startPing(s)
        for (const o of [...operations.values()]) if (!o.sent && operations.has(o.id)) sendSubscribe(s, o)
        break
      case 'ping':
        send(s, message.payload === undefined ? { type: 'pong' } : { type: 'pong', payload: message.payload })
        break
      case 'pong':
        pongTimer = clearTimer(pongTimer)
        break
      case 'next':
        if (op) op.sink.next(message.payload ?? {})
        break
      case 'error':
        if (op) {
          const errors = Array.isArray(message.payload) ? message.payload : [message.payload ?? { message: 'subscription failed' }]
          fail(op, graphqlError(errors, undefined, 200))
        }
        break
      case 'complete':
        if (op) {
          operations.delete(op.id)
          op.sink.complete?.()
          scheduleIdleClose()
        }
        break
      default:
        break
    }
  }

  function startPing(s: WebSocketLike): void {
    pingTimer = clearTimer(pingTimer)
    const tick = () => {
      if (socket !== s) return
      send(s, { type: 'ping' })
      pongTimer = clearTimer(pongTimer)
      pongTimer = unref(setTimeout(() => {
        if (socket !== s) return
        try { s.close(4000, 'no pong') } catch { /* already closing */ }
        dropped(4000, 'no pong')       // do not wait for the close handshake of a dead connection
      }, PONG_TIMEOUT_MS))
      pingTimer = unref(setTimeout(tick, PING_INTERVAL_MS))
    }
    pingTimer = unref(setTimeout(tick, PING_INTERVAL_MS))
  }

  /** The current socket is gone (closed by either side): forget it, then reconnect or give up. */
  function dropped(code: number, reason: string): void {
    socket = null
    acked = false
    pingTimer = clearTimer(pingTimer)
    pongTimer = clearTimer(pongTimer)
    for (const op of operations.values()) {
      if (op.sent) { op.sent = false; op.sink.drop?.() }
    }
    if (operations.size === 0) return
    if (code === 4406) {
      failAll(new AtomoError({ code: 'BAD_REQUEST', message: `the server refused the sub-protocol (${code} ${reason})` }))
      return
    }
    if (code === 4403) {
      const canRefresh = !transport.options.token && !!transport.store.get()?.refreshToken
      if (canRefresh && !refreshedSinceAck) {
        refreshedSinceAck = true
        transport.refreshTokens().then(() => { if (!socket) open() }, () => { /* auth-error reset reopens */ })
        return
      }
      failAll(new AtomoError({ code: 'UNAUTHENTICATED', message: `the subscription socket was closed: ${reason || 'Forbidden'} (4403)` }))
      return
    }
    scheduleReconnect()
  }

  function scheduleReconnect(): void {
    if (reconnectTimer !== null || operations.size === 0) return
    const delay = Math.min(BACKOFF_BASE_MS * 2 ** attempt, BACKOFF_MAX_MS)
    attempt += 1
    reconnectTimer = setTimeout(() => { reconnectTimer = null; open() }, delay)
  }

  function closeSocket(code: number, reason: string): void {
    const s = socket
    socket = null
    acked = false
    pingTimer = clearTimer(pingTimer)
    pongTimer = clearTimer(pongTimer)
    if (s) {
      s.onopen = null
      s.onmessage = null
      s.onclose = null
      try { s.close(code, reason) } catch { /* already closed */ }
    }
  }

  function scheduleIdleClose(): void {
    if (operations.size > 0) return
    reconnectTimer = clearTimer(reconnectTimer)
    if (!socket) return
    idleTimer = clearTimer(idleTimer)
    idleTimer = unref(setTimeout(() => {
      idleTimer = null
      if (operations.size === 0) closeSocket(1000, 'no subscriptions')
    }, IDLE_CLOSE_MS))
  }

  transport.onReset(() => {
    // A new identity (or none): the socket carries the old one in its connection_init.
    if (!socket && reconnectTimer === null) return
    closeSocket(1000, 'identity changed')
    for (const op of operations.values()) {
      if (op.sent) { op.sent = false; op.sink.drop?.() }
    }
    attempt = 0
    if (operations.size > 0) open()
  })

  return {
    subscribe(request, sink) {
      const op: Operation = { id: String(++counter), request, sink, sent: false }
      operations.set(op.id, op)
      idleTimer = clearTimer(idleTimer)
      if (socket && acked) sendSubscribe(socket, op)
      else if (!socket && reconnectTimer === null) open()
      return () => {
        if (operations.get(op.id) !== op) return
        operations.delete(op.id)
        if (socket && acked && op.sent) send(socket, { id: op.id, type: 'complete' })
        scheduleIdleClose()
      }
    },
    get connected() { return socket !== null && acked },
    get socket() { return socket },
    close() {
      operations.clear()
      reconnectTimer = clearTimer(reconnectTimer)
      idleTimer = clearTimer(idleTimer)
      closeSocket(1000, 'client closed')
    },
  }
}

// ---- modelChanges ----

export type ModelEventType = 'CREATED' | 'UPDATED' | 'DELETED' | 'CUSTOM' | 'RESTORED' | 'HARD_DELETED'

/** One `ModelEvent` of `modelChanges` (graphql.md §2, §10). */
export interface ModelEvent<R = Record<string, unknown>> {
  eventType: ModelEventType
  modelName: string
  eventId: string
  /** The full record for CREATED/UPDATED, `{id, deletedAt}` for DELETED, `{id}` for RESTORED/HARD_DELETED. */
  data: R & { id: string }
  previousData: Record<string, unknown> | null
  timestamp: string
  actor: string | null
  position: number
  blockOp: Record<string, unknown> | null
}

export interface ModelChangesOptions {
  /** Replay every event with `position > after` first, then continue live. */
  after?: number
  onError?: (error: AtomoError) => void
}

/** Internal extras the query cache uses to know when its subscription is active. */
export interface ModelChangesHooks extends ModelChangesOptions {
  onLive?: () => void
  onDrop?: () => void
}

export const MODEL_CHANGES_QUERY =
  'subscription($model: String!, $after: Int) { modelChanges(model: $model, after: $after) ' +
  '{ eventType modelName eventId data previousData timestamp actor position blockOp } }'

/** A subscription whose root field takes `after` and yields events with a `position`: `variables` are sent with
 * `after: <highest position delivered>` (or `options.after` before any), so a resubscribe after a reconnect
 * misses nothing and delivers nothing twice. Used by `modelChanges` and `streamEvents`. */
export function subscribeAfterPosition<E extends { position?: unknown }>(
  ws: GraphQLWsClient, query: string, field: string, variables: Record<string, unknown>,
  handler: (event: E) => void, options: ModelChangesHooks = {},
): () => void {
  let last: number | null = typeof options.after === 'number' ? options.after : null
  return ws.subscribe(
    () => ({ query, variables: last === null ? { ...variables } : { ...variables, after: last } }),
    {
      next(payload) {
        if (payload.errors && payload.errors.length > 0) {
          options.onError?.(graphqlError(payload.errors, payload.data, 200))
          return
        }
        const event = payload.data?.[field] as E | undefined
        if (!event) return
        if (typeof event.position === 'number') {
          if (last !== null && event.position <= last) return     // already delivered
          last = event.position
        }
        try { handler(event) } catch (e) { queueMicrotask(() => { throw e }) }
      },
      error(error) { options.onError?.(error) },
      live() { options.onLive?.() },
      drop() { options.onDrop?.() },
    },
  )
}

/** `modelChanges(model, after)`; resumes after a reconnect with `after: <highest position delivered>`. */
export function subscribeModelChanges<R = Record<string, unknown>>(
  ws: GraphQLWsClient, model: string, handler: (event: ModelEvent<R>) => void, options: ModelChangesHooks = {},
): () => void {
  return subscribeAfterPosition<ModelEvent<R>>(ws, MODEL_CHANGES_QUERY, 'modelChanges', { model }, handler, options)
}
