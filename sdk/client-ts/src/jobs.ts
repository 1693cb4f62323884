/**
 * `atomo.actions` and `atomo.jobs` (jobs chapter §3, §5, §9): direct invocation of callable actions
 * (`POST /api/actions/:name`), reading a job (`GET /jobs/{id}`), cancelling it, and watching its progress and
 * status frames on the realtime channel `job:<id>`.
 */

import { AtomoError } from './errors.js'
import type { RealtimeHandle } from './realtime-handle.js'
import type { Transport } from './transport.js'

type AnyRecord = Record<string, unknown>

/** The actions of the generated `AtomoTypes` (`{ name: { input, returns } }`); untyped: any name. */
export type ActionMapOf<T> = T extends { actions: infer A }
  ? (A extends object ? A : { [name: string]: { input: AnyRecord; returns: AnyRecord } })
  : { [name: string]: { input: AnyRecord; returns: AnyRecord } }
export type ActionNameOf<T> = keyof ActionMapOf<T> & string
export type ActionInputOf<T, A extends string> =
  A extends keyof ActionMapOf<T> ? (ActionMapOf<T>[A] extends { input: infer I } ? I : AnyRecord) : AnyRecord
export type ActionResultOf<T, A extends string> =
  A extends keyof ActionMapOf<T> ? (ActionMapOf<T>[A] extends { returns: infer R } ? R : AnyRecord) : AnyRecord

export type JobStatus = 'queued' | 'leased' | 'succeeded' | 'dead' | 'cancelled'

export interface JobProgress { percent: number | null; message: string | null; data: unknown; at: string }

/** `GET /jobs/{id}`. */
export interface Job<R = unknown> {
  id: string
  queue: string
  kind: string
  status: JobStatus
  attempts: number
  maxAttempts: number
  result: R | null
  error: string | null
  priority: number
  tenantId: string | null
  createdBy: string | null
  progress: JobProgress | null
  createdAt: string
  updatedAt: string
}

/** A payload on `job:<id>` (sent by `system:jobs`). */
export type JobFrame<R = unknown> =
  | { event: 'progress'; jobId: string; percent: number | null; message: string | null; data: unknown }
  | { event: 'status'; jobId: string; status: JobStatus; attempts: number; result: R | null; error: string | null }

export interface InvokeOptions {
  /** Seconds (0–30) the server holds the answer until the job is terminal; the answer then has `status`,
   * `result` and `error`. Kept under the client's request timeout. */
  wait?: number
  /** Sent as `Idempotency-Key` (≤ 200 characters): a repeat returns the same job, with `duplicate: true`. */
  idempotencyKey?: string
  signal?: AbortSignal
}

export interface InvokeResult<R = unknown> {
  jobId: string
  /** With `wait`: the job's status when the server answered (terminal, or still `queued`/`leased`). */
  status?: JobStatus
  result?: R | null
  error?: string | null
  /** The idempotency key matched an existing job. */
  duplicate?: boolean
}

export interface ActionsApi<T> {
  /** `POST /api/actions/:name`: enqueue a callable action (one that declares `returns`). */
  invoke<A extends ActionNameOf<T>>(name: A, input?: ActionInputOf<T, A>, options?: InvokeOptions): Promise<InvokeResult<ActionResultOf<T, A>>>
}

export interface WatchOptions {
  /** The subscription was confirmed (its presence snapshot arrived): later transitions are delivered. */
  onSubscribed?: () => void
  /** The server refused the subscription (`PERMISSION_DENIED`: not the job's creator or an admin) and other errors. */
  onError?: (error: AtomoError) => void
}

export interface JobsApi {
  /** `GET /jobs/{id}` (404 `NOT_FOUND` when missing or not visible). */
  get<R = unknown>(id: string): Promise<Job<R>>
  /** `POST /jobs/{id}/cancel`: a queued or leased job becomes `cancelled` (409 `CONFLICT` when terminal). */
  cancel<R = unknown>(id: string): Promise<Job<R>>
  /** Progress and status frames of the job (realtime `job:<id>`); returns the unsubscribe function. Nothing is
   * replayed: read `get(id)` after `onSubscribed` for the state before. */
  watch<R = unknown>(id: string, onFrame: (frame: JobFrame<R>) => void, options?: WatchOptions): () => void
}

function checkId(what: string, value: string): void {
  if (typeof value !== 'string' || value === '') {
    throw new AtomoError({ code: 'VALIDATION_ERROR', message: `${what} must be a non-empty string` })
  }
}

export function createActionsApi<T>(transport: Transport): ActionsApi<T> {
  return {
    async invoke(name, input, options = {}) {
      checkId('an action name', name)
      let path = `/api/actions/${encodeURIComponent(name)}`
      if (options.wait !== undefined) {
        // the server holds the answer up to `wait` seconds: stay under the request timeout
        const limit = Math.max(0, Math.floor((transport.options.timeoutMs ?? 30000) / 1000) - 2)
        const wait = Math.max(0, Math.min(30, limit, Math.floor(options.wait)))
        path += `?wait=${wait}`
      }
      const headers: Record<string, string> = {}
      if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey
      const answer = await transport.rest<InvokeResult<any>>('POST', path, input === undefined ? undefined : input,
        { headers, signal: options.signal })
      const out: InvokeResult<any> = { jobId: answer.jobId }
      if (answer.duplicate) out.duplicate = true
      if ('status' in answer) {
        if (answer.status != null) out.status = answer.status
        out.result = answer.result ?? null
        out.error = answer.error ?? null
      }
      return out
    },
  }
}

export function createJobsApi(transport: Transport, realtime: () => Pick<RealtimeHandle, 'subscribe'>): JobsApi {
  return {
    get(id) {
      checkId('a job id', id)
      return transport.rest('GET', `/jobs/${encodeURIComponent(id)}`)
    },
    cancel(id) {
      checkId('a job id', id)
      return transport.rest('POST', `/jobs/${encodeURIComponent(id)}/cancel`)
    },
    watch(id, onFrame, options = {}) {
      checkId('a job id', id)
      let confirmed = false
      return realtime().subscribe<JobFrame<any>>(`job:${id}`, {
        onMessage: (m) => { if (m.from === 'system:jobs' && m.payload && typeof m.payload === 'object') onFrame(m.payload) },
        onPresence: () => {
          if (confirmed) return
          confirmed = true
          options.onSubscribed?.()
        },
        onError: options.onError,
      })
    },
  }
}
