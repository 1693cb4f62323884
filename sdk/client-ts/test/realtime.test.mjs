// atomo.realtime, atomo.actions and atomo.jobs against a real server started by tests/sdk/test_client_realtime.py
// (sample CRM schema plus the callable actions sendQuote and renderReport, self-registration on).
// Env: ATOMO_URL, ATOMO_ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD. Node 20 has no global WebSocket: `ws` is passed in.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { AtomoError, createClient, createRealtimeClient } from '../dist/index.js'
import { URL_, EMAIL, PASSWORD, rejects, sleep } from './env.mjs'


/** A WebSocket class that keeps every socket it opens (to read its URL or drop it). */
function recordingWebSocket() {
  const sockets = []
  const hooks = { created: null }            // called in a microtask after a socket is made (still connecting)
  class Recording extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols)
      sockets.push(this)
      const created = hooks.created
      if (created) queueMicrotask(() => created(this))
    }
  }
  return { WebSocket: Recording, sockets, hooks }
}

/** Every client made here: their realtime connections are closed after the tests, even failed ones. */
const clients = []
after(() => { for (const c of clients) c.realtime.close() })

function client(extra = {}) {
  const atomo = createClient({ url: URL_, WebSocket, ...extra })
  clients.push(atomo)
  return atomo
}

/** A fetch that records the paths of the requests. */
function recordingFetch() {
  const paths = []
  const fn = (url, init) => { paths.push(new URL(url).pathname); return fetch(url, init) }
  return { fetch: fn, paths }
}

async function admin(extra = {}) {
  const atomo = client(extra)
  await atomo.auth.login(EMAIL, PASSWORD)
  return atomo
}

async function viewer(extra = {}) {
  const atomo = client(extra)
  const user = await atomo.auth.register({ email: `rt-${randomUUID()}@example.com`, password: 'Viewer-pass-42' })
  return { atomo, user }
}

async function waitFor(check, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value) return value
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}



function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'))
}

/** Subscribe and wait until the server confirmed (the presence snapshot arrived). */
async function joined(realtime, channel, handlers = {}) {
  const seen = { messages: [], joined: [], left: [], presence: [], errors: [] }
  let ready = false
  const off = realtime.subscribe(channel, {
    onMessage: (m) => { seen.messages.push(m); handlers.onMessage?.(m) },
    onJoined: (who) => seen.joined.push(who),
    onLeft: (who) => seen.left.push(who),
    onPresence: (members) => { seen.presence.push(members); ready = true },
    onError: (e) => seen.errors.push(e),
  })
  await waitFor(() => ready, `the presence snapshot of ${channel}`)
  return { off, seen }
}

/** A worker token of the HTTP lease API, allowed only the given action kinds. */
async function workerToken(atomo, actions) {
  const made = await atomo.transport.rest('POST', '/jobs/workers', {
    name: `w-${randomUUID().slice(0, 8)}`, queues: ['actions'], capabilities: actions.map((a) => `action:${a}`),
  })
  return made.token
}

async function workerCall(token, path, body) {
  const response = await fetch(URL_ + path, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-worker-token': token }, body: JSON.stringify(body),
  })
  const text = await response.text()
  assert.ok(response.status < 300, `${path}: ${response.status} ${text}`)
  return text ? JSON.parse(text) : null
}

/** Lease the job (the worker token leases only its kind, and the test made just this one). */
async function lease(token, jobId) {
  const { jobs } = await workerCall(token, '/jobs/lease', { queues: ['actions'], capacity: 1, waitSecs: 5 })
  assert.deepEqual(jobs.map((j) => j.id), [jobId])
  return jobs[0]
}

