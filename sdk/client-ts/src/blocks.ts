/**
 * Block-level mutations on Blocks fields (content.md §3–§6, sdk.md §2): `atomo.blocks.insert / update / move /
 * remove / apply / render` and `atomo.model(M).blocks`. The writes go through the client's one mutation path
 * (so the query cache takes the returned `record` like an update's result, and the offline queue can hold
 * them); this module holds their types, their GraphQL requests and a local replay used for optimistic views.
 */

import type { GraphQLRequest } from './operations.js'
import type { AtomoTypesLike, ModelNameOf, RecordOf } from './types.js'

/** A stored block: `id`, `type`, the server-managed `rev`/`createdAt`/`updatedAt`, and its type's keys. */
export interface Block { id: string; type: string; rev?: number; createdAt?: string; updatedAt?: string; [key: string]: unknown }
/** A block to insert: `id` optional (the server, or the offline queue, fills it). */
export interface BlockInput { id?: string; type: string; [key: string]: unknown }
/** A patch merged one level deep into a block: keys present replace, keys set to `null` are removed. */
export interface BlockPatch { type?: string; [key: string]: unknown }

/** The result of one block mutation: the block and its index after the change (null for a removal). */
export interface BlockChange<R = Record<string, unknown>, B = Block> {
  block: B | null
  index: number | null
  /** The record's `_version` after the change. */
  version: number
  /** The whole record after the change. */
  record: R
}
export interface BlockOpResult<B = Block> { block: B | null; index: number | null }
export interface BlockOpsChange<R = Record<string, unknown>, B = Block> {
  /** One entry per operation, in order. */
  changes: BlockOpResult<B>[]
  version: number
  record: R
}

/** One operation of `blocks.apply` (GraphQL `BlockOpInput`). */
export type BlockOp =
  | { op: 'insert'; block: BlockInput; position?: number; after?: undefined }
  | { op: 'insert'; block: BlockInput; after?: string; position?: undefined }
  | { op: 'update'; blockId: string; block: BlockPatch; expectedRev?: number }
  | { op: 'move'; blockId: string; position: number; after?: undefined }
  | { op: 'move'; blockId: string; after: string; position?: undefined }
  | { op: 'remove'; blockId: string; expectedRev?: number }

interface VersionOption { expectedVersion?: number }
/** Where an inserted block goes: right `after` a block, at index `position`, or (neither) at the end. */
export type InsertBlockOptions = VersionOption & ({ position?: number; after?: undefined } | { after?: string; position?: undefined })
/** Where a block moves: exactly one of `after` (a block id) or `position` (its index after the move). */
export type MoveBlockOptions = VersionOption & ({ position: number; after?: undefined } | { after: string; position?: undefined })
export interface BlockRevOptions extends VersionOption { /** The block's `rev` the edit was made from (else CONFLICT). */ expectedRev?: number }
export type RenderFormat = 'markdown' | 'html'

/** The Blocks fields of a record type: keys whose value is an array of `{ id, type }` objects (any string untyped). */
export type BlockFieldOf<R> = string extends keyof R ? string
  : { [K in keyof R & string]-?: NonNullable<R[K]> extends readonly (infer E)[] ? ([E] extends [{ id: string; type: string }] ? K : never) : never }[keyof R & string]
/** The block type of field `F` of `R` (`Block` untyped). */
export type BlockOf<R, F> = F extends keyof R ? (NonNullable<R[F]> extends readonly (infer E)[] ? E : Block) : Block

/** `atomo.model(M).blocks`: the block methods of one model. */
export interface ModelBlocksApi<R> {
  insert<F extends BlockFieldOf<R>>(id: string, field: F, block: BlockInput, options?: InsertBlockOptions): Promise<BlockChange<R, BlockOf<R, F>>>
  update<F extends BlockFieldOf<R>>(id: string, field: F, blockId: string, patch: BlockPatch, options?: BlockRevOptions): Promise<BlockChange<R, BlockOf<R, F>>>
  move<F extends BlockFieldOf<R>>(id: string, field: F, blockId: string, options: MoveBlockOptions): Promise<BlockChange<R, BlockOf<R, F>>>
  remove<F extends BlockFieldOf<R>>(id: string, field: F, blockId: string, options?: BlockRevOptions): Promise<BlockChange<R, BlockOf<R, F>>>
  /** Several operations applied in order and atomically (one event each). */
  apply<F extends BlockFieldOf<R>>(id: string, field: F, ops: BlockOp[], options?: VersionOption): Promise<BlockOpsChange<R, BlockOf<R, F>>>
  /** The field rendered by the server (`renderBlocks`). */
  render<F extends BlockFieldOf<R>>(id: string, field: F, format?: RenderFormat): Promise<string>
}

