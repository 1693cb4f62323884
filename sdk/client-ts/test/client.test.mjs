// The client against a real server started by tests/sdk/test_client_ts.py (sample CRM schema, self-registration on).
// Env: ATOMO_URL, ATOMO_ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD, ATOMO_CLOSED_URL (a port nobody listens on).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { AtomoError, createClient, localStorageTokenStore, memoryTokenStore } from '../dist/index.js'
import { URL_, EMAIL, PASSWORD, rejects } from './env.mjs'


/** A fetch that records every request (url, method, headers) before passing it on. */
function recordingFetch() {
  const calls = []
  const fn = (url, init = {}) => { calls.push({ url, method: init.method, headers: { ...(init.headers ?? {}) } }); return fetch(url, init) }
  return { fn, calls }
}

async function admin(extra = {}) {
  const atomo = createClient({ url: URL_, ...extra })
  await atomo.auth.login(EMAIL, PASSWORD)
  return atomo
}


test('login stores token and refresh_token, me answers the user, logout clears and revokes', async () => {
  const store = memoryTokenStore()
  const atomo = createClient({ url: URL_, tokenStore: store })
  const user = await atomo.auth.login(EMAIL, PASSWORD)
  assert.equal(user.email, EMAIL)
  assert.equal(user.role, 'admin')
  const tokens = store.get()
  assert.ok(tokens.token.split('.').length === 3 && tokens.refreshToken)
  assert.equal((await atomo.auth.me()).email, EMAIL)
  await atomo.auth.logout()
  assert.equal(store.get(), null)
  const err = await rejects(atomo.auth.me(), 'UNAUTHENTICATED')
  assert.equal(err.status, 401)
  // the revoked session's tokens no longer work
  const stale = createClient({ url: URL_, token: tokens.token })
  await rejects(stale.auth.me(), 'UNAUTHENTICATED')
})

test('wrong password rejects with the REST error body', async () => {
  const atomo = createClient({ url: URL_ })
  const err = await rejects(atomo.auth.login(EMAIL, 'wrong-password-1'), 'UNAUTHENTICATED')
  assert.equal(err.status, 401)
  assert.equal(typeof err.message, 'string')
  assert.ok(err.requestId)
})

test('logout({ all: true }) revokes every session of the user', async () => {
  const a = await admin(), b = await admin()
  const bTokens = b.tokens()
  await a.auth.logout({ all: true })
  const other = createClient({ url: URL_, token: bTokens.token })
  await rejects(other.auth.me(), 'UNAUTHENTICATED')
})

test('register creates a viewer and logs it in; localStorageTokenStore persists the tokens', async () => {
  const map = new Map()
  const storage = { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, v), removeItem: (k) => map.delete(k) }
  const atomo = createClient({ url: URL_, tokenStore: localStorageTokenStore('my.key', storage) })
  const email = `viewer-${randomUUID()}@example.com`
  const user = await atomo.auth.register({ email, password: 'Viewer-pass-42' })
  assert.equal(user.email, email)
  assert.equal(user.role, 'viewer')
  assert.ok(JSON.parse(map.get('my.key')).refreshToken)
  assert.equal((await atomo.auth.me()).email, email)
})

test('a 401 with a stored refresh token refreshes once for concurrent requests and retries them', async () => {
  const store = memoryTokenStore()
  const rec = recordingFetch()
  let authErrors = 0
  const atomo = createClient({ url: URL_, tokenStore: store, fetch: rec.fn, onAuthError: () => { authErrors++ } })
  await atomo.auth.login(EMAIL, PASSWORD)
  const { refreshToken } = store.get()
  store.set({ token: 'expired.or.tampered', refreshToken })        // as if the access token had expired
  const [me, count, records] = await Promise.all([atomo.auth.me(), atomo.count('Company'), atomo.records('Company', { limit: 1 })])
  assert.equal(me.email, EMAIL)
  assert.equal(typeof count, 'number')
  assert.ok(Array.isArray(records))
  assert.equal(rec.calls.filter((c) => c.url.endsWith('/auth/refresh')).length, 1)
  assert.notEqual(store.get().token, 'expired.or.tampered')
  assert.notEqual(store.get().refreshToken, refreshToken)           // rotated
  assert.equal(authErrors, 0)
  const refreshed = store.get()
  const t = await atomo.auth.refresh()                             // explicit refresh
  assert.notEqual(t.refreshToken, refreshed.refreshToken)
  assert.deepEqual(store.get(), t)
})

test('a failed refresh clears the tokens and calls onAuthError', async () => {
  const store = memoryTokenStore({ token: 'bad.token.here', refreshToken: 'not-a-refresh-token' })
  const errors = []
  const atomo = createClient({ url: URL_, tokenStore: store, onAuthError: (e) => errors.push(e) })
  await rejects(atomo.count('Company'), 'UNAUTHENTICATED')
  assert.equal(store.get(), null)
  assert.equal(errors.length, 1)
  assert.ok(errors[0] instanceof AtomoError)
})

