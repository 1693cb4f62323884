// Node test runner suite of @atomo-cc/worker-sdk against a real Atomo server.
// Needs ATOMO_URL and ATOMO_ADMIN_TOKEN (an admin JWT); tests/jobs/test_ts_worker.py starts the server
// (with ATOMO_JOB_RECLAIM_INTERVAL=1 and the schema of tests/jobs/schemas.py: model `Note` with
// update rule `owner(ownerId)`, stream rules `note-*` (anyone signed in) and `audit-*` (appended by admins)),
// builds the package and runs `npm test` with both set.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, describe, test } from 'node:test'

import { CrudClient, CrudError, JobsClient, LeaseLostError, NonRetryableError, createWorker } from '../dist/index.js'

const URL = process.env.ATOMO_URL
const ADMIN = process.env.ATOMO_ADMIN_TOKEN
const skip = !URL || !ADMIN ? 'ATOMO_URL and ATOMO_ADMIN_TOKEN are not set (run through pytest)' : false
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${ADMIN}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(URL + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : null }
}

async function workerToken(queues, capabilities = []) {
  const created = await api('POST', '/jobs/workers', { name: `ts-${randomUUID().slice(0, 8)}`, queues, capabilities })
  assert.equal(created.status, 201)
  assert.match(created.body.token, /^wkr_[0-9a-f]{64}$/)
  return created.body.token
}

async function enqueue(queue, kind, payload = {}, extra = {}) {
  const created = await api('POST', '/jobs', { queue, kind, payload, ...extra })
  assert.equal(created.status, 201)
  return created.body.id
}

async function until(check, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error('timed out')
    await sleep(50)
  }
}

const T = { timeout: 30000 }

// Runs `fn` with a started worker and always stops it (a running worker keeps the test process alive).
async function withWorker(opts, register, fn) {
  const worker = createWorker({ url: URL, pollIntervalMs: 50, ...opts })
  register(worker)
  await worker.start()
  try {
    return await fn(worker)
  } finally {
    await worker.stop()
  }
}

const jobDone = (id, statuses = ['succeeded', 'dead', 'cancelled']) =>
  until(async () => { const job = (await api('GET', `/jobs/${id}`)).body; return statuses.includes(job.status) && job })

