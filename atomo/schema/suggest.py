"""Suggestions for unknown names ("Did you mean ...?"): models, fields, schema options, GraphQL fields.

Names are compared case-insensitively and without `_`/`-` (so `firstname` and `first_name` both find
`firstName`), by optimal-string-alignment distance (Levenshtein plus adjacent transpositions, so
`recrods` is one edit from `records`). A candidate is close when its distance is at most
`len(word) * 0.4 + 1`, rounded down (the threshold graphql-js uses), below `len(word)`, and at most
one more than the closest one's; a name equal but for case and `_` is the only suggestion. Only called
on error paths; words longer than `MAX_WORD` characters get no suggestion, which bounds the work a
client can cause.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_WORD = 64          # longer words are not compared (quadratic distance)
MAX_SUGGESTIONS = 3
MAX_LISTED = 10        # names shown by `listing` before "..."


def _normal(name: str) -> str:
    return name.replace("_", "").replace("-", "").casefold()


def distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of `a` and `b`, or `limit + 1` when it is over `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, previous2[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def close_matches(word: str, candidates: Iterable[str], limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Up to `limit` candidates close to `word`, closest first (ties in the candidates' order)."""
    if not isinstance(word, str) or not word or len(word) > MAX_WORD:
        return []
    wanted = _normal(word)
    threshold = int(len(wanted) * 0.4) + 1
    scored: list[tuple[int, int, str]] = []
    seen: set[str] = set()
    for n, name in enumerate(candidates):
        if name in seen or name == word or not name:
            continue
        seen.add(name)
        d = distance(wanted, _normal(name), threshold)
        if d <= threshold and d < len(wanted):
            scored.append((d, n, name))
    scored.sort()
    if scored:  # the same name but for case and `_` comes alone; else the closest and those one edit further
        best = scored[0][0]
        scored = [s for s in scored if s[0] <= (best + 1 if best else 0)]
    return [name for _, _, name in scored[:limit]]


def quoted(names: list[str]) -> str:
    """`'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`."""
    q = [f"'{n}'" for n in names]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + " or " + q[-1]


def listing(names: Iterable[str], limit: int = MAX_LISTED) -> str:
    """`a, b, c` with at most `limit` names, then `, ...`."""
    items = list(names)
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")


def hinted(message: str, word: str, candidates: Iterable[str], what: str | None = None) -> tuple[str, list[str]]:
    """`message` plus `. Did you mean 'x'?` when candidates are close to `word`; else, with `what`, plus
    ` (<what>: a, b, c)` listing the candidates (bounded). Also returns the suggested names."""
    items = list(candidates)
    found = close_matches(word, items)
    if found:
        return f"{message}. Did you mean {quoted(found)}?", found
    if what is not None and items:
        return f"{message} ({what}: {listing(items)})", []
    return message, []


def hint(message: str, word: str, candidates: Iterable[str], what: str | None = None) -> str:
    """The message of `hinted`."""
    return hinted(message, word, candidates, what)[0]
