// modelChanges over /graphql/ws and the query cache against a real server (tests/sdk/test_client_cache.py).
// Env: ATOMO_URL, ATOMO_ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD. Node 20 has no global WebSocket: `ws` is passed in.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { createClient } from '../dist/index.js'
import { URL_, EMAIL, PASSWORD, droppableWebSocket, dropAndResume, sleep, tag, until } from './env.mjs'



/** A fetch that records the GraphQL operation of every request. */
function recordingFetch() {
  const calls = []
  const fn = (url, init = {}) => {
    let op = null
    try { op = JSON.parse(init.body ?? 'null')?.query ?? null } catch { /* not JSON */ }
    calls.push({ url, op, variables: (() => { try { return JSON.parse(init.body).variables } catch { return null } })() })
    return fetch(url, init)
  }
  return { fn, calls }
}

const clients = []
async function admin(extra = {}) {
  const atomo = createClient({ url: URL_, WebSocket, ...extra })
  await atomo.auth.login(EMAIL, PASSWORD)
  clients.push(atomo)
  return atomo
}


/** Observe one cache entry; resolves the states as they change. */
function watch(cache, model, op, args) {
  const observer = cache.observe(model, op, args)
  const states = []
  const listeners = new Set()
  const off = observer.subscribe(() => {
    const s = observer.getSnapshot()
    states.push(s)
    for (const l of [...listeners]) l(s)
  })
  return {
    observer, states, off,
    get state() { return observer.getSnapshot() },
    /** Resolve with the time when `check(state)` first holds. */
    when(check, ms = 3000) {
      if (check(observer.getSnapshot())) return Promise.resolve(performance.now())
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { listeners.delete(l); reject(new Error('timed out; last state ' + JSON.stringify(observer.getSnapshot()).slice(0, 300))) }, ms)
        const l = (s) => { if (check(s)) { clearTimeout(timer); listeners.delete(l); resolve(performance.now()) } }
        listeners.add(l)
      })
    },
  }
}

test.after(() => { for (const c of clients) { c.subscriptions.close(); c.cache.dispose() } })

test('modelChanges delivers CREATED, UPDATED, DELETED with increasing positions, then unsubscribes', async () => {
  const atomo = await admin()
  const events = []
  const errors = []
  const off = atomo.modelChanges('Company', (e) => events.push(e), { onError: (e) => errors.push(e) })
  await until(() => atomo.subscriptions.connected, 3000, 'the socket')
  await sleep(50)
  const c = await atomo.create('Company', { name: `Events ${tag()}` })
  await atomo.update('Company', c.id, { industry: 'events' })
  await atomo.delete('Company', c.id)
  await until(() => events.filter((e) => e.data.id === c.id).length === 3, 3000, 'three events')
  const mine = events.filter((e) => e.data.id === c.id)
  assert.deepEqual(mine.map((e) => e.eventType), ['CREATED', 'UPDATED', 'DELETED'])
  assert.ok(mine[0].position < mine[1].position && mine[1].position < mine[2].position)
  assert.equal(mine[0].modelName, 'Company')
  assert.equal(mine[1].data.industry, 'events')
  assert.equal(mine[1].data._version, 2)
  assert.equal(mine[1].previousData.industry, null)
  assert.ok(mine[2].data.deletedAt)
  assert.equal(typeof mine[0].eventId, 'string')
  assert.deepEqual(errors, [])
  // `after` replays from the log
  const replay = []
  const off2 = atomo.modelChanges('Company', (e) => replay.push(e), { after: mine[0].position - 1 })
  await until(() => replay.some((e) => e.position === mine[2].position), 3000, 'the replay')
  assert.deepEqual(replay.filter((e) => e.data.id === c.id).map((e) => e.position), mine.map((e) => e.position))
  off(); off2()
  // an unknown model is an error for that subscription; the socket stays usable
  const failed = await new Promise((resolve) => atomo.modelChanges('NoSuchModel', () => {}, { onError: resolve }))
  assert.equal(failed.code, 'VALIDATION_ERROR')
  await until(() => !atomo.subscriptions.connected, 4000, 'the idle socket to close')
})