test('connects lazily with a short-lived realtime token in the URL, never the login JWT', async () => {
  const rec = recordingWebSocket()
  const atomo = await admin({ WebSocket: rec.WebSocket })
  const me = await atomo.auth.me()
  assert.equal(atomo.realtime.state, 'idle')
  assert.equal(rec.sockets.length, 0)
  await atomo.realtime.connect()
  assert.equal(atomo.realtime.state, 'open')
  assert.equal(rec.sockets.length, 1)
  const url = new URL(rec.sockets[0].url)
  assert.equal(url.protocol, 'ws:')
  assert.equal(url.pathname, '/realtime/ws')
  const token = url.searchParams.get('token')
  assert.ok(token)
  assert.notEqual(token, atomo.tokens().token)
  assert.ok(!rec.sockets[0].url.includes(atomo.tokens().token))
  const c = claims(token)
  assert.equal(c.aud, 'atomo-realtime')
  assert.equal(c.sub, me.id)
  assert.ok(c.exp - c.iat <= 60, `token lives ${c.exp - c.iat} s`)
  await waitFor(() => atomo.realtime.principal, 'the welcome frame')
  assert.equal(atomo.realtime.principal, me.id)
  // connect() again is a no-op
  await atomo.realtime.connect()
  assert.equal(rec.sockets.length, 1)
  atomo.realtime.close()
  assert.equal(atomo.realtime.state, 'idle')
  // close() while the next socket is still connecting: no error, no reconnect
  let stateThen = null
  rec.hooks.created = (socket) => { stateThen = socket.readyState; atomo.realtime.close() }
  await rejects(atomo.realtime.connect(), 'ABORTED')
  assert.equal(stateThen, 0)
  await sleep(700)
  assert.equal(rec.sockets.length, 2)
  assert.equal(rec.sockets[1].readyState, 3)
  assert.equal(atomo.realtime.state, 'idle')
})

test('two users on one channel: presence, joined/left, publish reaches the other without echo', async () => {
  const a = await admin()
  const { atomo: b, user: bUser } = await viewer()
  const aId = (await a.auth.me()).id
  const channel = `room:${randomUUID()}`
  const A = await joined(a.realtime, channel)
  assert.deepEqual(A.seen.presence.at(-1), [aId])
  const B = await joined(b.realtime, channel)
  assert.deepEqual(B.seen.presence.at(-1), [aId, bUser.id].sort())
  await waitFor(() => A.seen.joined.length === 1, 'joined on A')
  assert.deepEqual(A.seen.joined, [bUser.id])
  assert.deepEqual(a.realtime.getPresence(channel), [aId, bUser.id].sort())
  assert.deepEqual(A.seen.presence.at(-1), [aId, bUser.id].sort())

  b.realtime.publish(channel, { typing: true, field: 'notes', n: 1.5, list: [1, 'x', null] })
  await waitFor(() => A.seen.messages.length === 1, 'the message on A')
  assert.deepEqual(A.seen.messages[0], { channel, from: bUser.id, payload: { typing: true, field: 'notes', n: 1.5, list: [1, 'x', null] } })
  a.realtime.publish(channel, 'hello')
  await waitFor(() => B.seen.messages.length === 1, 'the message on B')
  assert.deepEqual(B.seen.messages[0], { channel, from: aId, payload: 'hello' })
  await sleep(100)
  assert.equal(A.seen.messages.length, 1, 'no echo of one\'s own publish')

  // a one-shot snapshot from a third connection that is not subscribed
  const c = await admin()
  assert.deepEqual(await c.realtime.requestPresence(channel), [aId, bUser.id].sort())
  assert.deepEqual(c.realtime.getPresence(channel), [], 'not subscribed: nothing kept')

  B.off()
  await waitFor(() => A.seen.left.length === 1, 'left on A')
  assert.deepEqual(A.seen.left, [bUser.id])
  assert.deepEqual(a.realtime.getPresence(channel), [aId])
  for (const x of [a, b, c]) x.realtime.close()
})

test('frames published before the first connection are sent once it is open, in order', async () => {
  const a = await admin()
  const channel = `queue:${randomUUID()}`
  const A = await joined(a.realtime, channel)
  const b = await admin()
  assert.equal(b.realtime.state, 'idle')
  b.realtime.publish(channel, 1)
  b.realtime.publish(channel, 2)
  b.realtime.publish(channel, { three: 3 })
  assert.equal(b.realtime.queued, 3)
  assert.equal(b.realtime.state, 'connecting')
  await waitFor(() => A.seen.messages.length === 3, 'three queued messages')
  assert.deepEqual(A.seen.messages.map((m) => m.payload), [1, 2, { three: 3 }])
  assert.equal(b.realtime.queued, 0)
  a.realtime.close(); b.realtime.close()
})

test('the queue of frames while not connected is bounded: QUEUE_FULL beyond maxQueue', async () => {
  const a = await admin()
  const rt = createRealtimeClient(a.transport, { maxQueue: 2 })
  rt.publish('bounded', 1)
  rt.publish('bounded', 2)
  assert.throws(() => rt.publish('bounded', 3), (e) => e instanceof AtomoError && e.code === 'QUEUE_FULL')
  assert.equal(rt.queued, 2)
  assert.throws(() => rt.subscribe('', {}), (e) => e instanceof AtomoError && e.code === 'VALIDATION_ERROR')
  await rt.connect()
  assert.equal(rt.queued, 0)
  rt.close()
})

