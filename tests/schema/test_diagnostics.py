"""Every diagnostic code, with its severity and exact line:col."""

from __future__ import annotations

import pytest

from atomo.schema import parse_schema
from atomo.schema.model import SEVERITY as TABLE

from .helpers import BUILDER_HEADER, codes, diags

# Errors: Atomo would otherwise read the file differently from what it says. Warnings: harmless.
SEVERITY = {"syntax": "error", "mixed-syntax": "error", "invalid-name": "error", "duplicate": "error",
            "invalid-rule": "error", "reference": "error", "invalid-check": "error",
            "unknown-property": "error", "unknown-type": "error", "unknown-call": "error",
            "unknown-method": "error", "unknown-annotation": "error", "unsupported-syntax": "error",
            "name-clash": "error",
            "ignored-syntax": "warning", "implied-id": "warning", "key-rename": "warning", "ui-field": "warning"}

CASES = [
    # (code, source, [(line, col)])
    ("syntax", "export interface A {\n  id: string\n  name string\n}\n", [(3, 8)]),
    ("syntax", "export const schema = { models: { A: { x: 1 y: 2 } } }\n", [(1, 45)]),
    ("syntax", "export interface A { id: string }\nexport const x = 'open\n", [(2, 18)]),
    ("mixed-syntax", BUILDER_HEADER + "export const A = model('as', { fields: {} })\n"
                     "export interface B { id: string }\n", [(3, 18)]),
    ("mixed-syntax", "export interface B { id: string }\n" + BUILDER_HEADER.replace("\n", " ") +
                     "\nexport const A = model('as', { fields: {} })\n", [(3, 14)]),
    ("invalid-name", "export interface A { id: string; tenantId?: string; deletedAt?: Date; _x?: string }\n",
     [(1, 34), (1, 53), (1, 71)]),
    ("invalid-name", "export interface A { id: number }\n", [(1, 22)]),
    ("invalid-name", "export interface A { id: string; createdAt?: string; AND?: string }\n", [(1, 34), (1, 54)]),
    ("invalid-name", "export interface A { id: string }\n"
                     "export const schema = { models: { A: { tableName: 'users' } } }\n", [(2, 51)]),
    ("invalid-name", "export interface Event { id: string }\nexport interface Sqlite_x { id: string }\n",
     [(1, 18), (2, 18)]),
    ("invalid-name", BUILDER_HEADER + "export const A = model('_atomo_x', { fields: {} })\n"
                     "export const B = model('jobs', { fields: { x: text().id() } })\n", [(2, 24), (3, 24), (3, 44)]),
    ("duplicate", "export interface A {\n  id: string\n  x: string\n  x: number\n  first_name?: string\n"
                  "  firstName?: string\n}\n", [(4, 3), (6, 3)]),
    ("duplicate", "export interface A { id: string }\nexport interface A { id: string }\n", [(2, 18), (2, 18)]),
    ("duplicate", "export interface A { id: string }\nexport const schema = { models: { A: {}, A: {} } }\n",
     [(2, 42)]),
    ("invalid-rule", "export interface A {\n  id: string\n  n: string\n}\n"
                     "export const schema = { models: { A: { validation: { n: 'required|minimum:2' } } } }\n",
     [(5, 57)]),
    ("invalid-rule", "export interface A { id: string }\n"
                     "export const schema = { models: { A: { access: { read: 'system|x y' } } } }\n",
     [(2, 56), (2, 56)]),
    ("reference", "export interface A { id: string }\n"
                  "export const schema = { models: { A: { access: { update: 'owner(ownerId)' } } } }\n", [(2, 58)]),
    ("reference", "export interface A { id: string; bId?: string }\nexport const schema = { models: { A: {\n"
                  "  relationships: { b: { type: 'belongsTo', model: 'B', foreignKey: 'bId' } } } } }\n", [(3, 20)]),
    ("reference", BUILDER_HEADER + "export const A = model('as', { fields: { bId: relation('bs') } })\n", [(2, 56)]),
    ("reference", "export interface A { id: string }\nexport const schema = { models: { B: {} } }\n", [(2, 35)]),
    ("invalid-check", "export interface A {\n  id: string\n  n: number\n  // @@check(n > 0; drop table x)\n}\n",
     [(4, 19)]),
    ("invalid-check", "export interface A {\n  id: string\n  // @@check(nope > 0)\n}\n", [(3, 14)]),
    ("unknown-property", "export interface A { id: string }\n"
                         "export const schema = { models: { A: { searchable2: true } }, other: 1 }\n",
     [(2, 40), (2, 63)]),
    ("unknown-type", "export interface A { id: string; x?: Mystery }\n", [(1, 38)]),
    ("unknown-call", BUILDER_HEADER + "export const A = model('as', { fields: { x: phone() },\n"
                     "  access: { read: allow.everyone() } })\nexport const y = helper(1)\n",
     [(2, 45), (3, 25), (4, 18)]),
    ("unknown-method", BUILDER_HEADER + "export const A = model('as', { fields: { x: text().nullable() } })\n",
     [(2, 52)]),
    ("unknown-annotation", "export interface A {\n  id: string\n  x?: string // @primary\n  // @unique\n}\n",
     [(3, 17), (4, 6)]),
    ("unsupported-syntax", "export interface A { id: string }\nfunction f() {}\n"
                           "export const schema = { models: { A: { ui: { a: 1 + 2, ...rest } } } }\n",
     [(2, 1), (3, 51), (3, 56)]),
    ("unsupported-syntax", "export interface B { id: string; x?: string }\nexport interface A extends B {\n"
                           "  id: string\n}\nexport enum P { Low = 1 }\n", [(2, 20), (5, 23)]),
    ("unsupported-syntax", BUILDER_HEADER + "export const A = model('as', { fields: { x: text('X').unique(false) } })\n",
     [(2, 45), (2, 55)]),
    ("unknown-type", "export interface A { id: string; tags?: Strin[]; meta?: Record<string, Adress> }\n"
                     "export const schema = { models: {}, builtins: { users: { columns: { nick: 'TXT' } } },\n"
                     "  actions: { a: { input: { object: { n: 'nummber' } } } } }\n", [(1, 41), (1, 72), (2, 69), (3, 14)]),
    ("name-clash", "export interface Query { id: string }\n"
                   "export interface News { id: string }\nexport const schema = { models: { News: { tableName: 'news' } } }\n",
     [(1, 18), (2, 18)]),
    ("name-clash", BUILDER_HEADER + "export const Record = model('entries', { fields: {} })\n", [(2, 14)]),
    ("ignored-syntax", "declare const q: number\nlet x: number = 1\nexport type G<T> = T\n"
                       "export interface A { id: string; [k: string]: any; run(): void; u?: string | number }\n"
                       "export const c = [1, , 2] as any\nexport default 1\n",
     [(1, 1), (2, 1), (2, 6), (3, 14), (4, 34), (4, 52), (4, 69), (5, 22), (5, 27), (6, 8)]),
    ("implied-id", "export interface A { x?: string }\nexport const schema = { models: { A: {} } }\n", [(1, 18)]),
    ("key-rename", "export interface A {\n  id: string\n  URL?: string\n}\n", [(3, 3)]),
    ("ui-field", "export interface A { id: string; name: string }\n"
                 "export const schema = { models: { A: { ui: { listView: ['name', 'nmae'], displayField: 'x' } } } }\n",
     [(2, 65), (2, 88)]),
]


