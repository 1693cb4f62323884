"""Interface syntax: interfaces, enums, unions, the `schema` metadata object."""

from __future__ import annotations

from atomo.schema import NO_DEFAULT, Condition, Relationship, load_schema, parse_schema

from .helpers import SAMPLE, diags, rules


def test_sample_parses_cleanly() -> None:
    schema = load_schema(SAMPLE)
    assert schema.diagnostics == ()
    assert schema.syntax == "interface"
    assert [(m.name, m.table) for m in schema.models] == [
        ("Company", "companies"), ("Contact", "contacts"), ("Deal", "deals")]


def test_sample_fields() -> None:
    schema = load_schema(SAMPLE)
    company, contact, deal = schema.models
    assert [f.name for f in company.fields] == ["id", "name", "industry", "website", "employeeCount"]
    assert [(f.column, f.key) for f in contact.fields][1] == ("first_name", "firstName")
    kinds = {f.name: f.kind for f in contact.fields}
    assert kinds == {"id": "text", "firstName": "text", "lastName": "text", "email": "text", "phone": "text",
                     "companyId": "text", "tags": "array", "notes": "blocks", "ownerId": "text",
                     "createdAt": "datetime", "updatedAt": "datetime"}
    assert contact.field("tags").item_type == "string"
    id_field = company.fields[0]
    assert (id_field.primary, id_field.unique, id_field.optional, id_field.rules) == (True, True, False, ())
    assert rules(company.field("name")) == ["required", "min:2", "max:120"]
    assert rules(company.field("website")) == ["url"]
    assert rules(contact.field("email")) == ["email"]
    assert contact.field("createdAt").rules == ()
    assert rules(deal.field("stage")) == ["in:lead,qualified,proposal,won,lost"]
    assert deal.field("stage").options == ("lead", "qualified", "proposal", "won", "lost")
    assert (deal.field("stage").default, deal.field("value").default, deal.field("currency").default) == (
        "lead", 0, "EUR")
    assert rules(deal.field("currency")) == ["in:EUR,USD"]
    assert rules(deal.field("value")) == []          # not optional, but has a default
    assert rules(deal.field("companyId")) == ["required"]
    assert deal.field("companyId").target == "Company" and deal.field("companyId").kind == "text"
    assert deal.field("probability").has_default is False and deal.field("probability").default is NO_DEFAULT


def test_sample_indexes_checks_access_relationships_events_actions() -> None:
    schema = load_schema(SAMPLE)
    company, contact, deal = schema.models
    assert [(i.name, i.columns, i.unique) for i in company.indexes] == [
        ("uq_companies_name", ("name",), True), ("idx_companies_industry", ("industry",), False)]
    assert [i.name for i in contact.indexes] == ["uq_contacts_email", "idx_contacts_company_id",
                                                  "idx_contacts_owner_id"]
    assert [(i.name, i.columns, i.unique) for i in deal.indexes][-2:] == [
        ("uq_deals_company_id_title", ("company_id", "title"), True),
        ("idx_deals_stage_close_date", ("stage", "close_date"), False)]
    assert [c.expr for c in deal.checks] == ["value >= 0"]
    assert deal.checks[0].name.startswith("chk_deals_") and len(deal.checks[0].name) == len("chk_deals_") + 8
    assert {op: r.source() for op, r in contact.access.items()} == {
        "create": "sales|manager|admin", "read": "authenticated", "update": "manager|admin|owner(ownerId)",
        "delete": "manager|admin"}
    assert company.relationships == (Relationship("deals", "hasMany", "Deal", "companyId"),)
    assert deal.belongs_to == (Relationship("company", "belongsTo", "Company", "companyId"),
                               Relationship("contact", "belongsTo", "Contact", "contactId"))
    updated = deal.events["updated"]
    assert [b.action for b in updated] == ["scoreDeal", "notifyDealWon"]
    assert updated[0].conditions == (Condition(changed_any=("value", "stage", "probability")),)
    assert updated[1].conditions == (Condition(field_equals=(("stage", "won"),)),)
    assert deal.events["deleted"] == ()
    assert company.ui == {"listView": ["name", "industry", "employeeCount"], "displayField": "name"}
    action = schema.action("scoreDeal")
    assert action.input == {"pick": {"model": "Deal", "fields": ["id", "value", "stage", "probability"]}}
    assert (action.source_model, action.callable) == ("Deal", False)


