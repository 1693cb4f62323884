/**
 * `atomo.realtime`: the client of `/realtime/ws` (realtime chapter): channels with presence, publish, coordinator
 * sessions. It connects lazily on first use with a short-lived token from `POST /realtime/token` in the URL (never
 * the login JWT), queues frames while the socket is not open (bounded), reconnects with backoff
 * 500 ms × 2ⁿ capped at 10 s, and re-subscribes (and re-joins sessions) after reconnecting. A transport reset
 * (logout, tenant change, login, failed refresh) closes the socket and drops the queued frames; subscriptions stay
 * registered and are sent again on the next connection, which then carries the new identity.
 */

import { AtomoError } from './errors.js'
import { checkName } from './realtime-handle.js'
import type { Transport, WebSocketLike } from './transport.js'

/** A `message` frame: `from` is the publisher's principal id (a user id, `anon:<uuid>` or `system:<name>`). */
export interface RealtimeMessage<P = unknown> { channel: string; from: string; payload: P }

/** Handlers of one channel subscription; all optional. */
export interface ChannelHandlers<P = unknown> {
  /** A payload another connection published on the channel (there is no echo of one's own publishes). */
  onMessage?: (message: RealtimeMessage<P>) => void
  /** A principal became present on the channel. */
  onJoined?: (who: string) => void
  /** A principal is no longer present. */
  onLeft?: (who: string) => void
  /** The channel's members (sorted principal ids): on every snapshot and after every join and leave. */
  onPresence?: (members: string[]) => void
  /** The server refused something on this channel (`PERMISSION_DENIED`, `RATE_LIMITED`, `LIMIT_EXCEEDED`, …). */
  onError?: (error: AtomoError) => void
}

export interface SessionMember { slot: number; id: string }

/** What this connection knows of a session it joined. */
export interface SessionState {
  session: string
  /** This connection's slot. */
  slot: number
  /** Whether this connection is the coordinator. */
  coordinator: boolean
  /** The coordinator's slot (always the lowest slot of the members). */
  coordinatorSlot: number
  /** The members by slot, this connection included. */
  members: SessionMember[]
}

export interface SessionHandlers<P = unknown> {
  /** Joined (again after a reconnect, with a new slot): the session as the server sent it. */
  onStart?: (state: SessionState) => void
  onMemberJoined?: (member: SessionMember, state: SessionState) => void
  onMemberLeft?: (member: SessionMember, state: SessionState) => void
  onCoordinatorChanged?: (member: SessionMember, state: SessionState) => void
  /** The session ended (`coordinator_left` with the `close` policy); the join is over, nothing is re-joined. */
  onClosed?: (reason: string) => void
  /** (coordinator only) a member sent `toCoordinator`. */
  onFromMember?: (message: { session: string; from: string; slot: number; payload: P }) => void
  /** The coordinator sent `toMembers`. */
  onFromCoordinator?: (message: { session: string; payload: P }) => void
  /** The server refused something on this session (`NOT_COORDINATOR`, `NOT_A_MEMBER`, `PERMISSION_DENIED`, …). */
  onError?: (error: AtomoError) => void
}

/** `idle`: no socket and none wanted; `connecting`: getting a token or opening; `open`; `reconnecting`: waiting
 * out the backoff after a lost connection. */
export type RealtimeState = 'idle' | 'connecting' | 'open' | 'reconnecting'

export interface RealtimeOptions {
  /** Frames kept while the socket is not open (default 1000); beyond it `publish` & co. throw `QUEUE_FULL`. */
  maxQueue?: number
  /** Lifetime asked for each realtime token (default 60 s; it only has to outlive the handshake). */
  tokenTtlSeconds?: number
  /** How long `requestPresence` waits for its answer (default 10000 ms). */
  requestTimeoutMs?: number
  /** Reconnect delay: `backoffBaseMs × 2ⁿ` (default 500) capped at `backoffMaxMs` (default 10000). */
  backoffBaseMs?: number
  backoffMaxMs?: number
}

