import { createClient, localStorageTokenStore } from '@atomo-cc/client'
import { createAtomoHooks } from '@atomo-cc/client/react'

/** The part of the sample schema this app uses (`atomo codegen` writes the full `AtomoTypes`). */
export interface Contact {
  id: string
  firstName: string
  lastName: string
  email: string | null
  createdAt: string
  _version: number
}

export interface Crm {
  models: { Contact: Contact }
  create: { Contact: { firstName: string; lastName: string; email?: string } }
}

/** The server's base URL: `?api=http://127.0.0.1:4000` in the page's address, else `atomo dev`'s default. */
export const apiUrl = new URLSearchParams(window.location.search).get('api') ?? 'http://localhost:3000'

/** One client for the whole app; the tokens stay in localStorage so a reload keeps you logged in. */
export const atomo = createClient<Crm>({ url: apiUrl, tokenStore: localStorageTokenStore() })

/** The hooks typed by `Crm`: model names, records and inputs are checked without type arguments. */
export const { useRecords, useMutation, useModelChanges } = createAtomoHooks<Crm>()
