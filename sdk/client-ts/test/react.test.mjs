// The React hooks of @atomo-cc/client/react, rendered by React 18 in happy-dom, against a real server
// (tests/sdk/test_client_react.py). Env: ATOMO_URL, ATOMO_ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD. No JSX: createElement.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Window } from 'happy-dom'
import WebSocket from 'ws'

const window = new Window({ url: 'http://localhost/' })
for (const name of ['window', 'document', 'navigator', 'HTMLElement', 'Node', 'Element', 'Text', 'Event', 'MutationObserver']) {
  Object.defineProperty(globalThis, name, { value: name === 'window' ? window : window[name], configurable: true, writable: true })
}
globalThis.IS_REACT_ACT_ENVIRONMENT = true
// Server answers and events arrive between act() scopes (that is the point of the live tests): React's
// "not wrapped in act(...)" warnings are expected noise here; every other console.error is kept.
const consoleError = console.error
console.error = (...args) => { if (!String(args[0]).includes('not wrapped in act(')) consoleError(...args) }

const React = (await import('react')).default
const { createRoot } = await import('react-dom/client')
const { renderToString } = await import('react-dom/server')
const { createClient } = await import('../dist/index.js')
const { AtomoProvider, useRecords, useRecord, useMutation, useModelChanges, useSyncStatus } = await import('../dist/react.js')

const h = React.createElement
const act = React.act
const { URL_, EMAIL, PASSWORD, sleep, tag, until: waitUntil } = await import('./env.mjs')


/** A fetch that records GraphQL operations; mutations can be delayed to look at the optimistic state. */
function recordingFetch() {
  const calls = []
  const control = { mutationDelayMs: 0 }
  const fn = async (url, init = {}) => {
    let query = ''
    try { query = JSON.parse(init.body ?? 'null')?.query ?? '' } catch { /* not JSON */ }
    calls.push({ url, query })
    if (control.mutationDelayMs && query.startsWith('mutation')) await sleep(control.mutationDelayMs)
    return fetch(url, init)
  }
  return { fn, calls, control }
}

/** A `ws` WebSocket that counts the `subscribe` messages sent. */
function countingWebSocket() {
  const counts = { subscribe: 0 }
  class Counting extends WebSocket {
    send(data) {
      if (JSON.parse(data).type === 'subscribe') counts.subscribe++
      super.send(data)
    }
  }
  return { WebSocket: Counting, counts }
}

const clients = []
async function login(extra = {}) {
  const atomo = createClient({ url: URL_, WebSocket, ...extra })
  await atomo.auth.login(EMAIL, PASSWORD)
  clients.push(atomo)
  return atomo
}

/** Render `element` inside an AtomoProvider; returns helpers to rerender and unmount. */
async function render(client, element) {
  const container = document.createElement('div')
  document.body.appendChild(container)
  const root = createRoot(container)
  await act(async () => { root.render(h(AtomoProvider, { client }, element)) })
  return {
    container,
    rerender: (next) => act(async () => { root.render(h(AtomoProvider, { client }, next)) }),
    unmount: () => act(async () => { root.unmount() }),
  }
}

/** Let React and the network make progress until `check()` holds. */
function until(check, ms = 4000, what = 'condition') {
  return waitUntil(check, ms, what, { tick: () => act(async () => { await sleep(10) }) })
}

/** A component that records every result of `useHook()`. */
function probe(useHook) {
  const seen = []
  function Probe(props) {
    const result = useHook(props)
    seen.push(result)
    const d = result.data
    const rows = Array.isArray(d) ? d : Array.isArray(d?.data) ? d.data : d && typeof d === 'object' && 'id' in d ? [d] : []
    return h('span', null, rows.map((r) => r.name).join(', '))
  }
  return { Probe, seen, get last() { return seen.at(-1) } }
}

test.after(() => { for (const c of clients) { c.subscriptions.close(); c.cache.dispose() } })

