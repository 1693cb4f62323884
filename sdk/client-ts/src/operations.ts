/** The GraphQL requests of the model-generic mutations, shared by the client's methods and the offline queue. */

import { AtomoError } from './errors.js'
import { blockRequest, isBlockOp, type BlockMutationOp } from './blocks.js'
import type { Target } from './types.js'

export type MutationOp = 'create' | 'update' | 'updateMany' | 'delete' | 'restore' | 'hardDelete'
export const MUTATION_OPS: readonly MutationOp[] = ['create', 'update', 'updateMany', 'delete', 'restore', 'hardDelete']
/** Every write of the client's one mutation path: the generic mutations and the block mutations (blocks.ts). */
export type WriteOp = MutationOp | BlockMutationOp

export interface GraphQLRequest { query: string; name: string; variables: Record<string, unknown> }

const TARGET_VARS = '$model: String!, $id: String, $where: JSON'
const TARGET_ARGS = 'model: $model, id: $id, where: $where'

export function targetArgs(target: Target<unknown>): { id?: string; where?: unknown } {
  if (typeof target === 'string') return { id: target }
  if (target && typeof target === 'object' && 'where' in target) return { where: target.where }
  throw new AtomoError({ code: 'BAD_REQUEST', message: 'a target is an id string or { where }' })
}

type VersionOption = { expectedVersion?: number } | undefined

/** `args` are the method's arguments after the model: create(data), update(target, patch, opts), … */
export function mutationRequest(op: WriteOp, model: string, args: readonly unknown[]): GraphQLRequest {
  if (isBlockOp(op)) return blockRequest(op, model, args)
  switch (op) {
    case 'create':
      return { query: 'mutation($model: String!, $data: JSON!) { create(model: $model, data: $data) }', name: op,
        variables: { model, data: args[0] } }
    case 'update':
      return {
        query: `mutation(${TARGET_VARS}, $data: JSON!, $expectedVersion: Int) { update(${TARGET_ARGS}, data: $data, expectedVersion: $expectedVersion) }`,
        name: op,
        variables: { model, ...targetArgs(args[0] as Target<unknown>), data: args[1], expectedVersion: (args[2] as VersionOption)?.expectedVersion },
      }
    case 'updateMany':
      return { query: 'mutation($model: String!, $items: [BulkUpdateInput!]) { updateMany(model: $model, items: $items) }', name: op,
        variables: { model, items: args[0] } }
    case 'delete':
      return {
        query: `mutation(${TARGET_VARS}, $expectedVersion: Int) { delete(${TARGET_ARGS}, expectedVersion: $expectedVersion) }`,
        name: op,
        variables: { model, ...targetArgs(args[0] as Target<unknown>), expectedVersion: (args[1] as VersionOption)?.expectedVersion },
      }
    case 'restore':
    case 'hardDelete':
      return { query: `mutation(${TARGET_VARS}) { ${op}(${TARGET_ARGS}) }`, name: op, variables: { model, ...targetArgs(args[0] as Target<unknown>) } }
  }
}
