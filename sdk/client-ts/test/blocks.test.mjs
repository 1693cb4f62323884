// Block mutations of the client (`atomo.blocks`, `atomo.model(M).blocks`) against a real server started by
// tests/sdk/test_client_blocks.py (sample CRM schema: Deal.notes is a Blocks field).
// Env: ATOMO_URL, ATOMO_ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD. Node 20 has no global WebSocket: `ws` is passed in.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { createClient, memoryOfflineStorage } from '../dist/index.js'
import { URL_, EMAIL, PASSWORD, rejects, sleep, tag, until } from './env.mjs'

const clients = []
async function admin(extra = {}) {
  const atomo = createClient({ url: URL_, WebSocket, ...extra })
  await atomo.auth.login(EMAIL, PASSWORD)
  clients.push(atomo)
  return atomo
}
test.after(() => { for (const c of clients) c.close() })

/** A new deal (of a new company) with two blocks: b-1 (paragraph) and b-2 (task). */
async function newDeal(atomo) {
  const t = tag()
  const company = await atomo.create('Company', { name: `Blocks ${t}` })
  return atomo.create('Deal', {
    title: `Deal ${t}`, companyId: company.id,
    notes: [{ id: 'b-1', type: 'paragraph', text: 'Hello **world**' }, { id: 'b-2', type: 'task', title: 'Call back' }],
  })
}
const ids = (record) => record.notes.map((b) => b.id)

test('insert: at the end, after a block, at a position; the result is the block, its index, the version and the record', async () => {
  const atomo = await admin()
  const deal = await newDeal(atomo)
  const end = await atomo.blocks.insert('Deal', deal.id, 'notes', { type: 'paragraph', text: 'last' })
  assert.equal(end.index, 2)
  assert.equal(end.block.type, 'paragraph')
  assert.equal(end.block.rev, 1)
  assert.match(end.block.id, /^[0-9a-f-]{36}$/)
  assert.equal(end.version, deal._version + 1)
  assert.equal(end.record._version, end.version)
  assert.deepEqual(ids(end.record), ['b-1', 'b-2', end.block.id])
  const after = await atomo.blocks.insert('Deal', deal.id, 'notes', { id: 'b-after', type: 'heading', text: 'Next', level: 2 }, { after: 'b-1' })
  assert.equal(after.index, 1)
  assert.equal(after.block.id, 'b-after')
  const first = await atomo.blocks.insert('Deal', deal.id, 'notes', { id: 'b-0', type: 'divider' }, { position: 0, expectedVersion: after.version })
  assert.equal(first.index, 0)
  assert.deepEqual(ids(first.record), ['b-0', 'b-1', 'b-after', 'b-2', end.block.id])
  assert.deepEqual(ids(await atomo.record('Deal', deal.id)), ids(first.record))
  // an id already in the field, a stale expectedVersion, a missing anchor, both placements
  const dup = await rejects(atomo.blocks.insert('Deal', deal.id, 'notes', { id: 'b-0', type: 'divider' }), 'CONFLICT')
  assert.equal(dup.details.blockId, 'b-0')
  const stale = await rejects(atomo.blocks.insert('Deal', deal.id, 'notes', { type: 'divider' }, { expectedVersion: deal._version }), 'CONFLICT')
  assert.equal(stale.details.currentVersion, first.version)
  const anchor = await rejects(atomo.blocks.insert('Deal', deal.id, 'notes', { type: 'divider' }, { after: 'nope' }), 'NOT_FOUND')
  assert.equal(anchor.details.blockId, 'nope')
  await rejects(atomo.blocks.insert('Deal', deal.id, 'notes', { type: 'divider' }, { after: 'b-1', position: 0 }), 'VALIDATION_ERROR')
  const invalid = await rejects(atomo.blocks.insert('Deal', deal.id, 'notes', { type: 'heading', text: 'x', level: 9 }), 'VALIDATION_ERROR')
  assert.ok(Array.isArray(invalid.details) && invalid.details.some((d) => d.field === 'notes'))
})

