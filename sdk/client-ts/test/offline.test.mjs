// The offline queue against a real server that this file starts, kills (-9) and restarts itself.
// Env (from tests/sdk/test_client_offline.py): TEST_PYTHON, TEST_PROJECT (a project folder), TEST_PORT,
// ATOMO_ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD; the server inherits the rest of this process's environment.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { AtomoError, createClient, memoryTokenStore } from '../dist/index.js'

const PYTHON = process.env.TEST_PYTHON
const PROJECT = process.env.TEST_PROJECT
const PORT = process.env.TEST_PORT
const EMAIL = process.env.ATOMO_ADMIN_EMAIL
const PASSWORD = process.env.ATOMO_ADMIN_PASSWORD
assert.ok(PYTHON && PROJECT && PORT && EMAIL && PASSWORD, 'TEST_PYTHON, TEST_PROJECT, TEST_PORT and admin credentials must be set')
const SERVER_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEST_') && !k.startsWith('ATOMO_ADMIN_')))
const URL_ = `http://127.0.0.1:${PORT}`
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---- the server process ----
let server = null
async function startServer() {
  server = spawn(PYTHON, ['-m', 'atomo', '--project', PROJECT, 'serve', '--port', PORT], { cwd: PROJECT, env: SERVER_ENV, stdio: ['ignore', 'ignore', 'inherit'] })
  const deadline = Date.now() + 60000
  while (Date.now() < deadline) {
    try { if ((await fetch(`${URL_}/health`)).ok) return } catch { /* not yet */ }
    await sleep(100)
  }
  throw new Error('atomo serve did not start')
}
async function killServer() {
  const proc = server
  server = null
  if (!proc || proc.exitCode !== null) return
  const exited = new Promise((r) => proc.once('exit', r))
  proc.kill('SIGKILL')
  await exited
}
before(startServer)
after(killServer)

// ---- helpers ----
/** A file adapter (what a Node app passes as `offline.storage`). */
function fileStorage(path) {
  return {
    load: () => (existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : null),
    save: (state) => writeFileSync(path, JSON.stringify(state)),
  }
}
/** A fetch that can be switched offline (throws like a dropped network) and counts requests. */
function switchableFetch() {
  const control = { offline: false, calls: 0, dropNextResponse: 0 }
  control.fn = async (url, init) => {
    control.calls++
    if (control.offline) throw new TypeError('fetch failed (offline)')
    const response = await fetch(url, init)
    if (control.dropNextResponse > 0 && init?.headers?.['idempotency-key']) {
      control.dropNextResponse--
      await response.text()
      throw new TypeError('fetch failed (the answer was lost)')   // the server did apply it
    }
    return response
  }
  return control
}
async function adminTokens() {
  const a = createClient({ url: URL_ })
  await a.auth.login(EMAIL, PASSWORD)
  return a.tokens()
}
async function adminClient() {
  const a = createClient({ url: URL_ })
  await a.auth.login(EMAIL, PASSWORD)
  return a
}
async function waitFor(check, what, ms = 20000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  assert.fail(`timed out waiting for ${what}`)
}
const FAST = { retryBaseMs: 50, retryMaxMs: 400, syncIntervalMs: 300 }

test('online: a mutation through the queue is sent at once and resolves with its record', async () => {
  const control = switchableFetch()
  const atomo = createClient({ url: URL_, fetch: control.fn, offline: { enabled: true, storage: fileStorage(join(mkdtempSync(join(tmpdir(), 'q-')), 'q.json')), ...FAST } })
  await atomo.auth.login(EMAIL, PASSWORD)
  const tag = randomUUID().slice(0, 8)
  const company = await atomo.create('Company', { name: `Online ${tag}` })
  assert.equal(company.name, `Online ${tag}`)
  assert.equal(atomo.offline.getStatus().pendingCount, 0)
  assert.equal((await atomo.update('Company', company.id, { industry: tag })).industry, tag)
  atomo.offline.close()
})

test('a retry after a lost answer does not create twice (Idempotency-Key honoured by the server)', async () => {
  const control = switchableFetch()
  const atomo = createClient({ url: URL_, fetch: control.fn, offline: { enabled: true, storage: fileStorage(join(mkdtempSync(join(tmpdir(), 'q-')), 'q.json')), ...FAST } })
  await atomo.auth.login(EMAIL, PASSWORD)
  const tag = randomUUID().slice(0, 8)
  control.dropNextResponse = 1
  const created = await atomo.create('Company', { name: `Lost ${tag}`, industry: tag })
  assert.equal(created.industry, tag)
  control.dropNextResponse = 1
  const updated = await atomo.update('Company', created.id, { employeeCount: 7 })
  assert.equal(updated.employeeCount, 7)
  const admin = await adminClient()
  const rows = await admin.records('Company', { where: { industry: tag } })
  assert.equal(rows.length, 1)
  assert.equal(rows[0]._version, 2)                 // one create, one update: nothing applied twice
  atomo.offline.close()
})

