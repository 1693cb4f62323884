"""Shared helpers for the schema tests."""

from __future__ import annotations

from pathlib import Path

from atomo.schema import Schema, parse_schema

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-data" / "schema.ts"

# The builder-syntax CRM of schema chapter §3, verbatim.
BUILDER_CRM = (
    "import { model, action, text, email, url, number, select, datetime, relation, blocks, json, allow } "
    "from '@atomo-cc/schema'\n") + """
export const sendWelcomeEmail = action('sendWelcomeEmail').from('contacts').input(['id', 'email', 'firstName'])
export const scoreDeal = action('scoreDeal').from('deals').input(['id', 'value', 'stage', 'probability'])
export const notifyDealWon = action('notifyDealWon').from('deals').input(['id', 'title', 'value', 'ownerId'])

export const Company = model('companies', {
  fields: {
    id: text().id(), name: text().required().min(2).max(120).unique(),
    industry: text().index(), website: url(), employeeCount: number().min(0),
  },
  access: { read: allow.authenticated(), create: allow.role(['sales', 'manager', 'admin']),
            update: allow.role(['sales', 'manager', 'admin']), delete: allow.role('admin') },
})

export const Contact = model('contacts', {
  fields: {
    id: text().id(),
    firstName: text().required().trim().max(100), lastName: text().required().trim().max(100),
    email: email().lowercase(), phone: text().max(40), companyId: relation('companies'),
    ownerId: text().index(), tags: json().default([]), notes: blocks(),
    createdAt: datetime().defaultNow(), updatedAt: datetime().autoUpdate(),
  },
  access: { read: allow.authenticated(), create: allow.role(['sales', 'manager', 'admin']),
            update: allow.any([allow.role(['manager', 'admin']), allow.owner('ownerId')]),
            delete: allow.role(['manager', 'admin']) },
  on: { created: [sendWelcomeEmail] },
})

export const Deal = model('deals', {
  fields: {
    id: text().id(), title: text().required().min(2).max(160),
    value: number().required().min(0).default(0), currency: select(['EUR', 'USD']).default('EUR'),
    stage: select(['lead', 'qualified', 'proposal', 'won', 'lost']).default('lead').index(),
    probability: number().min(0).max(100), closeDate: datetime(),
    companyId: relation('companies').required(), contactId: relation('contacts'),
    ownerId: text().index(), notes: blocks(),
    // @@unique([companyId, title])
    // @@index([stage, closeDate])
    // @@check(value >= 0)
  },
  access: { read: allow.authenticated(), create: allow.role(['sales', 'manager', 'admin']),
            update: allow.any([allow.role(['manager', 'admin']), allow.owner('ownerId')]),
            delete: allow.role('admin') },
  on: { created: [scoreDeal],
        updated: [scoreDeal.whenChanged('value', 'stage', 'probability'), notifyDealWon.when('stage', 'won')] },
})
"""

BUILDER_HEADER = ("import { model, action, channel, text, email, url, number, boolean, select, datetime, relation, "
                  "blocks, json, file, allow } from '@atomo-cc/schema'\n")


def diags(schema: Schema) -> list[tuple[int, int, str, str]]:
    """(line, col, severity, code) of every diagnostic."""
    return [(d.line, d.col, d.severity, d.code) for d in schema.diagnostics]


def codes(text: str) -> list[tuple[int, int, str]]:
    return [(d.line, d.col, d.code) for d in parse_schema(text).diagnostics]


def rules(field) -> list[str]:  # noqa: ANN001
    return [r.source() for r in field.rules]