test('update merges a patch and raises rev; a stale expectedRev is CONFLICT with currentRev; a missing block is NOT_FOUND', async () => {
  const atomo = await admin()
  const deal = await newDeal(atomo)
  const done = await atomo.blocks.update('Deal', deal.id, 'notes', 'b-2', { completed: true }, { expectedRev: 1 })
  assert.equal(done.index, 1)
  assert.deepEqual({ title: done.block.title, completed: done.block.completed, rev: done.block.rev }, { title: 'Call back', completed: true, rev: 2 })
  assert.equal(done.record.notes[1].completed, true)
  const conflict = await rejects(atomo.blocks.update('Deal', deal.id, 'notes', 'b-2', { title: 'Call Ada' }, { expectedRev: 1 }), 'CONFLICT')
  assert.equal(conflict.details.currentRev, 2)
  assert.equal(conflict.details.expectedRev, 1)
  assert.equal(conflict.details.blockId, 'b-2')
  assert.equal(conflict.details.field, 'notes')
  const removedKey = await atomo.blocks.update('Deal', deal.id, 'notes', 'b-2', { completed: null, title: 'Call Ada' }, { expectedRev: 2 })
  assert.equal('completed' in removedKey.block, false)
  assert.equal(removedKey.block.rev, 3)
  const missing = await rejects(atomo.blocks.update('Deal', deal.id, 'notes', 'no-such-block', { text: 'x' }), 'NOT_FOUND')
  assert.deepEqual(missing.details, { field: 'notes', blockId: 'no-such-block' })
  await rejects(atomo.blocks.remove('Deal', deal.id, 'notes', 'no-such-block'), 'NOT_FOUND')
  await rejects(atomo.blocks.move('Deal', deal.id, 'notes', 'no-such-block', { position: 0 }), 'NOT_FOUND')
  await rejects(atomo.blocks.update('Deal', 'no-such-deal', 'notes', 'b-1', { text: 'x' }), 'NOT_FOUND')
})

test('move by position and after, remove with expectedRev, and the same through atomo.model(M).blocks', async () => {
  const atomo = await admin()
  const deal = await newDeal(atomo)
  const moved = await atomo.blocks.move('Deal', deal.id, 'notes', 'b-2', { position: 0 })
  assert.equal(moved.index, 0)
  assert.equal(moved.block.rev, 1)                     // moving does not change rev
  assert.deepEqual(ids(moved.record), ['b-2', 'b-1'])
  const back = await atomo.blocks.move('Deal', deal.id, 'notes', 'b-2', { after: 'b-1' })
  assert.deepEqual(ids(back.record), ['b-1', 'b-2'])
  assert.equal(back.index, 1)
  const stale = await rejects(atomo.blocks.remove('Deal', deal.id, 'notes', 'b-1', { expectedRev: 7 }), 'CONFLICT')
  assert.equal(stale.details.currentRev, 1)
  const removed = await atomo.blocks.remove('Deal', deal.id, 'notes', 'b-1', { expectedRev: 1 })
  assert.equal(removed.block, null)
  assert.equal(removed.index, null)
  assert.deepEqual(ids(removed.record), ['b-2'])

  const deals = atomo.model('Deal')
  const inserted = await deals.blocks.insert(deal.id, 'notes', { id: 'h-1', type: 'quote', text: 'Yes', cite: 'Ada' }, { position: 0 })
  assert.equal(inserted.index, 0)
  const updated = await deals.blocks.update(deal.id, 'notes', 'h-1', { text: 'Yes!' })
  assert.equal(updated.block.rev, 2)
  assert.deepEqual(ids((await deals.blocks.move(deal.id, 'notes', 'h-1', { position: 5 })).record), ['b-2', 'h-1'])
  assert.deepEqual(ids((await deals.blocks.remove(deal.id, 'notes', 'h-1')).record), ['b-2'])
  assert.match(await deals.blocks.render(deal.id, 'notes'), /Call back/)
  const history = await atomo.history('Deal', deal.id)
  assert.deepEqual(history.slice(1).map((e) => e.type),
    ['BlockMoved', 'BlockMoved', 'BlockRemoved', 'BlockInserted', 'BlockUpdated', 'BlockMoved', 'BlockRemoved'])
})