test('queued while the server is down, persisted, drained in order exactly once by a restarted app', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'q-')), 'queue.json')
  const tokens = await adminTokens()
  const first = createClient({ url: URL_, tokenStore: memoryTokenStore(tokens), offline: { enabled: true, storage: fileStorage(file), ...FAST } })
  const tag = randomUUID().slice(0, 8)
  await killServer()
  const statuses = []
  first.offline.onStatusChange((s) => statuses.push(s))
  const pendingResults = []
  pendingResults.push(first.create('Company', { name: `Queued ${tag}`, industry: tag }))
  await waitFor(() => first.offline.pending().length === 1, 'the create to be queued')
  const id = first.offline.pending()[0].args[0].id
  assert.match(id, /^[0-9a-f-]{36}$/)               // a client-generated UUID the next items can target
  for (let n = 1; n <= 5; n++) pendingResults.push(first.update('Company', id, { employeeCount: n }))
  for (let n = 0; n < 10; n++) pendingResults.push(first.create('Company', { name: `Queued ${tag} ${n}`, industry: tag }))
  await waitFor(() => first.offline.pending().length === 16, '16 queued items')
  await first.offline.saved()
  const saved = JSON.parse(readFileSync(file, 'utf8'))
  assert.equal(saved.pending.length, 16)
  assert.deepEqual(saved.pending.slice(0, 6).map((i) => i.op), ['create', 'update', 'update', 'update', 'update', 'update'])
  assert.ok(saved.pending.every((i) => i.idempotencyKey && i.queueId && i.userId))
  assert.ok(statuses.some((s) => s.pendingCount === 16))
  first.offline.close()                             // the app is closed; its promises never settle
  // a new app process: same storage, same user
  await startServer()
  const second = createClient({ url: URL_, tokenStore: memoryTokenStore(tokens), offline: { enabled: true, storage: fileStorage(file), ...FAST } })
  await second.offline.ready
  await waitFor(() => second.offline.getStatus().pendingCount === 0, 'the queue to drain')
  assert.equal(second.offline.getStatus().failedCount, 0)
  assert.ok(second.offline.getStatus().lastSyncAt)
  const admin = await adminClient()
  const rows = await admin.records('Company', { where: { industry: tag }, limit: 100 })
  assert.equal(rows.length, 11)
  const queued = rows.find((r) => r.id === id)
  assert.equal(queued.employeeCount, 5)             // the updates applied in order
  assert.equal(queued._version, 6)                  // …and exactly once each
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).pending.length, 0)
  second.offline.close()
  void pendingResults
})

test('kill -9 of the server while the queue drains: every item applied exactly once', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'q-')), 'queue.json')
  const tokens = await adminTokens()
  const atomo = createClient({ url: URL_, tokenStore: memoryTokenStore(tokens), offline: { enabled: true, storage: fileStorage(file), ...FAST } })
  const tag = randomUUID().slice(0, 8)
  const company = await atomo.create('Company', { name: `Counter ${tag}`, industry: tag })
  await killServer()
  const results = []
  for (let n = 0; n < 40; n++) {
    results.push(atomo.create('Contact', { firstName: 'Drain', lastName: `${tag}-${n}`, email: `${tag}-${n}@drain.test` }))
    if (n % 4 === 0) results.push(atomo.update('Company', company.id, { employeeCount: n }))
  }
  await waitFor(() => atomo.offline.pending().length === 50, '50 queued items')
  await startServer()
  const admin = await adminClient()
  await waitFor(async () => (await admin.count('Contact', { email: { endsWith: '@drain.test' }, lastName: { startsWith: tag } })) >= 12,
    'part of the queue to be applied')
  await killServer()                               // in the middle of the drain
  await sleep(300)
  await startServer()
  const all = await Promise.all(results)            // every promise of this app resolves
  assert.equal(all.length, 50)
  assert.equal(atomo.offline.getStatus().pendingCount, 0)
  const check = await adminClient()
  const contacts = await check.records('Contact', { where: { lastName: { startsWith: `${tag}-` } }, limit: 100 })
  assert.equal(contacts.length, 40)
  assert.equal(new Set(contacts.map((c) => c.lastName)).size, 40)
  const counter = await check.record('Company', company.id)
  if (counter.employeeCount !== 36) console.log('HISTORY', JSON.stringify((await check.history('Company', company.id)).map((e) => [e.type, e.data?.employeeCount, e.streamVersion])), JSON.stringify(all.filter((r) => r && r.employeeCount !== undefined).map((r) => r.employeeCount)))
  assert.equal(counter.employeeCount, 36)
  assert.equal(counter._version, 11)                // 1 create + 10 updates, none repeated
  atomo.offline.close()
})

