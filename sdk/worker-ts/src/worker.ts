/**
 * The worker: leases up to `concurrency - inFlight` jobs, runs their handlers with automatic
 * heartbeats, and reports the outcome. Sleeps `pollIntervalMs` when idle or after an error;
 * `stop()` stops leasing and awaits the handlers in flight.
 */
import { type Actor, CrudClient, actorOf } from './crud-client.js'
import { LeaseLostError, NonRetryableError } from './errors.js'
import { type FetchLike, JobsClient, type LeasedJob, type ProgressUpdate } from './jobs-client.js'

export interface JobContext<P = any> {
  job: LeasedJob<P>
  /** Aborted when a heartbeat or progress call answers 409 (the lease is lost). */
  signal: AbortSignal
  heartbeat(): Promise<void>
  progress(update: ProgressUpdate): Promise<void>
  crud: CrudClient
}

export type Handler<P = any, R = unknown> = (ctx: JobContext<P>) => R | Promise<R>

export interface WorkerOptions {
  url: string
  token: string
  queues: string[]
  concurrency?: number
  visibilitySecs?: number
  heartbeatSecs?: number
  pollIntervalMs?: number
  waitSecs?: number
  fetch?: FetchLike
  onError?: (err: unknown) => void
}

export interface HandleJobOptions {
  visibilitySecs?: number
  heartbeatSecs?: number
  onError?: (err: unknown) => void
  crud?: CrudClient
}

async function swallowLeaseLost(work: Promise<unknown>, onError: (err: unknown) => void): Promise<void> {
  try {
    await work
  } catch (err) {
    if (!(err instanceof LeaseLostError)) onError(err)
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  return String(err)
}

/** Run one leased job to its outcome: complete with the handler's value, or fail. */
export async function handleJob(client: JobsClient, job: LeasedJob, handler: Handler | undefined,
                                opts: HandleJobOptions = {}): Promise<void> {
  const onError = opts.onError ?? ((err: unknown) => console.error(err))
  const visibilitySecs = opts.visibilitySecs ?? 30
  const heartbeatSecs = opts.heartbeatSecs ?? Math.max(1, Math.floor(visibilitySecs / 3))
  if (!handler) {
    await swallowLeaseLost(client.fail(job.id, job.leaseId, { error: `no handler for kind '${job.kind}'`,
                                                              retryable: false }), onError)
    return
  }
  const controller = new AbortController()
  const actor: Actor | undefined = actorOf(job.payload)
  const defaultOrigin = job.queue === 'actions' && typeof job.payload?.action === 'string' ? job.payload.action : null
  const crud = opts.crud ?? new CrudClient({ url: client.url, token: client.token, fetch: client.fetchImpl, actor,
                                             defaultOrigin })
  const guard = async (work: Promise<void>): Promise<void> => {
    try {
      await work
    } catch (err) {
      if (err instanceof LeaseLostError && !controller.signal.aborted) controller.abort(err)
      throw err
    }
  }
  const ctx: JobContext = {
    job, crud, signal: controller.signal,
    heartbeat: () => guard(client.heartbeat(job.id, job.leaseId, visibilitySecs)),
    progress: (update: ProgressUpdate) => guard(client.progress(job.id, job.leaseId, update, visibilitySecs)),
  }
  const timer = setInterval(() => {
    if (controller.signal.aborted) return
    ctx.heartbeat().catch((err) => { if (!(err instanceof LeaseLostError)) onError(err) })
  }, heartbeatSecs * 1000)
  let result: unknown
  try {
    result = await handler(ctx)
  } catch (err) {
    clearInterval(timer)
    await swallowLeaseLost(client.fail(job.id, job.leaseId, { error: messageOf(err),
                                                              retryable: !(err instanceof NonRetryableError) }), onError)
    return
  } finally {
    clearInterval(timer)
  }
  await swallowLeaseLost(client.complete(job.id, job.leaseId, result === undefined ? null : result), onError)
}

export class Worker {
  readonly client: JobsClient
  private readonly opts: Required<Omit<WorkerOptions, 'fetch' | 'heartbeatSecs'>> & { heartbeatSecs: number }
  private readonly handlers = new Map<string, Handler>()
  private readonly inFlight = new Set<Promise<void>>()
  private running: Promise<void> | null = null
  private stopping = false
  private leaseAbort: AbortController | null = null
  private wake: (() => void) | null = null

  constructor(opts: WorkerOptions) {
    const visibilitySecs = opts.visibilitySecs ?? 30
    this.opts = {
      url: opts.url, token: opts.token, queues: opts.queues, concurrency: Math.max(1, opts.concurrency ?? 1),
      visibilitySecs, heartbeatSecs: opts.heartbeatSecs ?? Math.max(1, Math.floor(visibilitySecs / 3)),
      pollIntervalMs: opts.pollIntervalMs ?? 1000, waitSecs: opts.waitSecs ?? 0,
      onError: opts.onError ?? ((err: unknown) => console.error(err)),
    }
    this.client = new JobsClient({ url: opts.url, token: opts.token, fetch: opts.fetch })
  }

  /** Register the handler of a job kind (chainable). */
  on<P = any, R = unknown>(kind: string, handler: Handler<P, R>): this {
    this.handlers.set(kind, handler as Handler)
    return this
  }

  /** Start leasing (idempotent); resolves once the loop runs. */
  async start(): Promise<void> {
    if (this.running) return
    this.stopping = false
    this.running = this.loop()
  }

  /** Stop leasing and await the handlers in flight. */
  async stop(): Promise<void> {
    this.stopping = true
    this.leaseAbort?.abort()
    this.wake?.()
    await this.running
    this.running = null
    await Promise.allSettled([...this.inFlight])
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      const self = this
      function done() {
        clearTimeout(timer)
        if (self.wake === done) self.wake = null
        resolve()
      }
      this.wake = done
    })
  }

  private async loop(): Promise<void> {
    const { queues, concurrency, visibilitySecs, heartbeatSecs, waitSecs, pollIntervalMs, onError } = this.opts
    while (!this.stopping) {
      const free = concurrency - this.inFlight.size
      if (free <= 0) {
        await this.sleep(3_600_000)
        continue
      }
      let jobs: LeasedJob[]
      this.leaseAbort = new AbortController()
      try {
        jobs = await this.client.lease(queues, { capacity: free, visibilitySecs, waitSecs,
                                                 signal: this.leaseAbort.signal })
      } catch (err) {
        if (this.stopping) break
        onError(err)
        await this.sleep(pollIntervalMs)
        continue
      } finally {
        this.leaseAbort = null
      }
      for (const job of jobs) {
        const run: Promise<void> = handleJob(this.client, job, this.handlers.get(job.kind),
                                             { visibilitySecs, heartbeatSecs, onError })
          .catch(onError)
          .finally(() => {
            this.inFlight.delete(run)
            this.wake?.()
          })
        this.inFlight.add(run)
      }
      if (jobs.length === 0 && !this.stopping) await this.sleep(pollIntervalMs)
    }
  }
}

export function createWorker(opts: WorkerOptions): Worker {
  return new Worker(opts)
}
