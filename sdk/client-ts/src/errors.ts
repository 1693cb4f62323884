/** Every failure of the client rejects with an AtomoError (sdk.md §3). */

/** Codes the client produces itself (no usable server answer). */
export type ClientErrorCode = 'NETWORK_ERROR' | 'TIMEOUT' | 'ABORTED'

export interface AtomoErrorInit {
  code: string
  message: string
  details?: unknown
  status?: number
  path?: ReadonlyArray<string | number>
  data?: unknown
  extensions?: unknown
  requestId?: string
  cause?: unknown
}

export class AtomoError extends Error {
  /** A server code (VALIDATION_ERROR, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, CONFLICT, …) or a client code. */
  readonly code: string
  /** The validation list of a VALIDATION_ERROR (or the server's `details`). */
  readonly details?: unknown
  /** The HTTP status, when there was a response. */
  readonly status?: number
  /** The GraphQL path of the first error. */
  readonly path?: ReadonlyArray<string | number>
  /** Partial GraphQL data returned alongside the errors. */
  readonly data?: unknown
  /** GraphQL: every error of the response (`errors`); REST: the `error` body. */
  readonly extensions?: unknown
  /** The server's X-Request-ID. */
  readonly requestId?: string

  constructor(init: AtomoErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'AtomoError'
    this.code = init.code
    if (init.details !== undefined) this.details = init.details
    if (init.status !== undefined) this.status = init.status
    if (init.path !== undefined) this.path = init.path
    if (init.data !== undefined) this.data = init.data
    if (init.extensions !== undefined) this.extensions = init.extensions
    if (init.requestId !== undefined) this.requestId = init.requestId
  }
}

interface GraphQLErrorLike {
  message?: unknown
  path?: unknown
  extensions?: { code?: unknown; details?: unknown; [key: string]: unknown }
}

const CODE_OF_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'RATE_LIMITED', 503: 'SERVICE_UNAVAILABLE',
}

/** The error of a GraphQL `errors` list (the first gives code and message; all are in `extensions`). */
export function graphqlError(errors: unknown[], data: unknown, status: number, requestId?: string): AtomoError {
  const first = (errors[0] ?? {}) as GraphQLErrorLike
  const ext = first.extensions ?? {}
  return new AtomoError({
    code: typeof ext.code === 'string' ? ext.code : (CODE_OF_STATUS[status] ?? 'INTERNAL_ERROR'),
    message: typeof first.message === 'string' ? first.message : 'GraphQL error',
    details: ext.details,
    status,
    path: Array.isArray(first.path) ? (first.path as (string | number)[]) : undefined,
    data: data ?? undefined,
    extensions: errors,
    requestId,
  })
}

/** The error of a non-2xx REST answer: `{"error": {"code", "message", "details"?}}` or GraphQL-shaped. */
export function httpError(status: number, body: unknown, requestId?: string): AtomoError {
  if (body && typeof body === 'object') {
    const b = body as { error?: unknown; errors?: unknown; data?: unknown }
    if (b.error && typeof b.error === 'object') {
      const e = b.error as { code?: unknown; message?: unknown; details?: unknown }
      return new AtomoError({
        code: typeof e.code === 'string' ? e.code : (CODE_OF_STATUS[status] ?? 'INTERNAL_ERROR'),
        message: typeof e.message === 'string' ? e.message : `HTTP ${status}`,
        details: e.details, status, extensions: b.error, requestId,
      })
    }
    if (Array.isArray(b.errors) && b.errors.length > 0) return graphqlError(b.errors, b.data, status, requestId)
  }
  return new AtomoError({
    code: CODE_OF_STATUS[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'HTTP_ERROR'),
    message: typeof body === 'string' && body ? body.slice(0, 200) : `HTTP ${status}`,
    status, requestId,
  })
}
