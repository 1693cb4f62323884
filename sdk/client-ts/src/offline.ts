/**
 * The offline mutation queue (sdk.md §7): mutations issued while offline, or that fail without an answer,
 * are persisted and replayed first-in first-out, one at a time, each with its own `Idempotency-Key` so a
 * replay after a lost answer is applied once. Server errors drop the item and are reported (`conflict`,
 * `rejected`); transient failures retry with backoff; a 401 pauses the queue until the next login.
 */

import { AtomoError, graphqlError, httpError } from './errors.js'
import { Listeners } from './listeners.js'
import { mutationRequest, type WriteOp } from './operations.js'
import { assignBlockIds, blockChangeFromRecord, isBlockOp, targetedBlockIds, type BlockInput } from './blocks.js'
import type { Transport } from './transport.js'

export interface OfflineItem {
  queueId: string
  userId: string | null
  tenantId: string | null
  op: WriteOp
  model: string
  /** The method's arguments after the model (create: [data]; update: [target, patch, { expectedVersion }];
   * insertBlock: [id, field, block, options]; …). */
  args: unknown[]
  /** The cached `_version` sent as `expectedVersion` (conflictDetection 'version'). */
  expectedVersion?: number
  /** An earlier queued item changes the same record: `expectedVersion` is the version it leaves. */
  chained?: boolean
  /** A request for it was sent before (its answer may have been lost). */
  sent?: boolean
  idempotencyKey: string
  attempts: number
  lastError?: { code: string; message: string }
  createdAt: string
}

export interface OfflineState { pending: OfflineItem[]; failed: OfflineItem[] }

/** Where the queue is persisted: IndexedDB and localStorage in browsers, your own adapter elsewhere. */
export interface OfflineStorage {
  load(): OfflineState | null | Promise<OfflineState | null>
  save(state: OfflineState): void | Promise<void>
}

export interface OfflineOptions {
  enabled?: boolean
  storage?: OfflineStorage
  /** Counted failures before an item moves to the failed list (default 10). */
  maxAttempts?: number
  /** 'version' (default): updates and deletes by id send the cached `_version` as `expectedVersion`. */
  conflictDetection?: 'version' | 'none'
  /** First retry delay (default 1000 ms), doubled per attempt up to `retryMaxMs` (default 60000 ms). */
  retryBaseMs?: number
  retryMaxMs?: number
  /** Replay attempt interval while items remain (default 30000 ms). */
  syncIntervalMs?: number
}

export interface SyncStatus {
  online: boolean
  pendingCount: number
  failedCount: number
  syncing: boolean
  paused: 'auth' | null
  lastSyncAt: string | null
}

export interface ConflictEvent { item: OfflineItem; error: AtomoError; current: unknown }
export interface RejectedEvent { item: OfflineItem; error: AtomoError }
type Listener<E> = (event: E) => void

/** What the queue uses of the query cache, when there is one. */
export interface OfflineCacheHooks {
  optimistic?(model: string, op: WriteOp, args: unknown[]): () => void
  peekRecord?(model: string, id: string): Record<string, unknown> | null | undefined
}

export interface OfflineHooks {
  cache?: OfflineCacheHooks
  /** A mutation was applied: update the cache with its result (the client's `afterMutation`). */
  applied?(model: string, op: WriteOp, args: unknown[], result: unknown): void
  /** The current server record (a conflict's `current`, the result of an already-applied create/update). */
  fetchRecord(model: string, id: string): Promise<unknown>
}

const TRANSIENT = new Set(['NETWORK_ERROR', 'TIMEOUT'])
const MAX_QUEUE = 10000

// ---- storage adapters ----

export function memoryOfflineStorage(): OfflineStorage {
  let state: OfflineState | null = null
  return { load: () => state && structuredClone(state), save: (s) => { state = structuredClone(s) } }
}

interface StorageLike { getItem(key: string): string | null; setItem(key: string, value: string): void }

export function localStorageOfflineStorage(key = 'atomo_offline_queue', storage?: StorageLike): OfflineStorage {
  const store = (): StorageLike => {
    const s = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage
    if (!s) throw new AtomoError({ code: 'BAD_REQUEST', message: 'localStorage is not available: pass an offline storage' })
    return s
  }
  return {
    load() {
      const raw = store().getItem(key)
      if (!raw) return null
      try { return JSON.parse(raw) as OfflineState } catch { return null }
    },
    save(state) { store().setItem(key, JSON.stringify(state)) },
  }
}