def test_table_and_column_names() -> None:
    schema = parse_schema("""
export interface Contact { id: string }
export interface DealStage { id: string; HTTPStatus?: number }
export interface Company { id: string }
""")
    assert [m.table for m in schema.models] == ["contacts", "deal_stages", "companys"]
    field = schema.models[1].field("HTTPStatus")
    assert (field.column, field.key) == ("http_status", "httpStatus")


def test_key_rename_warning() -> None:
    schema = parse_schema("export interface Link {\n  id: string\n  URL?: string\n}\n")
    assert diags(schema) == [(3, 3, "warning", "key-rename")]
    assert "'URL'" in schema.diagnostics[0].message and "'url'" in schema.diagnostics[0].message
    field = schema.models[0].field("url")
    assert (field.name, field.column, field.key) == ("URL", "url", "url")


def test_types_enums_unions_aliases_arrays() -> None:
    schema = parse_schema("""
export enum Level { Low = 'low', High = 'high' }
export type Color = 'red' | 'green'
export type Shade = Color
export interface Address { street: string }
export interface CreateThingInput { id: string; name: string }
export interface Thing {
  id: string
  level: Level
  color?: Color | null
  shade?: Shade
  size: 's' | 'm'
  addr?: Address
  meta?: Record<string, unknown>
  any?: any
  list?: Array<number>
  blocks?: Array<Block>
  nested?: string[][]
  born?: Date
  avatar?: File
  active: boolean
}
""")
    assert schema.diagnostics == ()
    assert [m.name for m in schema.models] == ["Thing"]
    t = schema.models[0]
    kinds = {f.name: (f.kind, f.options) for f in t.fields}
    assert kinds["level"] == ("select", ("low", "high"))
    assert kinds["color"] == ("select", ("red", "green")) and t.field("color").optional
    assert kinds["shade"] == ("select", ("red", "green"))
    assert kinds["size"] == ("select", ("s", "m"))
    assert [kinds[n][0] for n in ("addr", "meta", "any", "list", "blocks", "nested", "born", "avatar", "active")] == [
        "json", "json", "json", "array", "blocks", "array", "datetime", "file", "boolean"]
    assert t.field("nested").item_type == "string[]"
    assert rules(t.field("level")) == ["required", "in:low,high"]
    assert rules(t.field("active")) == ["required"]


def test_unknown_type_is_an_error_with_a_suggestion() -> None:
    schema = parse_schema("export interface T {\n  id: string\n  x?: Mystery\n  y: Strin\n  z?: number[]\n}\n")
    assert diags(schema) == [(3, 7, "error", "unknown-type"), (4, 6, "error", "unknown-type")]
    assert schema.errors[0].message == ("unknown type 'Mystery' (declare it in this file, or use any, object or "
                                        "Record<string, any> for JSON)")
    assert schema.errors[1].message == "unknown type 'Strin'. Did you mean 'string'?"
    declared = parse_schema("export enum Stage { Lead = 'lead' }\nexport interface Address { city?: string }\n"
                            "export interface T { id: string; a?: Adress; s?: stage; l?: Array<Stag> }\n")
    assert [d.message for d in declared.diagnostics] == [
        "unknown type 'Adress'. Did you mean 'Address'?", "unknown type 'stage'. Did you mean 'Stage'?",
        "unknown type 'Stag'. Did you mean 'Stage'?"]


