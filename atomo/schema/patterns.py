"""Name patterns of schema rules (realtime channels, event streams): literal text, ``{id}`` (one segment
without ``:``) and a trailing ``*`` (any rest). Matching: an exact name beats a pattern; among patterns the
longest literal prefix wins."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, Protocol, TypeVar


class PatternRule(Protocol):
    @property
    def pattern(self) -> str: ...


R = TypeVar("R", bound=PatternRule)


@dataclass(frozen=True)
class CompiledRule(Generic[R]):
    rule: R
    regex: re.Pattern[str]
    exact: bool
    prefix: int                     # length of the literal prefix


def valid_pattern(pattern: str) -> bool:
    """Literal text, ``{id}`` segments and at most a trailing ``*``."""
    return not ("{" in pattern.replace("{id}", "") or "}" in pattern.replace("{id}", "") or "*" in pattern[:-1])


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The whole-name regex of a pattern; the first ``{id}`` is the group ``id``."""
    star = pattern.endswith("*")
    body = pattern[:-1] if star else pattern
    parts = [re.escape(p) for p in body.split("{id}")]
    regex = "(?P<id>[^:]+)".join(parts[:2]) + "".join(f"[^:]+{p}" for p in parts[2:])
    return re.compile(regex + (".*" if star else "") + r"\Z", re.S)


def literal_prefix(pattern: str) -> str:
    """The literal start of a pattern: every name it matches starts with it."""
    return pattern[:min([i for i in (pattern.find("{"), pattern.find("*")) if i >= 0], default=len(pattern))]


@lru_cache(maxsize=64)
def compile_rules(rules: tuple[R, ...]) -> tuple[CompiledRule[R], ...]:
    return tuple(CompiledRule(rule, pattern_regex(rule.pattern), exact=not rule.pattern.endswith("*")
                              and "{id}" not in rule.pattern, prefix=len(literal_prefix(rule.pattern)))
                 for rule in rules)


def match(rules: Sequence[CompiledRule[R]], name: str) -> tuple[R, str | None] | None:
    """The rule for ``name`` and the ``{id}`` it matched, or None."""
    best: tuple[tuple[int, int], CompiledRule[R], str | None] | None = None
    for c in rules:
        m = c.regex.match(name)
        if m is None:
            continue
        key = (1 if c.exact else 0, c.prefix)
        if best is None or key > best[0]:
            best = (key, c, m.groupdict().get("id"))
    return (best[1].rule, best[2]) if best else None
