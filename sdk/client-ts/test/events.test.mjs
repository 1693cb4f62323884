// The event store of the client (`atomo.events.append / readStream / streams`) against a real server started by
// tests/sdk/test_client_events.py: the sample CRM schema plus the stream rules
//   'order-*': { append: 'sales|admin', read: 'authenticated' }, 'audit-*': { append: 'admin', read: 'admin' }
// and self-registration on (role `viewer`). Env: ATOMO_URL, ATOMO_ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD.
// `events.subscribe` runs over /graphql/ws; Node 20 has no global WebSocket: `ws` is passed in.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { createClient } from '../dist/index.js'
import { URL_, EMAIL, PASSWORD, droppableWebSocket, dropAndResume, rejects, sleep, tag, until } from './env.mjs'

const clients = []
function client(extra = {}) {
  const atomo = createClient({ url: URL_, WebSocket, ...extra })
  clients.push(atomo)
  return atomo
}
async function admin(extra = {}) {
  const atomo = client(extra)
  await atomo.auth.login(EMAIL, PASSWORD)
  return atomo
}
/** A self-registered user (role `viewer`). */
async function viewer() {
  const atomo = client()
  await atomo.auth.register({ email: `viewer-${tag()}@events.test`, password: 'viewer-password-1' })
  return atomo
}
test.after(() => { for (const c of clients) c.close() })

test('append with expectedVersion 0 creates a stream; a stale expectedVersion is CONFLICT with currentVersion', async () => {
  const atomo = await admin()
  const me = await atomo.auth.me()
  const stream = `order-${tag()}`
  const first = await atomo.events.append(stream, [
    { type: 'OrderPlaced', data: { total: 30 }, metadata: { traceId: 't-1', source: { app: 'web' } } },
    { type: 'OrderPaid', data: { amount: 30 } },
  ], { expectedVersion: 0 })
  assert.equal(first.stream, stream)
  assert.equal(first.version, 2)
  assert.deepEqual(first.events.map((e) => [e.type, e.streamVersion, e.data, e.metadata]),
    [['OrderPlaced', 1, { total: 30 }, { traceId: 't-1', source: { app: 'web' } }], ['OrderPaid', 2, { amount: 30 }, null]])
  assert.ok(first.events.every((e) => e.stream === stream && e.actor === me.id && e.model === null && e.recordId === null))
  assert.ok(first.events[0].position < first.events[1].position)
  assert.match(first.events[0].eventId, /^[0-9a-f-]{36}$/)
  assert.ok(first.events[0].recordedAt)

  const again = await rejects(atomo.events.append(stream, [{ type: 'OrderPlaced' }], { expectedVersion: 0 }), 'CONFLICT')
  assert.deepEqual(again.details, { currentVersion: 2, expectedVersion: 0 })
  const stale = await rejects(atomo.events.append(stream, [{ type: 'OrderShipped' }], { expectedVersion: 1 }), 'CONFLICT')
  assert.equal(stale.details.currentVersion, 2)
  const next = await atomo.events.append(stream, [{ type: 'OrderShipped', data: { carrier: 'ups' } }], { expectedVersion: 2 })
  assert.equal(next.version, 3)
  const free = await atomo.events.append(stream, [{ type: 'OrderNoted' }])       // no expectedVersion: at the end
  assert.equal(free.version, 4)
})

