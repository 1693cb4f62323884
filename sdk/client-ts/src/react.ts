/**
 * `@atomo-cc/client/react` (sdk.md §5): React ≥ 18 hooks over the client's query cache. State is read
 * with `useSyncExternalStore`; fetching starts only when a hook subscribes, so nothing is fetched during
 * server-side rendering (the server snapshot is whatever the cache already holds, else `loading`).
 *
 *     <AtomoProvider client={atomo}><DealBoard /></AtomoProvider>
 *     const { data, loading, error, refetch, pageInfo, stale } = useRecords('Deal', { where: { stage: 'won' }, paginated: true })
 *     const { mutate, loading: saving } = useMutation('Deal', 'update', { optimistic: true })
 *     useModelChanges('Deal', (e) => { if (e.eventType === 'CREATED') toast(e.data.title) })
 */

import React from 'react'
import type { AtomoClient } from './client.js'
import type { AtomoError } from './errors.js'
import { canonicalJson, type QueryObserver, type QueryOp, type QueryState } from './cache.js'
import type { SyncStatus } from './offline.js'
import type { MutationOp } from './operations.js'
import type { ModelEvent } from './graphql-ws.js'
import type {
  AtomoTypesLike, CreateOf, ListOptions, ModelNameOf, PageInfo, RecordOf, Target, Untyped, UpdateOf,
} from './types.js'

type AnyClient = AtomoClient<any>

const AtomoContext = React.createContext<AnyClient | null>(null)

export interface AtomoProviderProps { client: AnyClient; children?: React.ReactNode }

/** Makes `client` available to the hooks below it. */
export function AtomoProvider(props: AtomoProviderProps): React.ReactElement {
  return React.createElement(AtomoContext.Provider, { value: props.client }, props.children)
}

/** The client of the nearest `AtomoProvider`. */
export function useAtomo<T extends AtomoTypesLike = Untyped>(): AtomoClient<T> {
  const client = React.useContext(AtomoContext)
  if (!client) throw new Error('useAtomo: no <AtomoProvider client={…}> above this component')
  return client as AtomoClient<T>
}

// ---- queries ----

const IDLE: QueryState<any> = Object.freeze({
  data: undefined, error: null, loading: false, fetching: false, stale: false, status: 'idle', updatedAt: 0,
}) as QueryState<any>
const noop = () => () => {}
const idleSnapshot = () => IDLE

/** Subscribe to one cache entry (or stay idle when `enabled` is false). */
function useQuery<D>(model: string, op: QueryOp, args: Record<string, unknown>, enabled: boolean):
  { state: QueryState<D>; refetch: () => Promise<D | undefined> } {
  const client = useAtomo()
  const cache = client.cache
  const argsKey = canonicalJson(args)
  const observer: QueryObserver<D> | null = React.useMemo(
    () => (enabled ? cache.observe<D>(model, op, JSON.parse(argsKey) as Record<string, unknown>) : null),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [cache, model, op, argsKey, enabled],
  )
  const subscribe = React.useCallback((listener: () => void) => (observer ? observer.subscribe(listener) : noop()), [observer])
  const getSnapshot = React.useCallback(() => (observer ? observer.getSnapshot() : IDLE), [observer])
  const state = React.useSyncExternalStore(subscribe, getSnapshot, observer ? getSnapshot : idleSnapshot)
  const refetch = React.useCallback(
    () => (observer ? observer.refetch() : Promise.resolve(undefined)),
    [observer],
  )
  return { state, refetch }
}

export interface UseRecordsOptions<R> extends ListOptions<R> {
  /** Use `paginatedRecords` (then `pageInfo` is set). */
  paginated?: boolean
}

export interface UseRecordsResult<R> {
  /** The records; undefined until the first answer. */
  data: R[] | undefined
  loading: boolean
  error: AtomoError | null
  refetch: () => Promise<unknown>
  /** With `paginated: true`. */
  pageInfo?: PageInfo
  /** The data may be out of date (it is being refreshed in the background). */
  stale: boolean
}

/** `records(M, opts)`, or `paginatedRecords` with `paginated: true`. */
export function useRecords<T extends AtomoTypesLike = Untyped, M extends ModelNameOf<T> = ModelNameOf<T>>(
  model: M, options: UseRecordsOptions<RecordOf<T, M>> = {}, hookOptions: { enabled?: boolean } = {},
): UseRecordsResult<RecordOf<T, M>> {
  const { paginated, ...args } = options
  const op: QueryOp = paginated ? 'paginatedRecords' : 'records'
  const { state, refetch } = useQuery<any>(model, op, args as Record<string, unknown>, hookOptions.enabled ?? true)
  return React.useMemo(() => {
    const page = paginated && state.data ? (state.data as { data: RecordOf<T, M>[]; pageInfo: PageInfo }) : undefined
    const result: UseRecordsResult<RecordOf<T, M>> = {
      data: paginated ? page?.data : (state.data as RecordOf<T, M>[] | undefined),
      loading: state.loading,
      error: state.error,
      refetch,
      stale: state.stale,
    }
    if (paginated) result.pageInfo = page?.pageInfo
    return result
  }, [state, refetch, paginated])
}