export interface RealtimeSessions {
  /** Join (or create) a session; the returned function removes these handlers (and leaves with the last ones). */
  join<P = unknown>(session: string, handlers?: SessionHandlers<P>): () => void
  /** Leave the session and drop all its handlers. */
  leave(session: string): void
  /** Send to the session's coordinator (ignored by the server when sent by the coordinator itself). */
  toCoordinator(session: string, payload: unknown): void
  /** (coordinator only) send to every other member. */
  toMembers(session: string, payload: unknown): void
  /** The session as this connection knows it, or null when not (yet) joined. */
  get(session: string): SessionState | null
}

interface Pending {
  resolve: (members: string[]) => void
  reject: (error: AtomoError) => void
  timer: ReturnType<typeof setTimeout>
  sent: boolean
}
interface Queued { text: string; ref?: string }
interface Deferred { promise: Promise<void>; resolve: () => void; reject: (error: AtomoError) => void }

const OPEN = 1
const PATH = '/realtime/ws'

/** Run a user callback; its exception surfaces asynchronously and never stops the other handlers. */
function call<A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A): void {
  if (!fn) return
  try { fn(...args) } catch (e) { queueMicrotask(() => { throw e }) }
}

function deferred(): Deferred {
  let resolve!: () => void
  let reject!: (error: AtomoError) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  promise.catch(() => { /* only callers of connect() care */ })
  return { promise, resolve, reject }
}

function asAtomoError(e: unknown): AtomoError {
  if (e instanceof AtomoError) return e
  return new AtomoError({ code: 'NETWORK_ERROR', message: String((e as Error)?.message ?? e), cause: e })
}

function textOf(data: unknown): string | null {
  if (typeof data === 'string') return data
  try {
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new TextDecoder().decode(data as ArrayBuffer)
  } catch { /* not text */ }
  return null
}

export class RealtimeClient {
  readonly sessions: RealtimeSessions
  private readonly transport: Transport
  private readonly maxQueue: number
  private readonly ttl: number
  private readonly requestTimeoutMs: number
  private readonly backoffBaseMs: number
  private readonly backoffMaxMs: number
  private ws: WebSocketLike | null = null
  private generation = 0
  private wanted = false
  private attempts = 0
  private timer: ReturnType<typeof setTimeout> | null = null
  private current: RealtimeState = 'idle'
  private me: string | null = null
  private opening: Deferred | null = null
  private queue: Queued[] = []
  private nextRef = 1
  private readonly pending = new Map<string, Pending>()
  private readonly channels = new Map<string, Set<ChannelHandlers<any>>>()
  private readonly members = new Map<string, Set<string>>()
  private readonly sessionHandlers = new Map<string, Set<SessionHandlers<any>>>()
  private readonly sessionStates = new Map<string, SessionState>()
  private readonly stateListeners = new Set<(state: RealtimeState) => void>()
  private readonly errorListeners = new Set<(error: AtomoError) => void>()

  constructor(transport: Transport, options: RealtimeOptions = {}) {
    this.transport = transport
    this.maxQueue = Math.max(1, options.maxQueue ?? 1000)
    this.ttl = Math.max(1, Math.floor(options.tokenTtlSeconds ?? 60))
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10000
    this.backoffBaseMs = options.backoffBaseMs ?? 500
    this.backoffMaxMs = options.backoffMaxMs ?? 10000
    transport.onReset((reason) => {
      const resume = (reason === 'tenant' || reason === 'login') && this.current !== 'idle'
        && (this.channels.size > 0 || this.sessionHandlers.size > 0)
      this.shutdown(new AtomoError({ code: 'ABORTED', message: `realtime connection closed (${reason})` }))
      if (resume) this.ensure()
    })
    this.sessions = {
      join: (session, handlers = {}) => this.joinSession(session, handlers),
      leave: (session) => this.leaveSession(session),
      toCoordinator: (session, payload) => {
        checkName('session', session)
        this.send({ op: 'to_coordinator', session, payload: payload === undefined ? null : payload })
      },
      toMembers: (session, payload) => {
        checkName('session', session)
        this.send({ op: 'to_members', session, payload: payload === undefined ? null : payload })
      },
      get: (session) => {
        const state = this.sessionStates.get(session)
        return state ? { ...state, members: state.members.map((m) => ({ ...m })) } : null
      },
    }
  }

