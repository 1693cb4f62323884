"""Stream rules (issue 18): `streams` of the interface syntax and `stream(...)` of the builder syntax mean the
same; bad patterns and row rules are schema errors that `atomo schema check` reports."""

from __future__ import annotations

from pathlib import Path

from atomo.schema import parse_schema
from tests.cli.test_core_commands import atomo
from tests.schema.helpers import BUILDER_HEADER

INTERFACE = """
export interface Deal { id: string; title: string }
export const schema = { models: {}, streams: {
  'order-*': { append: 'sales|admin', read: 'authenticated' },
  'audit-{id}': { read: allow.role('admin') },
} }
export default schema
"""
BUILDER = BUILDER_HEADER.replace("channel,", "channel, stream,") + """
export const Deal = model('deals', { fields: { title: text() } })
export const orders = stream('order-*', { append: allow.any([allow.role('sales'), allow.role('admin')]),
                                          read: allow.authenticated() })
export const audit = stream('audit-{id}', { read: 'admin' })
"""


def rules(text: str) -> list[tuple[str, str | None, str | None]]:
    schema = parse_schema(text)
    assert schema.errors == (), schema.errors
    return [(r.pattern, r.append.source() if r.append else None, r.read.source() if r.read else None)
            for r in schema.streams]


def test_both_syntaxes_declare_the_same_rules() -> None:
    expected = [("order-*", "sales|admin", "authenticated"), ("audit-{id}", None, "admin")]
    assert rules(INTERFACE) == expected
    assert rules(BUILDER) == expected


def test_meta_schema_lists_the_stream_rules() -> None:
    from atomo.codegen.meta import meta_schema
    assert meta_schema(parse_schema(INTERFACE))["streams"] == [
        {"pattern": "order-*", "append": "sales|admin", "read": "authenticated"},
        {"pattern": "audit-{id}", "append": None, "read": "admin"}]
    assert "streams" not in meta_schema(parse_schema("export const schema = { models: {} }\nexport default schema\n"))


def test_bad_stream_rules_are_schema_errors(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text("""export interface Deal { id: string; title: string }
export const schema = { models: {}, streams: {
  '$platform': { read: 'admin' },
  'Deal/*': { read: 'authenticated' },
  'a*b': { read: 'admin' },
  'mine-*': { read: 'owner(ownerId)', colour: 'blue' },
} }
""")
    result = atomo(tmp_path, "schema", "check")
    assert result.returncode == 4, result.stdout + result.stderr
    out = result.stdout
    assert "stream pattern '$platform' is reserved" in out
    assert "stream pattern 'Deal/*' names the record streams of model Deal" in out
    assert "invalid stream pattern 'a*b'" in out
    assert "error[invalid-rule]: stream 'mine-*' read: owner is a row rule" in out
    assert "error[unknown-property]: 'colour' is not a stream option" in out