test('apply: several operations in order, one result each; a failing batch changes nothing and names the opIndex', async () => {
  const atomo = await admin()
  const deal = await newDeal(atomo)
  const batch = await atomo.blocks.apply('Deal', deal.id, 'notes', [
    { op: 'insert', block: { id: 'x-1', type: 'paragraph', text: 'one' }, after: 'b-1' },
    { op: 'update', blockId: 'b-1', block: { text: 'Hello again' }, expectedRev: 1 },
    { op: 'move', blockId: 'b-2', position: 0 },
    { op: 'remove', blockId: 'x-1' },
    { op: 'insert', block: { type: 'divider' } },
  ], { expectedVersion: deal._version })
  assert.equal(batch.changes.length, 5)
  assert.deepEqual(batch.changes.map((c) => c.index), [1, 0, 0, null, 2])
  assert.equal(batch.changes[1].block.rev, 2)
  assert.equal(batch.record._version, batch.version)
  assert.deepEqual(batch.record.notes.map((b) => b.type), ['task', 'paragraph', 'divider'])
  assert.equal(batch.record.notes[1].text, 'Hello again')
  const failed = await atomo.blocks.apply('Deal', deal.id, 'notes', [
    { op: 'update', blockId: 'b-1', block: { text: 'changed' } },
    { op: 'insert', block: { type: 'heading', text: 'bad', level: 0 } },
  ]).catch((e) => e)
  assert.equal(failed.code, 'VALIDATION_ERROR')
  assert.ok(failed.details.some((d) => d.opIndex === 1), JSON.stringify(failed.details))
  assert.equal((await atomo.record('Deal', deal.id)).notes[1].text, 'Hello again')
  await rejects(atomo.blocks.apply('Deal', deal.id, 'notes', [{ op: 'remove', blockId: 'gone' }]), 'NOT_FOUND')
})

test('render: markdown by default, html on request; an unknown format is VALIDATION_ERROR', async () => {
  const atomo = await admin()
  const deal = await newDeal(atomo)
  await atomo.blocks.insert('Deal', deal.id, 'notes', { type: 'heading', text: 'Plan', level: 2 }, { position: 0 })
  const md = await atomo.blocks.render('Deal', deal.id, 'notes')
  assert.equal(md, '## Plan\n\nHello **world**\n\n- [ ] Call back\n')
  assert.equal(await atomo.blocks.render('Deal', deal.id, 'notes', 'markdown'), md)
  const html = await atomo.blocks.render('Deal', deal.id, 'notes', 'html')
  assert.match(html, /<h2 data-block-id="[^"]+">Plan<\/h2>/)
  assert.match(html, /<p data-block-id="b-1">Hello <strong>world<\/strong><\/p>/)
  assert.match(html, /class="atomo-task"/)
  await rejects(atomo.blocks.render('Deal', deal.id, 'notes', 'pdf'), 'VALIDATION_ERROR')
})

test('the query cache takes the returned record like an update result (record entries and lists)', async () => {
  const atomo = await admin()
  const deal = await newDeal(atomo)
  await atomo.cache.fetch('Deal', 'record', { id: deal.id })
  const change = await atomo.blocks.insert('Deal', deal.id, 'notes', { id: 'c-1', type: 'paragraph', text: 'cached' }, { after: 'b-2' })
  const cached = atomo.cache.peek('Deal', 'record', { id: deal.id }).data
  assert.equal(cached._version, change.version)
  assert.deepEqual(ids(cached), ['b-1', 'b-2', 'c-1'])
  assert.equal(atomo.cache.peekRecord('Deal', deal.id).notes[2].text, 'cached')
  // an optimistic view applies the operation locally and rolls back
  const undo = atomo.cache.optimistic('Deal', 'moveBlock', [deal.id, 'notes', 'c-1', { position: 0 }])
  assert.deepEqual(ids(atomo.cache.peekRecord('Deal', deal.id)), ['c-1', 'b-1', 'b-2'])
  undo()
  assert.deepEqual(ids(atomo.cache.peekRecord('Deal', deal.id)), ['b-1', 'b-2', 'c-1'])
})

test("a second client's modelChanges receives the insert as UPDATED with blockOp and the record's new notes", async () => {
  const writer = await admin()
  const reader = await admin()
  const deal = await newDeal(writer)
  const events = []
  const after = (await reader.history('Deal', deal.id)).at(-1).position     // replayed or live: never missed
  const off = reader.modelChanges('Deal', (e) => { if (e.data.id === deal.id) events.push(e) }, { after })
  try {
    const change = await writer.blocks.insert('Deal', deal.id, 'notes', { id: 'live-1', type: 'paragraph', text: 'live' }, { after: 'b-1' })
    const event = await until(() => events.find((e) => e.blockOp), 5000, 'the block event')
    assert.equal(event.eventType, 'UPDATED')
    assert.deepEqual(event.blockOp, { op: 'insert', field: 'notes', blockId: 'live-1', index: 1 })
    assert.deepEqual(ids(event.data), ['b-1', 'live-1', 'b-2'])
    assert.equal(event.data._version, change.version)
    assert.deepEqual(ids(event.previousData), ['b-1', 'b-2'])
  } finally {
    off()
  }
})