/** IndexedDB database `atomo-offline`, object store `queue`, one value under the key `state`. */
export function indexedDbOfflineStorage(name = 'atomo-offline'): OfflineStorage {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB
  if (!idb) throw new AtomoError({ code: 'BAD_REQUEST', message: 'IndexedDB is not available: pass an offline storage' })
  let opened: Promise<IDBDatabase> | null = null
  const open = () => (opened ??= new Promise<IDBDatabase>((resolve, reject) => {
    const request = idb.open(name, 1)
    request.onupgradeneeded = () => { request.result.createObjectStore('queue') }
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  }))
  const run = async <R>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<R>): Promise<R> => {
    const db = await open()
    return new Promise<R>((resolve, reject) => {
      const tx = db.transaction('queue', mode)
      const request = work(tx.objectStore('queue'))
      tx.oncomplete = () => resolve(request.result)
      tx.onerror = () => reject(tx.error)
      tx.onabort = () => reject(tx.error)
    })
  }
  return {
    load: async () => ((await run('readonly', (s) => s.get('state'))) as OfflineState | undefined) ?? null,
    save: async (state) => { await run('readwrite', (s) => s.put(state, 'state')) },
  }
}

function defaultStorage(): OfflineStorage {
  const g = globalThis as { indexedDB?: unknown; localStorage?: unknown }
  if (g.indexedDB) return indexedDbOfflineStorage()
  if (g.localStorage) return localStorageOfflineStorage()
  return memoryOfflineStorage()
}

// ---- ids ----

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
/** A ULID: 48-bit time then 80 random bits, Crockford base32 (sorts by creation time). */
export function ulid(now = Date.now()): string {
  let time = ''
  for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time
  const random = crypto.getRandomValues(new Uint8Array(16))
  let rest = ''
  for (let i = 0; i < 16; i++) rest += CROCKFORD[random[i] % 32]
  return time + rest
}

function uuid(): string {
  return crypto.randomUUID()
}

/** The `sub` of a JWT (not verified: the server does that), or null. */
function jwtSubject(token: string | undefined): string | null {
  const part = token?.split('.')[1]
  if (!part) return null
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='))
    const sub = (JSON.parse(json) as { sub?: unknown }).sub
    return typeof sub === 'string' ? sub : null
  } catch {
    return null
  }
}

/** The record id a queued item targets (id targets only), and the ids of an updateMany. */
function targetIds(item: OfflineItem): string[] {
  if (item.op === 'create') return []
  if (item.op === 'updateMany') return ((item.args[0] as { id?: unknown }[]) ?? []).map((x) => String(x?.id))
  return typeof item.args[0] === 'string' ? [item.args[0]] : []
}

function createdId(item: OfflineItem): string | null {
  const id = (item.args[0] as { id?: unknown } | undefined)?.id
  return item.op === 'create' && typeof id === 'string' ? id : null
}

/** The block ids a queued block mutation inserts (filled by `prepare`), with the field they go into. */
function insertedBlocks(item: OfflineItem): { field: string; ids: string[] } | null {
  if (item.op === 'insertBlock') {
    const id = (item.args[2] as BlockInput | undefined)?.id
    return { field: String(item.args[1]), ids: typeof id === 'string' ? [id] : [] }
  }
  if (item.op === 'applyBlockOps' && Array.isArray(item.args[2])) {
    const ids = (item.args[2] as { op?: unknown; block?: BlockInput }[])
      .filter((o) => o?.op === 'insert' && typeof o.block?.id === 'string').map((o) => o.block!.id as string)
    return { field: String(item.args[1]), ids }
  }
  return null
}

/** A CONFLICT because a block this item inserts is already there: an earlier attempt of this item landed. */
function isOwnBlockInsertConflict(item: OfflineItem, error: AtomoError): boolean {
  const details = error.details as { blockId?: unknown; currentRev?: unknown; currentVersion?: unknown } | undefined
  if (error.code !== 'CONFLICT' || !details || details.currentRev !== undefined || details.currentVersion !== undefined) return false
  return insertedBlocks(item)?.ids.includes(details.blockId as string) === true
}

