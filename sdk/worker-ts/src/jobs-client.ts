/** One method per worker-plane route (`X-Worker-Token`). */
import { JobsHttpError, LeaseLostError } from './errors.js'

export type FetchLike = typeof fetch

export interface LeasedJob<P = any> {
  id: string
  queue: string
  kind: string
  payload: P
  attempts: number
  maxAttempts: number
  leaseId: string
}

export interface ClientOptions {
  url: string
  token: string
  fetch?: FetchLike
}

export interface LeaseOptions {
  capacity?: number
  visibilitySecs?: number
  waitSecs?: number
  signal?: AbortSignal
}

export interface ProgressUpdate {
  percent?: number
  message?: string
  data?: unknown
}

export type FailOutcome = { outcome: 'retry'; delaySecs: number } | { outcome: 'dead' }

export class HttpBase {
  readonly url: string
  readonly token: string
  readonly fetchImpl: FetchLike

  constructor(opts: ClientOptions) {
    this.url = opts.url.replace(/\/+$/, '')
    this.token = opts.token
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis)
  }

  protected async send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { 'x-worker-token': this.token }
    const init: RequestInit = { method, headers, signal }
    if (body !== undefined) {
      headers['content-type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    return this.fetchImpl(this.url + path, init)
  }
}

export class JobsClient extends HttpBase {
  private async call(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const response = await this.send('POST', path, body, signal)
    if (response.status === 409) throw new LeaseLostError(await response.text())
    if (!response.ok) throw new JobsHttpError(response.status, await response.text())
    return response
  }

  async lease(queues: string[], opts: LeaseOptions = {}): Promise<LeasedJob[]> {
    const body = { queues, capacity: opts.capacity ?? 1, visibilitySecs: opts.visibilitySecs ?? 30,
                   waitSecs: opts.waitSecs ?? 0 }
    const response = await this.call('/jobs/lease', body, opts.signal)
    const data = (await response.json()) as { jobs?: LeasedJob[] }
    return data.jobs ?? []
  }

  async heartbeat(id: string, leaseId: string, visibilitySecs = 30): Promise<void> {
    await this.call(`/jobs/${encodeURIComponent(id)}/heartbeat`, { leaseId, visibilitySecs })
  }

  async progress(id: string, leaseId: string, update: ProgressUpdate = {}, visibilitySecs = 30): Promise<void> {
    await this.call(`/jobs/${encodeURIComponent(id)}/progress`, { leaseId, visibilitySecs, ...update })
  }

  async complete(id: string, leaseId: string, result: unknown = null): Promise<void> {
    await this.call(`/jobs/${encodeURIComponent(id)}/complete`, { leaseId, result: result === undefined ? null : result })
  }

  async fail(id: string, leaseId: string, opts: { error?: string; retryable?: boolean; delaySecs?: number } = {}):
      Promise<FailOutcome> {
    const body: Record<string, unknown> = { leaseId, error: opts.error ?? '', retryable: opts.retryable ?? false }
    if (opts.delaySecs !== undefined) body.delaySecs = opts.delaySecs
    const response = await this.call(`/jobs/${encodeURIComponent(id)}/fail`, body)
    return (await response.json()) as FailOutcome
  }
}