/** A fetch that can be switched offline (throws like a dropped network) or lose the next queued answer. */
function switchableFetch() {
  const control = { offline: false, dropNextResponse: 0 }
  control.fn = async (url, init) => {
    if (control.offline) throw new TypeError('fetch failed (offline)')
    const response = await fetch(url, init)
    if (control.dropNextResponse > 0 && init?.headers?.['idempotency-key']) {
      control.dropNextResponse--
      await response.text()
      throw new TypeError('fetch failed (the answer was lost)')
    }
    return response
  }
  return control
}

test('offline queue: a queued insert gets a client-side block id that later queued operations target; replayed in order', async () => {
  const net = switchableFetch()
  const atomo = await admin({ fetch: net.fn, offline: { enabled: true, storage: memoryOfflineStorage(), retryBaseMs: 50, retryMaxMs: 200, syncIntervalMs: 200 } })
  await atomo.offline.ready
  const deal = await newDeal(atomo)
  await atomo.cache.fetch('Deal', 'record', { id: deal.id })
  net.offline = true
  const inserted = atomo.blocks.insert('Deal', deal.id, 'notes', { type: 'paragraph', text: 'queued' }, { after: 'b-1' })
  await until(() => atomo.offline.pending().length === 1, 3000, 'the queued insert')
  const [item] = atomo.offline.pending()
  assert.equal(item.op, 'insertBlock')
  const blockId = item.args[2].id
  assert.match(blockId, /^[0-9a-f-]{36}$/)
  // the optimistic view shows it at once
  assert.deepEqual(ids(atomo.cache.peekRecord('Deal', deal.id)), ['b-1', blockId, 'b-2'])
  const updated = atomo.blocks.update('Deal', deal.id, 'notes', blockId, { text: 'queued and edited' })
  const moved = atomo.blocks.move('Deal', deal.id, 'notes', blockId, { position: 0 })
  await until(() => atomo.offline.pending().length === 3, 3000, 'three queued items')
  net.offline = false
  net.dropNextResponse = 1          // the insert lands but its answer is lost: the replay must not insert twice
  await atomo.offline.sync()
  const [a, b, c] = await Promise.all([inserted, updated, moved])
  assert.equal(net.dropNextResponse, 0)
  assert.equal(a.block.id, blockId)
  assert.equal(b.block.text, 'queued and edited')
  assert.equal(b.block.rev, 2)
  assert.deepEqual(ids(c.record), [blockId, 'b-1', 'b-2'])
  const server = await atomo.record('Deal', deal.id)
  assert.deepEqual(ids(server), [blockId, 'b-1', 'b-2'])
  assert.equal(atomo.offline.getStatus().pendingCount, 0)
})

test('offline queue: operations on a block whose queued insert was rejected fail with DEPENDENCY_FAILED', async () => {
  const net = switchableFetch()
  const atomo = await admin({ fetch: net.fn, offline: { enabled: true, storage: memoryOfflineStorage(), retryBaseMs: 50, retryMaxMs: 200, syncIntervalMs: 200 } })
  await atomo.offline.ready
  const deal = await newDeal(atomo)
  const rejected = []
  atomo.offline.on('rejected', (e) => rejected.push(e.error.code))
  net.offline = true
  const bad = atomo.blocks.insert('Deal', deal.id, 'notes', { id: 'bad-1', type: 'heading', text: 'x', level: 42 }).catch((e) => e)
  const dependent = atomo.blocks.update('Deal', deal.id, 'notes', 'bad-1', { text: 'y' }).catch((e) => e)
  const unrelated = atomo.blocks.update('Deal', deal.id, 'notes', 'b-1', { text: 'still applied' })
  await until(() => atomo.offline.pending().length === 3, 3000, 'three queued items')
  net.offline = false
  await atomo.offline.sync()
  assert.equal((await bad).code, 'VALIDATION_ERROR')
  assert.equal((await dependent).code, 'DEPENDENCY_FAILED')
  assert.equal((await unrelated).block.text, 'still applied')
  assert.deepEqual(rejected, ['VALIDATION_ERROR', 'DEPENDENCY_FAILED'])
})
