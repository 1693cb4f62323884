// Compiled by `tsc -p test/tsconfig.json` (strict, noEmit) against the sample's generated types: correct
// usage compiles; every `@ts-expect-error` line must be an error, or the compilation fails.
import { createClient, AtomoError, type StoredEvent, type WithTypedApi } from '../dist/index.js'
import { createAtomoHooks } from '../dist/react.js'
import type { AtomoTypes, Contact, Deal, TypedMutations, TypedQueries } from '../../../tests/cli/golden/crm/atomo.js'

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false
function assertType<T extends true>(_: T): void {}

export async function generic(): Promise<void> {
  const atomo = createClient<AtomoTypes>({ url: 'http://localhost:3000' })
  const deals = await atomo.records('Deal', { where: { stage: { in: ['lead', 'proposal'] }, value: { gt: 10 } }, orderBy: { value: 'desc' }, limit: 20 })
  assertType<Equal<typeof deals, Deal[]>>(true)
  const one = await atomo.record('Contact', 'c-1')
  assertType<Equal<typeof one, Contact | null>>(true)
  await atomo.create('Contact', { firstName: 'Ada', lastName: 'Lovelace', tags: ['x'] })
  await atomo.update('Deal', deals[0].id, { stage: 'won' }, { expectedVersion: deals[0]._version })
  await atomo.update('Deal', { where: { title: { startsWith: 'A' } } }, { probability: 0.5 })
  await atomo.count('Contact', { OR: [{ firstName: { contains: 'a' } }, { email: { isNull: true } }] })
  const page = await atomo.model('Company').paginatedRecords({ where: { name: 'Acme' } })
  assertType<Equal<typeof page.data[number]['name'], string>>(true)

  // the event store: `atomo.events` is still the global log when called
  const log = await atomo.events({ after: 0, model: 'Deal' })
  assertType<Equal<typeof log[number]['metadata'], Record<string, unknown> | null>>(true)
  const appended = await atomo.events.append('order-1', [{ type: 'OrderPlaced', data: { total: 3 }, metadata: { by: 'x' } }],
    { expectedVersion: 0 })
  assertType<Equal<typeof appended.version, number>>(true)
  const read = await atomo.events.readStream('order-1', { fromVersion: 2, limit: 10 })
  assertType<Equal<typeof read[number]['streamVersion'], number>>(true)
  const listed = await atomo.events.streams({ prefix: 'order-', after: 'order-1', limit: 5 })
  assertType<Equal<typeof listed[number]['lastEventAt'], string>>(true)
  const offEvents = atomo.events.subscribe({ stream: 'order-1' }, (e) => {
    assertType<Equal<typeof e, StoredEvent>>(true)
    assertType<Equal<typeof e['metadata'], Record<string, unknown> | null>>(true)
  }, { after: 3, onError: (e) => { assertType<Equal<typeof e, AtomoError>>(true) } })
  assertType<Equal<typeof offEvents, () => void>>(true)
  atomo.events.subscribe({ prefix: 'order-' }, () => {})
  // @ts-expect-error: one of stream and prefix, not both
  atomo.events.subscribe({ stream: 'order-1', prefix: 'order-' }, () => {})
  // @ts-expect-error: a stream or a prefix is needed
  atomo.events.subscribe({}, () => {})
  // @ts-expect-error: an event needs a type
  await atomo.events.append('order-1', [{ data: {} }])
  // @ts-expect-error: no such model in the global log
  await atomo.events({ model: 'Person' })

  // @ts-expect-error: no such model
  await atomo.records('Person')
  // @ts-expect-error: unknown field in where
  await atomo.records('Deal', { where: { nope: { equals: 1 } } })
  // @ts-expect-error: a number filter on a text field
  await atomo.count('Contact', { firstName: { gt: 3 } })
  // @ts-expect-error: a stage that does not exist
  await atomo.records('Deal', { where: { stage: { equals: 'pending' } } })
  // @ts-expect-error: contains is for text fields
  await atomo.records('Deal', { where: { value: { contains: '1' } } })
  // @ts-expect-error: orderBy names a field
  await atomo.records('Deal', { orderBy: { nope: 'asc' } })
  // @ts-expect-error: lastName is required in create
  await atomo.create('Contact', { firstName: 'Ada' })
  // @ts-expect-error: wrong type in data
  await atomo.create('Contact', { firstName: 'Ada', lastName: 'L', tags: 'x' })
  // @ts-expect-error: unknown field in patch
  await atomo.update('Deal', 'd-1', { nope: 1 })
  // @ts-expect-error: relation fields are not filters of the generic API
  await atomo.records('Deal', { where: { company: { name: 'x' } } })

  try { await atomo.create('Contact', { firstName: '', lastName: '' }) } catch (e) {
    if (e instanceof AtomoError && e.code === 'VALIDATION_ERROR') { const d: unknown = e.details; void d }
  }
}

