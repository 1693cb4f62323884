/** Where the client keeps its tokens (sdk.md §1). */

export interface Tokens {
  token: string
  refreshToken?: string | null
}

export interface TokenStore {
  get(): Tokens | null
  set(tokens: Tokens): void
  clear(): void
}

/** Tokens kept in memory (the default). */
export function memoryTokenStore(initial?: Tokens | null): TokenStore {
  let tokens: Tokens | null = initial ?? null
  return {
    get: () => tokens,
    set: (t) => { tokens = { ...t } },
    clear: () => { tokens = null },
  }
}

interface StorageLike {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

/** Tokens kept in `localStorage` under `key` (JSON); `storage` is injectable for tests and other hosts. */
export function localStorageTokenStore(key = 'atomo.tokens', storage?: StorageLike): TokenStore {
  const store = (): StorageLike => {
    const s = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage
    if (!s) throw new Error('localStorage is not available: pass a storage or use memoryTokenStore()')
    return s
  }
  return {
    get() {
      const raw = store().getItem(key)
      if (!raw) return null
      try {
        const parsed = JSON.parse(raw) as Tokens
        return typeof parsed?.token === 'string' ? parsed : null
      } catch {
        return null
      }
    },
    set(tokens) { store().setItem(key, JSON.stringify(tokens)) },
    clear() { store().removeItem(key) },
  }
}
