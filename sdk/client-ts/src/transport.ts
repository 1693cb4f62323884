/**
 * The HTTP transport every part of the client shares: headers (token, tenant), timeout and abort, the
 * single-flight token refresh with one retry on 401, REST and GraphQL calls with error mapping, and the
 * reset signal (tenant change, login, logout) that caches and connections listen to.
 */

import { AtomoError, graphqlError, httpError } from './errors.js'
import type { OfflineOptions } from './offline.js'
import { memoryTokenStore, type TokenStore, type Tokens } from './tokens.js'

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** The part of the WebSocket API the client uses (the browser's, Node ≥ 22's global, or the `ws` package's). */
export interface WebSocketLike {
  readonly readyState: number
  readonly protocol?: string
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((ev: any) => void) | null
  onmessage: ((ev: { data: any }) => void) | null
  onclose: ((ev: { code: number; reason: string }) => void) | null
  onerror: ((ev: any) => void) | null
}
export type WebSocketFactory = new (url: string, protocols?: string | string[]) => WebSocketLike

export interface ClientOptions {
  /** Server base URL; `/graphql`, `/graphql/ws`, `/realtime/ws` and the REST routes are derived from it. */
  url: string
  /** A fixed JWT (scripts, tests); otherwise `tokenStore` holds the tokens. */
  token?: string
  /** Default: in memory. */
  tokenStore?: TokenStore
  /** Sent as X-Tenant-ID (and `tenant` in `connection_init`). */
  tenantId?: string | null
  fetch?: FetchLike
  /** Default: the global `WebSocket`. */
  WebSocket?: WebSocketFactory
  /** Extra headers on every HTTP request. */
  headers?: Record<string, string>
  /** Per-request timeout (default 30000 ms). */
  timeoutMs?: number
  /** Called when a refresh fails and the user must log in again. */
  onAuthError?: (error: AtomoError) => void
  /** Query cache settings (sdk.md §6): entries without subscribers are removed after `gcTimeMs` (default 300000). */
  cache?: { gcTimeMs?: number }
  /** The offline mutation queue (sdk.md §7); default disabled. */
  offline?: OfflineOptions
}

export interface CallOptions {
  signal?: AbortSignal
  /** Default true: send the token (and refresh on 401). */
  auth?: boolean
  /** Extra headers of this request. */
  headers?: Record<string, string>
}

export interface Sent { status: number; body: unknown; requestId?: string; token: string | null; headers: Headers | null }

/** Why the client's session state changed: caches clear, connections re-authenticate. */
export type ResetReason = 'tenant' | 'login' | 'logout' | 'auth-error'

export interface Transport {
  readonly base: string
  readonly options: ClientOptions
  readonly store: TokenStore
  /** The tokens in use (the fixed `token` option, else the store's). */
  tokens(): Tokens | null
  tenantId: string | null
  request(method: string, path: string, body?: unknown, call?: CallOptions): Promise<Sent>
  rest<R>(method: string, path: string, body?: unknown, call?: CallOptions): Promise<R>
  graphql<D = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, call?: CallOptions): Promise<D>
  /** `graphql` returning one root field. */
  field<R>(query: string, name: string, variables: Record<string, unknown>, call?: CallOptions): Promise<R>
  refreshTokens(): Promise<Tokens>
  /** The WebSocket URL of a path (`/graphql/ws`, `/realtime/ws`). */
  wsUrl(path: string): string
  webSocket(): WebSocketFactory
  onReset(listener: (reason: ResetReason) => void): () => void
  reset(reason: ResetReason): void
}

function clientError(code: 'TIMEOUT' | 'ABORTED' | 'NETWORK_ERROR', message: string, cause: unknown): AtomoError {
  return new AtomoError({ code, message, cause })
}

