/** `createClient`: HTTP transport with auth refresh, the model-generic methods, typed model clients. */

import { AtomoError } from './errors.js'
import type { Tokens } from './tokens.js'
import { OfflineHandle } from './offline-handle.js'
import { MUTATION_OPS, mutationRequest, type WriteOp } from './operations.js'
import { createBlocksApi, isBlockOp, modelBlocksApi, type BlocksApi, type ModelBlocksApi } from './blocks.js'
import { createTransport, type ClientOptions, type Transport } from './transport.js'
import { createQueryCache, type QueryCache } from './cache.js'
import {
  createGraphQLWs, subscribeModelChanges, type GraphQLWsClient, type ModelChangesOptions, type ModelEvent,
} from './graphql-ws.js'
import { createActionsApi, createJobsApi, type ActionsApi, type JobsApi } from './jobs.js'
import { createEventStoreApi, eventsApi, STORED_EVENT_FIELDS, type EventsApi } from './event-store.js'
import { RealtimeHandle } from './realtime-handle.js'
import type {
  AtomoTypesLike, CreateOf, ListOptions, ModelNameOf, Page, RecordOf, StoredEvent, Target, TypedClients,
  TypedModelClient, Untyped, UpdateOf, Where,
} from './types.js'

export type { ClientOptions } from './transport.js'

export interface AuthUser { id: string; email: string; role: string; tenant_id?: string | null; [key: string]: unknown }
export interface AuthResult { token: string; refresh_token: string; expires_in: number; user: AuthUser }
export interface RegisterInput { email: string; password: string; [key: string]: unknown }

export interface RequestOptions { signal?: AbortSignal }

/** The methods of `model(M)`: the generic methods without the model argument. */
export interface ModelHandle<R, C, U> {
  readonly name: string
  records(options?: ListOptions<R>): Promise<R[]>
  record(id: string): Promise<R | null>
  paginatedRecords(options?: ListOptions<R>): Promise<Page<R>>
  deletedRecords(options?: ListOptions<R>): Promise<Page<R>>
  count(where?: Where<R>): Promise<number>
  create(data: C): Promise<R>
  update(target: Target<R>, patch: U, options?: { expectedVersion?: number }): Promise<R>
  updateMany(items: { id: string; data: U; expectedVersion?: number }[]): Promise<R[]>
  delete(target: Target<R>, options?: { expectedVersion?: number }): Promise<number>
  restore(target: Target<R>): Promise<number>
  hardDelete(target: Target<R>): Promise<number>
  history(id: string): Promise<StoredEvent[]>
  modelChanges(handler: (event: ModelEvent<R>) => void, options?: ModelChangesOptions): () => void
  /** Block mutations and rendering of this model's Blocks fields (content.md §3–§6). */
  readonly blocks: ModelBlocksApi<R>
}

