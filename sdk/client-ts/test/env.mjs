// What the Node test files share: the server they run against (ATOMO_URL and the admin credentials, set by
// tests/sdk/conftest.py) and small helpers.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { AtomoError } from '../dist/index.js'

export const URL_ = process.env.ATOMO_URL
export const EMAIL = process.env.ATOMO_ADMIN_EMAIL
export const PASSWORD = process.env.ATOMO_ADMIN_PASSWORD
assert.ok(URL_ && EMAIL && PASSWORD, 'ATOMO_URL, ATOMO_ADMIN_EMAIL and ATOMO_ADMIN_PASSWORD must be set')

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** A short random tag that keeps one test's records apart from the others'. */
export const tag = () => randomUUID().slice(0, 8)

/** Await `promise`, which must reject with an AtomoError of `code`; returns the error. */
export async function rejects(promise, code) {
  try { await promise } catch (e) {
    assert.ok(e instanceof AtomoError, `not an AtomoError: ${e}`)
    assert.equal(e.code, code, `${e.code}: ${e.message}`)
    return e
  }
  assert.fail(`expected ${code}`)
}

/** Wait until `check()` (may be async) is truthy, polling every `step` ms (or with `tick()` when given), or fail
 * after `ms`; returns the value. */
export async function until(check, ms = 3000, what = 'condition', { step = 10, tick } = {}) {
  const start = Date.now()
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() - start > ms) assert.fail(`timed out waiting for ${what}`)
    await (tick ? tick() : sleep(step))
  }
}

/** A `ws` WebSocket whose instances the test can reach (to drop the connection). */
export function droppableWebSocket() {
  const sockets = []
  class Droppable extends WebSocket {
    constructor(...args) { super(...args); sockets.push(this) }
  }
  return { WebSocket: Droppable, sockets }
}

/** The resume scenario of a subscription: `write(n)` makes one change and returns its id; 3 writes while live,
 * the reader's socket dropped, 4 writes while it is down (the reconnect waits 500 ms), the reconnect, 3 more.
 * Resolves with the 10 ids once `received()` counts 10 (and 200 ms more for any duplicate to show). */
export async function dropAndResume(reader, sockets, write, received) {
  const ids = []
  const writeSome = async (n) => { for (let i = 0; i < n; i++) ids.push(await write(ids.length)) }
  await writeSome(3)
  await until(() => received() === 3, 3000, 'three live events')
  sockets.at(-1).close()                       // the connection drops
  await until(() => !reader.subscriptions.connected, 1000, 'the drop')
  await writeSome(4)                           // while it is down
  assert.equal(reader.subscriptions.connected, false)
  await until(() => reader.subscriptions.connected, 5000, 'the reconnect')
  assert.equal(sockets.length, 2)
  await writeSome(3)
  await until(() => received() >= 10, 5000, 'ten events')
  await sleep(200)
  return ids
}
