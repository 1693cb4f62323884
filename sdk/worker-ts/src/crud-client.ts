/** The worker CRUD API (`/api/worker/crud/{model}`) and the worker events API (`/api/worker/events/{stream}`),
 * acting as the job's actor. */
import { CrudError } from './errors.js'
import { type ClientOptions, HttpBase } from './jobs-client.js'

export interface Actor {
  userId?: string
  tenantId?: string
}

export interface CrudClientOptions extends ClientOptions {
  actor?: Actor
  /** Sent as `origin` when a call gives none (`null` in a call sends none). */
  defaultOrigin?: string | null
}

export interface WriteOptions {
  origin?: string | null
  expectedVersion?: number
}

export interface FindManyOptions {
  where?: unknown
  orderBy?: unknown
  limit?: number
  offset?: number
}

type Row = Record<string, any>

export interface BlockOperation {
  op: 'insert' | 'update' | 'move' | 'remove'
  blockId?: string
  block?: Row
  position?: number
  after?: string
  expectedRev?: number
}

/** One entry per operation (the block and its index after it; null for a removal), the record's version and the record. */
export interface BlockOpsResult<T = Row> {
  changes: { block: Row | null; index: number | null }[]
  version: number
  record: T
}

/** An event to append: a custom type (letters, digits, `_` and `.`, starting with a letter), JSON data and metadata. */
export interface NewEvent {
  type: string
  data?: Row
  metadata?: Row
}

/** A stored event, as GraphQL's `StoredEvent` (record streams carry `model`, `recordId`, `previousData`). */
export interface StoredEvent<D = Row> {
  position: number
  eventId: string
  stream: string
  streamVersion: number
  type: string
  model: string | null
  recordId: string | null
  data: D
  previousData: Row | null
  actor: string | null
  tenantId: string | null
  origin: string | null
  recordedAt: string
  metadata: Row | null
}

export interface AppendOptions {
  /** The stream's version the events were decided on (0: the stream must not exist yet); else 409 CONFLICT. */
  expectedVersion?: number
  origin?: string | null
}

export interface AppendResult<D = Row> {
  stream: string
  /** The stream's version after the append. */
  version: number
  events: StoredEvent<D>[]
}

export interface ReadStreamOptions {
  /** Default 1. */
  fromVersion?: number
  /** Default 100, at most 1000. */
  limit?: number
}

/** `payload.actor` (a user id; `worker:…` principals are not users) and `payload.tenantId`. */
export function actorOf(payload: any): Actor | undefined {
  if (payload === null || typeof payload !== 'object') return undefined
  const actor: Actor = {}
  if (typeof payload.actor === 'string' && payload.actor && !payload.actor.startsWith('worker:')) {
    actor.userId = payload.actor
  }
  if (typeof payload.tenantId === 'string') actor.tenantId = payload.tenantId
  return Object.keys(actor).length ? actor : undefined
}

export class CrudClient extends HttpBase {
  readonly actor?: Actor
  readonly defaultOrigin: string | null

  constructor(opts: CrudClientOptions) {
    super(opts)
    this.actor = opts.actor
    this.defaultOrigin = opts.defaultOrigin ?? null
  }

