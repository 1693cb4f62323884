// Editor types for an Atomo `schema.ts` (package `@atomo-cc/schema`, also importable as `@atomo/schema`).
//
// `atomo init` copies this file into every new project (types/atomo-schema/index.d.ts); the canonical copy
// is atomo/templates/schema-types/index.d.ts in the Atomo package. Atomo reads schema.ts with its own parser
// and never compiles or runs it: these declarations only let an editor and `tsc --noEmit` check the file.
// Both syntaxes of the schema chapter are covered: the interface syntax (`Block`, `File`) and the builder
// syntax (`model`, the field builders, `allow`, `action`, `channel`, `stream`).

/** Any JSON value: defaults, `when()` values, `ui` options. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json }

/**
 * One block of a `Block[]` field (content chapter). `id` is filled with a UUID when absent; `rev`,
 * `createdAt` and `updatedAt` are managed by the server. Other keys are the type's content.
 */
export interface Block {
  id?: string
  type: string
  rev?: number
  createdAt?: string
  updatedAt?: string
  [key: string]: unknown
}

/** A `File` field holds a media id or a URL. */
export type File = string

// ---------------------------------------------------------------------------------------------------------
// Builder syntax: export const Deal = model('deals', { fields: { ... }, access: { ... }, on: { ... } })

/** A field declared with a builder; `T` is the type of its values (and of `.default()`). */
export interface Field<T> {
  /** The primary key (only the field `id`, a text field). */
  id(): this
  required(): this
  optional(): this
  /** Text length, number or array length at least `n`. */
  min(n: number): this
  /** Text length, number or array length at most `n`. */
  max(n: number): this
  default(value: T): this
  unique(): this
  index(): this
  /** Trims text input before validation. */
  trim(): this
  /** Lower-cases text input before validation. */
  lowercase(): this
  /** Never present at run time: carries `T`. */
  readonly __type?: T
}

/** A `datetime()` field: values are RFC 3339 strings. */
export interface DateTimeField extends Field<string> {
  /** Set to the current time on create. */
  defaultNow(): this
  /** Set to the current time on create and on every update. */
  autoUpdate(): this
}

export function text(): Field<string>
export function email(): Field<string>
export function url(): Field<string>
export function number(): Field<number>
export function boolean(): Field<boolean>
export function datetime(): DateTimeField
/** One of the options: `select(['lead', 'won'])` or `select('lead', 'won')`. */
export function select<T extends string>(options: readonly T[]): Field<T>
export function select<T extends string>(...options: T[]): Field<T>
/** A reference to a record of the model whose table is `table` (a `belongsTo` named after the field minus `Id`). */
export function relation(table: string): Field<string>
export function blocks(): Field<Block[]>
export function json(): Field<Json>
export function file(): Field<File>

/** An `allow.*()` access rule. */
export interface Allow {
  readonly __allow: true
}

/** An access rule: a string such as `'sales|manager|owner(ownerId)'`, or an `allow.*()` call. */
export type AccessRule = string | Allow

export const allow: {
  public(): Allow
  authenticated(): Allow
  /** Rows of the request's tenant only. */
  sameTenant(): Allow
  role(role: string | readonly string[]): Allow
  /** Rows whose `field` holds the caller's user id. */
  owner(field: string): Allow
  /** Any of the rules (OR). */
  any(rules: readonly AccessRule[]): Allow
  any(...rules: AccessRule[]): Allow
}

export interface Access {
  create?: AccessRule
  read?: AccessRule
  update?: AccessRule
  delete?: AccessRule
}

/** Type names of an object input or result: a trailing `?` marks an optional key. */
export type ValueType = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'any'
export type ValueSpec = Record<string, ValueType | `${ValueType}?`>

/** An action bound in `on`, with the conditions under which it is dispatched (ANDed). */
export interface ActionBinding {
  /** Some of the fields changed (always true on create and delete). */
  whenChanged(fields: readonly string[]): ActionBinding
  whenChanged(...fields: string[]): ActionBinding
  /** The field equals the value (after the change; before it for deletes). */
  when(field: string, value: Json): ActionBinding
}

/** `action('name')`: a durable job kind, bound to model events in `on` or called through the API. */
export interface Action<Name extends string = string> extends ActionBinding {
  readonly name?: Name
  /** The table whose record the input fields are picked from. */
  from(table: string): Action<Name>
  /** Fields picked from the record (needs `.from()`), or an object input `{ key: 'string' }`. */
  input(fields: readonly string[]): Action<Name>
  input(spec: ValueSpec): Action<Name>
  /** The result; makes the action callable through `POST /api/actions/:name`. */
  returns(spec: ValueSpec): Action<Name>
}

export function action<Name extends string>(name: Name): Action<Name>

/** What an event dispatches: an action, an action with conditions, or an action name. */
export type Trigger = ActionBinding | string

export interface ModelOptions {
  fields: Record<string, Field<any>>
  access?: Access
  on?: {
    created?: Trigger | readonly Trigger[]
    updated?: Trigger | readonly Trigger[]
    deleted?: Trigger | readonly Trigger[]
  }
  /** Served as-is by `GET /meta/schema`. */
  ui?: { [key: string]: Json }
  /** The collection name of the typed GraphQL API (`people`: `people`, `peoplePage`, `peopleCount`); default: the table in camelCase. */
  graphqlName?: string
}

export interface Model<Table extends string = string> {
  readonly table?: Table
  readonly __model: true
}

/** `export const Deal = model('deals', {...})`: the const names the model, the argument is its table. */
export function model<Table extends string>(table: Table, options: ModelOptions): Model<Table>

export interface ChannelOptions {
  /** The model whose record the `{id}` segment names. */
  record?: string
  subscribe?: AccessRule
  publish?: AccessRule
}

export interface Channel {
  readonly __channel: true
}

/** Realtime channel rules: literal text, `{id}` and a trailing `*` (`'deal:{id}'`, `'ops:*'`). */
export function channel(pattern: string, options?: ChannelOptions): Channel

/** Who may append to and read custom event streams (`appendEvents`, `stream`, `streamEvents`). A stream no
 * rule matches, or an action a rule does not name, is refused; admins may do everything. */
export interface StreamOptions {
  append?: AccessRule
  read?: AccessRule
}

export interface Stream {
  readonly __stream: true
}

/** Custom event stream rules: literal text, `{id}` and a trailing `*` (`'order-*'`). */
export function stream(pattern: string, options?: StreamOptions): Stream