export interface UseRecordResult<R> {
  /** The record, null when it does not exist (or was deleted), undefined until the first answer. */
  data: R | null | undefined
  loading: boolean
  error: AtomoError | null
  refetch: () => Promise<unknown>
  stale: boolean
}

/** `record(M, id)`; a null id is idle. */
export function useRecord<T extends AtomoTypesLike = Untyped, M extends ModelNameOf<T> = ModelNameOf<T>>(
  model: M, id: string | null | undefined,
): UseRecordResult<RecordOf<T, M>> {
  const { state, refetch } = useQuery<RecordOf<T, M> | null>(model, 'record', { id: id ?? null }, id !== null && id !== undefined)
  return React.useMemo(() => ({
    data: state.data, loading: state.loading, error: state.error, refetch, stale: state.stale,
  }), [state, refetch])
}

// ---- mutations ----

export interface UseMutationOptions<Result> {
  /** Apply the change to cached queries before the response; rolled back on error. */
  optimistic?: boolean
  onSuccess?: (result: Result, args: unknown[]) => void
  onError?: (error: AtomoError, args: unknown[]) => void
}

export interface UseMutationResult<Args extends unknown[], Result> {
  /** Runs the mutation with the generic method's arguments after the model. Resolves to the result, or to
   * undefined when it failed (the error is in `error` and given to `onError`; it never rejects). */
  mutate: (...args: Args) => Promise<Result | undefined>
  data: Result | undefined
  loading: boolean
  error: AtomoError | null
  reset: () => void
}

/** The arguments of the generic method `op` after the model. */
export type MutationArgs<T extends AtomoTypesLike, M extends string, Op extends MutationOp> =
  Op extends 'create' ? [data: CreateOf<T, M>]
    : Op extends 'update' ? [target: Target<RecordOf<T, M>>, patch: UpdateOf<T, M>, options?: { expectedVersion?: number }]
      : Op extends 'updateMany' ? [items: { id: string; data: UpdateOf<T, M>; expectedVersion?: number }[]]
        : Op extends 'delete' ? [target: Target<RecordOf<T, M>>, options?: { expectedVersion?: number }]
          : [target: Target<RecordOf<T, M>>]
/** What the generic method `op` resolves to. */
export type MutationResult<T extends AtomoTypesLike, M extends string, Op extends MutationOp> =
  Op extends 'create' | 'update' ? RecordOf<T, M> : Op extends 'updateMany' ? RecordOf<T, M>[] : number

interface MutationState<R> { data: R | undefined; loading: boolean; error: AtomoError | null }
const MUTATION_IDLE: MutationState<any> = { data: undefined, loading: false, error: null }

/** One of `create`, `update`, `updateMany`, `delete`, `restore`, `hardDelete` on a model. */
export function useMutation<T extends AtomoTypesLike = Untyped, M extends ModelNameOf<T> = ModelNameOf<T>,
  Op extends MutationOp = MutationOp>(
  model: M, op: Op, options: UseMutationOptions<MutationResult<T, M, Op>> = {},
): UseMutationResult<MutationArgs<T, M, Op>, MutationResult<T, M, Op>> {
  type R = MutationResult<T, M, Op>
  const client = useAtomo<T>()
  const [state, setState] = React.useState<MutationState<R>>(MUTATION_IDLE)
  const latest = React.useRef(options)
  latest.current = options
  const callId = React.useRef(0)
  const mutate = React.useCallback(async (...args: unknown[]): Promise<R | undefined> => {
    const id = ++callId.current
    setState((s) => ({ ...s, loading: true, error: null }))
    const rollback = latest.current.optimistic ? client.cache.optimistic(model, op, args) : null
    try {
      const method = (client as unknown as Record<string, (...a: unknown[]) => Promise<R>>)[op]!
      const result = await method(model, ...args)
      if (id === callId.current) setState({ data: result, loading: false, error: null })
      latest.current.onSuccess?.(result, args)
      return result
    } catch (e) {
      rollback?.()
      const error = e as AtomoError
      if (id === callId.current) setState((s) => ({ data: s.data, loading: false, error }))
      latest.current.onError?.(error, args)
      return undefined
    }
  }, [client, model, op])
  const reset = React.useCallback(() => { callId.current++; setState(MUTATION_IDLE) }, [])
  return React.useMemo(() => ({
    mutate: mutate as unknown as (...args: MutationArgs<T, M, Op>) => Promise<R | undefined>,
    data: state.data, loading: state.loading, error: state.error, reset,
  }), [mutate, state, reset])
}

