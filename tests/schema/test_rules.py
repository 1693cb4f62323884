"""Validation rule strings and access rule strings."""

from __future__ import annotations

import pytest

from atomo.schema import AccessRule, Alternative, Rule
from atomo.schema.rules import parse_access, parse_rules
from atomo.schema.tokenizer import Pos, Sink


def rules_of(source: str) -> tuple[list[Rule], list[str]]:
    sink = Sink("s")
    return parse_rules(source, Pos(1, 1), sink), [d.message for d in sink.items if d.code == "invalid-rule"]


def test_rule_strings() -> None:
    out, errors = rules_of("required|min:2|max:120.5|email|url|numeric|in:a, b ,c|exists:companies,id|min:2")
    assert errors == []
    assert out == [Rule("required"), Rule("min", 2), Rule("max", 120.5), Rule("email"), Rule("url"),
                   Rule("numeric"), Rule("in", ("a", "b", "c")), Rule("exists", ("companies", "id"))]
    assert isinstance(out[1].arg, int)
    assert [r.source() for r in out] == ["required", "min:2", "max:120.5", "email", "url", "numeric", "in:a,b,c",
                                         "exists:companies,id"]
    assert rules_of("exists:companies")[0] == [Rule("exists", ("companies", "id"))]
    assert rules_of("min:-1|max:1e2")[0] == [Rule("min", -1), Rule("max", 100)]


@pytest.mark.parametrize(("source", "message"), [
    ("required|minimum:2", "unknown validation rule 'minimum' in 'required|minimum:2'"),
    ("min:x", "validation rule 'min' needs a number in 'min:x'"),
    ("max", "validation rule 'max' needs a number in 'max'"),
    ("required:1", "validation rule 'required' takes no argument in 'required:1'"),
    ("in:", "validation rule 'in' needs a comma-separated list of options in 'in:'"),
    ("in:a,,b", "validation rule 'in' needs a comma-separated list of options in 'in:a,,b'"),
    ("required||max:2", "empty validation rule in 'required||max:2'"),
    ("exists:a,b,c", "validation rule 'exists' needs a table and an optional column in 'exists:a,b,c'"),
])
def test_invalid_rule_strings(source: str, message: str) -> None:
    assert rules_of(source)[1] == [message]


def access(source: str) -> tuple[AccessRule | None, list[str]]:
    sink = Sink("s")
    return parse_access(source, Pos(1, 1), sink), [d.message for d in sink.items]


def test_access_strings() -> None:
    rule, errors = access("Sales | manager|ADMIN|owner( ownerId )|sameTenant|public|authenticated|custom-role_2|admin")
    assert errors == []
    assert rule == AccessRule((Alternative("role", "sales"), Alternative("role", "manager"),
                               Alternative("role", "admin"), Alternative("owner", "ownerId"),
                               Alternative("sameTenant"), Alternative("public"), Alternative("authenticated"),
                               Alternative("role", "custom-role_2")))
    assert rule.source() == "sales|manager|admin|owner(ownerId)|sameTenant|public|authenticated|custom-role_2"
    assert access("SAMETENANT")[0].alternatives == (Alternative("sameTenant"),)


@pytest.mark.parametrize(("source", "message"), [
    ("system", "'system' is reserved and cannot be a role in 'system'"),
    ("admin|anon", "'anon' is reserved and cannot be a role in 'admin|anon'"),
    ("two words", "invalid role name 'two words' in 'two words'"),
    ("9lives", "invalid role name '9lives' in '9lives'"),
    ("a" * 33, f"invalid role name '{'a' * 33}' in '{'a' * 33}'"),
    ("admin|", "empty alternative in access rule 'admin|'"),
    ("owner(a b)", "invalid owner alternative 'owner(a b)' in 'owner(a b)'"),
])
def test_invalid_access_strings(source: str, message: str) -> None:
    assert message in access(source)[1]


def test_longest_role_is_accepted() -> None:
    assert access("a" * 32) == (AccessRule((Alternative("role", "a" * 32),)), [])
