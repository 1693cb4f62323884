/**
 * `atomo.offline`: the offline queue's API from the start, with its implementation (`offline.js`) loaded on
 * first need by a dynamic import, so an app without an offline queue does not ship it and one with it loads
 * it beside the first render. Listeners registered before the load are kept here and fed by the queue.
 */

import type { ConflictEvent, OfflineItem, OfflineQueue, RejectedEvent, SyncStatus } from './offline.js'
import { Listeners } from './listeners.js'
import type { WriteOp } from './operations.js'

type Listener<E> = (event: E) => void

export class OfflineHandle {
  /** Resolves when the queue is loaded and its stored items are read. */
  readonly ready: Promise<void>
  private queue: OfflineQueue | null = null
  private closed = false
  private readonly loading: Promise<OfflineQueue>
  private readonly status = new Listeners<SyncStatus>()
  private readonly conflicts = new Listeners<ConflictEvent>()
  private readonly rejections = new Listeners<RejectedEvent>()

  constructor(load: () => Promise<OfflineQueue>) {
    this.loading = load().then((queue) => {
      this.queue = queue
      queue.onStatusChange((status) => this.status.emit(status))
      queue.on('conflict', (event) => this.conflicts.emit(event))
      queue.on('rejected', (event) => this.rejections.emit(event))
      if (this.closed) queue.close()
      return queue
    })
    this.ready = this.loading.then((queue) => queue.ready)
  }

  getStatus(): SyncStatus {
    return this.queue?.getStatus() ?? {
      online: (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false,
      pendingCount: 0, failedCount: 0, syncing: false, paused: null, lastSyncAt: null,
    }
  }

  onStatusChange(listener: (status: SyncStatus) => void): () => void { return this.status.add(listener) }

  on(event: 'conflict', listener: Listener<ConflictEvent>): () => void
  on(event: 'rejected', listener: Listener<RejectedEvent>): () => void
  on(event: 'conflict' | 'rejected', listener: Listener<any>): () => void {
    return (event === 'conflict' ? this.conflicts : this.rejections).add(listener)
  }

  /** The queued items (empty until the queue is loaded: await `ready`). */
  pending(): OfflineItem[] { return this.queue?.pending() ?? [] }
  failed(): OfflineItem[] { return this.queue?.failed() ?? [] }

  async mutate(op: WriteOp, model: string, args: unknown[]): Promise<unknown> { return (await this.loading).mutate(op, model, args) }
  async enqueue(op: WriteOp, model: string, args: unknown[]): Promise<unknown> { return (await this.loading).enqueue(op, model, args) }
  async sync(): Promise<void> { return (await this.loading).sync() }
  /** Resolves when every change so far is written to the storage. */
  async saved(): Promise<void> { return (await this.loading).saved() }
  async retry(queueId: string): Promise<void> { return (await this.loading).retry(queueId) }
  async resubmit(item: OfflineItem, args: unknown[]): Promise<unknown> { return (await this.loading).resubmit(item, args) }

  close(): void {
    this.closed = true
    this.queue?.close()
  }
}
