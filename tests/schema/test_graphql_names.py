"""The schema side of the typed GraphQL API: `/** */` docs, `graphqlName`, and name clashes as errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atomo.schema import load_schema, parse_schema
from atomo.schema.graphql_names import model_names, name_clashes
from atomo.schema.model import Schema

from .helpers import BUILDER_HEADER, ROOT, SAMPLE, diags

TEMPLATES = sorted((ROOT / "atomo" / "templates").glob("*/schema.ts"))


def errors(schema: Schema) -> list[str]:
    return [str(d) for d in schema.diagnostics]


# -- doc comments ---------------------------------------------------------------------------------

INTERFACE_DOCS = """\
/**
 * A person we talk to.
 *
 * Shown in the CRM.
 */
export interface Contact { /** The person's given name */ firstName: string
  /* a plain block comment */
  lastName: string
  // a line comment
  nickname?: string
  /**
   * Where to write.
   *   Indented text after the star stays indented.
   */
  email: string // @unique
  notes?: string /** trails notes: documents nothing */
  age?: number
  /** */
  tags?: string[]
  id: string
}
"""

BUILDER_DOCS = BUILDER_HEADER + """\
/**
 * A person we talk to.
 *
 * Shown in the CRM.
 */
export const Contact = model('contacts', {
  fields: { /** The person's given name */ firstName: text().required(),
    /* a plain block comment */
    lastName: text().required(),
    // a line comment
    nickname: text(),
    /**
     * Where to write.
     *   Indented text after the star stays indented.
     */
    email: email().required(), // @unique
    notes: text(), /** trails notes: documents nothing */
    age: number(),
    /** */
    tags: json(),
    id: text().id(),
  },
})
"""

DOCS = {"firstName": "The person's given name", "lastName": None, "nickname": None,
        "email": "Where to write.\n  Indented text after the star stays indented.", "notes": None, "age": None,
        "tags": None, "id": None}


@pytest.mark.parametrize("source", [INTERFACE_DOCS, BUILDER_DOCS], ids=["interface", "builder"])
def test_doc_comments_of_models_and_fields(source: str) -> None:
    schema = parse_schema(source)
    assert schema.diagnostics == ()
    contact = schema.model("Contact")
    assert contact is not None
    assert contact.doc == "A person we talk to.\n\nShown in the CRM."
    assert {f.name: f.doc for f in contact.fields} == DOCS
    assert contact.field("email").unique          # `// @unique` after a documented field still applies


@pytest.mark.parametrize("source", [
    "/* A plain block comment */\nexport interface A { id: string }\n",
    "// A line comment\nexport interface A { id: string }\n",
    "/*** A banner ***/\nexport interface A { id: string }\n",
    "/** Documents the import */ import { x } from 'y'\nexport interface A { id: string }\n",
    BUILDER_HEADER + "/* A plain block comment */\nexport const A = model('as', { fields: { id: text().id() } })\n",
    BUILDER_HEADER + "// A line comment\nexport const A = model('as', { fields: { id: text().id() } })\n",
])
def test_only_doc_comments_are_docs(source: str) -> None:
    schema = parse_schema(source)
    assert schema.diagnostics == () and schema.models[0].doc is None


def test_doc_comment_between_other_comments_and_the_declaration() -> None:
    schema = parse_schema("/** An old doc */\n/** The model */\n// @@ not an annotation outside a body\n"
                          "export interface A {\n  id: string\n  /** Kept */\n  // a remark\n  x?: string\n}\n")
    a = schema.models[0]
    assert a.doc == "The model" and a.field("x").doc == "Kept"


def test_docs_of_both_syntaxes_are_equal() -> None:
    interface, builder = parse_schema(INTERFACE_DOCS).model("Contact"), parse_schema(BUILDER_DOCS).model("Contact")
    assert interface is not None and builder is not None
    assert interface.doc == builder.doc
    assert {f.name: f.doc for f in interface.fields} == {f.name: f.doc for f in builder.fields}


# -- graphqlName ----------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "export interface Contact { id: string }\n"
    "export const schema = { models: { Contact: { graphqlName: 'people' } } }\n",
    "export interface Contact {\n  id: string\n  // @@graphqlName('people')\n}\n",
    BUILDER_HEADER + "export const Contact = model('contacts', { fields: { id: text().id() }, graphqlName: 'people' })\n",
    BUILDER_HEADER + "export const Contact = model('contacts', { fields: {\n  id: text().id(),\n"
                     "  // @@graphqlName(\"people\")\n} })\n",
], ids=["interface-option", "interface-annotation", "builder-option", "builder-annotation"])
def test_graphql_name_in_three_forms(source: str) -> None:
    schema = parse_schema(source)
    assert schema.diagnostics == ()
    contact = schema.model("Contact")
    assert contact is not None and contact.graphql_name == "people" and contact.table == "contacts"
    assert model_names(contact).many == "people" and model_names(contact).one == "contact"


def test_collection_name_defaults_to_the_camel_case_table() -> None:
    schema = parse_schema("export interface Company { id: string }\nexport interface LineItem { id: string }\n"
                          "export const schema = { models: { Company: { tableName: 'companies' } } }\n")
    assert [m.graphql_name for m in schema.models] == [None, None]
    assert [model_names(m).many for m in schema.models] == ["companies", "lineItems"]


@pytest.mark.parametrize(("source", "expected"), [
    ("export interface A { id: string }\nexport const schema = { models: { A: { graphqlName: 3 } } }\n",
     ["schema.ts:2:53: error[syntax]: graphqlName must be a string"]),
    (BUILDER_HEADER + "export const A = model('as', { fields: {}, graphqlName: ['x'] })\n",
     ["schema.ts:2:57: error[syntax]: graphqlName must be a string"]),
    ("export interface A {\n  id: string\n  // @@graphqlName(people)\n}\n",
     ["schema.ts:3:20: error[syntax]: '@@graphqlName' takes a string, e.g. @@graphqlName('people')"]),
    ("export interface A {\n  id: string\n  // @@graphqlName\n}\n",
     ["schema.ts:3:6: error[syntax]: '@@graphqlName' needs an argument"]),
    ("export interface A { id: string }\nexport const schema = { models: { A: { graphqlName: 'my-as' } } }\n",
     ["schema.ts:2:53: error[invalid-name]: invalid graphqlName 'my-as' of A (a GraphQL name: letters, digits and _, "
      "not starting with a digit or __)"]),
    ("export interface A {\n  id: string\n  // @@graphqlName('__as')\n}\n",
     ["schema.ts:3:20: error[invalid-name]: invalid graphqlName '__as' of A (a GraphQL name: letters, digits and _, "
      "not starting with a digit or __)"]),
    ("export interface A {\n  id: string\n  // @@graphqlName('as2')\n}\n"
     "export const schema = { models: { A: { graphqlName: 'as1' } } }\n",
     ["schema.ts:3:6: error[duplicate]: the graphqlName of A is set twice"]),
])
def test_graphql_name_errors(source: str, expected: list[str]) -> None:
    assert errors(parse_schema(source)) == expected


# -- name clashes ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "expected"), [
    ("export interface Query { id: string }\n",
     ["schema.ts:1:18: error[name-clash]: model Query generates the GraphQL type Query, which is built in; "
      "rename the model"]),
    (BUILDER_HEADER + "export const PageInfo = model('page_infos', { fields: {} })\n",
     ["schema.ts:2:14: error[name-clash]: model PageInfo generates the GraphQL type PageInfo, which is built in; "
      "rename the model"]),
    (BUILDER_HEADER + "export const Record = model('records', { fields: {} })\n",
     ["schema.ts:2:14: error[name-clash]: model Record generates Query.record, which the generic API has; "
      "rename the model",
      "schema.ts:2:14: error[name-clash]: model Record generates Query.records, which the generic API has; "
      "set graphqlName"]),
    ("export interface News {\n  id: string\n}\nexport const schema = { models: { News: { tableName: 'news' } } }\n",
     ["schema.ts:1:18: error[name-clash]: model News: the single-record field and the list field are both 'news'; "
      "set graphqlName to a plural, e.g. graphqlName: 'newsList'"]),
    ("export interface Contact { id: string }\nexport interface Person { id: string }\n"
     "export const schema = { models: { Person: { graphqlName: 'contacts' } } }\n",
     ["schema.ts:2:18: error[name-clash]: model Person generates Query.contacts, which model Contact generates too; "
      "set graphqlName on one of them"]),
    ("export interface Contact { id: string }\nexport interface Person { id: string }\n"
     "export const schema = { models: { Person: { graphqlName: 'contact' } } }\n",
     ["schema.ts:2:18: error[name-clash]: model Person generates Query.contact, which model Contact generates too; "
      "set graphqlName on Person"]),
    ("export interface Contact { id: string }\nexport interface ContactWhere { id: string }\n",
     ["schema.ts:2:18: error[name-clash]: model ContactWhere generates the GraphQL type ContactWhere, which model "
      "Contact generates too; rename one of them"]),
    ("export interface Deal { id: string; stage: 'lead' | 'won' }\nexport interface DealStage { id: string }\n",
     ["schema.ts:2:18: error[name-clash]: model DealStage generates the GraphQL type DealStage, which the enum of "
      "Deal.stage generates too; rename one of them"]),
    ("export interface DealStage { id: string }\nexport enum Stage { Lead = 'lead', Won = 'won' }\n"
     "export interface Deal {\n  id: string\n  stage: Stage\n}\n",
     ["schema.ts:3:18: error[name-clash]: the enum of Deal.stage generates the GraphQL type DealStage, which model "
      "DealStage generates too; rename one of them"]),
    ("export interface Deal { id: string; page?: 'first' | 'second' }\n",
     ["schema.ts:1:18: error[name-clash]: the enum of Deal.page generates the GraphQL type DealPage, which model Deal "
      "generates too; rename the field"]),
    ("export interface Company { id: string }\nexport interface Contact {\n  id: string\n  companyId?: string\n"
     "  company?: string\n}\nexport const schema = { models: { Contact: { relationships: {\n"
     "  company: { type: 'belongsTo', model: 'Company', foreignKey: 'companyId' } } } } }\n",
     ["schema.ts:2:18: error[name-clash]: relationship Contact.company has the name of a field; "
      "rename the relationship"]),
], ids=["Query", "PageInfo", "Record", "News", "same-graphqlName", "graphqlName-vs-one", "ContactWhere",
        "enum-vs-model", "model-vs-enum", "enum-vs-own-type", "relationship"])
def test_name_clashes_are_errors_at_the_model(source: str, expected: list[str]) -> None:
    schema = parse_schema(source)
    assert errors(schema) == expected
    assert all(d.severity == "error" for d in schema.diagnostics)


@pytest.mark.parametrize("source", [
    "export interface News { id: string }\n"
    "export const schema = { models: { News: { tableName: 'news', graphqlName: 'newsItems' } } }\n",
    BUILDER_HEADER + "export const Thing = model('things', { fields: { parentId: relation('things') } })\n",
    BUILDER_HEADER + "export const Thing = model('things', { fields: { parent: relation('things') } })\n",
    "export interface Contact { id: string }\nexport interface Person { id: string }\n"
    "export const schema = { models: { Person: { graphqlName: 'people' } } }\n",
    "export interface Deal { id: string; stage: 'lead' | 'won' }\nexport interface Stage { id: string }\n",
    "export interface Deal { id: string; stage: 'to do' | 'done' }\nexport interface DealStage { id: string }\n",
], ids=["graphqlName-fixes-News", "parentId", "builder-relation-named-like-its-key", "people", "Stage",
        "select-without-enum"])
def test_what_fixes_a_clash(source: str) -> None:
    assert parse_schema(source).diagnostics == ()


def test_a_refused_table_is_one_error_not_a_clash_too() -> None:
    schema = parse_schema("export interface Event { id: string }\n")
    assert [(line, col, code) for line, col, _, code in diags(schema)] == [(1, 18, "invalid-name")]
    renamed = parse_schema("export interface Event { id: string }\n"
                           "export const schema = { models: { Event: { tableName: 'app_events' } } }\n")
    assert renamed.diagnostics == () and model_names(renamed.models[0]).many == "appEvents"


@pytest.mark.parametrize("path", [SAMPLE, *TEMPLATES], ids=lambda p: p.parent.name)
def test_bundled_schemas_have_no_clash(path: Path) -> None:
    schema = load_schema(path)
    assert schema.diagnostics == () and name_clashes(schema) == []


# -- through the real CLI -------------------------------------------------------------------------

def test_schema_check_reports_a_clash_and_exits_4(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text(
        "/** Our contacts */\nexport interface Contact {\n  id: string\n}\n"
        "export interface PageInfo {\n  id: string\n}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMO_", "ADMIN_", "JWT_", "DATABASE_"))}
    env.update({"PYTHONPATH": str(ROOT), "ATOMO_NO_PROGRESS": "1"})
    result = subprocess.run([sys.executable, "-m", "atomo", "--project", str(tmp_path), "schema", "check"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    file = tmp_path / "schema.ts"
    assert result.returncode == 4, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"{file}:5:18: error[name-clash]: model PageInfo generates the GraphQL type PageInfo, which is built in; "
        "rename the model",
        f"{file}: 2 models, 6 fields; 1 error, 0 warnings"]


@pytest.mark.parametrize("source, expected", [
    ("export interface Deal { id: string; create?: 'a' | 'b' }\n",
     "schema.ts:1:18: error[name-clash]: the enum of Deal.create generates the GraphQL type DealCreate, which model "
     "Deal generates too; rename the field"),
    ("export interface Deal { id: string }\nexport const schema = { models: { Deal: {} }, actions: { dealCreate: "
     "{ input: { pick: { model: 'Deal', fields: ['id'] } } } } }\n",
     "schema.ts:1:18: error[name-clash]: action dealCreate generates the TypeScript type DealCreateInput of "
     "atomo.ts, which model Deal generates too; rename the action"),
], ids=["enum-vs-atomo.ts-DealCreate", "action-vs-DealCreateInput"])
def test_clashes_of_the_typescript_names(source: str, expected: str) -> None:
    assert errors(parse_schema(source)) == [expected]
