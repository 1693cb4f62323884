"""Name suggestions ("Did you mean ...?") and their use in schema diagnostics."""

from __future__ import annotations

import time

from atomo.schema import parse_schema
from atomo.schema.suggest import MAX_WORD, close_matches, distance, hinted, listing

from .helpers import BUILDER_HEADER

FIELDS = ["id", "firstName", "lastName", "email", "phone", "companyId", "createdAt"]


def test_distance_counts_transpositions_as_one_edit() -> None:
    assert distance("recrods", "records", 5) == 1
    assert distance("emial", "email", 5) == 1
    assert distance("abc", "abc", 0) == 0
    assert distance("kitten", "sitting", 5) == 3
    assert distance("a" * 10, "b" * 10, 2) == 3          # stops early: over the limit


def test_close_matches() -> None:
    assert close_matches("emial", FIELDS) == ["email"]
    assert close_matches("firstname", FIELDS) == ["firstName"]          # case only: that name alone
    assert close_matches("first_name", FIELDS) == ["firstName"]
    assert close_matches("Contacts", ["Company", "Contact", "Deal"]) == ["Contact"]
    assert close_matches("recrods", ["records", "record", "count", "history"]) == ["records", "record"]
    assert close_matches("zzz", FIELDS) == [] and close_matches("x", ["a", "id"]) == []
    assert close_matches("", FIELDS) == [] and close_matches("email", FIELDS) == []    # itself is no suggestion


def test_long_words_cost_nothing() -> None:
    start = time.perf_counter()
    assert close_matches("a" * 1_000_000, ["a" * 40] * 1000) == []
    assert close_matches("b" * MAX_WORD, ["b" * (MAX_WORD - 1)]) == ["b" * (MAX_WORD - 1)]
    assert time.perf_counter() - start < 1


def test_hinted_and_listing() -> None:
    assert hinted("model 'Contacts' does not exist", "Contacts", ["Company", "Contact", "Deal"], "available models") \
        == ("model 'Contacts' does not exist. Did you mean 'Contact'?", ["Contact"])
    assert hinted("model 'Nope' does not exist", "Nope", ["Company", "Contact", "Deal"], "available models") \
        == ("model 'Nope' does not exist (available models: Company, Contact, Deal)", [])
    assert hinted("x", "Nope", [], "available models") == ("x", [])
    assert hinted("x", "Nope", ["A"]) == ("x", [])
    names = [f"M{i:02}" for i in range(25)]
    assert listing(names) == "M00, M01, M02, M03, M04, M05, M06, M07, M08, M09, ..."
    assert hinted("f", "emial", ["email", "mail", "emails"])[0] == "f. Did you mean 'email', 'mail' or 'emails'?"


def messages(source: str) -> list[str]:
    return [f"{d.severity}[{d.code}]: {d.message}" for d in parse_schema(source).diagnostics]


def test_schema_diagnostics_suggest_names() -> None:
    assert messages("export interface A { id: string; name: string; ownerId?: string }\n"
                    "export const schema = { modles: {}, models: { A: {\n"
                    "  acess: { read: 'public' }, valdation: { nmae: 'requred' },\n"
                    "  events: { create: [] }, access: { reed: 'owner(ownr)' } } } }\n") == [
        "error[unknown-property]: 'modles' is not a schema option. Did you mean 'models'?",
        "error[unknown-property]: 'acess' is not a model option. Did you mean 'access'?",
        "error[unknown-property]: 'valdation' is not a model option. Did you mean 'validation'?",
        "error[unknown-property]: 'create' is not an event. Did you mean 'created'?",
        "error[unknown-property]: 'reed' is not an access operation. Did you mean 'read'?",
    ]
    assert messages("export interface A { id: string; name: string }\n"
                    "export const schema = { models: { A: { validation: { nmae: 'requred|foo' },\n"
                    "  tableNmae: 'as' } } }\n") == [
        "error[reference]: validation names unknown field 'nmae' of A. Did you mean 'name'?",
        "error[unknown-property]: 'tableNmae' is not a model option. Did you mean 'tableName'?",
    ]
    assert messages("export interface A { id: string; name: string }\n"
                    "export const schema = { models: { A: { validation: { name: 'requred|foo' }, zzz: 1 } } }\n") == [
        "error[invalid-rule]: unknown validation rule 'requred' in 'requred|foo'. Did you mean 'required'?",
        "error[invalid-rule]: unknown validation rule 'foo' in 'requred|foo'",
        "error[unknown-property]: 'zzz' is not a model option (options: tableName, access, validation, relationships, "
        "events, ui, primaryKey, searchable, config, graphqlName)",
    ]


