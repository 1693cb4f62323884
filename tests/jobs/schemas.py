"""Schemas of the jobs tests: both syntaxes bind the same actions (created/updated/deleted, conditions) and
declare the same stream rules (the worker events API: anyone signed in appends to and reads `note-*`; only
admins append to `audit-*`, which anyone signed in reads)."""

INTERFACE = """
export interface Ticket {
  id: string
  title: string
  status: string          // @default('open')
  priority?: number
  ownerId?: string
  tags?: string[]
}

export interface Note {
  id: string
  text: string
  ownerId?: string
  body?: Block[]
}

export const schema = {
  models: {
    Ticket: {
      access: { read: 'authenticated', create: 'authenticated', update: 'authenticated', delete: 'authenticated' },
      events: {
        created: [{ action: 'triage' }],
        updated: [{ action: 'triage', condition: { changedAny: ['priority'] } },
                  { action: 'closeOut',
                    condition: [{ ChangedAny: ['status'] }, { fieldEquals: { status: 'closed' } }] },
                  { action: 'urgent', condition: { FieldEquals: { field: 'priority', value: 1 } } }],
        deleted: [{ action: 'archive' }],
      },
    },
    Note: {
      access: { read: 'authenticated', create: 'authenticated', update: 'owner(ownerId)', delete: 'admin' },
    },
  },
  actions: {
    triage: { input: { pick: { model: 'Ticket', fields: ['id', 'priority'] } } },
    closeOut: { input: { pick: { model: 'Ticket', fields: ['id', 'title'] } } },
    urgent: { input: { object: { id: 'string' } } },
    quote: { input: { object: { ticketId: 'string', email: 'string', note: 'string?', count: 'number?' } },
             returns: { url: 'string' } },
  },
  streams: {
    'note-*': { append: 'authenticated', read: 'authenticated' },
    'audit-*': { append: 'admin', read: 'authenticated' },
  },
}
export default schema
"""

BUILDER = """
import { model, action, stream, text, number, json } from '@atomo-cc/schema'

export const triage = action('triage').from('tickets').input(['id', 'priority'])
export const closeOut = action('closeOut').from('tickets').input(['id', 'title'])
export const urgent = action('urgent')
export const archive = action('archive')
export const quote = action('quote').input({ ticketId: 'string', email: 'string' }).returns({ url: 'string' })
export const noteStreams = stream('note-*', { append: 'authenticated', read: 'authenticated' })
export const auditStreams = stream('audit-*', { append: 'admin', read: 'authenticated' })

export const Ticket = model('tickets', {
  fields: {
    id: text().id(), title: text().required(), status: text().default('open'), priority: number(),
    ownerId: text(), tags: json(),
  },
  on: {
    created: [triage],
    updated: [triage.whenChanged('priority'), closeOut.whenChanged('status').when('status', 'closed'),
              urgent.when('priority', 1)],
    deleted: [archive],
  },
})
"""