test('every generic method of the model API', async () => {
  const atomo = await admin()
  const tag = randomUUID().slice(0, 8)
  const company = await atomo.create('Company', { name: `Acme ${tag}`, industry: tag })
  assert.equal(company._version, 1)
  const second = await atomo.create('Company', { name: `Beta ${tag}`, industry: tag, employeeCount: 5 })
  assert.deepEqual((await atomo.record('Company', company.id)).name, `Acme ${tag}`)
  assert.equal(await atomo.record('Company', 'missing-id'), null)
  const listed = await atomo.records('Company', { where: { industry: { equals: tag } }, orderBy: { name: 'desc' }, limit: 10 })
  assert.deepEqual(listed.map((c) => c.name), [`Beta ${tag}`, `Acme ${tag}`])
  const page = await atomo.paginatedRecords('Company', { where: { industry: tag }, limit: 1, offset: 0 })
  assert.equal(page.data.length, 1)
  assert.equal(page.pageInfo.totalCount, 2)
  assert.equal(page.pageInfo.hasNextPage, true)
  assert.equal(await atomo.count('Company', { industry: { equals: tag } }), 2)
  const updated = await atomo.update('Company', company.id, { website: 'https://acme.example' }, { expectedVersion: 1 })
  assert.equal(updated._version, 2)
  const byWhere = await atomo.update('Company', { where: { name: { equals: `Beta ${tag}` } } }, { employeeCount: 6 })
  assert.equal(byWhere.employeeCount, 6)
  const many = await atomo.updateMany('Company', [{ id: company.id, data: { employeeCount: 1 }, expectedVersion: 2 },
    { id: second.id, data: { employeeCount: 2 } }])
  assert.deepEqual(many.map((c) => c.employeeCount), [1, 2])
  const history = await atomo.history('Company', company.id)
  assert.deepEqual(history.map((e) => e.type), ['Created', 'Updated', 'Updated'])
  const events = await atomo.events({ after: history[0].position - 1, limit: 1000, model: 'Company' })
  assert.ok(events.some((e) => e.recordId === second.id))
  assert.equal(await atomo.delete('Company', company.id, { expectedVersion: 3 }), 1)
  assert.equal(await atomo.record('Company', company.id), null)
  const deleted = await atomo.deletedRecords('Company', { where: { industry: tag } })
  assert.deepEqual(deleted.data.map((c) => c.id), [company.id])
  assert.equal(await atomo.restore('Company', company.id), 1)
  assert.equal((await atomo.record('Company', company.id)).id, company.id)
  assert.equal(await atomo.delete('Company', { where: { industry: { equals: tag } } }), 2)
  assert.equal(await atomo.restore('Company', { where: { industry: { equals: tag } } }), 2)
  assert.equal(await atomo.hardDelete('Company', second.id), 1)
  assert.equal(await atomo.hardDelete('Company', { where: { industry: { equals: tag } } }), 1)
  assert.equal(await atomo.count('Company', { industry: tag }), 0)

  const deals = atomo.model('Company')                             // model(M) handle
  const h = await deals.create({ name: `Handle ${tag}` })
  assert.equal((await deals.records({ where: { id: h.id } }))[0].name, `Handle ${tag}`)
  assert.equal(await deals.count({ id: h.id }), 1)
  assert.equal((await deals.update(h.id, { industry: 'x' })).industry, 'x')
  assert.equal((await deals.history(h.id)).length, 2)
  assert.equal(await deals.hardDelete(h.id), 1)

  const data = await atomo.graphql('query($m: String!) { n: count(model: $m) }', { m: 'Company' })
  assert.equal(typeof data.n, 'number')
})

test('graphql errors: VALIDATION_ERROR with details, CONFLICT on a stale version, NOT_FOUND, syntax errors', async () => {
  const atomo = await admin()
  const v = await rejects(atomo.create('Company', { name: '' }), 'VALIDATION_ERROR')
  assert.ok(Array.isArray(v.details) && v.details.some((d) => d.field === 'name'))
  assert.deepEqual(v.path, ['create'])
  assert.equal(v.status, 200)
  assert.ok(Array.isArray(v.extensions) && v.extensions.length >= 1)
  const c = await atomo.create('Company', { name: `Conflict ${randomUUID()}` })
  await atomo.update('Company', c.id, { industry: 'a' }, { expectedVersion: 1 })
  const conflict = await rejects(atomo.update('Company', c.id, { industry: 'b' }, { expectedVersion: 1 }), 'CONFLICT')
  assert.ok(conflict.message)
  await rejects(atomo.delete('Company', c.id, { expectedVersion: 1 }), 'CONFLICT')
  await rejects(atomo.update('Company', 'no-such-id', { industry: 'b' }), 'NOT_FOUND')
  const syntax = await atomo.graphql('{ nope ').catch((e) => e)
  assert.ok(syntax instanceof AtomoError && typeof syntax.code === 'string')
})