test('readStream: version order, fromVersion and limit; metadata round trip; the global log still answers when called', async () => {
  const atomo = await admin()
  const stream = `order-${tag()}`
  const types = ['A1', 'A2', 'A3', 'A4', 'A5']
  await atomo.events.append(stream, types.map((type, i) => ({ type, data: { i }, metadata: i === 2 ? { note: 'third' } : undefined })))
  const all = await atomo.events.readStream(stream)
  assert.deepEqual(all.map((e) => [e.streamVersion, e.type, e.data.i]), types.map((t, i) => [i + 1, t, i]))
  assert.deepEqual(all.map((e) => e.metadata), [null, null, { note: 'third' }, null, null])
  assert.deepEqual((await atomo.events.readStream(stream, { fromVersion: 3 })).map((e) => e.streamVersion), [3, 4, 5])
  assert.deepEqual((await atomo.events.readStream(stream, { fromVersion: 2, limit: 2 })).map((e) => e.streamVersion), [2, 3])
  assert.deepEqual(await atomo.events.readStream(stream, { fromVersion: 6 }), [])
  assert.deepEqual(await atomo.events.readStream(`order-${tag()}`), [])
  await rejects(atomo.events.readStream(stream, { fromVersion: 0 }), 'VALIDATION_ERROR')
  await rejects(atomo.events.readStream(stream, { limit: 5000 }), 'VALIDATION_ERROR')
  // `atomo.events(...)` is still the global event log, with metadata
  const log = await atomo.events({ after: all[0].position - 1, limit: 5 })
  assert.deepEqual(log.map((e) => e.eventId), all.map((e) => e.eventId))
  assert.deepEqual(log[2].metadata, { note: 'third' })
  // a record stream is the record's history, read-only here
  const company = await atomo.create('Company', { name: `Events ${tag()}` })
  await atomo.update('Company', company.id, { industry: 'Rail' })
  const history = await atomo.events.readStream(`Company/${company.id}`)
  assert.deepEqual(history.map((e) => [e.type, e.model, e.recordId, e.streamVersion]),
    [['Created', 'Company', company.id, 1], ['Updated', 'Company', company.id, 2]])
  await rejects(atomo.events.append(`Company/${company.id}`, [{ type: 'Hacked' }]), 'PERMISSION_DENIED')
  // invalid input
  await rejects(atomo.events.append(stream, []), 'VALIDATION_ERROR')
  await rejects(atomo.events.append(stream, [{ type: 'Created' }]), 'VALIDATION_ERROR')
  await rejects(atomo.events.append(stream, [{ type: '9lives' }]), 'VALIDATION_ERROR')
  await rejects(atomo.events.append('$all', [{ type: 'Nope' }]), 'VALIDATION_ERROR')
})