export interface AtomoClientBase<T extends AtomoTypesLike> {
  readonly url: string
  readonly auth: {
    login(email: string, password: string): Promise<AuthUser>
    register(input: RegisterInput): Promise<AuthUser>
    me(): Promise<AuthUser>
    refresh(): Promise<Tokens>
    logout(options?: { all?: boolean }): Promise<void>
  }
  /** The tokens in use (the fixed `token` option, else the store's). */
  tokens(): Tokens | null
  setTenant(id: string | null): void
  readonly tenantId: string | null
  graphql<D = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, options?: RequestOptions): Promise<D>
  records<M extends ModelNameOf<T>>(model: M, options?: ListOptions<RecordOf<T, M>>): Promise<RecordOf<T, M>[]>
  record<M extends ModelNameOf<T>>(model: M, id: string): Promise<RecordOf<T, M> | null>
  paginatedRecords<M extends ModelNameOf<T>>(model: M, options?: ListOptions<RecordOf<T, M>>): Promise<Page<RecordOf<T, M>>>
  deletedRecords<M extends ModelNameOf<T>>(model: M, options?: ListOptions<RecordOf<T, M>>): Promise<Page<RecordOf<T, M>>>
  count<M extends ModelNameOf<T>>(model: M, where?: Where<RecordOf<T, M>>): Promise<number>
  create<M extends ModelNameOf<T>>(model: M, data: CreateOf<T, M>): Promise<RecordOf<T, M>>
  update<M extends ModelNameOf<T>>(model: M, target: Target<RecordOf<T, M>>, patch: UpdateOf<T, M>,
    options?: { expectedVersion?: number }): Promise<RecordOf<T, M>>
  updateMany<M extends ModelNameOf<T>>(model: M, items: { id: string; data: UpdateOf<T, M>; expectedVersion?: number }[]): Promise<RecordOf<T, M>[]>
  delete<M extends ModelNameOf<T>>(model: M, target: Target<RecordOf<T, M>>, options?: { expectedVersion?: number }): Promise<number>
  restore<M extends ModelNameOf<T>>(model: M, target: Target<RecordOf<T, M>>): Promise<number>
  hardDelete<M extends ModelNameOf<T>>(model: M, target: Target<RecordOf<T, M>>): Promise<number>
  history<M extends ModelNameOf<T>>(model: M, id: string): Promise<StoredEvent[]>
  /** Called: the global event log (`events({ after, limit, model })`). Its methods: the event store (custom streams,
   * with the schema's `streams` rules): `append(stream, events, { expectedVersion })`, `readStream(stream,
   * { fromVersion, limit })`, `streams({ prefix, after, limit })`, `subscribe({ stream } | { prefix }, handler,
   * { after, onError })` (live, over the shared /graphql/ws socket). */
  readonly events: EventsApi<ModelNameOf<T>>
  model<M extends ModelNameOf<T>>(model: M): ModelHandle<RecordOf<T, M>, CreateOf<T, M>, UpdateOf<T, M>>
  /** Block mutations (`insert`, `update`, `move`, `remove`, `apply`) and `render` of Blocks fields (content.md §3–§6). */
  readonly blocks: BlocksApi<T>
  /** The typed client of a collection by name (untyped); `atomo.<collection>` is the typed shorthand. */
  collection(name: string): TypedModelClient<Record<string, unknown>, Record<string, unknown>, Record<string, unknown>,
    Record<string, unknown>, Record<string, unknown>>
  /** GET /meta/schema (fetched once, then cached). */
  schema(): Promise<MetaSchema>
  /** The shared HTTP transport (for the client's own modules and advanced use). */
  readonly transport: Transport
  /** The offline mutation queue (`offline: { enabled: true }`), else null. */
  readonly offline: OfflineHandle | null
  /** Close the sockets (subscriptions, realtime), stop the cache's and the queue's timers. */
  close(): void
  // `modelChanges` subscriptions over /graphql/ws and the query cache (sdk.md §2, §6)
  /** Events of one model; resumes with `after: <last position>` after a reconnect. Returns the unsubscribe function. */
  modelChanges<M extends ModelNameOf<T>>(model: M, handler: (event: ModelEvent<RecordOf<T, M>>) => void,
    options?: ModelChangesOptions): () => void
  /** The query cache the React hooks (and the offline queue) share. */
  readonly cache: QueryCache
  /** The `/graphql/ws` client every subscription of this client shares. */
  readonly subscriptions: GraphQLWsClient
  // the `/realtime/ws` client, `POST /api/actions/:name`, `GET /jobs/{id}` and `job:<id>` frames
  readonly realtime: RealtimeHandle
  readonly actions: ActionsApi<T>
  readonly jobs: JobsApi
}

export type AtomoClient<T extends AtomoTypesLike = Untyped> = AtomoClientBase<T> & TypedClients<T>

export interface MetaField { name: string; type: string; [key: string]: unknown }
export interface MetaModel { name: string; tableName: string; graphqlName?: string; fields: MetaField[]; [key: string]: unknown }
export interface MetaSchema { models: MetaModel[]; [key: string]: unknown }

/** `first_name` -> `firstName`, as the server names collections (camelCase of the table). */
export function camelCase(text: string): string {
  const prefix = text.startsWith('_') ? '_' : ''
  const parts = text.replace(/^_+/, '').split('_').filter((p) => p !== '')
  if (parts.length === 0) return text
  return prefix + parts[0] + parts.slice(1).map((p) => p.slice(0, 1).toUpperCase() + p.slice(1)).join('')
}

// The one place where a successful generic mutation updates the query cache (also used by the offline queue)
export { MUTATION_OPS }