test('a dropped socket reconnects after the backoff with a fresh token, re-subscribes and sends what was queued', async () => {
  const rec = recordingWebSocket()
  const requests = recordingFetch()
  const a = await admin({ WebSocket: rec.WebSocket, fetch: requests.fetch })
  const { atomo: b, user: bUser } = await viewer()
  const aId = (await a.auth.me()).id
  const channel = `drop:${randomUUID()}`
  const A = await joined(a.realtime, channel)
  const B = await joined(b.realtime, channel)
  const states = []
  a.realtime.onStateChange((s) => states.push(s))

  const dropped = Date.now()
  rec.sockets[0].terminate()                           // the connection dies without a close handshake
  await waitFor(() => a.realtime.state === 'reconnecting', 'reconnecting')
  a.realtime.publish(channel, 'sent while disconnected')
  await waitFor(() => B.seen.left.includes(aId), 'left on B')
  await waitFor(() => a.realtime.state === 'open', 'reopened')
  assert.ok(Date.now() - dropped >= 400, `reconnected after ${Date.now() - dropped} ms, before the 500 ms backoff`)
  assert.deepEqual(states, ['reconnecting', 'connecting', 'open'])
  assert.equal(rec.sockets.length, 2)
  assert.equal(requests.paths.filter((p) => p === '/realtime/token').length, 2, 'a fresh realtime token for each connection')
  assert.ok(new URL(rec.sockets[1].url).searchParams.get('token'))
  // re-subscribed: B sees A join again, A gets a fresh snapshot and later messages
  await waitFor(() => B.seen.joined.includes(aId), 'joined again on B')
  await waitFor(() => B.seen.messages.some((m) => m.payload === 'sent while disconnected'), 'the queued message')
  b.realtime.publish(channel, 'after reconnect')
  await waitFor(() => A.seen.messages.some((m) => m.payload === 'after reconnect'), 'a message after reconnecting')
  assert.deepEqual(a.realtime.getPresence(channel), [aId, bUser.id].sort())
  a.realtime.close(); b.realtime.close()
})

test('unsubscribe stops delivery; other subscriptions of the channel keep theirs', async () => {
  const a = await admin()
  const b = await admin()
  const channel = `unsub:${randomUUID()}`
  const first = []
  const second = []
  const off1 = a.realtime.subscribe(channel, { onMessage: (m) => first.push(m.payload) })
  const A2 = await joined(a.realtime, channel, { onMessage: (m) => second.push(m.payload) })
  b.realtime.publish(channel, 'one')
  await waitFor(() => first.length === 1 && second.length === 1, 'both handlers')
  off1()
  off1()                                               // idempotent
  b.realtime.publish(channel, 'two')
  await waitFor(() => second.length === 2, 'the remaining handler')
  A2.off()
  b.realtime.publish(channel, 'three')
  // a fresh subscriber on another connection gets 'four', proving 'three' would have arrived by then
  const c = await admin()
  const C = await joined(c.realtime, channel)
  b.realtime.publish(channel, 'four')
  await waitFor(() => C.seen.messages.length === 1, 'the fresh subscriber')
  await sleep(50)
  assert.deepEqual(first, ['one'])
  assert.deepEqual(second, ['one', 'two'])
  for (const x of [a, b, c]) x.realtime.close()
})

test('logout closes the realtime connection; the next use reconnects with the new identity', async () => {
  const rec = recordingWebSocket()
  const a = await admin({ WebSocket: rec.WebSocket })
  const aId = (await a.auth.me()).id
  const { atomo: watcher } = await viewer()
  const channel = `logout:${randomUUID()}`
  const W = await joined(watcher.realtime, channel)
  await joined(a.realtime, channel)
  const closed = new Promise((resolve) => rec.sockets[0].once('close', resolve))
  await a.auth.logout()
  assert.equal(a.realtime.state, 'idle')
  await closed
  await sleep(700)
  assert.equal(rec.sockets.length, 1, 'no reconnect after logout')
  assert.equal(a.realtime.principal, null)

  // a new user logs in on the same client: the next use connects as that user and re-subscribes
  const email = `rt-${randomUUID()}@example.com`
  const newUser = await a.auth.register({ email, password: 'Viewer-pass-42' })
  assert.equal(a.realtime.state, 'idle')
  await a.realtime.connect()
  await waitFor(() => a.realtime.principal === newUser.id, 'the new principal')
  await waitFor(() => W.seen.joined.includes(newUser.id), 'the new user re-subscribed')
  assert.ok(W.seen.left.includes(aId))
  assert.equal(claims(new URL(rec.sockets[1].url).searchParams.get('token')).sub, newUser.id)
  for (const x of [a, watcher]) x.realtime.close()
})