test('a typed model client subscribes to its model by collection name', async () => {
  const atomo = await admin()
  const events = []
  const off = atomo.companies.subscribe((e) => events.push(e))
  await until(() => atomo.subscriptions.connected, 3000, 'the socket')
  await sleep(50)
  const made = await atomo.companies.create({ name: `Typed ${tag()}` })
  await until(() => events.some((e) => e.data.id === made.id), 3000, 'the CREATED event')
  assert.equal(events.find((e) => e.data.id === made.id).eventType, 'CREATED')
  off()
  const errors = []
  atomo.collection('noSuchThings').subscribe(() => {}, { onError: (e) => errors.push(e) })
  await until(() => errors.length === 1, 3000, 'the error')
  assert.equal(errors[0].code, 'NOT_FOUND')
})

test('resuming with after across a dropped socket misses nothing and duplicates nothing', async () => {
  const { WebSocket: Droppable, sockets } = droppableWebSocket()
  const reader = await admin({ WebSocket: Droppable })
  const writer = await admin()
  const t = tag()
  const seen = []
  const off = reader.modelChanges('Company', (e) => { if (e.data.industry === t || e.eventType !== 'CREATED') seen.push(e) })
  await until(() => reader.subscriptions.connected, 3000, 'the socket')
  await sleep(50)
  const ids = await dropAndResume(reader, sockets,
    async (n) => (await writer.create('Company', { name: `Resume ${t} ${n}`, industry: t })).id,
    () => seen.filter((e) => e.data.industry === t).length)
  const mine = seen.filter((e) => e.data.industry === t)
  assert.deepEqual(mine.map((e) => e.data.id), ids)                // none missed, none twice, in order
  const positions = mine.map((e) => e.position)
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b))
  assert.equal(new Set(positions).size, positions.length)
  off()
})

test('two clients: a write by one patches and invalidates the other\'s cached queries within 200 ms', async () => {
  const a = await admin(), b = await admin()
  const t = tag()
  const seed = await b.create('Company', { name: `Two ${t} seed`, industry: t })
  const list = watch(a.cache, 'Company', 'records', { where: { industry: t }, orderBy: { name: 'asc' } })
  const one = watch(a.cache, 'Company', 'record', { id: seed.id })
  const count = watch(a.cache, 'Company', 'count', { where: { industry: t } })
  await list.when((s) => s.data?.length === 1 && !s.stale)
  await one.when((s) => s.data?.id === seed.id && !s.stale)
  await count.when((s) => s.data === 1 && !s.stale)
  assert.ok(a.cache.isLive('Company'))

  let start = performance.now()
  const created = await b.create('Company', { name: `Two ${t} second`, industry: t })
  let at = await list.when((s) => s.data?.some((r) => r.id === created.id))
  assert.ok(at - start < 200, `list updated after ${at - start} ms`)
  await count.when((s) => s.data === 2)

  start = performance.now()
  await b.update('Company', seed.id, { website: 'https://two.example' })
  at = await one.when((s) => s.data?.website === 'https://two.example')
  assert.ok(at - start < 200, `record patched after ${at - start} ms`)
  assert.equal(one.state.data._version, 2)
  await list.when((s) => s.data?.find((r) => r.id === seed.id)?.website === 'https://two.example')

  start = performance.now()
  await b.delete('Company', seed.id)
  at = await one.when((s) => s.data === null)
  assert.ok(at - start < 200, `record removed after ${at - start} ms`)
  await list.when((s) => s.data?.length === 1 && s.data[0].id === created.id)
  await count.when((s) => s.data === 1)
  assert.equal(a.cache.peekRecord('Company', seed.id), null)

  await b.restore('Company', seed.id)                           // RESTORED: the record entry is refetched
  await one.when((s) => s.data?.id === seed.id && s.data.deletedAt === null)
  await list.when((s) => s.data?.length === 2)
  list.off(); one.off(); count.off()
})

test('gc removes entries without subscribers after gcTimeMs; entries in use stay', async () => {
  const atomo = await admin({ cache: { gcTimeMs: 150 } })
  await atomo.cache.fetch('Company', 'count', {})
  assert.equal(atomo.cache.size, 1)
  const used = watch(atomo.cache, 'Company', 'records', { limit: 1 })
  await used.when((s) => s.status === 'success')
  assert.equal(atomo.cache.size, 2)
  await sleep(400)
  assert.equal(atomo.cache.size, 1, 'the unused count entry is gone, the watched list stays')
  assert.equal(atomo.cache.peek('Company', 'count', {}), undefined)
  used.off()
  assert.equal(atomo.cache.size, 1)
  await sleep(400)
  assert.equal(atomo.cache.size, 0)
})