/** Write a mutation's result into the cache; `args` are the generic method's arguments after the model. */
export function afterMutation(cache: QueryCache, model: string, op: WriteOp, args: readonly unknown[], result: unknown): void {
  try {
    const target = args[0]
    const byId = typeof target === 'string'
    if (isBlockOp(op)) {     // a block mutation: its `record` is the record after the change, as for update
      cache.writeRecord(model, (result as { record?: Record<string, unknown> } | null)?.record)
      return
    }
    switch (op) {
      case 'create':
        cache.writeRecord(model, result as Record<string, unknown>)
        break
      case 'update':
        cache.writeRecord(model, result as Record<string, unknown>)
        if (!byId) cache.invalidateModel(model)     // by where: every matching row may have changed
        break
      case 'updateMany':
        for (const record of Array.isArray(result) ? result : []) cache.writeRecord(model, record as Record<string, unknown>)
        break
      case 'delete':
      case 'hardDelete':
        if (byId) cache.removeRecord(model, target)
        else cache.invalidateModel(model)
        break
      case 'restore':
        cache.invalidateModel(model)
        if (byId) cache.refetchRecord(model, target)
        break
    }
  } catch { /* the cache never fails a mutation that succeeded */ }
}


export function createClient<T extends AtomoTypesLike = Untyped>(options: ClientOptions): AtomoClient<T> {
  const transport = createTransport(options)
  const base = transport.base
  const store = transport.store
  const field = <R>(query: string, name: string, variables: Record<string, unknown>): Promise<R> =>
    transport.field<R>(query, name, variables)
  const rest = <R>(method: string, path: string, body?: unknown, auth = true): Promise<R> =>
    transport.rest<R>(method, path, body, { auth })
  let schemaPromise: Promise<MetaSchema> | null = null
  let realtime: RealtimeHandle | null = null
  let actions: ActionsApi<AtomoTypesLike> | null = null
  let jobs: JobsApi | null = null

  function authResult(result: AuthResult): AuthUser {
    store.set({ token: result.token, refreshToken: result.refresh_token })
    transport.reset('login')
    return result.user
  }

  const LIST_VARS = '$model: String!, $where: JSON, $orderBy: JSON, $limit: Int, $offset: Int'
  const LIST_ARGS = 'model: $model, where: $where, orderBy: $orderBy, limit: $limit, offset: $offset'

  /** Every generic mutation: through the offline queue when it is enabled (it updates the cache when an item is
   * applied), else sent at once and its result written into the cache. */
  const mutation = async (op: WriteOp, model: string, args: unknown[]): Promise<any> => {
    if (offline) return offline.mutate(op, model, args)
    const request = mutationRequest(op, model, args)
    const result = await field<any>(request.query, request.name, request.variables)
    afterMutation(cache, model, op, args, result)
    return result
  }

  const generic = {
    records: (model: string, o: ListOptions<any> = {}) =>
      field<any[]>(`query(${LIST_VARS}) { records(${LIST_ARGS}) }`, 'records', { model, ...o }),
    record: (model: string, id: string) =>
      field<any>('query($model: String!, $id: String!) { record(model: $model, id: $id) }', 'record', { model, id }),
    paginatedRecords: (model: string, o: ListOptions<any> = {}) =>
      field<Page<any>>(`query(${LIST_VARS}) { paginatedRecords(${LIST_ARGS}) { data pageInfo { totalCount hasNextPage hasPreviousPage pageSize offset } } }`,
        'paginatedRecords', { model, ...o }),
    deletedRecords: (model: string, o: ListOptions<any> = {}) =>
      field<Page<any>>(`query(${LIST_VARS}) { deletedRecords(${LIST_ARGS}) { data pageInfo { totalCount hasNextPage hasPreviousPage pageSize offset } } }`,
        'deletedRecords', { model, ...o }),
    count: (model: string, where?: unknown) =>
      field<number>('query($model: String!, $where: JSON) { count(model: $model, where: $where) }', 'count', { model, where }),
    create: (model: string, data: unknown) => mutation('create', model, [data]),
    update: (model: string, target: Target<any>, patch: unknown, o?: { expectedVersion?: number }) =>
      mutation('update', model, [target, patch, o]),
    updateMany: (model: string, items: { id: string; data: unknown; expectedVersion?: number }[]) =>
      mutation('updateMany', model, [items]),
    delete: (model: string, target: Target<any>, o?: { expectedVersion?: number }) => mutation('delete', model, [target, o]),
    restore: (model: string, target: Target<any>) => mutation('restore', model, [target]),
    hardDelete: (model: string, target: Target<any>) => mutation('hardDelete', model, [target]),
    history: (model: string, id: string) =>
      field<StoredEvent[]>(`query($model: String!, $id: String!) { history(model: $model, id: $id) { ${STORED_EVENT_FIELDS} } }`,
        'history', { model, id }),
    events: (o: { after?: number; limit?: number; model?: string } = {}) =>
      field<StoredEvent[]>(`query($after: Int, $limit: Int, $model: String) { events(after: $after, limit: $limit, model: $model) { ${STORED_EVENT_FIELDS} } }`,
        'events', { after: o.after, limit: o.limit, model: o.model }),
  }

  // the /graphql/ws client (before the cache: both listen to resets), the query cache, mutations feed it
  const ws = createGraphQLWs(transport)
  const cache = createQueryCache({
    transport, ws, gcTimeMs: options.cache?.gcTimeMs,
    fetcher: (op, model, args) => op === 'record' ? generic.record(model, String(args.id))
      : op === 'count' ? generic.count(model, args.where) : generic[op](model, args as ListOptions<any>),
  })
  const modelChanges = (model: string, handler: (event: ModelEvent<any>) => void, o: ModelChangesOptions = {}) =>
    subscribeModelChanges(ws, model, handler, { after: o.after, onError: o.onError })

  // offline: with `offline.enabled`, mutations go through the queue (sdk.md §7)
  const offline = options.offline?.enabled
    ? new OfflineHandle(async () => new (await import('./offline.js')).OfflineQueue(transport, options.offline!, {
      cache,
      applied: (model, op, args, result) => afterMutation(cache, model, op, args, result),
      fetchRecord: (model, id) => generic.record(model, id),
    }))
    : null

  const blocks = createBlocksApi(mutation, field)

  function modelHandle(name: string): ModelHandle<any, any, any> {
    return {
      name,
      blocks: modelBlocksApi(blocks, name),
      records: (o) => generic.records(name, o),
      record: (id) => generic.record(name, id),
      paginatedRecords: (o) => generic.paginatedRecords(name, o),
      deletedRecords: (o) => generic.deletedRecords(name, o),
      count: (where) => generic.count(name, where),
      create: (data) => generic.create(name, data),
      update: (target, patch, o) => generic.update(name, target, patch, o),
      updateMany: (items) => generic.updateMany(name, items),
      delete: (target, o) => generic.delete(name, target, o),
      restore: (target) => generic.restore(name, target),
      hardDelete: (target) => generic.hardDelete(name, target),
      history: (id) => generic.history(name, id),
      modelChanges: (handler, o) => modelChanges(name, handler, o),
    }
  }

  function schema(): Promise<MetaSchema> {
    if (!schemaPromise) {
      schemaPromise = rest<MetaSchema>('GET', '/meta/schema')
      schemaPromise.catch(() => { schemaPromise = null })   // a failure is retried by the next call
    }
    return schemaPromise
  }

  /** The model of a typed-API collection and the selection of its scalar fields. */
  async function collectionInfo(collection: string): Promise<{ model: string; selection: string }> {
    const meta = await schema()
    const found = meta.models.find((m) => (m.graphqlName ?? camelCase(m.tableName)) === collection)
    if (!found) throw new AtomoError({ code: 'NOT_FOUND', message: `no model has the collection '${collection}'` })
    return { model: found.name, selection: found.fields.map((f) => f.name).join(' ') }
  }

  const typedCache = new Map<string, TypedModelClient<any, any, any, any, any>>()
  function collection(name: string): TypedModelClient<any, any, any, any, any> {
    const cached = typedCache.get(name)
    if (cached) return cached
    const info = () => collectionInfo(name)
    const LIST = (field: string, page: boolean) => async (args: Record<string, unknown> = {}) => {
      const { model, selection } = await info()
      const sel = page ? `{ data { ${selection} } pageInfo { totalCount hasNextPage hasPreviousPage pageSize offset } }` : `{ ${selection} }`
      return callTyped(`query($where: ${model}Where, $orderBy: [${model}OrderBy!], $limit: Int, $offset: Int) { ${field}(where: $where, orderBy: $orderBy, limit: $limit, offset: $offset) ${sel} }`, field, args)
    }
    const callTyped = (query: string, f: string, vars: Record<string, unknown>) => field<any>(query, f, vars)
    const client: TypedModelClient<any, any, any, any, any> = {
      list: LIST(name, false),
      page: LIST(`${name}Page`, true),
      async get(id) {
        const { model, selection } = await info()
        const single = model.slice(0, 1).toLowerCase() + model.slice(1)
        return callTyped(`query($id: ID!) { ${single}(id: $id) { ${selection} } }`, single, { id })
      },
      async count(where) {
        const { model } = await info()
        return callTyped(`query($where: ${model}Where) { ${name}Count(where: $where) }`, `${name}Count`, { where })
      },
      async create(data) {
        const { model, selection } = await info()
        return callTyped(`mutation($data: ${model}CreateInput!) { create${model}(data: $data) { ${selection} } }`, `create${model}`, { data })
      },
      async update(id, patch, o = {}) {
        const { model, selection } = await info()
        return callTyped(`mutation($id: ID!, $data: ${model}UpdateInput!, $expectedVersion: Int) { update${model}(id: $id, data: $data, expectedVersion: $expectedVersion) { ${selection} } }`,
          `update${model}`, { id, data: patch, expectedVersion: o.expectedVersion })
      },
      async delete(id, o = {}) {
        const { model } = await info()
        return callTyped(`mutation($id: ID!, $expectedVersion: Int) { delete${model}(id: $id, expectedVersion: $expectedVersion) }`,
          `delete${model}`, { id, expectedVersion: o.expectedVersion })
      },
      async restore(id) {
        const { model } = await info()
        return callTyped(`mutation($id: ID!) { restore${model}(id: $id) }`, `restore${model}`, { id })
      },
      async hardDelete(id) {
        const { model } = await info()
        return callTyped(`mutation($id: ID!) { hardDelete${model}(id: $id) }`, `hardDelete${model}`, { id })
      },
      subscribe(handler, o = {}) {
        let off: (() => void) | null = null
        let stopped = false
        info().then(({ model }) => { if (!stopped) off = modelChanges(model, handler, o) },
          (error) => o.onError?.(error instanceof AtomoError ? error : new AtomoError({ code: 'NOT_FOUND', message: String(error) })))
        return () => {
          stopped = true
          off?.()
        }
      },
    }
    typedCache.set(name, client)
    return client
  }

  const api: AtomoClientBase<AtomoTypesLike> = {
    url: base,
    auth: {
      login: async (email, password) => authResult(await rest<AuthResult>('POST', '/auth/login', { email, password }, false)),
      register: async (input) => authResult(await rest<AuthResult>('POST', '/auth/register', input, false)),
      me: () => rest<AuthUser>('GET', '/auth/me'),
      refresh: () => transport.refreshTokens(),
      async logout(o = {}) {
        try {
          if (transport.tokens()) await rest('POST', '/auth/logout', o.all ? { all: true } : {})
        } finally {
          store.clear()
          transport.reset('logout')
        }
      },
    },
    tokens: () => transport.tokens(),
    setTenant(id) { transport.tenantId = id ?? null },
    get tenantId() { return transport.tenantId },
    graphql: (query, variables, opts) => transport.graphql(query, variables, opts),
    transport,
    offline,
    close() {
      realtime?.close()
      ws.close()
      cache.dispose()
      offline?.close()
    },
    ...(generic as any),
    events: eventsApi(generic.events, createEventStoreApi(transport, ws)),
    model: (name: string) => modelHandle(name),
    blocks: blocks as BlocksApi<any>,
    collection,
    schema,
    modelChanges, cache, subscriptions: ws,
    // realtime, actions and jobs (created on first use)
    get realtime() { return (realtime ??= new RealtimeHandle(transport)) },
    get actions() { return (actions ??= createActionsApi(transport)) },
    get jobs() { return (jobs ??= createJobsApi(transport, () => api.realtime)) },
  }

  return new Proxy(api, {
    get(target, prop, receiver) {
      if (typeof prop !== 'string' || prop in target || prop === 'then' || prop === 'toJSON') {
        return Reflect.get(target, prop, receiver)
      }
      return collection(prop)
    },
  }) as unknown as AtomoClient<T>
}