/** `atomo.blocks`: the block methods with the model as first argument. */
export interface BlocksApi<T extends AtomoTypesLike> {
  insert<M extends ModelNameOf<T>, F extends BlockFieldOf<RecordOf<T, M>>>(model: M, id: string, field: F, block: BlockInput,
    options?: InsertBlockOptions): Promise<BlockChange<RecordOf<T, M>, BlockOf<RecordOf<T, M>, F>>>
  update<M extends ModelNameOf<T>, F extends BlockFieldOf<RecordOf<T, M>>>(model: M, id: string, field: F, blockId: string,
    patch: BlockPatch, options?: BlockRevOptions): Promise<BlockChange<RecordOf<T, M>, BlockOf<RecordOf<T, M>, F>>>
  move<M extends ModelNameOf<T>, F extends BlockFieldOf<RecordOf<T, M>>>(model: M, id: string, field: F, blockId: string,
    options: MoveBlockOptions): Promise<BlockChange<RecordOf<T, M>, BlockOf<RecordOf<T, M>, F>>>
  remove<M extends ModelNameOf<T>, F extends BlockFieldOf<RecordOf<T, M>>>(model: M, id: string, field: F, blockId: string,
    options?: BlockRevOptions): Promise<BlockChange<RecordOf<T, M>, BlockOf<RecordOf<T, M>, F>>>
  apply<M extends ModelNameOf<T>, F extends BlockFieldOf<RecordOf<T, M>>>(model: M, id: string, field: F, ops: BlockOp[],
    options?: VersionOption): Promise<BlockOpsChange<RecordOf<T, M>, BlockOf<RecordOf<T, M>, F>>>
  render<M extends ModelNameOf<T>, F extends BlockFieldOf<RecordOf<T, M>>>(model: M, id: string, field: F, format?: RenderFormat): Promise<string>
}

// ---- requests ----

/** The block mutations as queued/sent operations; their `args` (after the model) are
 * insertBlock [id, field, block, opts], updateBlock [id, field, blockId, patch, opts], moveBlock [id, field, blockId, opts],
 * removeBlock [id, field, blockId, opts], applyBlockOps [id, field, ops, opts]. */
export type BlockMutationOp = 'insertBlock' | 'updateBlock' | 'moveBlock' | 'removeBlock' | 'applyBlockOps'
export const BLOCK_MUTATION_OPS: readonly BlockMutationOp[] = ['insertBlock', 'updateBlock', 'moveBlock', 'removeBlock', 'applyBlockOps']

export function isBlockOp(op: string): op is BlockMutationOp {
  return (BLOCK_MUTATION_OPS as readonly string[]).includes(op)
}

const CHANGE = '{ block index version record }'
const TARGET = '$model: String!, $id: String!, $field: String!'
const TARGET_ARGS = 'model: $model, id: $id, field: $field'
type Opts = { position?: number; after?: string; expectedVersion?: number; expectedRev?: number } | undefined