test('useRecords and useRecord: loading, then data; paginated gives pageInfo; null id is idle', async () => {
  const atomo = await login()
  const t = tag()
  const first = await atomo.create('Company', { name: `Hook ${t} a`, industry: t })
  await atomo.create('Company', { name: `Hook ${t} b`, industry: t })
  const list = probe(() => useRecords('Company', { where: { industry: t }, orderBy: { name: 'asc' } }))
  const page = probe(() => useRecords('Company', { where: { industry: t }, limit: 1, paginated: true }))
  const one = probe(() => useRecord('Company', first.id))
  const idle = probe(() => useRecord('Company', null))
  const view = await render(atomo, h('div', null, h(list.Probe), h(page.Probe), h(one.Probe), h(idle.Probe)))
  assert.equal(list.seen[0].loading, true)
  assert.equal(list.seen[0].data, undefined)
  assert.equal(list.seen[0].error, null)
  await until(() => list.last.data && page.last.data && one.last.data, 4000, 'data')
  assert.deepEqual(list.last.data.map((r) => r.name), [`Hook ${t} a`, `Hook ${t} b`])
  assert.equal(list.last.loading, false)
  assert.equal(typeof list.last.refetch, 'function')
  assert.equal(list.last.pageInfo, undefined)
  assert.equal(page.last.data.length, 1)
  assert.equal(page.last.pageInfo.totalCount, 2)
  assert.equal(page.last.pageInfo.hasNextPage, true)
  assert.equal(one.last.data.id, first.id)
  assert.deepEqual({ ...idle.last, refetch: undefined }, { data: undefined, loading: false, error: null, stale: false, refetch: undefined })
  await until(() => !list.last.stale, 4000, 'fresh data once the subscription is live')
  assert.match(view.container.textContent, new RegExp(`Hook ${t} a`))
  await view.unmount()
})

test('errors reach the hooks: VALIDATION_ERROR of a query, PERMISSION_DENIED of a mutation', async () => {
  const viewer = createClient({ url: URL_, WebSocket })
  clients.push(viewer)
  await viewer.auth.register({ email: `hooks-${randomUUID()}@example.com`, password: 'Viewer-pass-42' })
  const bad = probe(() => useRecords('Company', { where: { noSuchField: 1 } }))
  const create = probe(() => useMutation('Company', 'create'))
  const view = await render(viewer, h('div', null, h(bad.Probe), h(create.Probe)))
  await until(() => bad.last.error, 4000, 'the query error')
  assert.equal(bad.last.error.code, 'VALIDATION_ERROR')
  assert.equal(bad.last.loading, false)
  let result
  await act(async () => { result = await create.last.mutate({ name: `Denied ${tag()}` }) })
  assert.equal(result, undefined)
  assert.equal(create.last.error.code, 'PERMISSION_DENIED')
  assert.equal(create.last.loading, false)
  await act(async () => { create.last.reset() })
  assert.equal(create.last.error, null)
  await view.unmount()
})

test('live update: a record created by another client appears without a refetch by the component', async () => {
  const atomo = await login(), other = await login()
  const t = tag()
  const list = probe(() => useRecords('Company', { where: { industry: t } }))
  const events = []
  const changes = probe(() => { useModelChanges('Company', (e) => { if (e.data.industry === t) events.push(e) }); return {} })
  const view = await render(atomo, h('div', null, h(list.Probe), h(changes.Probe)))
  await until(() => list.last.data && !list.last.stale, 4000, 'a live, empty list')
  assert.deepEqual(list.last.data, [])
  const created = await other.create('Company', { name: `Live ${t}`, industry: t })
  await until(() => list.last.data?.some((r) => r.id === created.id), 4000, 'the remote create')
  await until(() => events.length === 1, 4000, 'the useModelChanges handler')
  assert.equal(events[0].eventType, 'CREATED')
  await view.unmount()
})