test('PERMISSION_DENIED for a registered viewer; UNAUTHENTICATED without a token', async () => {
  const viewer = createClient({ url: URL_ })
  await viewer.auth.register({ email: `v-${randomUUID()}@example.com`, password: 'Viewer-pass-42' })
  assert.equal(typeof await viewer.count('Company'), 'number')   // read: authenticated
  const denied = await rejects(viewer.create('Company', { name: `Denied ${randomUUID()}` }), 'PERMISSION_DENIED')
  assert.deepEqual(denied.path, ['create'])
  await rejects(createClient({ url: URL_ }).records('Company'), 'UNAUTHENTICATED')
})

test('client codes: NETWORK_ERROR on a closed port, TIMEOUT, ABORTED', async () => {
  const closed = createClient({ url: process.env.ATOMO_CLOSED_URL ?? 'http://127.0.0.1:9' })
  const net = await rejects(closed.count('Company'), 'NETWORK_ERROR')
  assert.equal(net.status, undefined)
  const slowFetch = (url, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
  })
  await rejects(createClient({ url: URL_, fetch: slowFetch, timeoutMs: 50 }).count('Company'), 'TIMEOUT')
  const controller = new AbortController()
  const pending = createClient({ url: URL_, fetch: slowFetch }).graphql('{ count(model: "Company") }', {}, { signal: controller.signal })
  controller.abort()
  await rejects(pending, 'ABORTED')
})

test('tenantId sends X-Tenant-ID, setTenant changes it, headers are added', async () => {
  const rec = recordingFetch()
  const atomo = await admin({ tenantId: 'acme', fetch: rec.fn, headers: { 'x-app': 'sdk-test' } })
  const c = await atomo.create('Company', { name: `Tenant ${randomUUID()}` })
  assert.equal(c.tenantId, 'acme')
  assert.equal(rec.calls.at(-1).headers['x-tenant-id'], 'acme')
  assert.equal(rec.calls.at(-1).headers['x-app'], 'sdk-test')
  atomo.setTenant('globex')
  assert.equal(atomo.tenantId, 'globex')
  const g = await atomo.create('Company', { name: `Tenant ${randomUUID()}` })
  assert.equal(g.tenantId, 'globex')
  assert.equal(await atomo.count('Company', { id: c.id }), 0)       // acme's record is not globex's
  atomo.setTenant(null)
  await atomo.count('Company')
  assert.equal(rec.calls.at(-1).headers['x-tenant-id'], undefined)
})

test('typed model clients: atomo.<collection> on the typed GraphQL API', async () => {
  const rec = recordingFetch()
  const atomo = await admin({ fetch: rec.fn })
  const tag = randomUUID().slice(0, 8)
  const company = await atomo.companies.create({ name: `Typed ${tag}`, industry: tag })
  assert.equal(company.name, `Typed ${tag}`)
  assert.equal(company._version, 1)
  const contact = await atomo.contacts.create({ firstName: 'Ada', lastName: tag, companyId: company.id, tags: ['vip'] })
  assert.deepEqual(contact.tags, ['vip'])
  const deal = await atomo.deals.create({ title: `Deal ${tag}`, value: 5000, stage: 'qualified', companyId: company.id })
  assert.equal(deal.stage, 'qualified')
  const open = await atomo.deals.list({ where: { companyId: { equals: company.id }, stage: { notIn: ['won', 'lost'] } },
    orderBy: [{ value: 'desc' }], limit: 5, offset: 0 })
  assert.deepEqual(open.map((d) => d.id), [deal.id])
  assert.equal((await atomo.contacts.get(contact.id)).lastName, tag)
  assert.equal(await atomo.contacts.get('missing'), null)
  assert.equal(await atomo.contacts.count({ lastName: { equals: tag } }), 1)
  const page = await atomo.contacts.page({ where: { lastName: { equals: tag } } })
  assert.equal(page.pageInfo.totalCount, 1)
  const won = await atomo.deals.update(deal.id, { stage: 'won' }, { expectedVersion: 1 })
  assert.equal(won.stage, 'won')
  assert.equal(won._version, 2)
  await rejects(atomo.deals.update(deal.id, { stage: 'lost' }, { expectedVersion: 1 }), 'CONFLICT')
  await rejects(atomo.contacts.create({ firstName: 'x' }), 'VALIDATION_ERROR')
  assert.equal(await atomo.deals.delete(deal.id, { expectedVersion: 2 }), 1)
  assert.equal(await atomo.deals.restore(deal.id), 1)
  assert.equal(await atomo.deals.hardDelete(deal.id), 1)
  assert.equal(await atomo.contacts.delete(contact.id), 1)
  // the typed fields were used (not the generic ones), and /meta/schema was fetched once
  const bodies = rec.calls.filter((c) => c.url.endsWith('/meta/schema'))
  assert.equal(bodies.length, 1)
  await rejects(atomo.people.list(), 'NOT_FOUND')
  assert.equal(typeof atomo.then, 'undefined')                     // the client is not a thenable
  assert.equal(atomo.collection('companies'), atomo.companies)
})