  private body(opts: WriteOptions | undefined, fields: Record<string, unknown>): Record<string, unknown> {
    const body: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) body[key] = value
    if (this.actor) body.actor = this.actor
    const origin = opts && 'origin' in opts ? opts.origin : this.defaultOrigin
    if (origin !== null && origin !== undefined) body.origin = origin
    return body
  }

  private static async check(response: Response): Promise<any> {
    const text = await response.text()
    if (!response.ok) throw new CrudError(response.status, text)
    return text ? JSON.parse(text) : null
  }

  private path(model: string, id?: string): string {
    return `/api/worker/crud/${encodeURIComponent(model)}${id === undefined ? '' : '/' + encodeURIComponent(id)}`
  }

  private actorQuery(): string {
    return this.actor ? `?actor=${encodeURIComponent(JSON.stringify(this.actor))}` : ''
  }

  async create<T = Row>(model: string, data: Row, opts?: { origin?: string | null }): Promise<T> {
    return CrudClient.check(await this.send('POST', this.path(model), this.body(opts, { data })))
  }

  async findById<T = Row>(model: string, id: string): Promise<T | null> {
    const response = await this.send('GET', this.path(model, id) + this.actorQuery())
    if (response.status === 404) {
      await response.text()
      return null
    }
    return CrudClient.check(response)
  }

  async update<T = Row>(model: string, id: string, data: Row, opts?: WriteOptions): Promise<T> {
    const body = this.body(opts, { data, expectedVersion: opts?.expectedVersion })
    return CrudClient.check(await this.send('PATCH', this.path(model, id), body))
  }

  async delete(model: string, id: string, opts?: WriteOptions): Promise<number> {
    const body = this.body(opts, { expectedVersion: opts?.expectedVersion })
    const out = await CrudClient.check(await this.send('DELETE', this.path(model, id), body))
    return Number(out?.deleted ?? 0)
  }

  /** Block operations on one Blocks field, in order and atomically (content chapter §3): each op is
   * `{ op: 'insert' | 'update' | 'move' | 'remove', blockId?, block?, position?, after?, expectedRev? }`. */
  async blockOps<T = Row>(model: string, id: string, field: string, ops: BlockOperation[],
    opts?: WriteOptions): Promise<BlockOpsResult<T>> {
    const body = this.body(opts, { ops, expectedVersion: opts?.expectedVersion })
    return CrudClient.check(await this.send('POST', `${this.path(model, id)}/blocks/${encodeURIComponent(field)}`, body))
  }

  async findMany<T = Row>(model: string, opts: FindManyOptions = {}): Promise<T[]> {
    const params = new URLSearchParams()
    if (opts.where !== undefined) params.set('where', JSON.stringify(opts.where))
    if (opts.orderBy !== undefined) params.set('orderBy', JSON.stringify(opts.orderBy))
    if (opts.limit !== undefined) params.set('limit', String(opts.limit))
    if (opts.offset !== undefined) params.set('offset', String(opts.offset))
    if (this.actor) params.set('actor', JSON.stringify(this.actor))
    const query = params.toString()
    return CrudClient.check(await this.send('GET', this.path(model) + (query ? `?${query}` : '')))
  }

  // ---- the event store: capability `events:<pattern>`; the schema's stream rules apply to the actor ----

  private streamPath(stream: string): string {
    return `/api/worker/events/${encodeURIComponent(stream)}`
  }

  /** Append events to a custom stream in one transaction. A stale `expectedVersion` rejects with `CrudError` 409
   * whose `bodyText` is `{"error": {"code": "CONFLICT", "details": {currentVersion, expectedVersion}}}`. */
  async appendEvents<D = Row>(stream: string, events: NewEvent[], opts?: AppendOptions): Promise<AppendResult<D>> {
    const body = this.body(opts, { events, expectedVersion: opts?.expectedVersion })
    return CrudClient.check(await this.send('POST', this.streamPath(stream), body))
  }

  /** The events of a stream the actor may read, in version order; a record stream `<Model>/<id>` is its history
   * (the token also needs `crud:<Model>:read`). */
  async readStream<D = Row>(stream: string, opts: ReadStreamOptions = {}): Promise<StoredEvent<D>[]> {
    const params = new URLSearchParams()
    if (opts.fromVersion !== undefined) params.set('fromVersion', String(opts.fromVersion))
    if (opts.limit !== undefined) params.set('limit', String(opts.limit))
    if (this.actor) params.set('actor', JSON.stringify(this.actor))
    const query = params.toString()
    return CrudClient.check(await this.send('GET', this.streamPath(stream) + (query ? `?${query}` : '')))
  }
}