// ---- modelChanges ----

interface SharedSubscription { off: () => void; handlers: Set<{ current: (event: ModelEvent<any>) => void }> }
const shared = new WeakMap<object, Map<string, SharedSubscription>>()

/** Calls `handler` (always the latest closure) for each event of the model; components share one subscription per model. */
export function useModelChanges<T extends AtomoTypesLike = Untyped, M extends ModelNameOf<T> = ModelNameOf<T>>(
  model: M, handler: (event: ModelEvent<RecordOf<T, M>>) => void, options: { after?: number; enabled?: boolean } = {},
): void {
  const client = useAtomo<T>()
  const ref = React.useRef(handler)
  ref.current = handler
  const enabled = options.enabled ?? true
  const after = options.after
  React.useEffect(() => {
    if (!enabled) return undefined
    const holder = ref as { current: (event: ModelEvent<any>) => void }
    if (after !== undefined) {
      // a replay from a position is this component's own
      return client.modelChanges(model, (e) => holder.current(e), { after })
    }
    let byModel = shared.get(client)
    if (!byModel) shared.set(client, (byModel = new Map()))
    let sub = byModel.get(model)
    if (!sub) {
      const handlers = new Set<{ current: (event: ModelEvent<any>) => void }>()
      const off = client.modelChanges(model, (e) => { for (const h of [...handlers]) h.current(e) })
      sub = { off, handlers }
      byModel.set(model, sub)
    }
    const current = sub
    current.handlers.add(holder)
    return () => {
      current.handlers.delete(holder)
      if (current.handlers.size === 0) {
        current.off()
        if (byModel!.get(model) === current) byModel!.delete(model)
      }
    }
  }, [client, model, after, enabled])
}

// ---- typed hooks ----

/**
 * The hooks typed by your generated `AtomoTypes`, so model names, records, `where` and mutation inputs are
 * checked without type arguments at each call:
 *
 *     export const { useRecords, useRecord, useMutation, useModelChanges } = createAtomoHooks<AtomoTypes>()
 */
export function createAtomoHooks<T extends AtomoTypesLike>() {
  return {
    useAtomo: (): AtomoClient<T> => useAtomo<T>(),
    useRecords: <M extends ModelNameOf<T>>(model: M, options?: UseRecordsOptions<RecordOf<T, M>>,
      hookOptions?: { enabled?: boolean }) => useRecords<T, M>(model, options, hookOptions),
    useRecord: <M extends ModelNameOf<T>>(model: M, id: string | null | undefined) => useRecord<T, M>(model, id),
    useMutation: <M extends ModelNameOf<T>, Op extends MutationOp>(model: M, op: Op,
      options?: UseMutationOptions<MutationResult<T, M, Op>>) => useMutation<T, M, Op>(model, op, options),
    useModelChanges: <M extends ModelNameOf<T>>(model: M, handler: (event: ModelEvent<RecordOf<T, M>>) => void,
      options?: Parameters<typeof useModelChanges<T, M>>[2]) => useModelChanges<T, M>(model, handler, options),
    useSyncStatus,
  }
}

// ---- offline status ----

const NEUTRAL_STATUS: SyncStatus = Object.freeze({
  online: true, pendingCount: 0, failedCount: 0, syncing: false, paused: null, lastSyncAt: null,
}) as SyncStatus

function sameStatus(a: SyncStatus, b: SyncStatus): boolean {
  return a.online === b.online && a.pendingCount === b.pendingCount && a.failedCount === b.failedCount &&
    a.syncing === b.syncing && a.paused === b.paused && a.lastSyncAt === b.lastSyncAt
}

/** The offline queue's status (sdk.md §7); a neutral status when the client has no offline queue. */
export function useSyncStatus(): SyncStatus {
  const client = useAtomo()
  const offline = client.offline
  const hasQueue = offline !== null
  const last = React.useRef<SyncStatus>(NEUTRAL_STATUS)
  const subscribe = React.useCallback((listener: () => void) => (hasQueue ? offline!.onStatusChange(() => listener()) : () => {}),
    [offline, hasQueue])
  const getSnapshot = React.useCallback(() => {
    if (!hasQueue) return NEUTRAL_STATUS
    const status = offline!.getStatus()
    if (!sameStatus(status, last.current)) last.current = status      // a stable object while nothing changed
    return last.current
  }, [offline, hasQueue])
  return React.useSyncExternalStore(subscribe, getSnapshot, getSnapshot)
}

export type { ModelEvent } from './graphql-ws.js'
export type { QueryState } from './cache.js'
export type { MutationOp } from './operations.js'
export type { SyncStatus } from './offline.js'
