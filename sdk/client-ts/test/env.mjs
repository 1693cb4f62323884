// What the Node test files share: the server they run against (ATOMO_URL and the admin credentials, set by
// tests/sdk/conftest.py) and small helpers.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
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