test('sessions: join, coordinator, toCoordinator/toMembers, NOT_COORDINATOR, leave', async () => {
  const a = await admin()
  const { atomo: b, user: bUser } = await viewer()
  const aId = (await a.auth.me()).id
  const session = `quiz:${randomUUID()}`
  const ev = { a: [], b: [] }
  const handlers = (who) => ({
    onStart: (s) => ev[who].push(['start', s]),
    onMemberJoined: (m) => ev[who].push(['joined', m]),
    onMemberLeft: (m) => ev[who].push(['left', m]),
    onCoordinatorChanged: (m, s) => ev[who].push(['coordinator', m, s.coordinator]),
    onFromMember: (m) => ev[who].push(['fromMember', m]),
    onFromCoordinator: (m) => ev[who].push(['fromCoordinator', m]),
    onError: (e) => ev[who].push(['error', e.code]),
  })
  a.realtime.sessions.join(session, handlers('a'))
  await waitFor(() => a.realtime.sessions.get(session), 'session_start on A')
  assert.deepEqual(a.realtime.sessions.get(session), { session, slot: 0, coordinator: true, coordinatorSlot: 0, members: [{ slot: 0, id: aId }] })
  const leaveB = b.realtime.sessions.join(session, handlers('b'))
  await waitFor(() => b.realtime.sessions.get(session), 'session_start on B')
  assert.deepEqual(b.realtime.sessions.get(session), {
    session, slot: 1, coordinator: false, coordinatorSlot: 0, members: [{ slot: 0, id: aId }, { slot: 1, id: bUser.id }],
  })
  await waitFor(() => ev.a.some((e) => e[0] === 'joined'), 'member_joined on A')
  assert.deepEqual(ev.a.find((e) => e[0] === 'joined')[1], { slot: 1, id: bUser.id })

  b.realtime.sessions.toCoordinator(session, { answer: 'B' })
  await waitFor(() => ev.a.some((e) => e[0] === 'fromMember'), 'from_member on A')
  assert.deepEqual(ev.a.find((e) => e[0] === 'fromMember')[1], { session, from: bUser.id, slot: 1, payload: { answer: 'B' } })
  a.realtime.sessions.toMembers(session, { question: 3 })
  await waitFor(() => ev.b.some((e) => e[0] === 'fromCoordinator'), 'from_coordinator on B')
  assert.deepEqual(ev.b.find((e) => e[0] === 'fromCoordinator')[1], { session, payload: { question: 3 } })
  b.realtime.sessions.toMembers(session, { nope: true })
  await waitFor(() => ev.b.some((e) => e[0] === 'error'), 'NOT_COORDINATOR on B')
  assert.deepEqual(ev.b.find((e) => e[0] === 'error'), ['error', 'NOT_COORDINATOR'])

  leaveB()
  await waitFor(() => ev.a.some((e) => e[0] === 'left'), 'member_left on A')
  assert.deepEqual(ev.a.find((e) => e[0] === 'left')[1], { slot: 1, id: bUser.id })
  assert.deepEqual(a.realtime.sessions.get(session).members, [{ slot: 0, id: aId }])
  assert.equal(b.realtime.sessions.get(session), null)
  // the coordinator leaves with the default policy (reelect): B, joined again, becomes coordinator
  b.realtime.sessions.join(session, handlers('b'))
  await waitFor(() => b.realtime.sessions.get(session)?.slot === 2, 'B re-joined with slot 2')
  a.realtime.sessions.leave(session)
  await waitFor(() => b.realtime.sessions.get(session)?.coordinator, 'B is coordinator')
  assert.equal(b.realtime.sessions.get(session).coordinatorSlot, 2)
  assert.ok(ev.b.some((e) => e[0] === 'coordinator' && e[1].slot === 2 && e[2] === true))
  a.realtime.close(); b.realtime.close()
})