describe('@atomo-cc/worker-sdk against a real server', { skip }, () => {
  let adminId
  before(async () => { adminId = (await api('GET', '/auth/me')).body.id })

  test('a handler leases, reports progress and completes with its value', T, async () => {
    const queue = `ts-${randomUUID()}`
    const id = await enqueue(queue, 'render', { pages: 3 })
    const seen = []
    const job = await withWorker({ token: await workerToken([queue]), queues: [queue] }, (worker) => {
      worker.on('render', async (ctx) => {
        seen.push(ctx.job)
        await ctx.progress({ percent: 40, message: 'rendering', data: { page: 2 } })
        return { pages: ctx.job.payload.pages }
      })
    }, async (worker) => {
      await worker.start()   // idempotent
      return jobDone(id)
    })
    assert.equal(job.status, 'succeeded')
    assert.deepEqual(job.result, { pages: 3 })
    assert.equal(job.progress.percent, 40)
    assert.equal(job.progress.message, 'rendering')
    assert.deepEqual(job.progress.data, { page: 2 })
    assert.equal(seen.length, 1)
    assert.equal(seen[0].attempts, 1)
    assert.equal(seen[0].queue, queue)
    assert.ok(seen[0].leaseId)
  })

  test('outcomes: NonRetryableError is dead, other errors retry, a missing handler is dead', T, async () => {
    const queue = `ts-${randomUUID()}`
    const fatal = await enqueue(queue, 'fatal')
    const flaky = await enqueue(queue, 'flaky', {}, { maxAttempts: 3 })
    const orphan = await enqueue(queue, 'orphan')
    const [dead, missing, retried] = await withWorker({ token: await workerToken([queue]), queues: [queue] },
      (worker) => worker
        .on('fatal', async () => { throw new NonRetryableError('deal vanished') })
        .on('flaky', async () => { throw new Error('try later') }),
      async () => [await jobDone(fatal), await jobDone(orphan), await until(async () => {
        const job = (await api('GET', `/jobs/${flaky}`)).body
        return job.attempts === 1 && job.status === 'queued' && job
      })])
    assert.equal(dead.status, 'dead')
    assert.equal(dead.error, 'deal vanished')
    assert.equal(dead.attempts, 1)
    assert.equal(missing.status, 'dead')
    assert.equal(missing.error, "no handler for kind 'orphan'")
    assert.equal(retried.error, 'try later')
  })

  test('CrudClient acts as the job actor and stamps the action as origin', T, async () => {
    const token = await workerToken(['actions'], ['crud:Note', 'action:tsCrud'])
    const text = `TS note ${randomUUID().slice(0, 8)}`
    const id = await enqueue('actions', 'tsCrud', { action: 'tsCrud', actor: adminId, input: { text } })
    let record
    const job = await withWorker({ token, queues: ['actions'] }, (worker) => worker.on('tsCrud', async (ctx) => {
      const created = await ctx.crud.create('Note', { text: ctx.job.payload.input.text, ownerId: adminId })
      const found = await ctx.crud.findById('Note', created.id)
      const updated = await ctx.crud.update('Note', created.id, { text: `${text}!` }, { expectedVersion: found._version })
      const blocks = await ctx.crud.blockOps('Note', created.id, 'body', [
        { op: 'insert', block: { id: 'b1', type: 'paragraph', text: 'one' } },
        { op: 'insert', block: { id: 'b0', type: 'heading', text: 'Top', level: 1 }, position: 0 }])
      let rev
      try {
        await ctx.crud.blockOps('Note', created.id, 'body', [{ op: 'update', blockId: 'b1', block: { text: 'x' }, expectedRev: 7 }])
      } catch (err) { rev = err }
      const many = await ctx.crud.findMany('Note', { where: { text: { equals: `${text}!` } }, limit: 5 })
      const missing = await ctx.crud.findById('Note', `nope-${randomUUID()}`)
      let conflict
      try { await ctx.crud.update('Note', created.id, { text: 'x' }, { expectedVersion: 1 }) } catch (err) {
        conflict = err
      }
      let denied
      try { await ctx.crud.findMany('Ticket') } catch (err) { denied = err }
      record = updated
      return { id: created.id, many: many.length, missing, conflict: conflict?.status, denied: denied?.status,
               deniedIsCrudError: denied instanceof CrudError, blocks: blocks.record.body.map((b) => b.id),
               blockVersion: blocks.version, blockIndexes: blocks.changes.map((c) => c.index), rev: rev?.status }
    }), () => jobDone(id))
    assert.equal(job.status, 'succeeded', job.error)
    assert.deepEqual(job.result, { id: record.id, many: 1, missing: null, conflict: 409, denied: 403,
                                   deniedIsCrudError: true, blocks: ['b0', 'b1'], blockVersion: 4, blockIndexes: [0, 0],
                                   rev: 409 })
    assert.equal(record.text, `${text}!`)
    const history = await api('POST', '/graphql', { query: 'query($id: String!) { history(model: "Note", id: $id) { actor origin } }',
                                                    variables: { id: record.id } })
    assert.deepEqual(history.body.data.history.map((e) => [e.actor, e.origin]), Array(4).fill([adminId, 'tsCrud']))
    const deleted = await new CrudClient({ url: URL, token, actor: { userId: adminId } }).delete('Note', record.id)
    assert.equal(deleted, 1)
  })

  test('appendEvents / readStream: as the job actor, origin from the action, CONFLICT, rules and capability', T, async () => {
    const token = await workerToken(['actions'], ['action:tsEvents', 'events:note-*', 'events:audit-*'])
    const stream = `note-${randomUUID().slice(0, 8)}`
    const id = await enqueue('actions', 'tsEvents', { action: 'tsEvents', actor: adminId, input: {} }, { maxAttempts: 1 })
    const job = await withWorker({ token, queues: ['actions'] }, (worker) => worker.on('tsEvents', async (ctx) => {
      const done = await ctx.crud.appendEvents(stream, [
        { type: 'NoteOpened', data: { n: 1 }, metadata: { traceId: 't-1' } }, { type: 'NoteEdited', data: { n: 2 } }],
      { expectedVersion: 0 })
      const more = await ctx.crud.appendEvents(stream, [{ type: 'NoteEdited', data: { n: 3 } }], { origin: null })
      let conflict
      try { await ctx.crud.appendEvents(stream, [{ type: 'NoteEdited' }], { expectedVersion: 1 }) } catch (err) { conflict = err }
      const all = await ctx.crud.readStream(stream)
      const page = await ctx.crud.readStream(stream, { fromVersion: 2, limit: 1 })
      return {
        version: done.version, stream: done.stream, more: more.version,
        conflict: conflict instanceof CrudError ? [conflict.status, JSON.parse(conflict.bodyText).error.details] : null,
        all: all.map((e) => [e.streamVersion, e.type, e.data, e.metadata, e.actor, e.origin]),
        page: page.map((e) => e.streamVersion),
      }
    }), () => jobDone(id))
    assert.equal(job.status, 'succeeded', job.error)
    assert.deepEqual(job.result, {
      version: 2, stream, more: 3, conflict: [409, { currentVersion: 3, expectedVersion: 1 }],
      all: [[1, 'NoteOpened', { n: 1 }, { traceId: 't-1' }, adminId, 'tsEvents'],
            [2, 'NoteEdited', { n: 2 }, null, adminId, 'tsEvents'], [3, 'NoteEdited', { n: 3 }, null, adminId, null]],
      page: [2],
    })
    // without an actor: principal worker:<id> (role system): `authenticated` passes, the admin-only append does not
    const direct = new CrudClient({ url: URL, token })
    const audit = `audit-${randomUUID().slice(0, 8)}`
    const refused = await direct.appendEvents(audit, [{ type: 'Audited' }]).catch((err) => err)
    assert.ok(refused instanceof CrudError)
    assert.equal(refused.status, 403)
    assert.equal((await direct.readStream(stream)).length, 3)
    const outside = await direct.readStream('orders-1').catch((err) => err)   // no capability for it
    assert.equal(outside.status, 403)
    assert.match(outside.bodyText, /worker lacks events capability for stream 'orders-1'/)
    const asAdmin = new CrudClient({ url: URL, token, actor: { userId: adminId } })
    const audited = await asAdmin.appendEvents(audit, [{ type: 'Audited', data: { ok: true } }], { origin: 'audit' })
    assert.deepEqual(audited.events.map((e) => [e.actor, e.origin, e.stream]), [[adminId, 'audit', audit]])
  })

  test('a cancelled job aborts ctx.signal on the next progress call; complete is swallowed', T, async () => {
    const queue = `ts-${randomUUID()}`
    const id = await enqueue(queue, 'long')
    let started = false
    let aborted = false
    let progressError
    await withWorker({ token: await workerToken([queue]), queues: [queue] }, (worker) => worker.on('long', async (ctx) => {
      started = true
      await until(async () => (await api('GET', `/jobs/${id}`)).body.status === 'cancelled')
      try { await ctx.progress({ percent: 10 }) } catch (err) { progressError = err }
      aborted = ctx.signal.aborted
      return 'ignored'
    }), async () => {
      await until(async () => started)
      assert.equal((await api('POST', `/jobs/${id}/cancel`)).status, 200)
      await until(async () => progressError !== undefined)
    })
    assert.ok(progressError instanceof LeaseLostError)
    assert.equal(aborted, true)
    assert.equal((await api('GET', `/jobs/${id}`)).body.status, 'cancelled')
  })

  test('concurrency bounds the handlers in flight; stop() awaits them', T, async () => {
    const queue = `ts-${randomUUID()}`
    for (let i = 0; i < 6; i++) await enqueue(queue, 'slow', { i })
    let running = 0
    let peak = 0
    let finished = 0
    await withWorker({ token: await workerToken([queue]), queues: [queue], concurrency: 3, pollIntervalMs: 20 },
      (worker) => worker.on('slow', async () => {
        running += 1
        peak = Math.max(peak, running)
        await sleep(300)
        running -= 1
        finished += 1
      }),
      () => until(async () => finished >= 1))
    const stopped = finished
    assert.equal(running, 0)
    assert.equal(peak, 3)
    await sleep(400)
    assert.equal(finished, stopped)   // nothing leased after stop()
  })

  test('automatic heartbeats keep a long job leased past its visibility', T, async () => {
    const queue = `ts-${randomUUID()}`
    const id = await enqueue(queue, 'marathon')
    const job = await withWorker({ token: await workerToken([queue]), queues: [queue], visibilitySecs: 2, heartbeatSecs: 0.5 },
      (worker) => worker.on('marathon', async () => { await sleep(4000); return 'done' }),
      () => jobDone(id))
    assert.equal(job.status, 'succeeded')
    assert.equal(job.attempts, 1)
  })

  test('JobsClient: lease lost on a foreign lease, fail outcome with backoff', T, async () => {
    const queue = `ts-${randomUUID()}`
    const id = await enqueue(queue, 'manual', {}, { maxAttempts: 2 })
    const mine = new JobsClient({ url: URL, token: await workerToken([queue]) })
    const other = new JobsClient({ url: URL, token: await workerToken([queue]) })
    const [job] = await mine.lease([queue], { capacity: 5, visibilitySecs: 60 })
    assert.equal(job.id, id)
    assert.deepEqual(await other.lease([queue]), [])
    await assert.rejects(other.heartbeat(id, job.leaseId), LeaseLostError)
    assert.deepEqual(await mine.fail(id, job.leaseId, { error: 'boom', retryable: true }), { outcome: 'retry', delaySecs: 5 })
    await assert.rejects(mine.complete(id, job.leaseId), LeaseLostError)
  })
})