export async function typed(): Promise<void> {
  const atomo = createClient<WithTypedApi<AtomoTypes, TypedQueries, TypedMutations>>({ url: 'http://localhost:3000' })
  const c = await atomo.contacts.create({ firstName: 'Ada', lastName: 'Lovelace' })
  assertType<Equal<typeof c, Contact>>(true)
  const list = await atomo.deals.list({ where: { stage: { notIn: ['won', 'lost'] }, value: { gt: 1000 } }, orderBy: [{ value: 'desc' }], limit: 5 })
  assertType<Equal<typeof list, Deal[]>>(true)
  const got = await atomo.companies.get('x')
  assertType<Equal<NonNullable<typeof got>['name'], string>>(true)
  await atomo.contacts.update(c.id, { email: 'a@b.c' }, { expectedVersion: c._version })
  const n: number = await atomo.contacts.count({ lastName: { startsWith: 'L' } })
  const d: number = await atomo.contacts.delete(c.id)
  void n; void d

  // @ts-expect-error: no such collection
  void atomo.people
  // @ts-expect-error: unknown field in where
  await atomo.contacts.list({ where: { nope: { equals: 'x' } } })
  // @ts-expect-error: a number filter on a text field
  await atomo.contacts.count({ firstName: { gt: 1 } })
  // @ts-expect-error: missing required lastName
  await atomo.contacts.create({ firstName: 'Ada' })
  // @ts-expect-error: wrong type of a data field
  await atomo.deals.create({ title: 'x', companyId: 'c', value: 'big' })
  // @ts-expect-error: unknown field in the patch
  await atomo.contacts.update('c-1', { nope: true })
  // @ts-expect-error: an enum value that does not exist
  await atomo.deals.list({ where: { stage: { equals: 'pending' } } })
}

export async function untyped(): Promise<void> {
  const atomo = createClient({ url: 'http://localhost:3000' })
  const rows = await atomo.records('Anything', { where: { whatever: { equals: 1 } } })
  const v: unknown = rows[0]?.x
  void v
  await atomo.collection('contacts').list({ where: { a: 1 } })
}

// Block mutations: results typed with the model's record, `field` limited to the model's Blocks fields.
export async function blocks(): Promise<void> {
  const atomo = createClient<AtomoTypes>({ url: 'http://localhost:3000' })
  const change = await atomo.blocks.insert('Deal', 'd-1', 'notes', { type: 'paragraph', text: 'x' }, { after: 'b-1' })
  assertType<Equal<typeof change.record, Deal>>(true)
  assertType<Equal<typeof change.version, number>>(true)
  const id: string | undefined = change.block?.id
  await atomo.blocks.update('Deal', 'd-1', 'notes', 'b-1', { text: 'y', completed: null }, { expectedRev: 2 })
  await atomo.blocks.move('Deal', 'd-1', 'notes', 'b-1', { position: 0, expectedVersion: 3 })
  await atomo.blocks.remove('Contact', 'c-1', 'notes', 'b-1', { expectedRev: 1 })
  const batch = await atomo.model('Deal').blocks.apply('d-1', 'notes', [{ op: 'insert', block: { type: 'divider' } },
    { op: 'move', blockId: 'b-1', after: 'b-2' }, { op: 'remove', blockId: 'b-2', expectedRev: 1 }])
  assertType<Equal<typeof batch.record, Deal>>(true)
  const html: string = await atomo.blocks.render('Contact', 'c-1', 'notes', 'html')
  void id; void html

  // @ts-expect-error: title is not a Blocks field
  await atomo.blocks.insert('Deal', 'd-1', 'title', { type: 'divider' })
  // @ts-expect-error: Company has no Blocks field
  await atomo.blocks.remove('Company', 'c-1', 'notes', 'b-1')
  // @ts-expect-error: a move needs after or position
  await atomo.blocks.move('Deal', 'd-1', 'notes', 'b-1', {})
  // @ts-expect-error: after and position together
  await atomo.blocks.insert('Deal', 'd-1', 'notes', { type: 'divider' }, { after: 'b-1', position: 0 })
  // @ts-expect-error: an unknown render format
  await atomo.blocks.render('Deal', 'd-1', 'notes', 'pdf')
  // @ts-expect-error: a block needs a type
  await atomo.model('Deal').blocks.insert('d-1', 'notes', { text: 'x' })

  const untyped = createClient({ url: 'http://localhost:3000' })
  const any = await untyped.blocks.insert('Anything', 'x', 'whatever', { type: 'p' })
  const r: Record<string, unknown> = any.record
  void r
}

// The React hooks typed once with createAtomoHooks<AtomoTypes>() (no type arguments at each call).
const hooks = createAtomoHooks<AtomoTypes>()

export function TypedHooks(): null {
  const { data } = hooks.useRecords('Deal', { where: { stage: { in: ['won'] } }, orderBy: { value: 'desc' } })
  assertType<Equal<typeof data, Deal[] | undefined>>(true)
  const one = hooks.useRecord('Contact', null)
  assertType<Equal<typeof one.data, Contact | null | undefined>>(true)
  const { mutate } = hooks.useMutation('Contact', 'create')
  void mutate({ firstName: 'Ada', lastName: 'Lovelace' })
  const { mutate: move } = hooks.useMutation('Deal', 'update', { optimistic: true })
  void move('d-1', { stage: 'proposal' }, { expectedVersion: 3 })
  hooks.useModelChanges('Deal', (event) => { const title: string = event.data.title; void title })
  // @ts-expect-error: a model that does not exist
  hooks.useRecords('Dael')
  // @ts-expect-error: a field of another model in where
  hooks.useRecords('Deal', { where: { firstName: 'Ada' } })
  // @ts-expect-error: a wrong value type in a create
  void mutate({ firstName: 1, lastName: 'x' })
  // @ts-expect-error: an enum value that does not exist in an update
  void move('d-1', { stage: 'pending' })
  return null
}