export function blockRequest(op: BlockMutationOp, model: string, args: readonly unknown[]): GraphQLRequest {
  const [id, field] = args as [string, string]
  const base = { model, id, field }
  switch (op) {
    case 'insertBlock': {
      const o = args[3] as Opts
      return { query: `mutation(${TARGET}, $block: JSON!, $position: Int, $after: String, $expectedVersion: Int) { insertBlock(${TARGET_ARGS}, block: $block, position: $position, after: $after, expectedVersion: $expectedVersion) ${CHANGE} }`,
        name: op, variables: { ...base, block: args[2], position: o?.position, after: o?.after, expectedVersion: o?.expectedVersion } }
    }
    case 'updateBlock': {
      const o = args[4] as Opts
      return { query: `mutation(${TARGET}, $blockId: String!, $block: JSON!, $expectedVersion: Int, $expectedRev: Int) { updateBlock(${TARGET_ARGS}, blockId: $blockId, block: $block, expectedVersion: $expectedVersion, expectedRev: $expectedRev) ${CHANGE} }`,
        name: op, variables: { ...base, blockId: args[2], block: args[3], expectedVersion: o?.expectedVersion, expectedRev: o?.expectedRev } }
    }
    case 'moveBlock': {
      const o = args[3] as Opts
      return { query: `mutation(${TARGET}, $blockId: String!, $position: Int, $after: String, $expectedVersion: Int) { moveBlock(${TARGET_ARGS}, blockId: $blockId, position: $position, after: $after, expectedVersion: $expectedVersion) ${CHANGE} }`,
        name: op, variables: { ...base, blockId: args[2], position: o?.position, after: o?.after, expectedVersion: o?.expectedVersion } }
    }
    case 'removeBlock': {
      const o = args[3] as Opts
      return { query: `mutation(${TARGET}, $blockId: String!, $expectedVersion: Int, $expectedRev: Int) { removeBlock(${TARGET_ARGS}, blockId: $blockId, expectedVersion: $expectedVersion, expectedRev: $expectedRev) ${CHANGE} }`,
        name: op, variables: { ...base, blockId: args[2], expectedVersion: o?.expectedVersion, expectedRev: o?.expectedRev } }
    }
    case 'applyBlockOps': {
      const o = args[3] as Opts
      return { query: `mutation(${TARGET}, $ops: [BlockOpInput!]!, $expectedVersion: Int) { applyBlockOps(${TARGET_ARGS}, ops: $ops, expectedVersion: $expectedVersion) { changes { block index } version record } }`,
        name: op, variables: { ...base, ops: args[2], expectedVersion: o?.expectedVersion } }
    }
  }
}

/** The operations of a block mutation as `applyBlockOps` items (for the local replay and the offline queue). */
export function blockOpsOf(op: BlockMutationOp, args: readonly unknown[]): BlockOp[] {
  const o = (args[op === 'updateBlock' ? 4 : 3] ?? {}) as Opts & object
  switch (op) {
    case 'insertBlock': return [{ op: 'insert', block: args[2] as BlockInput, position: o.position, after: o.after } as BlockOp]
    case 'updateBlock': return [{ op: 'update', blockId: args[2] as string, block: args[3] as BlockPatch }]
    case 'moveBlock': return [{ op: 'move', blockId: args[2] as string, position: o.position, after: o.after } as BlockOp]
    case 'removeBlock': return [{ op: 'remove', blockId: args[2] as string }]
    case 'applyBlockOps': return Array.isArray(args[2]) ? (args[2] as BlockOp[]) : []
  }
}

/** Give every block a queued operation inserts an id (a client-side UUIDv4), so later queued operations can
 * target it; `args` is changed in place (a copy owned by the queue). Returns the ids inserted. */
export function assignBlockIds(op: BlockMutationOp, args: unknown[], newId: () => string): string[] {
  const ids: string[] = []
  const fill = (block: unknown): unknown => {
    if (!block || typeof block !== 'object') return block
    const b = block as Record<string, unknown>
    if (typeof b.id !== 'string' || !b.id) b.id = newId()
    ids.push(b.id as string)
    return b
  }
  if (op === 'insertBlock') args[2] = fill(args[2] ?? {})
  if (op === 'applyBlockOps' && Array.isArray(args[2])) {
    for (const item of args[2] as { op?: unknown; block?: unknown }[]) if (item?.op === 'insert') item.block = fill(item.block ?? {})
  }
  return ids
}

/** The block ids a block mutation targets (updated, moved, removed or used as an anchor). */
export function targetedBlockIds(op: BlockMutationOp, args: readonly unknown[]): string[] {
  const out: string[] = []
  for (const o of blockOpsOf(op, args)) {
    const x = o as { blockId?: unknown; after?: unknown }
    if (typeof x.blockId === 'string') out.push(x.blockId)
    if (typeof x.after === 'string') out.push(x.after)
  }
  return out
}

// ---- local replay (optimistic views; the server's answer is authoritative) ----

/** `blocks` after `ops`, applied as the server would (without validation, rev or timestamps); null when an
 * operation cannot be applied locally (a missing block). */