function setExpectedVersion(item: OfflineItem, version: number): void {
  const at = item.op === 'update' ? 2 : 1
  item.expectedVersion = version
  item.args[at] = { ...((item.args[at] as object | undefined) ?? {}), expectedVersion: version }
}

function isUniqueIdError(error: AtomoError): boolean {
  return error.code === 'VALIDATION_ERROR' && Array.isArray(error.details)
    && error.details.some((d: { field?: unknown; code?: unknown }) => d?.field === 'id' && d?.code === 'unique')
}

type Outcome = { kind: 'applied'; result: unknown } | { kind: 'dropped'; error: AtomoError }
  | { kind: 'retry'; error: AtomoError; afterMs?: number } | { kind: 'paused'; error: AtomoError }

interface Waiter { resolve(value: unknown): void; reject(error: unknown): void }

export class OfflineQueue {
  readonly maxAttempts: number
  private readonly storage: OfflineStorage
  private state: OfflineState = { pending: [], failed: [] }
  private readonly waiters = new Map<string, Waiter>()
  private readonly rollbacks = new Map<string, () => void>()
  private readonly status = new Listeners<SyncStatus>()
  private readonly conflicts = new Listeners<ConflictEvent>()
  private readonly rejections = new Listeners<RejectedEvent>()
  private syncing: Promise<void> | null = null
  private syncAgain = false
  private paused: 'auth' | null = null
  private lastSyncAt: string | null = null
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  private intervalTimer: ReturnType<typeof setInterval> | null = null
  private saving: Promise<void> = Promise.resolve()
  private closed = false
  readonly ready: Promise<void>

  constructor(private readonly transport: Transport, private readonly options: OfflineOptions,
    private readonly hooks: OfflineHooks) {
    this.maxAttempts = options.maxAttempts ?? 10
    const storage = options.storage ?? defaultStorage()
    this.storage = storage
    const onOnline = () => { void this.sync() }
    const g = globalThis as { addEventListener?: (type: string, fn: () => void) => void }
    g.addEventListener?.('online', onOnline)
    transport.onReset((reason) => {
      if (reason === 'login') { this.paused = null; this.emitStatus(); void this.sync() }
    })
    this.ready = (async () => {
      const loaded = await storage.load()
      if (loaded) {
        this.state = { pending: [...(loaded.pending ?? []), ...this.state.pending], failed: [...(loaded.failed ?? []), ...this.state.failed] }
        for (const item of loaded.pending ?? []) this.applyOptimistic(item)
      }
      this.emitStatus()
      if (this.state.pending.length > 0) {
        this.ensureInterval()
        void this.sync()
      }
    })()
  }

  // ---- public API ----

  getStatus(): SyncStatus {
    return {
      online: this.online(),
      pendingCount: this.state.pending.length,
      failedCount: this.state.failed.length,
      syncing: this.syncing !== null,
      paused: this.paused,
      lastSyncAt: this.lastSyncAt,
    }
  }

  onStatusChange(listener: (status: SyncStatus) => void): () => void { return this.status.add(listener) }

  on(event: 'conflict', listener: Listener<ConflictEvent>): () => void
  on(event: 'rejected', listener: Listener<RejectedEvent>): () => void
  on(event: 'conflict' | 'rejected', listener: Listener<any>): () => void {
    return (event === 'conflict' ? this.conflicts : this.rejections).add(listener)
  }

  pending(): OfflineItem[] { return this.state.pending.map((i) => structuredClone(i)) }

  /** Resolves when every change so far is written to the storage (`pending()` shows an item at once). */
  saved(): Promise<void> { return this.saving }
  failed(): OfflineItem[] { return this.state.failed.map((i) => structuredClone(i)) }

  /** Put a failed item back at the head of the queue and replay. */
  async retry(queueId: string): Promise<void> {
    await this.ready
    const index = this.state.failed.findIndex((i) => i.queueId === queueId)
    if (index < 0) throw new AtomoError({ code: 'NOT_FOUND', message: `no failed item ${queueId}` })
    const [item] = this.state.failed.splice(index, 1)
    item.attempts = 0
    this.state.pending.unshift(item)
    await this.persist()
    void this.sync()
  }

  /** Enqueue a corrected copy of a dropped item at the tail. */
  resubmit(item: OfflineItem, args: unknown[]): Promise<unknown> {
    return this.enqueue(item.op, item.model, args)
  }

