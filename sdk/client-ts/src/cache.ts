/**
 * The query cache (sdk.md §6). An entry is one read (`records`, `record`, `paginatedRecords`,
 * `deletedRecords`, `count`) keyed by tenant, operation, model and the canonical JSON of its arguments.
 * Observers (the React hooks, or anything calling `observe`) keep entries in use; unused entries are
 * removed after `gcTimeMs`. While any entry of a model is in use the cache holds one `modelChanges`
 * subscription for it and applies each event:
 *
 * - CREATED/UPDATED: `record` entries of that id take the record unless they hold a version ≥ its
 *   `_version`; list, page and count entries are marked stale and those in use refetched, coalesced in 50 ms;
 * - RESTORED: `record` entries of that id are refetched; lists as above;
 * - DELETED/HARD_DELETED: `record` entries of that id become null; lists as above.
 *
 * Entries count as fresh while the subscription is connected and become stale when it drops; on reconnect
 * it resumes with `after: <last position>` (and refetches only when it never received a position).
 * Concurrent identical reads share one request. Local mutations go through `writeRecord`/`removeRecord`/
 * `invalidateModel` (and `optimistic` before the response); a reset of the transport (login, logout,
 * tenant, auth error) clears everything.
 */

import { AtomoError } from './errors.js'
import { subscribeModelChanges, type GraphQLWsClient, type ModelEvent } from './graphql-ws.js'
import type { WriteOp } from './operations.js'
import { applyBlockOpsLocally, blockOpsOf, isBlockOp, type Block } from './blocks.js'
import type { Transport } from './transport.js'

export type QueryOp = 'records' | 'record' | 'paginatedRecords' | 'deletedRecords' | 'count'
export type { MutationOp } from './operations.js'

/** What an entry holds; a new object on every change (suitable for `useSyncExternalStore`). */
export interface QueryState<D = unknown> {
  /** The last result, or undefined before the first one. */
  data: D | undefined
  error: AtomoError | null
  /** Fetching and no data yet. */
  loading: boolean
  /** A request is in flight (initial or background). */
  fetching: boolean
  /** The data may be out of date (marked by an event, or no live subscription for the model). */
  stale: boolean
  status: 'idle' | 'loading' | 'success' | 'error'
  /** Time of the last successful fetch or cache write (ms since epoch), 0 before. */
  updatedAt: number
}

export type Fetcher = (op: QueryOp, model: string, args: Record<string, unknown>) => Promise<unknown>

export interface QueryCacheOptions {
  transport: Transport
  ws: GraphQLWsClient
  fetcher: Fetcher
  /** Entries without observers are removed after this long (default 300000 ms). */
  gcTimeMs?: number
  /** Window in which list refetches caused by events are coalesced (default 50 ms). */
  coalesceMs?: number
}

export interface QueryObserver<D = unknown> {
  readonly key: string
  /** Keep the entry in use and hear its changes (fetches when it has no data or is stale). */
  subscribe(listener: () => void): () => void
  getSnapshot(): QueryState<D>
  refetch(): Promise<D>
}

export interface QueryCache {
  /** The key of a read under the current tenant. */
  key(model: string, op: QueryOp, args?: Record<string, unknown>): string
  /** A read through the cache: cached data when fresh, else one (shared) request. */
  fetch<D = unknown>(model: string, op: QueryOp, args?: Record<string, unknown>, options?: { force?: boolean }): Promise<D>
  observe<D = unknown>(model: string, op: QueryOp, args?: Record<string, unknown>): QueryObserver<D>
  /** The state of an entry, or undefined when not cached. */
  peek<D = unknown>(model: string, op: QueryOp, args?: Record<string, unknown>): QueryState<D> | undefined
  /** A mutation result: taken unless the cached `_version` is ≥; the model's lists are refetched at once. */
  writeRecord(model: string, record: Record<string, unknown> | null | undefined): void
  /** A record is gone: its record entries become null; the model's lists are refetched at once. */
  removeRecord(model: string, id: string): void
  /** Mark every entry of the model stale; those in use are refetched at once. */
  invalidateModel(model: string): void
  /** Refetch the record entries of one id (in use at once, others when next used). */
  refetchRecord(model: string, id: string): void
  /** Apply a mutation to cached entries before its response; the returned function undoes it. */
  optimistic(model: string, op: WriteOp, args: readonly unknown[]): () => void
  /** The cached record (from a record entry, else any list or page), null when known to be gone, undefined when not cached. */
  peekRecord(model: string, id: string): Record<string, unknown> | null | undefined
  /** Drop every entry and subscription; observers in use refetch under the current identity. */
  clear(): void
  /** Whether the model's `modelChanges` subscription is live. */
  isLive(model: string): boolean
  /** Number of entries (tests, debugging). */
  readonly size: number
  /** Stop timers and subscriptions (the client is being closed). */
  dispose(): void
}