test('server error frames and refusals reject or report AtomoError codes', async () => {
  const a = await admin()
  const errors = []
  a.realtime.onError((e) => errors.push(e))
  // clients may never publish on job channels
  a.realtime.publish(`job:${randomUUID()}`, { fake: true })
  await waitFor(() => errors.length === 1, 'the error frame')
  assert.ok(errors[0] instanceof AtomoError)
  assert.equal(errors[0].code, 'PERMISSION_DENIED')
  assert.equal(errors[0].extensions.channel.startsWith('job:'), true)
  // a refused subscription reaches the subscription's onError, a refused presence request rejects
  const { atomo: v } = await viewer()
  const refused = []
  v.realtime.subscribe('system:secret', { onError: (e) => refused.push(e.code) })
  v.realtime.subscribe(`job:${randomUUID()}`, { onError: (e) => refused.push(e.code) })
  await waitFor(() => refused.length === 1, 'the refused subscription')
  assert.deepEqual(refused, ['PERMISSION_DENIED'])
  await rejects(v.realtime.requestPresence(`job:${randomUUID()}`), 'PERMISSION_DENIED')
  // a token the server refuses: connect() rejects with the token route's error and the client goes idle
  const bogus = client({ token: 'not.a.jwt' })
  await rejects(bogus.realtime.connect(), 'UNAUTHENTICATED')
  assert.equal(bogus.realtime.state, 'idle')
  // close() fails pending presence requests
  const c = await admin()
  const pending = c.realtime.requestPresence('anything')
  c.realtime.close()
  await rejects(pending, 'ABORTED')
  a.realtime.close(); v.realtime.close()
})

test('actions.invoke: jobId, wait with the job left queued, errors as AtomoError codes', async () => {
  const a = await admin()
  const me = await a.auth.me()
  const invoked = await a.actions.invoke('sendQuote', { dealId: 'd1', email: 'x@example.com' })
  assert.equal(typeof invoked.jobId, 'string')
  assert.deepEqual(Object.keys(invoked), ['jobId'])
  const waited = await a.actions.invoke('sendQuote', { dealId: 'd2', email: 'x@example.com' }, { wait: 1 })
  assert.deepEqual(waited, { jobId: waited.jobId, status: 'queued', result: null, error: null })
  const job = await a.jobs.get(invoked.jobId)
  assert.equal(job.id, invoked.jobId)
  assert.equal(job.queue, 'actions')
  assert.equal(job.kind, 'sendQuote')
  assert.equal(job.status, 'queued')
  assert.equal(job.createdBy, me.id)
  assert.equal(job.attempts, 0)

  await rejects(a.actions.invoke('noSuchAction', {}), 'NOT_FOUND')
  const notCallable = await rejects(a.actions.invoke('scoreDeal', {}), 'BAD_REQUEST')
  assert.equal(notCallable.status, 400)
  const invalid = await rejects(a.actions.invoke('sendQuote', { dealId: 7 }), 'VALIDATION_ERROR')
  assert.deepEqual(invalid.details.map((d) => d.field).sort(), ['dealId', 'email'])
  await rejects(a.actions.invoke('sendQuote', {}, { idempotencyKey: 'k'.repeat(201) }), 'VALIDATION_ERROR')
  await rejects(client().actions.invoke('sendQuote', { dealId: 'd', email: 'e' }), 'UNAUTHENTICATED')
  await rejects(a.jobs.get(randomUUID()), 'NOT_FOUND')
  // jobs are visible to their creator and admins only
  const { atomo: v } = await viewer()
  await rejects(v.jobs.get(invoked.jobId), 'NOT_FOUND')
})

test('actions.invoke with an idempotencyKey returns the same job twice', async () => {
  const a = await admin()
  const key = randomUUID()
  const first = await a.actions.invoke('sendQuote', { dealId: 'd', email: 'e@example.com' }, { idempotencyKey: key })
  const again = await a.actions.invoke('sendQuote', { dealId: 'd', email: 'e@example.com' }, { idempotencyKey: key })
  assert.equal(again.jobId, first.jobId)
  assert.equal(first.duplicate, undefined)
  assert.equal(again.duplicate, true)
  const other = await a.actions.invoke('sendQuote', { dealId: 'd', email: 'e@example.com' }, { idempotencyKey: randomUUID() })
  assert.notEqual(other.jobId, first.jobId)
})

