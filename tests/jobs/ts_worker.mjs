// A TypeScript-SDK worker for tests/jobs/test_ts_worker.py: handles `triage` like tests/jobs/handlers.py.
// Usage: node ts_worker.mjs <url> <worker token>; stops cleanly on SIGTERM.
import { NonRetryableError, createWorker } from '../../sdk/worker-ts/dist/index.js'

const [url, token] = process.argv.slice(2)
const worker = createWorker({ url, token, queues: ['actions'], pollIntervalMs: 50, waitSecs: 2 })
worker.on('triage', async (ctx) => {
  const id = ctx.job.payload.input.id
  await ctx.progress({ percent: 50, message: 'triaging', data: { attempt: ctx.job.attempts } })
  const ticket = await ctx.crud.findById('Ticket', id)
  if (!ticket) throw new NonRetryableError('ticket vanished')
  const updated = await ctx.crud.update('Ticket', id, { priority: (ticket.priority ?? 0) + 10 },
                                        { expectedVersion: ticket._version })
  return { priority: updated.priority, by: 'typescript' }
})
process.on('SIGTERM', () => { worker.stop().then(() => process.exit(0)) })
await worker.start()
console.log('READY')