type Rec = Record<string, unknown>
type Timer = ReturnType<typeof setTimeout>

function unref(timer: Timer): Timer {
  (timer as unknown as { unref?: () => void }).unref?.()
  return timer
}

/** JSON with object keys sorted and undefined values dropped. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? 'null'
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortKeys(v)))
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Rec = {}
    for (const k of Object.keys(value as Rec).sort()) {
      const v = (value as Rec)[k]
      if (v !== undefined) out[k] = sortKeys(v)
    }
    return out
  }
  return value
}

function camel(text: string): string {
  const prefix = text.startsWith('_') ? '_' : ''
  const parts = text.replace(/^_+/, '').split('_').filter((p) => p !== '')
  if (parts.length === 0) return text
  return prefix + parts[0] + parts.slice(1).map((p) => p.slice(0, 1).toUpperCase() + p.slice(1)).join('')
}

function camelKeys(data: unknown): Rec {
  const out: Rec = {}
  if (data && typeof data === 'object') for (const [k, v] of Object.entries(data as Rec)) out[camel(k)] = v
  return out
}

function versionOf(record: unknown): number | null {
  const v = record && typeof record === 'object' ? (record as Rec)._version : undefined
  return typeof v === 'number' ? v : null
}

// ---- a client-side evaluation of `where` (optimistic list updates only; the refetch is authoritative) ----

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0
}

function fieldMatches(value: unknown, filter: unknown): boolean {
  if (filter === null) return value === null || value === undefined
  if (typeof filter !== 'object' || Array.isArray(filter)) return value === filter
  const isNull = value === null || value === undefined
  for (const [op, arg] of Object.entries(filter as Rec)) {
    const text = typeof value === 'string' ? value.toLowerCase() : JSON.stringify(value ?? null).toLowerCase()
    const needle = String(arg).toLowerCase()
    let ok: boolean
    switch (op) {
      case 'equals': case 'eq': ok = arg === null ? isNull : value === arg; break
      case 'not': case 'neq': ok = arg === null ? !isNull : (isNull || value !== arg); break
      case 'in': ok = Array.isArray(arg) && arg.includes(value as never); break
      case 'notIn': ok = isNull || (Array.isArray(arg) && !arg.includes(value as never)); break
      case 'contains': case 'like': ok = !isNull && text.includes(needle); break
      case 'startsWith': ok = !isNull && text.startsWith(needle); break
      case 'endsWith': ok = !isNull && text.endsWith(needle); break
      case 'gt': ok = !isNull && compare(value, arg) > 0; break
      case 'gte': ok = !isNull && compare(value, arg) >= 0; break
      case 'lt': ok = !isNull && compare(value, arg) < 0; break
      case 'lte': ok = !isNull && compare(value, arg) <= 0; break
      case 'isNull': ok = arg === true ? isNull : !isNull; break
      case 'mode': ok = true; break
      default: return false
    }
    if (!ok) return false
  }
  return true
}

export function matchesWhere(record: Rec, where: unknown): boolean {
  if (where === undefined || where === null) return true
  if (typeof where !== 'object' || Array.isArray(where)) return false
  for (const [key, filter] of Object.entries(where as Rec)) {
    if (key === 'AND') { if (!Array.isArray(filter) || !filter.every((w) => matchesWhere(record, w))) return false; continue }
    if (key === 'OR') { if (!Array.isArray(filter) || !filter.some((w) => matchesWhere(record, w))) return false; continue }
    if (key === 'NOT') {
      const all = Array.isArray(filter) ? filter.every((w) => matchesWhere(record, w)) : matchesWhere(record, filter)
      if (all) return false
      continue
    }
    if (!fieldMatches(record[camel(key)], filter)) return false
  }
  return true
}

// ---- entries ----

interface Entry {
  key: string
  model: string
  op: QueryOp
  args: Rec
  state: QueryState<any>
  hasData: boolean
  /** Marked stale by an event or an invalidation (cleared by a fetch started after it). */
  invalid: boolean
  /** Bumped on every invalidation and every write: a fetch compares it with its start value. */
  seq: number
  observers: Set<Observer>
  inflight: Promise<unknown> | null
  gcTimer: Timer | null
  /** `record` entries after a removal: record versions ≤ this are ignored (late events of the old row). */
  floor: number
}