  /** The connection state. */
  get state(): RealtimeState { return this.current }

  /** This connection's principal id (from the server's `welcome`), once connected. */
  get principal(): string | null { return this.me }

  /** Frames waiting for the socket to open. */
  get queued(): number { return this.queue.length }

  /** Open the connection now (otherwise the first use does). Resolves once open; rejects with the error of a
   * failed attempt (the client keeps retrying with backoff unless the token route refused it, or `close()`). */
  connect(): Promise<void> {
    if (this.current === 'open') return Promise.resolve()
    this.opening ??= deferred()
    const promise = this.opening.promise
    this.wanted = true
    if (this.current === 'idle') this.start()
    return promise
  }

  /** Subscribe to a channel; returns the unsubscribe function. Several subscriptions of a channel each get the
   * frames; the channel is left when the last one unsubscribes. */
  subscribe<P = unknown>(channel: string, handlers: ChannelHandlers<P> = {}): () => void {
    checkName('channel', channel)
    const entry: ChannelHandlers<P> = { ...handlers }
    let set = this.channels.get(channel)
    const first = !set
    if (!set) {
      set = new Set()
      this.channels.set(channel, set)
    }
    set.add(entry)
    this.ensure()
    if (first) {
      if (this.isOpen()) this.sendNow({ op: 'subscribe', channel })
    } else if (this.members.has(channel)) {
      const members = this.getPresence(channel)
      queueMicrotask(() => { if (set!.has(entry)) call(entry.onPresence, members) })
    }
    let done = false
    return () => {
      if (done) return
      done = true
      const now = this.channels.get(channel)
      if (!now || !now.delete(entry) || now.size > 0) return
      this.channels.delete(channel)
      this.members.delete(channel)
      if (this.isOpen()) this.sendNow({ op: 'unsubscribe', channel })
    }
  }

  /** Publish a payload (any JSON) to the channel's other subscribers; queued while not connected. */
  publish(channel: string, payload: unknown): void {
    checkName('channel', channel)
    this.send({ op: 'publish', channel, payload: payload === undefined ? null : payload })
  }