export function applyBlockOpsLocally(blocks: readonly Block[], ops: readonly BlockOp[]): Block[] | null {
  const out = [...blocks]
  const find = (id: string) => out.findIndex((b) => b && b.id === id)
  for (const o of ops) {
    if (o.op === 'insert') {
      let index = out.length
      if (typeof o.after === 'string') { const i = find(o.after); if (i < 0) return null; index = i + 1 }
      else if (typeof o.position === 'number') index = Math.max(0, Math.min(o.position, out.length))
      out.splice(index, 0, { ...(o.block as Block) })
      continue
    }
    const i = find(o.blockId)
    if (i < 0) return null
    if (o.op === 'update') {
      const next: Block = { ...out[i]! }
      for (const [k, v] of Object.entries(o.block ?? {})) {
        if (k === 'id') continue
        if (v === null) delete next[k]
        else next[k] = v
      }
      out[i] = next
    } else if (o.op === 'remove') {
      out.splice(i, 1)
    } else {
      const [moved] = out.splice(i, 1)
      let index: number
      if (typeof o.after === 'string') { const a = find(o.after); if (a < 0) return null; index = a + 1 }
      else index = Math.max(0, Math.min(o.position ?? out.length, out.length))
      out.splice(index, 0, moved!)
    }
  }
  return out
}

/** The result of a block mutation already applied on the server (its answer lost): rebuilt from the record. */
export function blockChangeFromRecord(op: BlockMutationOp, args: readonly unknown[], record: unknown): unknown {
  if (!record || typeof record !== 'object') return null
  const r = record as Record<string, unknown>
  const blocks = Array.isArray(r[String(args[1])]) ? (r[String(args[1])] as Block[]) : []
  const locate = (id: unknown) => {
    const index = typeof id === 'string' ? blocks.findIndex((b) => b && b.id === id) : -1
    return index < 0 ? { block: null, index: null } : { block: blocks[index]!, index }
  }
  const version = typeof r._version === 'number' ? r._version : 0
  if (op === 'applyBlockOps') {
    const changes = blockOpsOf(op, args).map((o) => o.op === 'remove' ? { block: null, index: null }
      : locate(o.op === 'insert' ? o.block?.id : o.blockId))
    return { changes, version, record }
  }
  if (op === 'removeBlock') return { block: null, index: null, version, record }
  return { ...locate(op === 'insertBlock' ? (args[2] as BlockInput | undefined)?.id : args[2]), version, record }
}

// ---- the API objects ----

type Mutate = (op: BlockMutationOp, model: string, args: unknown[]) => Promise<any>
type Field = <D>(query: string, name: string, variables: Record<string, unknown>) => Promise<D>

export function createBlocksApi(mutate: Mutate, field: Field): BlocksApi<AtomoTypesLike> {
  return {
    insert: (model, id, f, block, o) => mutate('insertBlock', model, [id, f, block, o]),
    update: (model, id, f, blockId, patch, o) => mutate('updateBlock', model, [id, f, blockId, patch, o]),
    move: (model, id, f, blockId, o) => mutate('moveBlock', model, [id, f, blockId, o]),
    remove: (model, id, f, blockId, o) => mutate('removeBlock', model, [id, f, blockId, o]),
    apply: (model, id, f, ops, o) => mutate('applyBlockOps', model, [id, f, ops, o]),
    render: (model, id, f, format = 'markdown') => field<string>(
      'query($model: String!, $id: String!, $field: String!, $format: String) { renderBlocks(model: $model, id: $id, field: $field, format: $format) }',
      'renderBlocks', { model, id, field: f, format }),
  }
}

export function modelBlocksApi(api: BlocksApi<AtomoTypesLike>, model: string): ModelBlocksApi<any> {
  return {
    insert: (id, f, block, o) => api.insert(model, id, f, block, o),
    update: (id, f, blockId, patch, o) => api.update(model, id, f, blockId, patch, o),
    move: (id, f, blockId, o) => api.move(model, id, f, blockId, o),
    remove: (id, f, blockId, o) => api.remove(model, id, f, blockId, o),
    apply: (id, f, ops, o) => api.apply(model, id, f, ops, o),
    render: (id, f, format) => api.render(model, id, f, format),
  }
}
