/**
 * @atomo-cc/worker-sdk: workers for Atomo durable jobs.
 *
 * ```ts
 * const worker = createWorker({ url, token, queues: ['actions'], concurrency: 4 })
 * worker.on('notifyWon', async (ctx) => {
 *   await ctx.progress({ percent: 50, message: 'sending' })
 *   return { notified: true }
 * })
 * await worker.start()   // later: await worker.stop()
 * ```
 */
export { CrudClient, actorOf } from './crud-client.js'
export type {
  Actor, AppendOptions, AppendResult, BlockOperation, BlockOpsResult, CrudClientOptions, FindManyOptions, NewEvent,
  ReadStreamOptions, StoredEvent, WriteOptions,
} from './crud-client.js'
export { CrudError, JobsHttpError, LeaseLostError, NonRetryableError } from './errors.js'
export { JobsClient } from './jobs-client.js'
export type { ClientOptions, FailOutcome, FetchLike, LeasedJob, LeaseOptions, ProgressUpdate } from './jobs-client.js'
export { Worker, createWorker, handleJob } from './worker.js'
export type { Handler, HandleJobOptions, JobContext, WorkerOptions } from './worker.js'