test('no refetch storm: 20 quick remote writes cause a few coalesced refetches of the list in use', async () => {
  const rec = recordingFetch()
  const a = await admin({ fetch: rec.fn }), b = await admin()
  const t = tag()
  const list = watch(a.cache, 'Company', 'records', { where: { industry: t } })
  const page = watch(a.cache, 'Company', 'paginatedRecords', { where: { industry: t }, limit: 5 })
  await list.when((s) => s.status === 'success' && !s.stale)
  await page.when((s) => s.status === 'success' && !s.stale)
  const before = rec.calls.length
  await Promise.all(Array.from({ length: 20 }, (_, i) => b.create('Company', { name: `Storm ${t} ${i}`, industry: t })))
  await list.when((s) => s.data?.length === 20, 5000)
  await page.when((s) => s.data?.pageInfo.totalCount === 20, 5000)
  await sleep(300)                                              // let trailing refetches settle
  const refetches = rec.calls.slice(before)
  const lists = refetches.filter((c) => c.op.includes('records(')).length
  const pages = refetches.filter((c) => c.op.includes('paginatedRecords(')).length
  assert.ok(lists >= 1 && lists <= 8, `${lists} list refetches for 20 writes`)
  assert.ok(pages >= 1 && pages <= 8, `${pages} page refetches for 20 writes`)
  assert.equal(refetches.length, lists + pages)
  console.log(`refetches for 20 remote writes: records ${lists}, paginatedRecords ${pages}`)
  list.off(); page.off()
})

test('concurrent identical queries share one request; different arguments do not; key order does not matter', async () => {
  const rec = recordingFetch()
  const atomo = await admin({ fetch: rec.fn })
  const t = tag()
  // the model's subscription live first: its first going live re-reads what was read before it (once per model)
  const warm = watch(atomo.cache, 'Company', 'count', { where: { industry: `${t}-warm` } })
  await until(() => atomo.cache.isLive('Company') && warm.state.status === 'success' && !warm.state.fetching, 3000, 'live')
  await sleep(100)
  const before = rec.calls.length
  const [x, y] = await Promise.all([
    atomo.cache.fetch('Company', 'records', { where: { industry: t }, limit: 5 }),
    atomo.cache.fetch('Company', 'records', { limit: 5, where: { industry: t } }),
  ])
  assert.equal(x, y)
  assert.equal(rec.calls.length - before, 1)
  const w1 = watch(atomo.cache, 'Company', 'count', { where: { industry: t } })
  const w2 = watch(atomo.cache, 'Company', 'count', { where: { industry: t } })
  await w1.when((s) => s.status === 'success'); await w2.when((s) => s.status === 'success')
  assert.equal(rec.calls.length - before, 2)
  await atomo.cache.fetch('Company', 'count', { where: { industry: `${t}-other` } })
  assert.equal(rec.calls.length - before, 3)
  w1.off(); w2.off(); warm.off()
})

