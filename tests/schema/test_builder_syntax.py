"""Builder syntax: model(), field builders and chains, allow.*, action chains, channel()."""

from __future__ import annotations

from atomo.schema import Condition, Relationship, parse_schema

from .helpers import BUILDER_CRM, BUILDER_HEADER, diags, rules


def test_crm_builder_parses_cleanly() -> None:
    schema = parse_schema(BUILDER_CRM)
    assert schema.diagnostics == ()
    assert schema.syntax == "builder"
    assert [(m.name, m.table) for m in schema.models] == [
        ("Company", "companies"), ("Contact", "contacts"), ("Deal", "deals")]


def test_field_builders_and_chains() -> None:
    contact = parse_schema(BUILDER_CRM).model("Contact")
    first = contact.field("firstName")
    assert (first.kind, first.trim, first.optional, rules(first)) == ("text", True, False, ["required", "max:100"])
    email = contact.field("email")
    assert (email.kind, email.lowercase, email.unique, rules(email)) == ("email", True, True, ["email"])
    company = contact.field("companyId")
    assert (company.kind, company.target, company.index) == ("relation", "Company", True)
    assert contact.relationships == (Relationship("company", "belongsTo", "Company", "companyId"),)
    assert contact.field("tags").default == [] and contact.field("tags").kind == "json"
    assert contact.field("createdAt").default_now and contact.field("updatedAt").auto_update
    assert contact.field("createdAt").kind == "datetime" and contact.field("createdAt").rules == ()
    assert contact.fields[0].primary and contact.fields[0].rules == ()


def test_all_builders() -> None:
    schema = parse_schema(BUILDER_HEADER + """
export const T = model('things', { fields: {
  a: text(), b: email(), c: url(), d: number().min(1.5).max(10), e: boolean().default(false),
  f: datetime(), g: select('x', 'y'), h: relation('things'), i: blocks(), j: json().default({ k: 1 }),
  k: file().required(),
} })
""")
    assert schema.diagnostics == ()
    t = schema.models[0]
    assert [(f.name, f.kind) for f in t.fields] == [
        ("id", "text"), ("a", "text"), ("b", "email"), ("c", "url"), ("d", "number"), ("e", "boolean"),
        ("f", "datetime"), ("g", "select"), ("h", "relation"), ("i", "blocks"), ("j", "json"), ("k", "file")]
    assert rules(t.field("d")) == ["min:1.5", "max:10"] and isinstance(t.field("d").rules[1].arg, int)
    assert rules(t.field("g")) == ["in:x,y"] and rules(t.field("k")) == ["required"]
    assert t.field("h").target == "T" and t.belongs_to[0].name == "h"
    assert t.field("e").default is False and t.field("j").default == {"k": 1}


def test_access_builders() -> None:
    schema = parse_schema(BUILDER_HEADER + """
export const T = model('things', { fields: { ownerId: text() }, access: {
  read: allow.public(), create: allow.any([allow.role('Admin'), allow.owner('ownerId'), allow.sameTenant()]),
  update: 'manager|owner(ownerId)', delete: allow.role(['a', 'b']),
} })
""")
    assert schema.diagnostics == ()
    access = {op: rule.source() for op, rule in schema.models[0].access.items()}
    assert access == {"create": "admin|owner(ownerId)|sameTenant", "read": "public",
                      "update": "manager|owner(ownerId)", "delete": "a|b"}


def test_spec_allow_any_equals_rule_string() -> None:
    deal = parse_schema(BUILDER_CRM).model("Deal")
    assert deal.access["update"].source() == "manager|admin|owner(ownerId)"
    assert deal.access["delete"].source() == "admin"


def test_actions_and_bindings() -> None:
    schema = parse_schema(BUILDER_CRM)
    assert [a.name for a in schema.actions] == ["sendWelcomeEmail", "scoreDeal", "notifyDealWon"]
    score = schema.action("scoreDeal")
    assert score.input == {"pick": {"model": "Deal", "fields": ["id", "value", "stage", "probability"]}}
    assert score.source_model == "Deal" and not score.callable
    deal = schema.model("Deal")
    assert [b.action for b in deal.events["created"]] == ["scoreDeal"]
    updated = deal.events["updated"]
    assert updated[0].conditions == (Condition(changed_any=("value", "stage", "probability")),)
    assert updated[1].conditions == (Condition(field_equals=(("stage", "won"),)),)


def test_chained_conditions_and_object_inputs() -> None:
    schema = parse_schema(BUILDER_HEADER + """
export const notifyWon = action('notifyWon').from('deals').input(['id', 'stage'])
export const sendQuote = action('sendQuote').input({ dealId: 'string', email: 'string' }).returns({ url: 'string' })
const onValue = notifyWon.whenChanged('value')
export const Deal = model('deals', { fields: { stage: text(), value: number() }, on: {
  updated: [notifyWon.whenChanged('stage').when('stage', 'won').when('value', 3), onValue.whenChanged('stage')],
  deleted: [sendQuote, 'archive'],
} })
""")
    assert schema.diagnostics == ()
    updated = schema.models[0].events["updated"]
    assert updated[0].conditions == (Condition(("stage",), (("stage", "won"), ("value", 3))),)
    assert updated[1].conditions == (Condition(changed_any=("value",)), Condition(changed_any=("stage",)))
    assert [b.action for b in schema.models[0].events["deleted"]] == ["sendQuote", "archive"]
    quote = schema.action("sendQuote")
    assert quote.callable and quote.input == {"object": {"dealId": "string", "email": "string"}}
    assert quote.returns == {"url": "string"}


def test_channels() -> None:
    schema = parse_schema(BUILDER_HEADER + """
export const Deal = model('deals', { fields: { title: text() } })
export const dealRoom = channel('deal:{id}', { record: 'Deal',
  subscribe: allow.authenticated(), publish: allow.role(['sales', 'admin']) })
export const ops = channel('ops:*', { subscribe: 'admin', publish: 'admin' })
""")
    assert schema.diagnostics == ()
    room, ops = schema.channels
    assert (room.pattern, room.record, room.subscribe.source(), room.publish.source()) == (
        "deal:{id}", "Deal", "authenticated", "sales|admin")
    assert ops.subscribe.source() == "admin"


def test_annotations_in_builder_fields() -> None:
    schema = parse_schema(BUILDER_HEADER + """export const T = model('things', {
  fields: {
    code: text(), // @unique
    n: number(),  // @default(1)
    // @@check(n > 0)
  },
})
""")
    assert schema.diagnostics == ()
    t = schema.models[0]
    assert t.field("code").unique and t.field("n").default == 1
    assert [c.expr for c in t.checks] == ["n > 0"]


def test_model_without_id_gets_one_silently() -> None:
    schema = parse_schema(BUILDER_HEADER + "export const Note = model('notes', { fields: { body: text() } })\n")
    assert schema.diagnostics == ()
    assert [f.name for f in schema.models[0].fields] == ["id", "body"]


def test_builder_problems() -> None:
    schema = parse_schema(BUILDER_HEADER + """export const T = model('things', {
  fields: { a: text().frob(), b: magic(), c: number().min('x'), d: select(['x']).default('y') },
  on: { created: [later] },
})
export const later = action('later')
""")
    assert diags(schema) == [
        (3, 23, "error", "unknown-method"), (3, 34, "error", "unknown-call"), (3, 55, "error", "invalid-rule"),
        (3, 82, "error", "invalid-rule"), (4, 19, "error", "reference")]