export function createTransport(options: ClientOptions): Transport {
  const base = options.url.replace(/\/+$/, '')
  const store = options.tokenStore ?? memoryTokenStore()
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const timeoutMs = options.timeoutMs ?? 30000
  let tenantId: string | null = options.tenantId ?? null
  let refreshing: Promise<Tokens> | null = null
  const resetListeners = new Set<(reason: ResetReason) => void>()

  const tokens = (): Tokens | null => (options.token ? { token: options.token } : store.get())

  async function send(method: string, path: string, body: unknown, call: CallOptions): Promise<Sent> {
    const auth = call.auth ?? true
    const signal = call.signal
    const headers: Record<string, string> = { accept: 'application/json', ...(options.headers ?? {}), ...(call.headers ?? {}) }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const token = auth ? (tokens()?.token ?? null) : null
    if (token) headers.authorization = `Bearer ${token}`
    if (tenantId) headers['x-tenant-id'] = tenantId
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; controller.abort() }, timeoutMs)
    const onAbort = () => controller.abort()
    if (signal) {
      if (signal.aborted) controller.abort()
      else signal.addEventListener('abort', onAbort, { once: true })
    }
    const failed = (cause: unknown, what: string): AtomoError => {
      if (timedOut) return clientError('TIMEOUT', `request timed out after ${timeoutMs} ms`, cause)
      if (signal?.aborted) return clientError('ABORTED', 'request aborted', cause)
      return clientError('NETWORK_ERROR', what, cause)
    }
    try {
      let response: Response
      try {
        response = await fetchImpl(base + path, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: controller.signal,
        })
      } catch (cause) {
        throw failed(cause, `no response from ${base}: ${(cause as Error)?.message ?? cause}`)
      }
      let text: string
      try {
        text = await response.text()
      } catch (cause) {
        throw failed(cause, 'the response was cut off')
      }
      let parsed: unknown = text
      if (text) { try { parsed = JSON.parse(text) } catch { /* keep the text */ } }
      return {
        status: response.status, body: parsed, requestId: response.headers.get('x-request-id') ?? undefined, token,
        headers: response.headers,
      }
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
  }

  const transport: Transport = {
    base,
    options,
    store,
    tokens,
    get tenantId() { return tenantId },
    set tenantId(id: string | null) {
      if ((id ?? null) === tenantId) return
      tenantId = id ?? null
      transport.reset('tenant')
    },

    /** One refresh at a time, shared by every request that needs it. */
    refreshTokens(): Promise<Tokens> {
      if (refreshing) return refreshing
      refreshing = (async () => {
        const refreshToken = store.get()?.refreshToken
        if (!refreshToken) throw new AtomoError({ code: 'UNAUTHENTICATED', message: 'no refresh token stored' })
        const sent = await send('POST', '/auth/refresh', { refresh_token: refreshToken }, { auth: false })
        if (sent.status < 200 || sent.status >= 300) {
          const error = httpError(sent.status, sent.body, sent.requestId)
          store.clear()
          transport.reset('auth-error')
          options.onAuthError?.(error)
          throw error
        }
        const result = sent.body as { token: string; refresh_token: string }
        const fresh: Tokens = { token: result.token, refreshToken: result.refresh_token }
        store.set(fresh)
        return fresh
      })()
      refreshing.then(() => { refreshing = null }, () => { refreshing = null })
      return refreshing
    },

    /** A request; on HTTP 401 with a stored refresh token: refresh (single-flight) and retry once. */
    async request(method, path, body, call = {}) {
      const sent = await send(method, path, body, call)
      const auth = call.auth ?? true
      if (sent.status !== 401 || !auth || options.token || !store.get()?.refreshToken) return sent
      const now = store.get()
      if (now && now.token !== sent.token) return send(method, path, body, call)   // refreshed meanwhile
      await transport.refreshTokens()
      return send(method, path, body, call)
    },

    async rest<R>(method: string, path: string, body?: unknown, call?: CallOptions): Promise<R> {
      const sent = await transport.request(method, path, body, call)
      if (sent.status < 200 || sent.status >= 300) throw httpError(sent.status, sent.body, sent.requestId)
      return sent.body as R
    },

    async graphql<D>(query: string, variables?: Record<string, unknown>, call?: CallOptions): Promise<D> {
      const payload: Record<string, unknown> = { query }
      if (variables) {
        const defined: Record<string, unknown> = {}
        for (const [k, v] of Object.entries(variables)) if (v !== undefined) defined[k] = v
        payload.variables = defined
      }
      const sent = await transport.request('POST', '/graphql', payload, call)
      const answer = sent.body as { data?: unknown; errors?: unknown[] } | undefined
      if (answer && typeof answer === 'object' && Array.isArray(answer.errors) && answer.errors.length > 0) {
        throw graphqlError(answer.errors, answer.data, sent.status, sent.requestId)
      }
      if (sent.status < 200 || sent.status >= 300 || !answer || typeof answer !== 'object') {
        throw httpError(sent.status, sent.body, sent.requestId)
      }
      return (answer.data ?? {}) as D
    },

    async field<R>(query: string, name: string, variables: Record<string, unknown>, call?: CallOptions): Promise<R> {
      const data = await transport.graphql<Record<string, unknown>>(query, variables, call)
      return data[name] as R
    },

    wsUrl(path: string): string {
      return base.replace(/^http(s?):\/\//i, (_m, s: string) => `ws${s}://`) + path
    },

    webSocket(): WebSocketFactory {
      const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket
      if (!impl) throw new AtomoError({ code: 'BAD_REQUEST', message: 'no WebSocket implementation: pass the WebSocket option' })
      return impl
    },

    onReset(listener) {
      resetListeners.add(listener)
      return () => { resetListeners.delete(listener) }
    },

    reset(reason) {
      for (const listener of [...resetListeners]) listener(reason)
    },
  }
  return transport
}