def test_email_heuristic_and_defaults() -> None:
    schema = parse_schema("""
export interface P {
  id: string
  email: string
  n?: number       // @default(2.5)
  on: boolean      // @default(true)
  tags: string[]   // @default([])
  data?: object    // @default({ a: [1, null] })
}
""")
    assert schema.diagnostics == ()
    p = schema.models[0]
    assert p.field("email").unique and rules(p.field("email")) == ["required"]
    assert [i.name for i in p.indexes] == ["uq_ps_email"]
    assert (p.field("n").default, p.field("on").default, p.field("tags").default) == (2.5, True, [])
    assert p.field("data").default == {"a": [1, None]}
    assert rules(p.field("on")) == [] and rules(p.field("tags")) == []


def test_listed_model_without_id_gets_one_with_a_warning() -> None:
    schema = parse_schema("export interface Note { text: string }\nexport const schema = { models: { Note: {} } }\n")
    note = schema.models[0]
    assert [f.name for f in note.fields] == ["id", "text"] and note.fields[0].primary
    assert [(d.line, d.col, d.severity) for d in schema.diagnostics] == [(1, 18, "warning")]


def test_plain_interfaces_are_not_models() -> None:
    schema = parse_schema("export interface Address { street: string }\nexport interface SendInput { id: string }\n")
    assert schema.models == ()


def test_builtins_users_columns_and_config_keys() -> None:
    schema = parse_schema("""
export interface T { id: string }
export const schema = {
  models: { T: { primaryKey: 'id', searchable: ['x'], config: { auditLog: true, softDeletes: true } } },
  builtins: { users: { columns: { nickname: 'text', score: 'INTEGER' } } },
  config: { anything: 1 },
}
""")
    assert schema.diagnostics == ()
    assert dict(schema.user_columns) == {"nickname": "TEXT", "score": "INTEGER"}


def test_actions_and_channels() -> None:
    schema = parse_schema("""
export interface Deal { id: string; stage?: string; ownerId?: string }
export const schema = {
  models: { Deal: { events: {
    updated: [{ action: 'notifyWon', condition: { changedAny: ['stage'], fieldEquals: { stage: 'won' } } },
              { action: 'x', condition: [{ ChangedAny: ['stage'] }, { FieldEquals: { field: 'stage', value: 1 } }] }],
  } } },
  actions: {
    notifyWon: { input: { pick: { model: 'Deal', fields: ['id', 'ownerId'] } } },
    sendQuote: { input: { object: { dealId: 'string', note: 'string?' } }, returns: { url: 'string' } },
  },
  channels: {
    'deal:{id}': { record: 'Deal', subscribe: 'authenticated', publish: 'sales|admin' },
    'lobby': {},
  },
}
""")
    assert schema.diagnostics == ()
    updated = schema.models[0].events["updated"]
    assert updated[0].conditions == (Condition(("stage",), (("stage", "won"),)),)
    assert updated[1].conditions == (Condition(changed_any=("stage",)), Condition(field_equals=(("stage", 1),)))
    quote = schema.action("sendQuote")
    assert quote.callable and quote.input == {"object": {"dealId": "string", "note": "string?"}}
    assert quote.source_model is None
    deal_room, lobby = schema.channels
    assert (deal_room.pattern, deal_room.record, deal_room.publish.source()) == ("deal:{id}", "Deal", "sales|admin")
    assert (lobby.subscribe, lobby.publish) == (None, None)


def test_enum_member_references_and_consts() -> None:
    schema = parse_schema("""
export enum Stage { Lead = 'lead', Won = 'won' }
const staff = 'manager|admin'
export interface Deal { id: string; stage: Stage }
export const schema = { models: { Deal: {
  access: { update: staff },
  events: { updated: [{ action: 'a', condition: { fieldEquals: { stage: Stage.Won } } }] },
} } } as const
export default schema
""")
    assert schema.diagnostics == ()
    deal = schema.models[0]
    assert deal.access["update"].source() == "manager|admin"
    assert deal.events["updated"][0].conditions[0].field_equals == (("stage", "won"),)
