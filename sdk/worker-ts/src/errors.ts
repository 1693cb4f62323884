/** Errors of the worker SDK. The SDK relies on HTTP status codes only, never on error bodies. */

/** Thrown by a handler: the job fails without further attempts. */
export class NonRetryableError extends Error {
  constructor(message?: string) {
    super(message)
    this.name = 'NonRetryableError'
  }
}

/** A non-2xx answer of the worker plane. */
export class JobsHttpError extends Error {
  readonly status: number
  readonly bodyText: string
  constructor(status: number, bodyText: string) {
    super(`HTTP ${status}: ${bodyText.slice(0, 500)}`)
    this.name = 'JobsHttpError'
    this.status = status
    this.bodyText = bodyText
  }
}

/** 409: this token no longer holds the job's lease (cancelled, reclaimed or finished). */
export class LeaseLostError extends JobsHttpError {
  constructor(bodyText: string) {
    super(409, bodyText)
    this.name = 'LeaseLostError'
  }
}

/** A non-2xx answer of the worker CRUD API. */
export class CrudError extends Error {
  readonly status: number
  readonly bodyText: string
  constructor(status: number, bodyText: string) {
    super(`HTTP ${status}: ${bodyText.slice(0, 500)}`)
    this.name = 'CrudError'
    this.status = status
    this.bodyText = bodyText
  }
}