test('conflicts, rejections and dependent items are reported; resubmit applies a corrected copy', async () => {
  const control = switchableFetch()
  const atomo = createClient({ url: URL_, fetch: control.fn, WebSocket, offline: { enabled: true, storage: fileStorage(join(mkdtempSync(join(tmpdir(), 'q-')), 'q.json')), ...FAST } })
  await atomo.auth.login(EMAIL, PASSWORD)
  const other = await adminClient()
  const tag = randomUUID().slice(0, 8)
  const company = await atomo.create('Company', { name: `Conflict ${tag}` })
  await atomo.cache.fetch('Company', 'record', { id: company.id })            // shown by the app: cached at _version 1
  assert.equal(atomo.cache.peekRecord('Company', company.id)._version, 1)
  const conflicts = [], rejected = []
  atomo.offline.on('conflict', (e) => conflicts.push(e))
  atomo.offline.on('rejected', (e) => rejected.push(e))
  control.offline = true
  const outcome = (promise) => promise.then(() => null, (e) => e)     // settled later: handled from the start
  const stale = outcome(atomo.update('Company', company.id, { industry: 'mine' }))   // queued with expectedVersion 1
  const badCreate = outcome(atomo.create('Contact', { firstName: `NoEmail ${tag}` }))
  await waitFor(() => atomo.offline.pending().length === 2, 'two queued items')
  const badId = atomo.offline.pending()[1].args[0].id
  const dependent = outcome(atomo.update('Contact', badId, { lastName: 'x' }))
  await waitFor(() => atomo.offline.pending().length === 3, 'three queued items')
  assert.equal(atomo.offline.pending()[0].expectedVersion, 1)
  await other.update('Company', company.id, { industry: 'theirs' })          // the server moves to version 2
  control.offline = false
  await atomo.offline.sync()
  const e1 = await stale
  assert.ok(e1 instanceof AtomoError, `not an AtomoError: ${e1}`)
  assert.equal(e1.code, 'CONFLICT')
  assert.equal(conflicts.length, 1)
  assert.equal(conflicts[0].current.industry, 'theirs')
  assert.equal(conflicts[0].current._version, 2)
  const e2 = await badCreate
  assert.equal(e2.code, 'VALIDATION_ERROR')
  const e3 = await dependent
  assert.equal(e3.code, 'DEPENDENCY_FAILED')
  assert.deepEqual(rejected.map((r) => r.error.code), ['VALIDATION_ERROR', 'DEPENDENCY_FAILED'])
  assert.equal((await other.record('Company', company.id)).industry, 'theirs')   // nothing overwritten
  const fixed = await atomo.offline.resubmit(rejected[0].item, [{ ...rejected[0].item.args[0], lastName: tag, email: `${tag}@fixed.test` }])
  assert.equal(fixed.email, `${tag}@fixed.test`)
  atomo.offline.close()
})

test('transient failures back off and move to failed after maxAttempts; retry(queueId) replays', async () => {
  const control = switchableFetch()
  const atomo = createClient({ url: URL_, fetch: control.fn, offline: { enabled: true, storage: fileStorage(join(mkdtempSync(join(tmpdir(), 'q-')), 'q.json')), maxAttempts: 3, ...FAST } })
  await atomo.auth.login(EMAIL, PASSWORD)
  control.offline = true
  const tag = randomUUID().slice(0, 8)
  const started = Date.now()
  const failed = await atomo.create('Company', { name: `Retry ${tag}`, industry: tag }).then(() => null, (e) => e)
  assert.equal(failed.code, 'NETWORK_ERROR')
  assert.ok(Date.now() - started >= 80, 'the retries were spaced by the backoff')
  const status = atomo.offline.getStatus()
  assert.equal(status.pendingCount, 0)
  assert.equal(status.failedCount, 1)
  const [item] = atomo.offline.failed()
  assert.equal(item.attempts, 3)
  assert.equal(item.lastError.code, 'NETWORK_ERROR')
  control.offline = false
  await atomo.offline.retry(item.queueId)
  await waitFor(() => atomo.offline.getStatus().failedCount === 0 && atomo.offline.getStatus().pendingCount === 0, 'the retried item')
  const admin = await adminClient()
  assert.equal((await admin.records('Company', { where: { industry: tag } })).length, 1)
  atomo.offline.close()
})

test('a 401 pauses the queue without counting a failure until the user logs in again', async () => {
  const tokens = await adminTokens()
  const [h, p, s] = tokens.token.split('.')
  const tampered = `${h}.${p}.${s.slice(0, -4)}AAAA`                  // same user, bad signature
  const store = memoryTokenStore({ token: tampered })
  const atomo = createClient({ url: URL_, tokenStore: store, offline: { enabled: true, storage: fileStorage(join(mkdtempSync(join(tmpdir(), 'q-')), 'q.json')), ...FAST } })
  const tag = randomUUID().slice(0, 8)
  const created = atomo.create('Company', { name: `Paused ${tag}`, industry: tag })
  await waitFor(() => atomo.offline.getStatus().paused === 'auth', 'the queue to pause')
  assert.equal(atomo.offline.pending()[0].attempts, 0)
  await atomo.auth.login(EMAIL, PASSWORD)
  const record = await created
  assert.equal(record.industry, tag)
  assert.equal(atomo.offline.getStatus().paused, null)
  atomo.offline.close()
})