test('streams: by name with prefix, after and limit, with version, last position and time; record streams left out', async () => {
  const atomo = await admin()
  const prefix = `order-${tag()}-`
  const names = [`${prefix}a`, `${prefix}b`, `${prefix}c`]
  const positions = []
  for (const [i, name] of names.entries()) {
    const done = await atomo.events.append(name, Array.from({ length: i + 1 }, () => ({ type: 'Tick' })))
    positions.push(done.events.at(-1).position)
  }
  const listed = await atomo.events.streams({ prefix })
  assert.deepEqual(listed.map((s) => [s.name, s.version, s.lastPosition]), names.map((n, i) => [n, i + 1, positions[i]]))
  assert.ok(listed.every((s) => typeof s.lastEventAt === 'string' && s.lastEventAt.length > 0))
  assert.deepEqual((await atomo.events.streams({ prefix, limit: 2 })).map((s) => s.name), names.slice(0, 2))
  assert.deepEqual((await atomo.events.streams({ prefix, after: names[0] })).map((s) => s.name), names.slice(1))
  assert.deepEqual(await atomo.events.streams({ prefix: `order-${tag()}` }), [])
  const everything = await atomo.events.streams({ limit: 1000 })
  assert.ok(everything.every((s) => !/^(Company|Contact|Deal)\//.test(s.name)))
})

test('rules: a viewer reads order-* but may not append, never sees audit-*; anonymous callers must sign in', async () => {
  const boss = await admin()
  const user = await viewer()
  const order = `order-${tag()}`
  const audit = `audit-${tag()}`
  const loose = `loose-${tag()}`
  await boss.events.append(order, [{ type: 'OrderPlaced', metadata: { by: 'admin' } }])
  await boss.events.append(audit, [{ type: 'Audited' }])
  await boss.events.append(loose, [{ type: 'Free' }])          // no rule: only admins may
  assert.deepEqual((await user.events.readStream(order)).map((e) => [e.type, e.metadata]), [['OrderPlaced', { by: 'admin' }]])
  const denied = await rejects(user.events.append(order, [{ type: 'OrderPlaced' }]), 'PERMISSION_DENIED')
  assert.deepEqual(denied.details, { stream: order, action: 'append' })
  await rejects(user.events.readStream(audit), 'PERMISSION_DENIED')
  await rejects(user.events.readStream(loose), 'PERMISSION_DENIED')
  await rejects(user.events.append(loose, [{ type: 'Free' }]), 'PERMISSION_DENIED')
  const visible = (await user.events.streams({ limit: 1000 })).map((s) => s.name)
  assert.ok(visible.includes(order))
  assert.ok(!visible.includes(audit) && !visible.includes(loose))
  assert.deepEqual((await boss.events.streams({ prefix: audit })).map((s) => s.name), [audit])
  const anonymous = client()
  await rejects(anonymous.events.readStream(order), 'UNAUTHENTICATED')
  await rejects(anonymous.events.append(order, [{ type: 'OrderPlaced' }]), 'UNAUTHENTICATED')
})

test('subscribe: live events of a stream in order, `after` replays exactly the later ones, a prefix merges streams by position', async () => {
  const atomo = await admin()
  const writer = await admin()
  const stream = `order-${tag()}`
  const live = []
  const errors = []
  const off = atomo.events.subscribe({ stream }, (e) => live.push(e), { onError: (e) => errors.push(e) })
  await until(() => atomo.subscriptions.connected, 3000, 'the socket')
  await sleep(200)
  const first = await writer.events.append(stream, [
    { type: 'OrderPlaced', data: { total: 5 }, metadata: { traceId: 'sub-1' } }, { type: 'OrderPaid', data: { amount: 5 } },
  ])
  const second = await writer.events.append(stream, [{ type: 'OrderShipped' }])
  await until(() => live.length >= 3, 5000, 'three live events')
  await sleep(200)
  const appended = [...first.events, ...second.events]
  assert.deepEqual(live, appended)                                     // every field, metadata included, in order
  assert.deepEqual(live[0].metadata, { traceId: 'sub-1' })
  assert.deepEqual(errors, [])
  off()
  await writer.events.append(stream, [{ type: 'OrderNoted' }])          // after unsubscribing: not delivered
  await sleep(300)
  assert.equal(live.length, 3)

  // `after`: exactly the events with a later position, then live
  const replayed = []
  const offAfter = atomo.events.subscribe({ stream }, (e) => replayed.push(e), { after: appended[0].position })
  await until(() => replayed.length >= 3, 5000, 'the replay')
  const more = await writer.events.append(stream, [{ type: 'OrderClosed' }])
  await until(() => replayed.length >= 4, 5000, 'the live event after the replay')
  await sleep(200)
  assert.deepEqual(replayed.map((e) => [e.streamVersion, e.type]),
    [[2, 'OrderPaid'], [3, 'OrderShipped'], [4, 'OrderNoted'], [5, 'OrderClosed']])
  assert.equal(replayed.at(-1).eventId, more.events[0].eventId)
  offAfter()

  // a prefix: two streams' events in position order (and nothing of other streams)
  const prefix = `order-${tag()}-`
  const merged = []
  const start = (await writer.events.append(`order-${tag()}`, [{ type: 'Elsewhere' }])).events[0].position
  const offPrefix = atomo.events.subscribe({ prefix }, (e) => merged.push(e), { after: start })
  const expected = []
  for (const [name, type] of [['a', 'A1'], ['b', 'B1'], ['a', 'A2'], ['b', 'B2'], ['b', 'B3']]) {
    expected.push((await writer.events.append(`${prefix}${name}`, [{ type }])).events[0])
  }
  await writer.events.append(`order-${tag()}`, [{ type: 'Elsewhere' }])
  await until(() => merged.length >= 5, 5000, 'the prefix events')
  await sleep(200)
  assert.deepEqual(merged.map((e) => [e.stream, e.type, e.position]), expected.map((e) => [e.stream, e.type, e.position]))
  const positions = merged.map((e) => e.position)
  assert.deepEqual(positions, [...positions].sort((x, y) => x - y))
  offPrefix()
})

test('subscribe: after the server drops the socket it resumes from the last delivered position, nothing lost or twice', async () => {
  const { WebSocket: Droppable, sockets } = droppableWebSocket()
  const reader = await admin({ WebSocket: Droppable })
  const writer = await admin()
  const stream = `order-${tag()}`
  const seen = []
  const off = reader.events.subscribe({ stream }, (e) => seen.push(e))
  await until(() => reader.subscriptions.connected, 3000, 'the socket')
  await sleep(200)
  const ids = await dropAndResume(reader, sockets,
    async (n) => (await writer.events.append(stream, [{ type: 'Tick', data: { i: n } }])).events[0].eventId,
    () => seen.length)
  assert.deepEqual(seen.map((e) => e.eventId), ids)                // none missed, none twice, in order
  assert.deepEqual(seen.map((e) => e.streamVersion), Array.from({ length: 10 }, (_, i) => i + 1))
  off()
})