interface ModelSub {
  model: string
  off: (() => void) | null
  position: number | null
  live: boolean
  everLive: boolean
  failed: AtomoError | null
  inUse: number
  flushTimer: Timer | null
  flushPending: boolean
  lingerTimer: Timer | null
}

const IDLE_STATE: QueryState<any> = Object.freeze({
  data: undefined, error: null, loading: false, fetching: false, stale: false, status: 'idle', updatedAt: 0,
}) as QueryState<any>
const PENDING_STATE: QueryState<any> = Object.freeze({
  data: undefined, error: null, loading: true, fetching: false, stale: true, status: 'loading', updatedAt: 0,
}) as QueryState<any>
const LINGER_MS = 1000
const OWN_WRITES_MAX = 2000

interface Observer {
  readonly model: string
  notify(): void
  reattach(): void
}

export function createQueryCache(options: QueryCacheOptions): QueryCache {
  const { transport, ws, fetcher } = options
  const gcTimeMs = options.gcTimeMs ?? 300000
  const coalesceMs = options.coalesceMs ?? 50
  const entries = new Map<string, Entry>()
  const byModel = new Map<string, Set<Entry>>()
  const subs = new Map<string, ModelSub>()
  const attached = new Set<Observer>()
  /** Versions this client wrote itself (model/id → _version or 'gone'): their events need no list refetch. */
  const ownWrites = new Map<string, number | 'gone'>()
  let generation = 0

  const keyOf = (model: string, op: QueryOp, args: Rec = {}): string =>
    JSON.stringify([transport.tenantId ?? null, op, model, canonicalJson(args)])

  const isLive = (model: string): boolean => subs.get(model)?.live === true

  function computeStale(entry: Entry): boolean {
    return entry.invalid || !isLive(entry.model)
  }

  function setState(entry: Entry, patch: Partial<QueryState<any>>): void {
    const next = { ...entry.state, ...patch }
    next.loading = next.fetching && !entry.hasData
    next.stale = computeStale(entry)
    const prev = entry.state
    if ((Object.keys(next) as (keyof QueryState)[]).every((k) => next[k] === prev[k])) return
    entry.state = next
    for (const o of [...entry.observers]) o.notify()
  }

  function refreshStale(model: string): void {
    for (const entry of byModel.get(model) ?? []) setState(entry, {})
  }

  function getEntry(model: string, op: QueryOp, args: Rec): Entry {
    const key = keyOf(model, op, args)
    let entry = entries.get(key)
    if (!entry) {
      entry = {
        key, model, op, args: JSON.parse(canonicalJson(args)) as Rec, state: { ...PENDING_STATE, loading: false, status: 'idle' },
        hasData: false, invalid: false, seq: 0, observers: new Set(), inflight: null, gcTimer: null, floor: 0,
      }
      entry.state.stale = computeStale(entry)
      entries.set(key, entry)
      let set = byModel.get(model)
      if (!set) byModel.set(model, (set = new Set()))
      set.add(entry)
      scheduleGc(entry)
    }
    return entry
  }

  function removeEntry(entry: Entry): void {
    if (entries.get(entry.key) === entry) entries.delete(entry.key)
    byModel.get(entry.model)?.delete(entry)
    if (byModel.get(entry.model)?.size === 0) byModel.delete(entry.model)
    if (entry.gcTimer) clearTimeout(entry.gcTimer)
    entry.gcTimer = null
  }

  function scheduleGc(entry: Entry): void {
    if (entry.gcTimer) clearTimeout(entry.gcTimer)
    entry.gcTimer = null
    if (entry.observers.size > 0) return
    entry.gcTimer = unref(setTimeout(() => {
      entry.gcTimer = null
      if (entry.observers.size === 0 && !entry.inflight) removeEntry(entry)
      else if (entry.observers.size === 0) scheduleGc(entry)
    }, gcTimeMs))
  }

  /** Fetch an entry (one request at a time; a second caller shares it). */
  function run(entry: Entry): Promise<unknown> {
    if (entry.inflight) return entry.inflight
    const gen = generation
    const startSeq = entry.seq
    setState(entry, { fetching: true, status: entry.hasData ? entry.state.status : 'loading' })
    const promise = (async () => {
      try {
        const data = await Promise.resolve().then(() => fetcher(entry.op, entry.model, entry.args))
        if (gen !== generation) return data
        entry.inflight = null
        if (entry.op === 'record' && entry.hasData && entry.seq !== startSeq) {
          // written by an event or a mutation meanwhile: keep the newer of the two
          const cached = versionOf(entry.state.data), fetched = versionOf(data)
          if (!(fetched !== null && (cached === null || fetched > cached))) {
            setState(entry, { fetching: false })
            return entry.state.data
          }
        }
        let value = data
        if (entry.op === 'record' && data && entry.floor > 0 && (versionOf(data) ?? 0) <= entry.floor) value = null
        entry.hasData = true
        if (entry.seq === startSeq) entry.invalid = false
        setState(entry, { data: value, error: null, fetching: false, status: 'success', updatedAt: Date.now() })
        if (entry.invalid && entry.observers.size > 0) scheduleFlush(entry.model, coalesceMs)
        return value
      } catch (e) {
        const error = e instanceof AtomoError ? e : new AtomoError({ code: 'INTERNAL_ERROR', message: String(e), cause: e })
        if (gen === generation) {
          entry.inflight = null
          setState(entry, { error, fetching: false, status: 'error' })
        }
        throw error
      } finally {
        if (entry.observers.size === 0 && gen === generation) scheduleGc(entry)
      }
    })()
    entry.inflight = promise
    promise.catch(() => { /* reported through the state */ })
    return promise
  }

  function needsFetch(entry: Entry): boolean {
    return !entry.hasData || entry.invalid || !isLive(entry.model) || entry.state.status === 'error'
  }

  // ---- model subscriptions ----

  function modelSub(model: string): ModelSub {
    let sub = subs.get(model)
    if (!sub) {
      sub = { model, off: null, position: null, live: false, everLive: false, failed: null, inUse: 0, flushTimer: null, flushPending: false, lingerTimer: null }
      subs.set(model, sub)
    }
    return sub
  }

  function startSub(sub: ModelSub): void {
    if (sub.off || sub.failed) return
    const gen = generation
    sub.off = subscribeModelChanges(ws, sub.model, (event) => { if (gen === generation) onEvent(sub, event) }, {
      after: sub.position ?? undefined,
      onLive() {
        if (gen !== generation) return
        const resumed = sub.everLive
        sub.live = true
        sub.everLive = true
        const read = [...(byModel.get(sub.model) ?? [])].filter((e) => e.hasData || e.inflight)
        if (sub.position === null && (resumed || read.length > 0)) {
          // no position to resume from: what changed between those reads (or the drop) and now is unknown,
          // so the entries read before the subscription was live are read again (the first time: once per model)
          for (const entry of resumed ? byModel.get(sub.model) ?? [] : read) { entry.invalid = true; entry.seq++ }
          flush(sub.model)
        }
        refreshStale(sub.model)
      },
      onDrop() {
        if (gen !== generation) return
        sub.live = false
        refreshStale(sub.model)
      },
      onError(error) {
        if (gen !== generation) return
        sub.failed = error
        sub.live = false
        sub.off = null
        refreshStale(sub.model)
      },
    })
  }

  function stopSub(sub: ModelSub): void {
    sub.off?.()
    sub.off = null
    sub.live = false
    if (sub.flushTimer) clearTimeout(sub.flushTimer)
    sub.flushTimer = null
    sub.flushPending = false
    if (sub.lingerTimer) clearTimeout(sub.lingerTimer)
    sub.lingerTimer = null
  }

  function use(model: string): void {
    const sub = modelSub(model)
    sub.inUse++
    if (sub.lingerTimer) { clearTimeout(sub.lingerTimer); sub.lingerTimer = null }
    startSub(sub)
  }

  function unuse(model: string): void {
    const sub = subs.get(model)
    if (!sub) return
    sub.inUse = Math.max(0, sub.inUse - 1)
    if (sub.inUse > 0) return
    if (sub.lingerTimer) clearTimeout(sub.lingerTimer)
    sub.lingerTimer = unref(setTimeout(() => {
      sub.lingerTimer = null
      if (sub.inUse > 0) return
      stopSub(sub)
      if (!byModel.has(sub.model)) subs.delete(sub.model)       // nothing cached: no position worth keeping
      else refreshStale(sub.model)
    }, LINGER_MS))
  }

  /** Refetch the model's invalid entries that are in use (now; those in flight refetch when they finish). */
  function flush(model: string): void {
    for (const entry of [...(byModel.get(model) ?? [])]) {
      if (entry.invalid && entry.observers.size > 0 && !entry.inflight) run(entry)
    }
  }

  /**
   * Refetch the model's invalid in-use entries, at most once per `delay` ms: the first call flushes at
   * once and opens a window; calls during the window are coalesced into one flush at its end.
   */
  function scheduleFlush(model: string, delay: number): void {
    if (delay <= 0) { flush(model); return }
    const sub = modelSub(model)
    if (sub.flushTimer) { sub.flushPending = true; return }
    flush(model)
    const tick = () => {
      if (!sub.flushPending) { sub.flushTimer = null; return }
      sub.flushPending = false
      flush(model)
      sub.flushTimer = setTimeout(tick, delay)
    }
    sub.flushPending = false
    sub.flushTimer = setTimeout(tick, delay)
  }

  function invalidate(entry: Entry): void {
    entry.invalid = true
    entry.seq++
    setState(entry, {})
  }

  function invalidateLists(model: string, delay: number): void {
    for (const entry of byModel.get(model) ?? []) if (entry.op !== 'record') invalidate(entry)
    scheduleFlush(model, delay)
  }

  function recordEntries(model: string, id: string): Entry[] {
    const out: Entry[] = []
    for (const entry of byModel.get(model) ?? []) if (entry.op === 'record' && entry.args.id === id) out.push(entry)
    return out
  }

  /** The `_version` rule: take `record` unless the entry holds a version ≥ its own. */
  function applyRecord(entry: Entry, record: Rec): void {
    const incoming = versionOf(record)
    if (incoming !== null && incoming <= entry.floor) return
    const cached = entry.hasData ? versionOf(entry.state.data) : null
    if (entry.hasData && entry.state.data && cached !== null && incoming !== null && cached >= incoming) return
    entry.hasData = true
    entry.seq++
    setState(entry, { data: record, error: null, status: 'success', updatedAt: Date.now() })
  }

  function setRecordNull(entry: Entry, knownVersion: number | null): void {
    entry.floor = Math.max(entry.floor, knownVersion ?? 0, versionOf(entry.state.data) ?? 0)
    entry.hasData = true
    entry.seq++
    setState(entry, { data: null, error: null, status: 'success', updatedAt: Date.now() })
  }

  /** List and page entries: replace the item of `record.id` when `record` is newer. */
  function patchListItems(model: string, record: Rec): void {
    for (const entry of byModel.get(model) ?? []) {
      if (!entry.hasData || (entry.op !== 'records' && entry.op !== 'paginatedRecords' && entry.op !== 'deletedRecords')) continue
      const list = listOf(entry)
      if (!list) continue
      let changed = false
      const next = list.map((item) => {
        if (!item || item.id !== record.id) return item
        const cv = versionOf(item), iv = versionOf(record)
        if (cv !== null && iv !== null && cv >= iv) return item
        changed = true
        return record
      })
      if (changed) setList(entry, next)
    }
  }

  function listOf(entry: Entry): Rec[] | null {
    const data = entry.state.data
    if (entry.op === 'records') return Array.isArray(data) ? data : null
    if (entry.op === 'paginatedRecords' || entry.op === 'deletedRecords') {
      return data && Array.isArray((data as { data?: unknown }).data) ? (data as { data: Rec[] }).data : null
    }
    return null
  }

  function setList(entry: Entry, list: Rec[], totalDelta = 0): void {
    let data: unknown = list
    if (entry.op !== 'records') {
      const page = entry.state.data as { data: Rec[]; pageInfo?: Rec }
      const pageInfo = page.pageInfo ? { ...page.pageInfo } : undefined
      if (pageInfo && totalDelta !== 0 && typeof pageInfo.totalCount === 'number') {
        pageInfo.totalCount = Math.max(0, pageInfo.totalCount + totalDelta)
        if (typeof pageInfo.offset === 'number' && typeof pageInfo.pageSize === 'number') {
          pageInfo.hasNextPage = pageInfo.offset + pageInfo.pageSize < (pageInfo.totalCount as number)
        }
      }
      data = { ...page, data: list, ...(pageInfo ? { pageInfo } : {}) }
    }
    entry.seq++
    setState(entry, { data })
  }

  function noteOwn(model: string, id: string, value: number | 'gone'): void {
    const k = `${model}\u0000${id}`
    ownWrites.delete(k)
    ownWrites.set(k, value)
    if (ownWrites.size > OWN_WRITES_MAX) ownWrites.delete(ownWrites.keys().next().value as string)
  }

  function isOwn(model: string, id: string, value: number | 'gone'): boolean {
    const k = `${model}\u0000${id}`
    if (ownWrites.get(k) !== value) return false
    ownWrites.delete(k)
    return true
  }

  function onEvent(sub: ModelSub, event: ModelEvent): void {
    if (typeof event.position === 'number') sub.position = Math.max(sub.position ?? 0, event.position)
    const model = sub.model
    const data = (event.data ?? {}) as Rec
    const id = typeof data.id === 'string' ? data.id : null
    switch (event.eventType) {
      case 'CREATED':
      case 'UPDATED': {
        if (id) for (const entry of recordEntries(model, id)) applyRecord(entry, data)
        const v = versionOf(data)
        if (id && v !== null && isOwn(model, id, v)) return     // our own write: lists were refetched already
        invalidateLists(model, coalesceMs)
        return
      }
      case 'RESTORED':
        if (id) for (const entry of recordEntries(model, id)) { entry.floor = 0; invalidate(entry) }
        invalidateLists(model, coalesceMs)
        return
      case 'DELETED':
      case 'HARD_DELETED': {
        const prev = versionOf(event.previousData)
        if (id) for (const entry of recordEntries(model, id)) setRecordNull(entry, prev)
        if (id && isOwn(model, id, 'gone')) return
        invalidateLists(model, coalesceMs)
        return
      }
      default:
        return
    }
  }

  // ---- observers ----

  function observe<D>(model: string, op: QueryOp, args: Rec = {}): QueryObserver<D> {
    const canonicalArgs = JSON.parse(canonicalJson(args)) as Rec
    const listeners = new Set<() => void>()
    let entry: Entry | null = null
    const observer: Observer & QueryObserver<D> = {
      model,
      get key() { return keyOf(model, op, canonicalArgs) },
      notify() { for (const l of [...listeners]) l() },
      reattach() {
        if (entry) detach()
        attach()
        observer.notify()
      },
      subscribe(listener) {
        listeners.add(listener)
        if (listeners.size === 1) attach()
        return () => {
          if (!listeners.delete(listener)) return
          if (listeners.size === 0) detach()
        }
      },
      getSnapshot() {
        if (entry) return entry.state
        return (entries.get(keyOf(model, op, canonicalArgs))?.state ?? PENDING_STATE) as QueryState<D>
      },
      refetch() {
        const target = entry ?? getEntry(model, op, canonicalArgs)
        return run(target) as Promise<D>
      },
    }
    function attach(): void {
      entry = getEntry(model, op, canonicalArgs)
      const first = entry.observers.size === 0
      entry.observers.add(observer)
      attached.add(observer)
      if (entry.gcTimer) { clearTimeout(entry.gcTimer); entry.gcTimer = null }
      if (first) use(model)
      if (needsFetch(entry)) run(entry)
    }
    function detach(): void {
      const e = entry
      entry = null
      attached.delete(observer)
      if (!e) return
      e.observers.delete(observer)
      if (e.observers.size === 0) {
        scheduleGc(e)
        if (entries.get(e.key) === e) unuse(model)
      }
    }
    return observer
  }

  // ---- optimistic updates ----

  function optimistic(model: string, op: WriteOp, args: readonly unknown[]): () => void {
    const changes: { entry: Entry; before: unknown; beforeHas: boolean; after: unknown }[] = []
    const write = (entry: Entry, data: unknown) => {
      changes.push({ entry, before: entry.state.data, beforeHas: entry.hasData, after: data })
      entry.hasData = true
      entry.seq++
      setState(entry, { data })
      changes[changes.length - 1]!.after = entry.state.data
    }
    const entriesOf = () => [...(byModel.get(model) ?? [])].filter((e) => e.hasData)
    /** Apply `change` to every cached record for which `affects` holds; null removes it. */
    const mapRecords = (affects: (r: Rec) => boolean, change: (r: Rec) => Rec | null) => {
      for (const entry of entriesOf()) {
        if (entry.op === 'record') {
          const r = entry.state.data as Rec | null
          if (r && affects(r)) write(entry, change(r))
          continue
        }
        const list = listOf(entry)
        if (!list || entry.op === 'deletedRecords') continue
        let removed = 0, changed = false
        const next: Rec[] = []
        for (const item of list) {
          if (!item || !affects(item)) { next.push(item); continue }
          changed = true
          const c = change(item)
          if (c) next.push(c)
          else removed++
        }
        if (!changed) continue
        const before = entry.state.data
        setList(entry, next, -removed)
        changes.push({ entry, before, beforeHas: true, after: entry.state.data })
      }
    }
    const byTarget = (target: unknown): ((r: Rec) => boolean) => {
      if (typeof target === 'string') return (r) => r.id === target
      if (target && typeof target === 'object' && 'where' in target) {
        const where = (target as { where: unknown }).where
        return (r) => matchesWhere(r, where)
      }
      return () => false
    }
    if (isBlockOp(op)) {        // the record's Blocks field replayed locally; the response's record replaces it
      const field = String(args[1])
      const ops = blockOpsOf(op, args)
      mapRecords((r) => r.id === args[0], (r) => {
        const blocks = applyBlockOpsLocally(Array.isArray(r[field]) ? (r[field] as Block[]) : [], ops)
        return blocks ? { ...r, [field]: blocks } : r
      })
    } else switch (op) {
      case 'create': {
        const record = { ...camelKeys(args[0]) }
        const id = typeof record.id === 'string' ? record.id : null
        for (const entry of entriesOf()) {
          if (entry.op === 'record') {
            if (id && entry.args.id === id) write(entry, record)
            continue
          }
          if (entry.op === 'count') {
            if (matchesWhere(record, entry.args.where) && typeof entry.state.data === 'number') write(entry, entry.state.data + 1)
            continue
          }
          if (entry.op === 'deletedRecords' || !matchesWhere(record, entry.args.where)) continue
          const list = listOf(entry)
          if (!list || (typeof entry.args.offset === 'number' && entry.args.offset > 0)) continue
          const limit = typeof entry.args.limit === 'number' ? entry.args.limit : Infinity
          const before = entry.state.data
          setList(entry, list.length < limit ? [...list, record] : list, 1)
          changes.push({ entry, before, beforeHas: true, after: entry.state.data })
        }
        break
      }
      case 'update': {
        const patch = camelKeys(args[1])
        mapRecords(byTarget(args[0]), (r) => ({ ...r, ...patch }))
        break
      }
      case 'updateMany': {
        const items = Array.isArray(args[0]) ? (args[0] as { id: string; data: unknown }[]) : []
        for (const item of items) {
          const patch = camelKeys(item.data)
          mapRecords((r) => r.id === item.id, (r) => ({ ...r, ...patch }))
        }
        break
      }
      case 'delete':
      case 'hardDelete': {
        const affects = byTarget(args[0])
        if (typeof args[0] === 'string') {
          const known = peekRecord(model, args[0])
          if (known) {
            for (const entry of entriesOf()) {
              if (entry.op === 'count' && typeof entry.state.data === 'number' && matchesWhere(known, entry.args.where)) {
                write(entry, Math.max(0, entry.state.data - 1))
              }
            }
          }
        }
        mapRecords(affects, () => null)
        break
      }
      case 'restore':
        break
    }
    let done = false
    return () => {
      if (done) return
      done = true
      for (const change of changes.reverse()) {
        const { entry } = change
        if (entries.get(entry.key) !== entry || entry.state.data !== change.after) continue   // replaced since
        entry.hasData = change.beforeHas
        entry.seq++
        setState(entry, { data: change.before })
      }
    }
  }

  function peekRecord(model: string, id: string): Rec | null | undefined {
    let found: Rec | null | undefined
    for (const entry of byModel.get(model) ?? []) {
      if (entry.op === 'record' && entry.args.id === id && entry.hasData) {
        const r = entry.state.data as Rec | null
        if (r === null) return null
        if (found === undefined || found === null || (versionOf(r) ?? -1) > (versionOf(found) ?? -1)) found = r
      }
    }
    if (found !== undefined) return found
    for (const entry of byModel.get(model) ?? []) {
      if (!entry.hasData || entry.op === 'deletedRecords') continue
      for (const item of listOf(entry) ?? []) {
        if (item && item.id === id && (found === undefined || found === null || (versionOf(item) ?? -1) > (versionOf(found) ?? -1))) {
          found = item
        }
      }
    }
    return found
  }

  /** Drop every entry, subscription and timer; the observers in use are returned (detached). */
  function dropAll(): Set<Observer> {
    generation++
    for (const sub of subs.values()) stopSub(sub)
    subs.clear()
    for (const entry of entries.values()) if (entry.gcTimer) clearTimeout(entry.gcTimer)
    entries.clear()
    byModel.clear()
    ownWrites.clear()
    const observers = new Set(attached)
    attached.clear()
    return observers
  }

  function clear(): void {
    for (const o of dropAll()) o.reattach()
  }

  transport.onReset(() => clear())

  const cache: QueryCache = {
    key: (model, op, args = {}) => keyOf(model, op, args),
    fetch<D>(model: string, op: QueryOp, args: Rec = {}, o: { force?: boolean } = {}): Promise<D> {
      const entry = getEntry(model, op, args)
      if (!o.force && !needsFetch(entry) && !entry.inflight) return Promise.resolve(entry.state.data as D)
      return run(entry) as Promise<D>
    },
    observe,
    peek<D>(model: string, op: QueryOp, args: Rec = {}) {
      return entries.get(keyOf(model, op, args))?.state as QueryState<D> | undefined
    },
    writeRecord(model, record) {
      if (record && typeof record.id === 'string') {
        const v = versionOf(record)
        if (v !== null) noteOwn(model, record.id, v)
        for (const entry of recordEntries(model, record.id)) applyRecord(entry, record)
        patchListItems(model, record)
      }
      invalidateLists(model, 0)
    },
    removeRecord(model, id) {
      noteOwn(model, id, 'gone')
      for (const entry of recordEntries(model, id)) setRecordNull(entry, null)
      for (const entry of byModel.get(model) ?? []) {
        const list = entry.hasData && entry.op !== 'deletedRecords' ? listOf(entry) : null
        if (list && list.some((r) => r && r.id === id)) setList(entry, list.filter((r) => !r || r.id !== id), -1)
      }
      invalidateLists(model, 0)
    },
    invalidateModel(model) {
      for (const entry of byModel.get(model) ?? []) invalidate(entry)
      flush(model)
    },
    refetchRecord(model, id) {
      for (const entry of recordEntries(model, id)) {
        entry.floor = 0
        invalidate(entry)
        if (entry.observers.size > 0) run(entry)
      }
    },
    optimistic,
    peekRecord,
    clear,
    isLive,
    get size() { return entries.size },
    dispose() { dropAll() },
  }
  return cache
}

export { IDLE_STATE }
