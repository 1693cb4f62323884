import type { Block } from '@atomo-cc/schema'   // optional: `Block` is built in

export enum DealStage { Lead = 'lead', Qualified = 'qualified', Proposal = 'proposal', Won = 'won', Lost = 'lost' }

/** An organisation you sell to. */
export interface Company {
  id: string
  /** The company's name, unique across the CRM. */
  name: string                  // @unique
  industry?: string             // @index
  website?: string; employeeCount?: number
}

/** A person at a company (or on their own). */
export interface Contact {
  id: string
  firstName: string; lastName: string
  email?: string                // unique because of its name
  phone?: string; companyId?: string; tags?: string[]; notes?: Block[]
  ownerId?: string              // @index
  createdAt: Date; updatedAt: Date   // optional to declare: always managed
}

/** A sales opportunity with a company. */
export interface Deal {
  id: string
  title: string
  /** The deal's value in its currency. */
  value: number                 // @default(0)
  currency: 'EUR' | 'USD'       // @default('EUR')
  stage: DealStage              // @default('lead') @index
  probability?: number; closeDate?: Date
  companyId: string; contactId?: string; ownerId?: string
  notes?: Block[]
  // @@unique([companyId, title])
  // @@index([stage, closeDate])
  // @@check(value >= 0)
}

export const schema = {
  models: {
    Company: {
      tableName: 'companies',
      access: { read: 'authenticated', create: 'sales|manager|admin', update: 'sales|manager|admin', delete: 'admin' },
      validation: { name: 'required|min:2|max:120', website: 'url' },
      relationships: { deals: { type: 'hasMany', model: 'Deal', foreignKey: 'companyId' } },
      ui: { listView: ['name', 'industry', 'employeeCount'], displayField: 'name' },
    },
    Contact: {
      access: { read: 'authenticated', create: 'sales|manager|admin', update: 'manager|admin|owner(ownerId)', delete: 'manager|admin' },
      validation: { firstName: 'required|max:100', lastName: 'required|max:100', email: 'email', phone: 'max:40' },
      relationships: { company: { type: 'belongsTo', model: 'Company', foreignKey: 'companyId' } },
      events: { created: [{ action: 'sendWelcomeEmail' }] },
    },
    Deal: {
      access: { read: 'authenticated', create: 'sales|manager|admin', update: 'manager|admin|owner(ownerId)', delete: 'admin' },
      validation: { title: 'required|min:2|max:160', probability: 'min:0|max:100' },
      relationships: {
        company: { type: 'belongsTo', model: 'Company', foreignKey: 'companyId' },
        contact: { type: 'belongsTo', model: 'Contact', foreignKey: 'contactId' },
      },
      events: {
        created: [{ action: 'scoreDeal' }],
        updated: [{ action: 'scoreDeal', condition: { changedAny: ['value', 'stage', 'probability'] } },
                  { action: 'notifyDealWon', condition: { fieldEquals: { stage: 'won' } } }],
      },
    },
  },
  actions: {
    sendWelcomeEmail: { input: { pick: { model: 'Contact', fields: ['id', 'email', 'firstName'] } } },
    scoreDeal: { input: { pick: { model: 'Deal', fields: ['id', 'value', 'stage', 'probability'] } } },
    notifyDealWon: { input: { pick: { model: 'Deal', fields: ['id', 'title', 'value', 'ownerId'] } } },
  },
}
export default schema