  /**
   * A mutation through the queue: sent at once when online and nothing of this user and tenant waits
   * (queued if that fails without an answer), otherwise queued. Resolves with the mutation's result.
   */
  async mutate(op: WriteOp, model: string, args: unknown[]): Promise<unknown> {
    await this.ready
    const item = this.prepare(op, model, args)
    if (this.online() && !this.hasPendingForCurrent() && this.paused === null) {
      const outcome = await this.attempt(item)
      if (outcome.kind === 'applied') return this.applied(item, outcome.result, false)
      if (outcome.kind === 'dropped') throw outcome.error
      // no answer: the same item (and key) goes to the queue, so a write that did land is not repeated
    }
    return this.push(item)
  }

  /** Queue without trying first (what `mutate` does while offline). */
  async enqueue(op: WriteOp, model: string, args: unknown[]): Promise<unknown> {
    await this.ready
    return this.push(this.prepare(op, model, args))
  }

  /** Replay now (also runs on `online`, after each enqueue, and every `syncIntervalMs` while items remain). */
  sync(): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.syncing) this.syncAgain = true           // an enqueue while the drain was finishing
    else {
      const locks = (globalThis as { navigator?: { locks?: { request(name: string, fn: () => Promise<void>): Promise<void> } } })
        .navigator?.locks
      const drain = () => this.drain()
      this.syncing = (locks ? locks.request('atomo-offline-sync', drain) : drain()).finally(() => {
        this.syncing = null
        this.emitStatus()
        if (this.syncAgain) {
          this.syncAgain = false
          if (this.paused === null && !this.retryTimer) void this.sync()
        }
      })
      this.emitStatus()
    }
    return this.syncing
  }

  close(): void {
    this.closed = true
    if (this.retryTimer) clearTimeout(this.retryTimer)
    if (this.intervalTimer) clearInterval(this.intervalTimer)
    this.retryTimer = this.intervalTimer = null
  }

  // ---- internals ----

  private online(): boolean {
    return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false
  }

  private identity(): { userId: string | null; tenantId: string | null } {
    return { userId: jwtSubject(this.transport.tokens()?.token), tenantId: this.transport.tenantId }
  }

  private mine(item: OfflineItem): boolean {
    const { userId, tenantId } = this.identity()
    return item.userId === userId && item.tenantId === tenantId
  }

  private hasPendingForCurrent(): boolean {
    return this.state.pending.some((i) => this.mine(i))
  }

  private prepare(op: WriteOp, model: string, args: unknown[]): OfflineItem {
    const copy = structuredClone(args)
    if (op === 'create') {
      const data = (copy[0] ?? {}) as Record<string, unknown>
      if (typeof data.id !== 'string' || !data.id) data.id = uuid()   // later queued items can target it
      copy[0] = data
    }
    if (isBlockOp(op)) assignBlockIds(op, copy, uuid)   // later queued block operations can target the new blocks
    const { userId, tenantId } = this.identity()
    const item: OfflineItem = {
      queueId: ulid(), userId, tenantId, op, model, args: copy, idempotencyKey: uuid(), attempts: 0,
      createdAt: new Date().toISOString(),
    }
    const id = copy[0]
    if ((op === 'update' || op === 'delete') && typeof id === 'string') {
      const given = (copy[op === 'update' ? 2 : 1] as { expectedVersion?: number } | undefined)?.expectedVersion
      if (given !== undefined) item.expectedVersion = given
      else if ((this.options.conflictDetection ?? 'version') === 'version') {
        const before = this.state.pending.some((p) => p.model === model && this.mine(p)
          && (createdId(p) === id || targetIds(p).includes(id)))
        if (before) item.chained = true          // its version is known when the earlier item is applied
        else {
          const cached = this.hooks.cache?.peekRecord?.(model, id)
          if (cached && typeof cached._version === 'number') setExpectedVersion(item, cached._version)
        }
      }
    }
    return item
  }

  private async push(item: OfflineItem): Promise<unknown> {
    if (this.state.pending.length >= MAX_QUEUE) {
      throw new AtomoError({ code: 'QUEUE_FULL', message: `the offline queue holds ${MAX_QUEUE} items already` })
    }
    this.state.pending.push(item)
    this.applyOptimistic(item)
    const done = new Promise<unknown>((resolve, reject) => { this.waiters.set(item.queueId, { resolve, reject }) })
    await this.persist()
    this.ensureInterval()
    if (this.online()) void this.sync()
    return done
  }

  private applyOptimistic(item: OfflineItem): void {
    const optimistic = this.hooks.cache?.optimistic
    if (!optimistic) return
    try {
      this.rollbacks.set(item.queueId, optimistic.call(this.hooks.cache, item.model, item.op, item.args))
    } catch { /* an optimistic view is best effort */ }
  }

  private rollback(item: OfflineItem): void {
    const undo = this.rollbacks.get(item.queueId)
    this.rollbacks.delete(item.queueId)
    undo?.()
  }

  private async drain(): Promise<void> {
    await this.ready
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null }
    while (!this.closed && this.paused === null) {
      const item = this.state.pending.find((i) => this.mine(i))
      if (!item) break
      const outcome = await this.attempt(item)
      this.lastSyncAt = new Date().toISOString()
      if (outcome.kind === 'applied') {
        this.remove(item)
        this.applied(item, outcome.result, true)
      } else if (outcome.kind === 'dropped') {
        this.remove(item)
        await this.drop(item, outcome.error)
      } else if (outcome.kind === 'paused') {
        this.paused = 'auth'
        item.lastError = { code: outcome.error.code, message: outcome.error.message }
      } else {
        if (this.online()) item.attempts++
        item.lastError = { code: outcome.error.code, message: outcome.error.message }
        if (item.attempts >= this.maxAttempts) {
          this.remove(item)
          this.state.failed.push(item)
          this.rollback(item)
          this.settle(item, undefined, outcome.error)
        } else {
          const base = this.options.retryBaseMs ?? 1000
          const delay = Math.min(base * 2 ** Math.max(0, item.attempts - 1), this.options.retryMaxMs ?? 60000)
          const jittered = delay * (0.8 + Math.random() * 0.4)
          this.scheduleRetry(Math.max(jittered, outcome.afterMs ?? 0))
          await this.persist()
          break
        }
      }
      await this.persist()
    }
    if (this.state.pending.length === 0 && this.intervalTimer) {
      clearInterval(this.intervalTimer)
      this.intervalTimer = null
    }
  }

  private remove(item: OfflineItem): void {
    const index = this.state.pending.indexOf(item)
    if (index >= 0) this.state.pending.splice(index, 1)
  }

  /** One request for an item: what became of it. */
  private async attempt(item: OfflineItem): Promise<Outcome> {
    const request = mutationRequest(item.op, item.model, item.args)
    const resent = item.sent === true
    item.sent = true
    let sent
    try {
      sent = await this.transport.request('POST', '/graphql', { query: request.query, variables: request.variables },
        { headers: { 'idempotency-key': item.idempotencyKey } })
    } catch (error) {
      const e = error instanceof AtomoError ? error : new AtomoError({ code: 'NETWORK_ERROR', message: String(error), cause: error })
      return TRANSIENT.has(e.code) ? { kind: 'retry', error: e } : { kind: 'dropped', error: e }
    }
    const body = sent.body as { data?: Record<string, unknown> | null; errors?: unknown[] } | undefined
    const hasErrors = body && typeof body === 'object' && Array.isArray(body.errors) && body.errors.length > 0
    const error = hasErrors ? graphqlError(body!.errors!, body!.data, sent.status, sent.requestId)
      : (sent.status < 200 || sent.status >= 300 || !body || typeof body !== 'object')
        ? httpError(sent.status, sent.body, sent.requestId) : null
    if (!error) return { kind: 'applied', result: body!.data?.[request.name] }
    if (sent.status === 401 || error.code === 'UNAUTHENTICATED') return { kind: 'paused', error }
    if (sent.status >= 500 || sent.status === 429 || error.code === 'RATE_LIMITED') {
      const retryAfter = Number(sent.headers?.get('retry-after'))
      return { kind: 'retry', error, afterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined }
    }
    if (error.code === 'ALREADY_APPLIED' || (item.op === 'create' && isUniqueIdError(error)) || (resent && isOwnBlockInsertConflict(item, error))) {
      return { kind: 'applied', result: await this.currentResult(item) }
    }
    return { kind: 'dropped', error }
  }

  /** The result of an item applied by an earlier attempt whose answer was lost. */
  private async currentResult(item: OfflineItem): Promise<unknown> {
    const id = createdId(item) ?? targetIds(item)[0]
    if (item.op === 'delete' || item.op === 'restore' || item.op === 'hardDelete') return 1
    if (item.op === 'updateMany') return Promise.all(targetIds(item).map((i) => this.hooks.fetchRecord(item.model, i)))
    if (isBlockOp(item.op)) return blockChangeFromRecord(item.op, item.args, id ? await this.hooks.fetchRecord(item.model, id) : null)
    return id ? this.hooks.fetchRecord(item.model, id) : null
  }

  private applied(item: OfflineItem, result: unknown, queued: boolean): unknown {
    if (queued) this.rollback(item)
    const records = isBlockOp(item.op) ? [(result as { record?: unknown } | null)?.record] : Array.isArray(result) ? result : [result]
    for (const record of records) {     // the next chained item expects this version
      const r = record as { id?: unknown; _version?: unknown } | null
      if (!r || typeof r.id !== 'string' || typeof r._version !== 'number') continue
      const next = this.state.pending.find((p) => p.model === item.model && targetIds(p).includes(r.id as string))
      if (next?.chained) {
        setExpectedVersion(next, r._version)
        next.chained = false
      }
    }
    this.hooks.applied?.(item.model, item.op, item.args, result)
    this.settle(item, result)
    return result
  }

  private async drop(item: OfflineItem, error: AtomoError): Promise<void> {
    this.rollback(item)
    if (error.code === 'CONFLICT') {
      const id = targetIds(item)[0]
      let current: unknown = null
      try { if (id) current = await this.hooks.fetchRecord(item.model, id) } catch { /* reported without it */ }
      this.conflicts.emit({ item, error, current })
    } else {
      this.rejections.emit({ item, error })
    }
    this.settle(item, undefined, error)
    const created = createdId(item)
    if (created) {          // items that target the record whose create was rejected fail with it
      for (const dependent of this.state.pending.filter((i) => targetIds(i).includes(created))) {
        this.remove(dependent)
        await this.drop(dependent, new AtomoError({
          code: 'DEPENDENCY_FAILED', message: `the queued create of ${item.model} ${created} was rejected: ${error.message}`,
          details: { queueId: item.queueId, code: error.code },
        }))
      }
    }
    const inserted = insertedBlocks(item)
    const recordId = targetIds(item)[0]
    if (inserted && inserted.ids.length > 0 && recordId) {   // queued block operations on blocks it would have inserted
      const dependents = this.state.pending.filter((i) => isBlockOp(i.op) && i.model === item.model && i.args[0] === recordId
        && String(i.args[1]) === inserted.field && targetedBlockIds(i.op, i.args).some((b) => inserted.ids.includes(b)))
      for (const dependent of dependents) {
        if (!this.state.pending.includes(dependent)) continue
        this.remove(dependent)
        await this.drop(dependent, new AtomoError({
          code: 'DEPENDENCY_FAILED', message: `the queued block insert into ${item.model} ${recordId} was rejected: ${error.message}`,
          details: { queueId: item.queueId, code: error.code },
        }))
      }
    }
  }

  private settle(item: OfflineItem, result: unknown, error?: AtomoError): void {
    const waiter = this.waiters.get(item.queueId)
    this.waiters.delete(item.queueId)
    if (!waiter) return
    if (error) waiter.reject(error)
    else waiter.resolve(result)
  }

  private scheduleRetry(ms: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => { this.retryTimer = null; void this.sync() }, ms)
    ;(this.retryTimer as { unref?: () => void }).unref?.()
  }

  private ensureInterval(): void {
    if (this.intervalTimer || this.closed) return
    this.intervalTimer = setInterval(() => { if (this.state.pending.length > 0) void this.sync() },
      this.options.syncIntervalMs ?? 30000)
    ;(this.intervalTimer as { unref?: () => void }).unref?.()
  }

  private persist(): Promise<void> {
    const snapshot = structuredClone(this.state)
    this.saving = this.saving.then(() => this.storage.save(snapshot)).catch(() => { /* kept in memory; saved next time */ })
    this.emitStatus()
    return this.saving
  }

  private emitStatus(): void {
    this.status.emit(this.getStatus())
  }
}
