/**
 * Type-level helpers: per-model records, inputs, `where`/`orderBy` of the generic methods, and the typed
 * model clients keyed by collection name (from the generated `TypedQueries`/`TypedMutations`).
 */

import type { ModelChangesOptions, ModelEvent } from './graphql-ws.js'

type AnyRecord = Record<string, unknown>

/** The shape of the generated `AtomoTypes` (plus, optionally, `queries`/`mutations` of the typed API). */
export interface AtomoTypesLike {
  models: { [model: string]: any }
  create?: { [model: string]: any }
  update?: { [model: string]: any }
  queries?: object
  mutations?: object
}

/** No generated types: every model name is accepted, records are `Record<string, unknown>`. */
export interface Untyped {
  models: { [model: string]: AnyRecord }
  create: { [model: string]: AnyRecord }
  update: { [model: string]: AnyRecord }
}

/**
 * The generated `AtomoTypes` together with the typed API (`TypedQueries`, `TypedMutations`): enables the
 * typed model clients `atomo.contacts`, `atomo.deals`, …
 *
 *     const atomo = createClient<WithTypedApi<AtomoTypes, TypedQueries, TypedMutations>>({ url })
 */
export type WithTypedApi<A, Q, M> = A & { queries: Q; mutations: M }

export type ModelNameOf<T extends AtomoTypesLike> = keyof T['models'] & string
export type RecordOf<T extends AtomoTypesLike, M extends string> = M extends keyof T['models'] ? T['models'][M] : AnyRecord
export type CreateOf<T extends AtomoTypesLike, M extends string> =
  T['create'] extends infer C ? (C extends object ? (M extends keyof C ? C[M] : AnyRecord) : AnyRecord) : AnyRecord
export type UpdateOf<T extends AtomoTypesLike, M extends string> =
  T['update'] extends infer U ? (U extends object ? (M extends keyof U ? U[M] : AnyRecord) : AnyRecord) : AnyRecord

// ---- where / orderBy of the generic methods, derived from a record type ----

type RequiredKeys<R> = { [K in keyof R]-?: {} extends Pick<R, K> ? never : K }[keyof R]
/** Fields a filter can name: the record's non-optional keys (optional ones are typed-API relations). */
export type FieldKeys<R> = string extends keyof R ? string : RequiredKeys<R> & string

interface CommonFilter<V> { equals?: V | null; not?: V | null; in?: (V | null)[]; notIn?: (V | null)[]; isNull?: boolean }
export interface TextFilter<V extends string = string> extends CommonFilter<V> {
  contains?: string; startsWith?: string; endsWith?: string
  gt?: V; gte?: V; lt?: V; lte?: V; mode?: 'default' | 'insensitive'
}
export interface NumberFilter extends CommonFilter<number> { gt?: number; gte?: number; lt?: number; lte?: number }
export interface JsonFilter { contains?: unknown; isNull?: boolean }

type FilterFor<V> =
  [NonNullable<V>] extends [never] ? CommonFilter<unknown>
    : NonNullable<V> extends string ? (string extends NonNullable<V> ? TextFilter : CommonFilter<NonNullable<V>>) | NonNullable<V> | null
      : NonNullable<V> extends number ? NumberFilter | number | null
        : NonNullable<V> extends boolean ? CommonFilter<boolean> | boolean | null
          : JsonFilter

/** A `where` of the generic API: per-field filters (or a value for equality) plus AND/OR/NOT. */
export type Where<R> = string extends keyof R
  ? AnyRecord
  : { [K in FieldKeys<R>]?: FilterFor<R[K & keyof R]> } & { AND?: Where<R>[]; OR?: Where<R>[]; NOT?: Where<R> | Where<R>[] }

export type OrderBy<R> = string extends keyof R
  ? AnyRecord | AnyRecord[]
  : { [K in FieldKeys<R>]?: 'asc' | 'desc' } | { [K in FieldKeys<R>]?: 'asc' | 'desc' }[]

export interface ListOptions<R> { where?: Where<R>; orderBy?: OrderBy<R>; limit?: number; offset?: number }

export interface PageInfo { totalCount: number; hasNextPage: boolean; hasPreviousPage: boolean; pageSize: number; offset: number }
export interface Page<R> { data: R[]; pageInfo: PageInfo }

export interface StoredEvent {
  position: number; eventId: string; stream: string; streamVersion: number; type: string
  model: string | null; recordId: string | null; data: unknown; previousData: unknown
  actor: string | null; tenantId: string | null; origin: string | null; recordedAt: string
  /** The metadata given to `events.append` (null for model events). */
  metadata: Record<string, unknown> | null
}

/** A target of update/delete/restore/hardDelete: an id or `{ where }`. */
export type Target<R> = string | { where: Where<R> }

// ---- typed model clients ----

/** One model's client on the typed GraphQL API (`contacts`, `contact`, `createContact`, …). */
export interface TypedModelClient<R, ListArgs, CountWhere, CreateInput, UpdateInput> {
  /** `contacts(where, orderBy, limit, offset)` */
  list(args?: ListArgs): Promise<R[]>
  /** `contactsPage(where, orderBy, limit, offset)` */
  page(args?: ListArgs): Promise<Page<R>>
  /** `contact(id)` */
  get(id: string): Promise<R | null>
  /** `contactsCount(where)` */
  count(where?: CountWhere): Promise<number>
  /** `createContact(data)` */
  create(data: CreateInput): Promise<R>
  /** `updateContact(id, data, expectedVersion)` */
  update(id: string, patch: UpdateInput, options?: { expectedVersion?: number }): Promise<R>
  /** `deleteContact(id, expectedVersion)`: the number deleted (0 or 1) */
  delete(id: string, options?: { expectedVersion?: number }): Promise<number>
  restore(id: string): Promise<number>
  hardDelete(id: string): Promise<number>
  /** The model's changes (`modelChanges`), resuming with `after`; returns the unsubscribe function. */
  subscribe(handler: (event: ModelEvent<R>) => void, options?: ModelChangesOptions): () => void
}

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type CollectionKeys<Q> = { [K in keyof Q & string]: `${K}Count` extends keyof Q ? K : never }[keyof Q & string]
type ElementOf<X> = X extends { result: (infer E)[] } ? E : never
type ModelOfRecord<T extends AtomoTypesLike, E> =
  { [M in keyof T['models'] & string]: Same<T['models'][M], E> extends true ? M : never }[keyof T['models'] & string]
type ArgOf<X, A extends string> = X extends { args: infer Args } ? (A extends keyof Args ? Args[A] : never) : never

/** `atomo.<collection>` for every collection of the typed API (empty without `queries`/`mutations`). */
export type TypedClients<T extends AtomoTypesLike> =
  T extends { queries: infer Q; mutations: infer Mu }
    ? {
        readonly [K in CollectionKeys<Q>]: TypedModelClient<
          ElementOf<Q[K]>,
          Q[K] extends { args: infer A } ? A : never,
          ArgOf<Q[`${K}Count` & keyof Q], 'where'>,
          ArgOf<Mu[`create${ModelOfRecord<T, ElementOf<Q[K]>>}` & keyof Mu], 'data'>,
          ArgOf<Mu[`update${ModelOfRecord<T, ElementOf<Q[K]>>}` & keyof Mu], 'data'>
        >
      }
    : {}