test('useMutation optimistic: visible before the response, kept on success, rolled back on error', async () => {
  const rec = recordingFetch()
  const atomo = await login({ fetch: rec.fn })
  const t = tag()
  const c = await atomo.create('Company', { name: `Opt ${t}`, industry: t })
  const list = probe(() => useRecords('Company', { where: { industry: t } }))
  const one = probe(() => useRecord('Company', c.id))
  const update = probe(() => useMutation('Company', 'update', { optimistic: true }))
  const errors = []
  const failing = probe(() => useMutation('Company', 'update', { optimistic: true, onError: (e) => errors.push(e) }))
  const view = await render(atomo, h('div', null, h(list.Probe), h(one.Probe), h(update.Probe), h(failing.Probe)))
  await until(() => list.last.data?.length === 1 && one.last.data, 4000, 'data')

  rec.control.mutationDelayMs = 300
  let pending
  await act(async () => { pending = update.last.mutate(c.id, { website: 'https://won.example' }, { expectedVersion: 1 }) })
  assert.equal(update.last.loading, true)
  assert.equal(one.last.data.website, 'https://won.example', 'optimistic record before the response')
  assert.equal(list.last.data[0].website, 'https://won.example', 'optimistic list before the response')
  let result
  await act(async () => { result = await pending })
  assert.equal(result._version, 2)
  assert.equal(update.last.loading, false)
  assert.equal(update.last.data._version, 2)
  assert.equal(one.last.data.website, 'https://won.example')
  assert.equal(one.last.data._version, 2)

  await act(async () => { pending = failing.last.mutate(c.id, { website: 'https://lost.example' }, { expectedVersion: 1 }) })
  assert.equal(one.last.data.website, 'https://lost.example', 'optimistic before the CONFLICT')
  await act(async () => { await pending })
  assert.equal(failing.last.error.code, 'CONFLICT')
  assert.equal(errors.length, 1)
  assert.equal(one.last.data.website, 'https://won.example', 'rolled back')
  assert.equal(list.last.data[0].website, 'https://won.example', 'rolled back in the list')
  rec.control.mutationDelayMs = 0
  await view.unmount()
})

test('two components with the same query make one request; useModelChanges shares one subscription per model', async () => {
  const rec = recordingFetch()
  const { WebSocket: Counting, counts } = countingWebSocket()
  const atomo = await login({ fetch: rec.fn, WebSocket: Counting })
  const t = tag()
  await atomo.create('Company', { name: `Same ${t}`, industry: t })
  const before = rec.calls.length
  const a = probe(() => useRecords('Company', { where: { industry: t }, limit: 10 }))
  const b = probe(() => useRecords('Company', { limit: 10, where: { industry: t } }))
  const seenBy = { x: [], y: [] }
  function Listener({ name, prefix }) {
    useModelChanges('Deal', (e) => seenBy[name].push(`${prefix}:${e.eventType}`))
    return null
  }
  const view = await render(atomo, h('div', null, h(a.Probe), h(b.Probe), h(Listener, { name: 'x', prefix: 'old' }), h(Listener, { name: 'y', prefix: 'y' })))
  await until(() => a.last.data && b.last.data && !a.last.stale, 4000, 'data')
  assert.equal(a.last.data, b.last.data)
  const reads = rec.calls.slice(before).filter((c) => c.query.includes('records('))
  // one read shared by both, and one more if it was answered before the model's subscription went live (the
  // cache reads once again then, so a change between the two is not missed); not sharing would make 3 or more
  assert.ok(reads.length >= 1 && reads.length <= 2, `${reads.length} reads`)
  assert.equal(counts.subscribe, 2, 'one cache subscription (Company) and one shared useModelChanges subscription (Deal)')
  // the handler sees the latest closure
  await view.rerender(h('div', null, h(a.Probe), h(b.Probe), h(Listener, { name: 'x', prefix: 'new' }), h(Listener, { name: 'y', prefix: 'y' })))
  const company = await atomo.create('Company', { name: `Deal co ${t}` })
  await atomo.create('Deal', { title: `Deal ${t}`, companyId: company.id })
  await until(() => seenBy.x.length === 1 && seenBy.y.length === 1, 4000, 'the Deal event')
  assert.deepEqual(seenBy, { x: ['new:CREATED'], y: ['y:CREATED'] })
  assert.equal(counts.subscribe, 2)
  await view.unmount()
})

test('no fetching during server-side rendering; useSyncStatus is neutral without an offline queue', async () => {
  const rec = recordingFetch()
  const atomo = await login({ fetch: rec.fn })
  const before = rec.calls.length
  const list = probe(() => useRecords('Company', { limit: 3 }))
  const status = probe(() => ({ data: useSyncStatus() }))
  const html = renderToString(h(AtomoProvider, { client: atomo }, h('div', null, h(list.Probe), h(status.Probe))))
  assert.equal(typeof html, 'string')
  assert.equal(list.last.loading, true)
  assert.equal(list.last.data, undefined)
  await sleep(100)
  assert.equal(rec.calls.length, before, 'no request during SSR')
  assert.deepEqual(status.last.data, { online: true, pendingCount: 0, failedCount: 0, syncing: false, paused: null, lastSyncAt: null })
})
