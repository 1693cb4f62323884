"""Annotations in comments and the check-expression grammar."""

from __future__ import annotations

import hashlib

import pytest

from atomo.schema import parse_schema
from atomo.schema.annotations import compile_expr, scan
from atomo.schema.tokenizer import COMMENT, Pos, Sink, Token

COLUMNS = {"value": "value", "closeDate": "close_date", "close_date": "close_date", "name": "name",
           "stage": "stage", "order": "order", "n": "n"}


def compile_(text: str) -> tuple[str | None, list[str]]:
    sink = Sink("schema.ts")
    out = compile_expr(text, Pos(1, 1), COLUMNS.get, sink)
    return out, [d.message for d in sink.items]


@pytest.mark.parametrize(("source", "expected"), [
    ("value >= 0", "value >= 0"),
    ("value>=0 and   closeDate is not null", "value >= 0 AND close_date IS NOT NULL"),
    ("(value == 1 or value != 2) and not stage in ('a', 'b')", "(value = 1 OR value <> 2) AND NOT stage IN ('a', 'b')"),
    ("value not between -1 and 10 * (2 + n)", "value NOT BETWEEN -1 AND 10 * (2 + n)"),
    ("length(trim(name)) > 2 AND lower(name) NOT LIKE 'x%'", "length(trim(name)) > 2 AND lower(name) NOT LIKE 'x%'"),
    ("abs(value - 1) < upper('it''s') OR coalesce(n, 0) % 2 = TRUE",
     "abs(value - 1) < upper('it''s') OR coalesce(n, 0) % 2 = TRUE"),
    ("order > 0 and \"close_date\" is null", "\"order\" > 0 AND close_date IS NULL"),
    ("- -n < 1.50", "-(-n) < 1.50"),
    ("(((value)))", "value"),
])
def test_normalisation(source: str, expected: str) -> None:
    assert compile_(source) == (expected, [])


@pytest.mark.parametrize(("source", "message"), [
    ("value > 0; DROP TABLE x", "unexpected character ';'"),
    ("random() > 0", "function 'random' is not allowed"),
    ("nope = 1", "'nope' is not a field of this model"),
    ("value || 'x'", "unexpected '||'"),
    ("value IS TRUE", "only 'IS NULL' and 'IS NOT NULL' are allowed"),
    ("(SELECT 1)", "'SELECT' is not allowed"),
    ("value > ", "unexpected end of expression"),
    ("CASE WHEN value THEN 1 END", "'CASE' is not allowed"),
    ("length(name, 2) > 1", "wrong number of arguments for 'length'"),
    ("value = 1 = 2", "unexpected '='"),
    ("", "empty expression"),
])
def test_invalid_checks(source: str, message: str) -> None:
    out, messages = compile_(source)
    assert out is None and len(messages) == 1 and message in messages[0]


def test_check_name_is_the_hash_of_the_normalised_expression() -> None:
    schema = parse_schema("export interface Deal {\n  id: string\n  value: number\n  // @@check(value>=0)\n}\n")
    check = schema.models[0].checks[0]
    assert check.expr == "value >= 0"
    assert check.name == "chk_deals_" + hashlib.sha256(b"value >= 0").hexdigest()[:8]


def test_invalid_check_position_points_into_the_comment() -> None:
    schema = parse_schema("export interface A {\n  id: string\n  n: number\n  // @@check(n > 0 && n < 5)\n}\n")
    assert [(d.line, d.col, d.code) for d in schema.diagnostics] == [(4, 20, "invalid-check")]


def comment(text: str) -> Token:
    return Token(COMMENT, text, 3, 5, 0, len(text) + 2)


def test_scan_annotations() -> None:
    sink = Sink("s")
    text = " @default('a @b') @index see x@y.z @@unique([a, b]) WHERE a IS NOT NULL @@check(f(')'))"
    anns = scan(comment(text), sink)
    col = 5 + 2   # the comment starts at column 5; its text after `//`
    assert [(a.label, a.arg, a.where, a.pos.col) for a in anns] == [
        ("@default", "'a @b'", None, col + 1), ("@index", None, None, col + text.index("@index")),
        ("@@unique", "[a, b]", "a IS NOT NULL", col + text.index("@@unique")),
        ("@@check", "f(')')", None, col + text.index("@@check"))]
    assert (anns[2].where_pos.col, anns[3].arg_pos.col) == (col + text.index("a IS"), col + text.index("f("))
    assert not sink.items
    assert scan(comment(" unique because of its name"), sink) == []


def test_model_annotations_name_fields_or_columns_and_where() -> None:
    schema = parse_schema("""export interface Deal {
  id: string
  closeDate?: Date
  stage: string   // @index @unique
  email?: string  // @@unique([email]) ok
  // @@unique([close_date, stage]) WHERE stage <> 'lost'
  // @@index([stage])
}
""")
    assert schema.diagnostics == ()
    deal = schema.models[0]
    assert [(i.name, i.columns, i.unique, i.where) for i in deal.indexes] == [
        ("uq_deals_stage", ("stage",), True, None), ("idx_deals_stage", ("stage",), False, None),
        ("uq_deals_email", ("email",), True, None),
        ("uq_deals_close_date_stage", ("close_date", "stage"), True, "stage <> 'lost'")]


def test_annotation_problems() -> None:
    schema = parse_schema("""export interface A {
  id: string
  n?: number  // @default(
  m?: number  // @default()
  // @@unique([nope]) @@index(x + 1)
  // @@unique([n]) WHERE n >
}
""")
    assert [(d.line, d.col, d.code) for d in schema.diagnostics] == [
        (3, 18, "syntax"), (4, 18, "syntax"), (5, 16, "reference"), (5, 31, "syntax"),
        (5, 33, "unsupported-syntax"), (6, 29, "invalid-check")]
    assert schema.diagnostics[-1].message == "unexpected end of expression in 'WHERE n >'"