def test_builder_diagnostics_suggest_names() -> None:
    assert messages(BUILDER_HEADER + "export const A = modle('as', { fields: {} })\n"
                    "export const B = model('bs', { fields: { x: txt().requird(), y: text().uniqe() },\n"
                    "  acces: {}, access: { read: allow.authenticate() } })\n") == [
        "error[unknown-call]: unknown call 'modle()'. Did you mean 'model'?",
        "error[unknown-call]: unknown field builder 'txt()' for field 'x'. Did you mean 'text'?",
        "error[unknown-method]: unknown field method '.uniqe()'. Did you mean 'unique'?",
        "error[unknown-property]: 'acces' is not a model option. Did you mean 'access'?",
        "error[unknown-call]: unknown call 'allow.authenticate()'. Did you mean 'authenticated'?",
    ]


def test_annotations_suggest_names() -> None:
    assert messages("export interface A {\n  id: string\n  x?: string // @uniqe\n  y?: string // ask @ada\n"
                    "  // @@indx([x, y])\n}\n") == [
        "error[unknown-annotation]: unknown annotation '@uniqe'. Did you mean '@unique'?",
        "error[unknown-annotation]: unknown annotation '@ada' (annotations: @unique, @index, @default, @@unique, "
        "@@index, @@check, @@graphqlName; write other text in a /* */ comment)",
        "error[unknown-annotation]: unknown annotation '@@indx'. Did you mean '@@index'?",
    ]
    clean = "export interface A {\n  id: string\n  /* owned by @ada */\n  y?: string /* ask @ada */\n}\n"
    assert messages(clean) == []


def test_ui_lists_name_fields() -> None:
    source = """export interface Company { id: string; name: string }
export interface Contact { id: string; firstName: string; companyId?: string }
export const schema = { models: {
  Company: { ui: { listView: ['name', 'createdAt', 'nmae'], displayField: 'titel', searchFields: ['name', 'id'],
                   formView: { columns: 2 }, color: 'blue', hiddenFields: ['zzz'] } },
  Contact: { ui: { listView: ['firstName', 'company', 'company.name', 'company.nmae', 'comapny'] },
             relationships: { company: { type: 'belongsTo', model: 'Company', foreignKey: 'companyId' } } },
} }
"""
    schema = parse_schema(source)
    assert [(d.line, d.severity, d.code, d.message) for d in schema.diagnostics] == [
        (4, "warning", "ui-field", "ui.listView: 'nmae' is not a field of Company. Did you mean 'name'?"),
        (4, "warning", "ui-field", "ui.displayField: 'titel' is not a field of Company"),
        (5, "warning", "ui-field", "ui.hiddenFields: 'zzz' is not a field of Company"),
        (6, "warning", "ui-field", "ui.listView: 'nmae' of 'company.nmae' is not a field of Company. "
                                   "Did you mean 'name'?"),
        (6, "warning", "ui-field", "ui.listView: 'comapny' is not a field of Contact. Did you mean 'company'?"),
    ]
    assert schema.model("Company").ui["listView"] == ["name", "createdAt", "nmae"]     # still served as written
    builder = parse_schema(BUILDER_HEADER + "export const A = model('as', { fields: { title: text() },\n"
                           "  ui: { listView: ['title', 'titel'] } })\n")
    assert [(d.code, d.message) for d in builder.diagnostics] == [
        ("ui-field", "ui.listView: 'titel' is not a field of A. Did you mean 'title'?")]
