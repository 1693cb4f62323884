"""Validation rule strings -> `Rule`s, access rule strings and `allow.*` calls -> `AccessRule`s."""

from __future__ import annotations

import re
from typing import Any

from atomo.schema.literals import INVALID, Arr, Lit, Node
from atomo.schema.model import OPERATIONS, AccessRule, Alternative, Rule
from atomo.schema.suggest import hint
from atomo.schema.tokenizer import Sink
from atomo.schema.values import Values

_NO_ARG = ("required", "email", "url", "numeric")
RULE_NAMES = (*_NO_ARG, "min", "max", "in", "exists")
ALLOW_CALLS = ("public", "authenticated", "sameTenant", "role", "owner", "any")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
ROLE_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")
RESERVED_ROLES = frozenset({"public", "authenticated", "system", "sametenant", "anon"})
_OWNER = re.compile(r"owner\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\Z", re.I)


def number(text: str) -> int | float | None:
    """`'2'` -> 2, `'2.5'` -> 2.5; None when `text` is not a plain decimal number."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def dedupe(items: list[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def parse_rules(source: str, at: Any, sink: Sink) -> list[Rule]:
    """Rules of one validation string; problems are `invalid-rule` errors at `at`."""
    out: list[Rule] = []

    def bad(message: str) -> None:
        sink.error(at, "invalid-rule", f"{message} in '{source}'")

    for part in source.split("|"):
        name, sep, arg = (p.strip() for p in part.partition(":"))
        if not name:
            bad("empty validation rule")
        elif name in _NO_ARG:
            if sep:
                bad(f"validation rule '{name}' takes no argument")
            else:
                out.append(Rule(name))
        elif name in ("min", "max"):
            n = number(arg)
            if n is None:
                bad(f"validation rule '{name}' needs a number")
            else:
                out.append(Rule(name, n))
        elif name == "in":
            options = tuple(o.strip() for o in arg.split(","))
            if not arg or "" in options:
                bad("validation rule 'in' needs a comma-separated list of options")
            else:
                out.append(Rule("in", tuple(dedupe(list(options)))))
        elif name == "exists":
            parts = [p.strip() for p in arg.split(",")]
            if len(parts) > 2 or not all(parts):
                bad("validation rule 'exists' needs a table and an optional column")
            else:
                out.append(Rule("exists", (parts[0], parts[1] if len(parts) > 1 else "id")))
        else:
            sink.error(at, "invalid-rule", hint(f"unknown validation rule '{name}' in '{source}'", name, RULE_NAMES))
    return dedupe(out)


def role(name: str, at: Any, sink: Sink, source: str) -> Alternative | None:
    low = name.strip().lower()
    if low in RESERVED_ROLES:
        sink.error(at, "invalid-rule", f"'{name}' is reserved and cannot be a role in '{source}'")
        return None
    if not ROLE_RE.match(low):
        sink.error(at, "invalid-rule", f"invalid role name '{name}' in '{source}'")
        return None
    return Alternative("role", low)


def alternative(word: str, at: Any, sink: Sink, source: str) -> Alternative | None:
    word = word.strip()
    low = word.lower()
    if low == "public":
        return Alternative("public")
    if low == "authenticated":
        return Alternative("authenticated")
    if low == "sametenant":
        return Alternative("sameTenant")
    if low.startswith("owner") and "(" in low:
        m = _OWNER.match(word)
        if not m:
            sink.error(at, "invalid-rule", f"invalid owner alternative '{word}' in '{source}'")
            return None
        return Alternative("owner", m.group(1))
    if not word:
        sink.error(at, "invalid-rule", f"empty alternative in access rule '{source}'")
        return None
    return role(word, at, sink, source)


def combine(alternatives: list[Alternative]) -> AccessRule | None:
    return AccessRule(tuple(dedupe(alternatives))) if alternatives else None


def parse_access(source: str, at: Any, sink: Sink) -> AccessRule | None:
    """`'sales|manager|owner(ownerId)'` -> AccessRule; invalid alternatives are errors and left out."""
    alts = [alternative(w, at, sink, source) for w in source.split("|")]
    return combine([a for a in alts if a is not None])


def access_value(node: Node, values: Values) -> list[Alternative] | None:
    """Alternatives of a rule string or an `allow.*(...)` builder call; None when invalid (reported)."""
    sink = values.sink
    node = values.deref(node)
    if isinstance(node, Lit):
        if isinstance(node.value, str):
            rule = parse_access(node.value, node.tok, sink)
            return list(rule.alternatives) if rule else None
        sink.error(node.tok, "syntax", "an access rule must be a string or an allow.*() call")
        return None
    steps = values.flatten(node)
    if len(steps) != 2 or steps[0].name != "allow" or steps[1].args is None:
        v = values.value(node)
        if v is not INVALID:
            sink.error(node.tok, "syntax", "an access rule must be a string or an allow.*() call")
        return None
    name, args, tok = steps[1].name, steps[1].args or [], steps[1].tok
    source = f"allow.{name}()"
    if name in ("public", "authenticated", "sameTenant"):
        if args:
            sink.error(tok, "invalid-rule", f"'{source}' takes no arguments")
        return [Alternative(name)]
    if name == "any":
        items = args[0].items if len(args) == 1 and isinstance(args[0], Arr) else args
        out: list[Alternative] = []
        for item in items:
            alts = access_value(item, values)
            if alts is None:
                return None
            out += alts
        return out
    if name in ("role", "owner"):
        arg = values.value(args[0]) if len(args) == 1 else INVALID
        names = arg if isinstance(arg, list) else [arg]
        if not names or not all(isinstance(n, str) for n in names) or (name == "owner" and len(names) != 1):
            need = "a role or a list of roles" if name == "role" else "a field name"
            sink.error(tok, "invalid-rule", f"'{source}' needs {need}")
            return None
        if name == "owner":
            return [a for a in [alternative(f"owner({names[0]})", tok, sink, source)] if a] or None
        alts = [role(n, tok, sink, source) for n in names]
        return None if None in alts else [a for a in alts if a is not None]
    sink.error(tok, "unknown-call", hint(f"unknown call '{source}'", str(name), ALLOW_CALLS, "allow calls"))
    return None


def access_object(node: Node, values: Values,
                  what: str = "access") -> tuple[dict[str, AccessRule | None], dict[str, Any]]:
    """`{ read: ..., create: ... }` -> ({operation: rule}, {operation: position})."""
    rules: dict[str, AccessRule | None] = {op: None for op in OPERATIONS}
    where: dict[str, Any] = {}
    obj = values.obj(node, what)
    if obj is None:
        return rules, where
    for key, tok, value in obj.items:
        if key not in OPERATIONS:
            values.sink.error(tok, "unknown-property", hint(f"'{key}' is not an access operation", key, OPERATIONS,
                                                            "operations"))
            continue
        alts = access_value(value, values)
        rules[key] = combine(alts) if alts else None
        where[key] = value.tok
    return rules, where