  /** Ask for a presence snapshot (the requester need not be subscribed). Resolves with the sorted members; a
   * subscribed channel's `onPresence` handlers get it too. Rejects on a refusal, a lost connection or timeout. */
  requestPresence(channel: string): Promise<string[]> {
    checkName('channel', channel)
    if (this.pending.size >= this.maxQueue) {
      return Promise.reject(new AtomoError({ code: 'QUEUE_FULL', message: `more than ${this.maxQueue} presence requests pending` }))
    }
    const ref = `presence-${this.nextRef++}`
    const promise = new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(ref)
        reject(new AtomoError({ code: 'TIMEOUT', message: `no presence answer for '${channel}' after ${this.requestTimeoutMs} ms` }))
      }, this.requestTimeoutMs)
      this.pending.set(ref, { resolve, reject, timer, sent: false })
    })
    promise.catch(() => { /* only the caller cares */ })
    try {
      this.send({ op: 'presence', channel, ref }, ref)
    } catch (e) {
      this.settle(ref, asAtomoError(e))
    }
    return promise
  }

  /** The members of a subscribed channel as last known (sorted principal ids; empty when unknown). */
  getPresence(channel: string): string[] {
    return [...(this.members.get(channel) ?? [])].sort()
  }

  /** Close the connection and stop reconnecting; queued frames are dropped. Subscriptions and sessions stay
   * registered: the next use connects again and re-sends them (call their unsubscribe/leave to drop them). */
  close(): void {
    this.shutdown(new AtomoError({ code: 'ABORTED', message: 'realtime client closed' }))
  }

  /** Listen to state changes; returns the function that stops listening. */
  onStateChange(listener: (state: RealtimeState) => void): () => void {
    this.stateListeners.add(listener)
    return () => { this.stateListeners.delete(listener) }
  }

  /** Listen to every error: server `error` frames and failed connection attempts. */
  onError(listener: (error: AtomoError) => void): () => void {
    this.errorListeners.add(listener)
    return () => { this.errorListeners.delete(listener) }
  }

  // -- connection ------------------------------------------------------------------------------------

  private isOpen(): boolean {
    return this.current === 'open' && this.ws !== null && this.ws.readyState === OPEN
  }

  private setState(state: RealtimeState): void {
    if (state === this.current) return
    this.current = state
    for (const listener of [...this.stateListeners]) call(listener, state)
  }

  private emitError(error: AtomoError): void {
    for (const listener of [...this.errorListeners]) call(listener, error)
  }

  /** Connect on use: from `idle` start now; other states are already on their way. */
  private ensure(): void {
    this.wanted = true
    if (this.current === 'idle') this.start()
  }

  private start(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    const generation = ++this.generation
    this.setState('connecting')
    void this.open(generation)
  }

  private async open(generation: number): Promise<void> {
    let url = this.transport.wsUrl(PATH)
    try {
      if (this.transport.tokens()) {
        const issued = await this.transport.rest<{ token: string }>('POST', '/realtime/token', { ttl_seconds: this.ttl })
        if (generation !== this.generation) return
        url += `?token=${encodeURIComponent(issued.token)}`
      }
    } catch (e) {
      if (generation !== this.generation) return
      const error = asAtomoError(e)
      const status = error.status
      // a refusal (logged out, realtime disabled, …) stops retrying; network trouble and 5xx/429 retry
      const retry = status === undefined || status >= 500 || status === 429 || status === 408
      this.failed(error, retry)
      return
    }
    let ws: WebSocketLike
    try {
      ws = new (this.transport.webSocket())(url)
    } catch (e) {
      this.failed(asAtomoError(e), false)
      return
    }
    this.ws = ws
    let opened = false
    ws.onopen = () => {
      if (generation !== this.generation) return
      opened = true
      this.attempts = 0
      this.setState('open')
      this.resend(ws)
      const opening = this.opening
      this.opening = null
      opening?.resolve()
    }
    ws.onmessage = (ev) => { if (generation === this.generation) this.receive(ev.data) }
    ws.onerror = () => { /* onclose follows */ }
    ws.onclose = (ev) => {
      if (generation !== this.generation) return
      this.ws = null
      this.sessionStates.clear()
      for (const [ref, p] of [...this.pending]) {
        if (p.sent) this.settle(ref, new AtomoError({ code: 'NETWORK_ERROR', message: 'realtime connection lost' }))
      }
      const error = new AtomoError({
        code: 'NETWORK_ERROR',
        message: opened ? `realtime connection lost (close code ${ev?.code})` : `realtime connection failed (close code ${ev?.code})`,
      })
      if (!opened) this.failed(error, true)
      else this.retryLater()
    }
  }

  /** A connection attempt failed: reject `connect()` callers; retry with backoff or go idle. */
  private failed(error: AtomoError, retry: boolean): void {
    const opening = this.opening
    this.opening = null
    opening?.reject(error)
    this.emitError(error)
    if (retry) {
      this.retryLater()
    } else {
      this.wanted = false
      this.setState('idle')
    }
  }

  private retryLater(): void {
    if (!this.wanted) {
      this.setState('idle')
      return
    }
    const delay = Math.min(this.backoffBaseMs * 2 ** this.attempts, this.backoffMaxMs)
    this.attempts = Math.min(this.attempts + 1, 30)
    this.setState('reconnecting')
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.wanted && this.current === 'reconnecting') this.start()
    }, delay)
  }

  /** After opening: subscribe every channel, join every session, then the queued frames in order. */
  private resend(ws: WebSocketLike): void {
    for (const channel of this.channels.keys()) ws.send(JSON.stringify({ op: 'subscribe', channel }))
    for (const session of this.sessionHandlers.keys()) ws.send(JSON.stringify({ op: 'session_join', session }))
    const queued = this.queue
    this.queue = []
    for (const item of queued) {
      if (item.ref !== undefined) {
        const p = this.pending.get(item.ref)
        if (!p) continue                        // timed out meanwhile
        p.sent = true
      }
      ws.send(item.text)
    }
  }

  /** Close the socket, drop the queue, fail what waits; subscriptions and session handlers stay registered. */
  private shutdown(error: AtomoError): void {
    this.wanted = false
    this.generation++
    if (this.timer) { clearTimeout(this.timer); this.timer = null }
    const ws = this.ws
    this.ws = null
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null
      ws.onerror = () => { /* closing a socket that is still connecting reports an error (ws) */ }
      try { ws.close(1000, 'client closed') } catch { /* already closing */ }
    }
    this.queue = []
    this.sessionStates.clear()
    for (const ref of [...this.pending.keys()]) this.settle(ref, error)
    const opening = this.opening
    this.opening = null
    opening?.reject(error)
    this.attempts = 0
    this.me = null
    this.setState('idle')
  }

  // -- frames out ------------------------------------------------------------------------------------

  private sendNow(frame: Record<string, unknown>): void {
    this.ws!.send(JSON.stringify(frame))
  }

  /** Send now when open, else queue (bounded) and connect. */
  private send(frame: Record<string, unknown>, ref?: string): void {
    const text = JSON.stringify(frame)
    if (this.isOpen()) {
      if (ref !== undefined) { const p = this.pending.get(ref); if (p) p.sent = true }
      this.ws!.send(text)
      return
    }
    if (this.queue.length >= this.maxQueue) {
      throw new AtomoError({
        code: 'QUEUE_FULL',
        message: `realtime is not connected and ${this.maxQueue} frames are already queued; '${String(frame.op)}' was not sent`,
      })
    }
    this.queue.push(ref === undefined ? { text } : { text, ref })
    this.ensure()
  }

  private settle(ref: string, result: string[] | AtomoError): void {
    const p = this.pending.get(ref)
    if (!p) return
    this.pending.delete(ref)
    clearTimeout(p.timer)
    if (result instanceof AtomoError) p.reject(result)
    else p.resolve(result)
  }

  // -- frames in -------------------------------------------------------------------------------------

  private handlersOf(channel: unknown): ChannelHandlers<any>[] {
    return typeof channel === 'string' ? [...(this.channels.get(channel) ?? [])] : []
  }

  private emitPresence(channel: string): void {
    const members = this.getPresence(channel)
    for (const h of this.handlersOf(channel)) call(h.onPresence, members)
  }

  private receive(data: unknown): void {
    const text = textOf(data)
    if (text === null) return
    let frame: any
    try { frame = JSON.parse(text) } catch { return }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') return
    const channel: string | undefined = typeof frame.channel === 'string' ? frame.channel : undefined
    switch (frame.type) {
      case 'welcome':
        this.me = typeof frame.principal === 'string' ? frame.principal : null
        return
      case 'message':
        for (const h of this.handlersOf(channel)) {
          call(h.onMessage, { channel: channel!, from: frame.from, payload: frame.payload })
        }
        return
      case 'joined':
      case 'left': {
        if (channel === undefined || !this.channels.has(channel)) return
        const set = this.members.get(channel) ?? new Set<string>()
        this.members.set(channel, set)
        if (frame.type === 'joined') set.add(frame.who)
        else set.delete(frame.who)
        for (const h of this.handlersOf(channel)) call(frame.type === 'joined' ? h.onJoined : h.onLeft, frame.who)
        this.emitPresence(channel)
        return
      }
      case 'presence': {
        const members: string[] = Array.isArray(frame.members) ? frame.members : []
        if (frame.ref !== undefined) this.settle(String(frame.ref), [...members])
        if (channel !== undefined && this.channels.has(channel)) {
          this.members.set(channel, new Set(members))
          this.emitPresence(channel)
        }
        return
      }
      case 'error': {
        const error = new AtomoError({
          code: typeof frame.code === 'string' ? frame.code : 'INTERNAL_ERROR',
          message: typeof frame.message === 'string' ? frame.message : 'realtime error',
          extensions: frame,
        })
        if (frame.ref !== undefined) this.settle(String(frame.ref), error)
        for (const h of this.handlersOf(channel)) call(h.onError, error)
        if (typeof frame.session === 'string') {
          for (const h of [...(this.sessionHandlers.get(frame.session) ?? [])]) call(h.onError, error)
        }
        this.emitError(error)
        return
      }
      case 'dropped':
        // frames were lost: refresh the presence of every subscribed channel
        for (const name of this.channels.keys()) if (this.isOpen()) this.sendNow({ op: 'presence', channel: name })
        return
      default:
        this.receiveSession(frame)
    }
  }

  // -- sessions --------------------------------------------------------------------------------------

  private joinSession<P>(session: string, handlers: SessionHandlers<P>): () => void {
    checkName('session', session)
    const entry: SessionHandlers<P> = { ...handlers }
    let set = this.sessionHandlers.get(session)
    const first = !set
    if (!set) {
      set = new Set()
      this.sessionHandlers.set(session, set)
    }
    set.add(entry)
    this.ensure()
    if (first) {
      if (this.isOpen()) this.sendNow({ op: 'session_join', session })
    } else {
      const state = this.sessions.get(session)
      if (state) queueMicrotask(() => { if (set!.has(entry)) call(entry.onStart, state) })
    }
    let done = false
    return () => {
      if (done) return
      done = true
      const now = this.sessionHandlers.get(session)
      if (!now || now !== set || !now.delete(entry) || now.size > 0) return
      this.leaveSession(session)
    }
  }

  private leaveSession(session: string): void {
    const had = this.sessionHandlers.delete(session)
    this.sessionStates.delete(session)
    if (had && this.isOpen()) this.sendNow({ op: 'session_leave', session })
  }

  private receiveSession(frame: any): void {
    const session: unknown = frame.session
    if (typeof session !== 'string') return
    const handlers = [...(this.sessionHandlers.get(session) ?? [])]
    const state = this.sessionStates.get(session)
    const snapshot = (s: SessionState): SessionState => ({ ...s, members: s.members.map((m) => ({ ...m })) })
    switch (frame.type) {
      case 'session_start': {
        if (handlers.length === 0) return
        const members: SessionMember[] = Array.isArray(frame.members) ? frame.members.map((m: SessionMember) => ({ slot: m.slot, id: m.id })) : []
        const slots = members.map((m) => m.slot)
        const fresh: SessionState = {
          session, slot: frame.slot, coordinator: frame.coordinator === true, members,
          coordinatorSlot: frame.coordinator === true ? frame.slot : (slots.length ? Math.min(...slots) : frame.slot),
        }
        this.sessionStates.set(session, fresh)
        for (const h of handlers) call(h.onStart, snapshot(fresh))
        return
      }
      case 'member_joined':
      case 'member_left':
      case 'coordinator_changed': {
        if (!state) return
        const member: SessionMember = { slot: frame.slot, id: frame.id }
        if (frame.type === 'member_joined') {
          state.members = [...state.members.filter((m) => m.slot !== member.slot), member].sort((a, b) => a.slot - b.slot)
        } else if (frame.type === 'member_left') {
          state.members = state.members.filter((m) => m.slot !== member.slot)
        } else {
          state.coordinatorSlot = member.slot
          state.coordinator = member.slot === state.slot
        }
        for (const h of handlers) {
          const fn = frame.type === 'member_joined' ? h.onMemberJoined : frame.type === 'member_left' ? h.onMemberLeft : h.onCoordinatorChanged
          call(fn, { ...member }, snapshot(state))
        }
        return
      }
      case 'session_closed':
        this.sessionStates.delete(session)
        this.sessionHandlers.delete(session)       // the session ended: nothing to re-join
        for (const h of handlers) call(h.onClosed, String(frame.reason ?? ''))
        return
      case 'from_member':
        for (const h of handlers) call(h.onFromMember, { session, from: frame.from, slot: frame.slot, payload: frame.payload })
        return
      case 'from_coordinator':
        for (const h of handlers) call(h.onFromCoordinator, { session, payload: frame.payload })
        return
    }
  }
}

/** A realtime client on a transport (`atomo.realtime` is one with the default options). */
export function createRealtimeClient(transport: Transport, options?: RealtimeOptions): RealtimeClient {
  return new RealtimeClient(transport, options)
}