test('local mutations write into the cache; optimistic changes roll back; peekRecord', async () => {
  const rec = recordingFetch()
  const atomo = await admin({ fetch: rec.fn })
  const t = tag()
  const c = await atomo.create('Company', { name: `Local ${t}`, industry: t })
  const one = watch(atomo.cache, 'Company', 'record', { id: c.id })
  const list = watch(atomo.cache, 'Company', 'records', { where: { industry: t } })
  await one.when((s) => s.status === 'success'); await list.when((s) => s.data?.length === 1)
  assert.equal(atomo.cache.peekRecord('Company', c.id)._version, 1)
  assert.equal(atomo.cache.peekRecord('Company', 'not-cached'), undefined)

  const rollback = atomo.cache.optimistic('Company', 'update', [c.id, { website: 'https://opt.example' }])
  assert.equal(one.state.data.website, 'https://opt.example')
  assert.equal(list.state.data[0].website, 'https://opt.example')
  rollback()
  assert.equal(one.state.data.website, null)
  assert.equal(list.state.data[0].website, null)

  const newId = randomUUID()
  const undoCreate = atomo.cache.optimistic('Company', 'create', [{ id: newId, name: `Local ${t} 2`, industry: t }])
  assert.deepEqual(list.state.data.map((r) => r.id), [c.id, newId])
  undoCreate()
  assert.deepEqual(list.state.data.map((r) => r.id), [c.id])
  const undoDelete = atomo.cache.optimistic('Company', 'delete', [c.id])
  assert.equal(one.state.data, null)
  assert.deepEqual(list.state.data, [])
  undoDelete()
  assert.equal(one.state.data.id, c.id)

  // a successful mutation writes its result at once (no refetch of the record needed) and refetches lists
  const updated = await atomo.update('Company', c.id, { employeeCount: 7 })
  assert.deepEqual(one.state.data, updated)       // the result, or the same version from its event if that came first
  assert.equal(one.state.data._version, 2)
  atomo.cache.writeRecord('Company', { ...updated, employeeCount: 1, _version: 1 })     // older: ignored
  assert.equal(one.state.data.employeeCount, 7)
  await list.when((s) => s.data?.[0].employeeCount === 7)
  await atomo.delete('Company', c.id)
  assert.equal(one.state.data, null)
  assert.equal(atomo.cache.peekRecord('Company', c.id), null)
  await list.when((s) => s.data?.length === 0)
  // restore: the record entry is fetched again
  await atomo.restore('Company', c.id)
  await one.when((s) => s.data?.id === c.id)
  one.off(); list.off()
})

test('setTenant and logout clear the cache; observers refetch under the new identity', async () => {
  const rec = recordingFetch()
  const atomo = await admin({ fetch: rec.fn })
  const t = tag()
  const c = await atomo.create('Company', { name: `Tenant ${t}` })        // unscoped (no tenant)
  await atomo.cache.fetch('Company', 'record', { id: c.id })
  const one = watch(atomo.cache, 'Company', 'record', { id: c.id })
  await one.when((s) => s.data?.id === c.id)
  await atomo.cache.fetch('Company', 'count', {})
  assert.equal(atomo.cache.size, 2)
  const keyBefore = one.observer.key
  atomo.setTenant(`tenant-${t}`)
  assert.equal(atomo.cache.peek('Company', 'count', {}), undefined)
  assert.notEqual(one.observer.key, keyBefore)
  await one.when((s) => s.status === 'success' && s.data === null)     // invisible in that tenant
  assert.equal(atomo.cache.size, 1)
  assert.equal(rec.calls.at(-1).variables.id, c.id)
  atomo.setTenant(null)
  await one.when((s) => s.data?.id === c.id)
  await atomo.auth.logout()
  assert.equal(atomo.cache.peekRecord('Company', c.id), undefined)
  await one.when((s) => s.status === 'error' && s.error.code === 'UNAUTHENTICATED')
  one.off()
})

test('BENCH: latency of a cached list query update after a remote write', async () => {
  // From just before the remote `create` until the other client's cached list holds the new record
  // (write → event over /graphql/ws → list refetch). "idle": writes 60 ms apart, so each event refetches at
  // once (leading edge); "back-to-back": the next write as soon as the list showed the last one, so events
  // fall into the 50 ms coalescing window of the refetch before.
  const a = await admin(), b = await admin()
  const t = tag()
  const list = watch(a.cache, 'Company', 'records', { where: { industry: t } })
  await list.when((s) => s.status === 'success' && !s.stale)
  const pct = (samples, p) => samples[Math.min(samples.length - 1, Math.ceil((p / 100) * samples.length) - 1)]
  let n = 0
  for (const [name, gapMs] of [['idle', 60], ['back-to-back', 0]]) {
    const samples = []
    for (let i = 0; i < 200; i++) {
      if (gapMs) await sleep(gapMs)
      const start = performance.now()
      const created = await b.create('Company', { name: `Bench ${t} ${n++}`, industry: t })
      const at = await list.when((s) => s.data?.some((r) => r.id === created.id), 5000)
      samples.push(at - start)
    }
    samples.sort((x, y) => x - y)
    console.log(`BENCH cache list update after a remote write (${name}, n=${samples.length}): ` +
      `p50=${pct(samples, 50).toFixed(1)}ms p99=${pct(samples, 99).toFixed(1)}ms max=${samples.at(-1).toFixed(1)}ms`)
  }
  assert.equal(list.state.data.length, 400)
  list.off()
})
