/**
 * `atomo.realtime`: the realtime client's API from the first access, with its implementation (`realtime.js`)
 * loaded by a dynamic import at that moment, so an app that never uses realtime does not ship it. Calls made
 * before the load are kept in order (bounded, like the client's own queue) and replayed on the loaded client;
 * the functions they return (unsubscribe, leave, stop listening) work before and after.
 */

import { AtomoError } from './errors.js'
import type {
  ChannelHandlers, RealtimeClient, RealtimeOptions, RealtimeState, SessionHandlers, SessionState,
} from './realtime.js'
import type { Transport } from './transport.js'

const MAX_NAME = 200

/** Channel and session names: 1 to 200 characters without control characters. */
export function checkName(kind: 'channel' | 'session', name: string): void {
  // eslint-disable-next-line no-control-regex
  if (typeof name !== 'string' || name.length < 1 || name.length > MAX_NAME || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new AtomoError({ code: 'VALIDATION_ERROR', message: `a ${kind} name is 1-${MAX_NAME} characters without control characters` })
  }
}

interface Call { frame: boolean; run: (client: RealtimeClient) => void }

export class RealtimeHandle {
  readonly sessions: {
    join<P = unknown>(session: string, handlers?: SessionHandlers<P>): () => void
    leave(session: string): void
    toCoordinator(session: string, payload: unknown): void
    toMembers(session: string, payload: unknown): void
    get(session: string): SessionState | null
  }
  private client: RealtimeClient | null = null
  private calls: Call[] = []
  private closes = 0
  private readonly loading: Promise<RealtimeClient>
  private readonly maxQueue: number

  constructor(transport: Transport, options: RealtimeOptions = {}) {
    this.maxQueue = options.maxQueue ?? 1000
    this.loading = import('./realtime.js').then(({ RealtimeClient }) => {
      const client = new RealtimeClient(transport, options)
      this.client = client
      for (const call of this.calls.splice(0)) call.run(client)
      return client
    })
    const handle = this
    this.sessions = {
      join: (session, handlers = {}) => {
        checkName('session', session)
        return handle.registration((c) => c.sessions.join(session, handlers))
      },
      leave: (session) => handle.later(false, (c) => c.sessions.leave(session)),
      toCoordinator: (session, payload) => handle.later(true, (c) => c.sessions.toCoordinator(session, payload)),
      toMembers: (session, payload) => handle.later(true, (c) => c.sessions.toMembers(session, payload)),
      get: (session) => handle.client?.sessions.get(session) ?? null,
    }
  }

  get state(): RealtimeState { return this.client?.state ?? (this.calls.length > 0 ? 'connecting' : 'idle') }
  get principal(): string | null { return this.client?.principal ?? null }
  get queued(): number { return this.client?.queued ?? this.calls.filter((c) => c.frame).length }

  async connect(): Promise<void> { return (await this.loaded()).connect() }

  subscribe<P = unknown>(channel: string, handlers: ChannelHandlers<P> = {}): () => void {
    checkName('channel', channel)
    return this.registration((c) => c.subscribe(channel, handlers))
  }

  publish(channel: string, payload: unknown): void {
    checkName('channel', channel)
    this.later(true, (c) => c.publish(channel, payload))
  }

  async requestPresence(channel: string): Promise<string[]> {
    checkName('channel', channel)
    return (await this.loaded()).requestPresence(channel)
  }

  getPresence(channel: string): string[] { return this.client?.getPresence(channel) ?? [] }

  /** Close and stop reconnecting; frames not yet sent are dropped, subscriptions stay registered. */
  close(): void {
    this.closes++
    if (this.client) this.client.close()
    else this.calls = this.calls.filter((c) => !c.frame)
  }

  /** The loaded client, unless `close()` was called meanwhile (what the client does to requests it holds). */
  private async loaded(): Promise<RealtimeClient> {
    const closes = this.closes
    const client = await this.loading
    if (this.closes !== closes) throw new AtomoError({ code: 'ABORTED', message: 'realtime client closed' })
    return client
  }

  onStateChange(listener: (state: RealtimeState) => void): () => void {
    return this.registration((c) => c.onStateChange(listener))
  }

  onError(listener: (error: AtomoError) => void): () => void {
    return this.registration((c) => c.onError(listener))
  }

  /** Run now on the loaded client, or keep for the load (frames count against the queue bound). */
  private later(frame: boolean, run: (client: RealtimeClient) => void): void {
    if (this.client) return run(this.client)
    if (frame && this.calls.filter((c) => c.frame).length >= this.maxQueue) {
      throw new AtomoError({ code: 'QUEUE_FULL', message: `more than ${this.maxQueue} realtime frames waiting to be sent` })
    }
    this.calls.push({ frame, run })
  }

  /** A call that returns its undo (unsubscribe, leave, stop listening), usable before the load too. */
  private registration(register: (client: RealtimeClient) => () => void): () => void {
    let undo: (() => void) | null = null
    let cancelled = false
    this.later(false, (c) => { if (!cancelled) undo = register(c) })
    return () => {
      cancelled = true
      undo?.()
    }
  }
}
