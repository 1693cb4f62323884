import { model, action, text, email, number, boolean, select, datetime, relation, blocks, json, allow } from '@atomo-cc/schema'

export const scoreDeal = action('scoreDeal').from('deals').input(['id', 'value', 'stage'])
export const sendQuote = action('sendQuote').input({ dealId: 'string', email: 'string', note: 'string?', copies: 'number' })
  .returns({ url: 'string', pages: 'number?' })

export const Account = model('accounts', {
  fields: {
    id: text().id(), name: text().required().max(80), email: email().unique(), active: boolean().default(true),
    settings: json(), tags: json().default([]),
  },
  access: { read: allow.authenticated(), create: allow.role('admin'), update: allow.any([allow.role('admin'), allow.owner('id')]), delete: allow.role('admin') },
})

export const Deal = model('deals', {
  fields: {
    id: text().id(), title: text().required().min(2), value: number().required().min(0).default(0),
    stage: select(['lead', 'won', 'lost']).default('lead').index(), closeDate: datetime(),
    accountId: relation('accounts').required(), notes: blocks(),
  },
  on: { created: [scoreDeal], updated: [scoreDeal.whenChanged('value', 'stage')] },
})