@pytest.mark.parametrize(("code", "source", "where"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_code_severity_and_position(code: str, source: str, where: list[tuple[int, int]]) -> None:
    schema = parse_schema(source)
    found = [(line, col) for line, col, severity, c in diags(schema) if c == code]
    assert found == where, [str(d) for d in schema.diagnostics]
    assert all(sev == SEVERITY[c] for _, _, sev, c in diags(schema))


def test_every_code_has_one_severity() -> None:
    assert TABLE == SEVERITY
    assert {c[0] for c in CASES} == set(SEVERITY)


def test_spec_example_messages() -> None:
    schema = parse_schema("export interface A { id: string; name: string }\nexport const schema = { models: { A: {\n"
                          "  searchable2: true, validation: { name: 'required|minimum:2' } } } }\n")
    assert [str(d) for d in schema.diagnostics] == [
        "schema.ts:3:3: error[unknown-property]: 'searchable2' is not a model option. Did you mean 'searchable'?",
        "schema.ts:3:42: error[invalid-rule]: unknown validation rule 'minimum' in 'required|minimum:2'",
    ]


def test_diagnostics_use_the_given_path_and_are_sorted() -> None:
    schema = parse_schema("export interface A { id: string; x?: Zed; _y?: string }\n", path="app/schema.ts")
    assert [str(d).split(": ")[0] for d in schema.diagnostics] == ["app/schema.ts:1:38", "app/schema.ts:1:43"]


def test_reserved_tables_are_refused() -> None:
    for table in ("events", "users", "sessions", "jobs", "workers", "sqlite_stat", "_atomo_x"):
        source = ("export interface A { id: string }\n"
                  f"export const schema = {{ models: {{ A: {{ tableName: '{table}' }} }} }}\n")
        assert codes(source) == [(2, 51, "invalid-name")], table


def test_owner_on_an_undeclared_field_is_an_error_in_both_syntaxes() -> None:
    iface = parse_schema("export interface A { id: string }\n"
                         "export const schema = { models: { A: { access: { read: 'owner(ownerId)' } } } }\n")
    builder = parse_schema(BUILDER_HEADER + "export const A = model('as', { fields: {},\n"
                           "  access: { read: allow.owner('ownerId') } })\n")
    assert [d.code for d in iface.errors] == ["reference"] and [d.code for d in builder.errors] == ["reference"]
    assert "ownerId" in builder.errors[0].message


def test_relationships_with_unknown_models_and_fields() -> None:
    schema = parse_schema("""export interface A { id: string; bId?: string }
export interface B { id: string }
export const schema = { models: {
  A: { relationships: { b: { type: 'belongsTo', model: 'B', foreignKey: 'nope' } } },
  B: { relationships: { as: { type: 'hasMany', model: 'A', foreignKey: 'bId' },
                        x: { type: 'owns', model: 'A' } } },
} }
""")
    assert [(d.line, d.code) for d in schema.diagnostics] == [(4, "reference"), (6, "syntax")]
    assert schema.model("B").relationships[0].foreign_key == "bId"


def test_mixed_syntax_message() -> None:
    schema = parse_schema(BUILDER_HEADER + "export const A = model('as', { fields: {} })\n"
                          "export const schema = { models: {} }\n")
    assert [(d.code, d.line) for d in schema.diagnostics] == [("mixed-syntax", 3)]
    assert schema.syntax == "builder" and [m.name for m in schema.models] == ["A"]


def test_constructs_are_never_dropped_silently() -> None:
    source = """export interface A { id: string; [key: string]: any; run(): void }
export interface B extends A { id: string }
export type G<T> = T
export const schema = { models: { A: { ui: { f: () => 1, t: `x${1}`, n: new Date(), c: a ? 1 : 2 } } } }
declare const q: number
"""
    schema = parse_schema(source)
    assert all(d.code in ("unsupported-syntax", "ignored-syntax", "reference") for d in schema.diagnostics)
    # constructs whose meaning would be lost are errors; TypeScript without meaning for the schema is a warning
    assert [(d.line, d.code) for d in schema.errors] == [(2, "unsupported-syntax")] + [(4, "unsupported-syntax")] * 4
    assert [d.line for d in schema.warnings] == [1, 1, 3, 5]