test('jobs.watch receives progress and status frames while a worker runs the job; jobs.get shows the result', async () => {
  const a = await admin()
  const token = await workerToken(a, ['renderReport'])
  const { jobId } = await a.actions.invoke('renderReport', { title: 'Q3' })
  const frames = []
  let subscribed = false
  const off = a.jobs.watch(jobId, (f) => frames.push(f), { onSubscribed: () => { subscribed = true } })
  await waitFor(() => subscribed, 'the job subscription')
  const job = await lease(token, jobId)
  await waitFor(() => frames.length === 1, 'the leased status frame')
  assert.deepEqual(frames[0], { event: 'status', jobId, status: 'leased', attempts: 1, result: null, error: null })
  await workerCall(token, `/jobs/${jobId}/progress`, { leaseId: job.leaseId, percent: 40, message: 'rendering' })
  await waitFor(() => frames.length === 2, 'the progress frame')
  assert.deepEqual(frames[1], { event: 'progress', jobId, percent: 40, message: 'rendering', data: null })
  await workerCall(token, `/jobs/${jobId}/complete`, { leaseId: job.leaseId, result: { url: 'https://example.com/q3.pdf' } })
  await waitFor(() => frames.length === 3, 'the succeeded frame')
  assert.deepEqual(frames[2], { event: 'status', jobId, status: 'succeeded', attempts: 1, result: { url: 'https://example.com/q3.pdf' }, error: null })
  const done = await a.jobs.get(jobId)
  assert.equal(done.status, 'succeeded')
  assert.deepEqual(done.result, { url: 'https://example.com/q3.pdf' })
  assert.equal(done.progress.percent, 40)
  off()

  // wait: the answer is held until a worker completes the job (renderReport jobs are this test's only ones)
  const invoking = a.actions.invoke('renderReport', { title: 'Q4' }, { wait: 10 })
  const { jobs } = await workerCall(token, '/jobs/lease', { queues: ['actions'], capacity: 1, waitSecs: 5 })
  assert.equal(jobs.length, 1)
  assert.deepEqual(jobs[0].payload.input, { title: 'Q4' })
  await workerCall(token, `/jobs/${jobs[0].id}/complete`, { leaseId: jobs[0].leaseId, result: { url: 'https://example.com/q4.pdf' } })
  assert.deepEqual(await invoking, { jobId: jobs[0].id, status: 'succeeded', result: { url: 'https://example.com/q4.pdf' }, error: null })
  a.realtime.close()
})

test('jobs.watch: a status frame on cancel; other users are refused the job channel', async () => {
  const a = await admin()
  const { jobId } = await a.actions.invoke('sendQuote', { dealId: 'd', email: 'e@example.com' })
  const frames = []
  let subscribed = false
  a.jobs.watch(jobId, (f) => frames.push(f), { onSubscribed: () => { subscribed = true } })
  const { atomo: v } = await viewer()
  const refused = []
  v.jobs.watch(jobId, () => assert.fail('a viewer got a job frame'), { onError: (e) => refused.push(e) })
  await waitFor(() => subscribed && refused.length === 1, 'the subscription and the refusal')
  assert.equal(refused[0].code, 'PERMISSION_DENIED')
  const cancelled = await a.jobs.cancel(jobId)
  assert.equal(cancelled.status, 'cancelled')
  await waitFor(() => frames.length === 1, 'the cancelled frame')
  assert.deepEqual(frames[0], { event: 'status', jobId, status: 'cancelled', attempts: 0, result: null, error: null })
  await rejects(a.jobs.cancel(jobId), 'CONFLICT')
  a.realtime.close(); v.realtime.close()
})

test('setTenant closes the connection and resumes the subscriptions on a new one', async () => {
  const rec = recordingWebSocket()
  const a = await admin({ WebSocket: rec.WebSocket })
  const b = await admin()
  const channel = `tenant:${randomUUID()}`
  const A = await joined(a.realtime, channel)
  a.setTenant(null)                                    // unchanged: nothing happens
  assert.equal(rec.sockets.length, 1)
  a.setTenant('acme')
  await waitFor(() => rec.sockets.length === 2 && a.realtime.state === 'open', 'a new connection')
  assert.equal(rec.sockets[0].readyState >= 2, true, 'the old socket is closing or closed')
  await waitFor(() => A.seen.presence.length >= 2, 'the snapshot of the new connection')
  b.realtime.publish(channel, 'after tenant change')
  await waitFor(() => A.seen.messages.length === 1, 'a message on the new connection')
  a.realtime.close(); b.realtime.close()
})
