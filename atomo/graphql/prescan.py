"""A lexical pre-scan that bounds a document before the C parser sees it.

libgraphqlparser (tartiflette's parser) builds, converts and frees its tree recursively: a document
nested some ten thousand levels deep overflows the C stack and kills the process, and a long one
costs parse and validation time on the event loop (tartiflette validates in Python, 5-100 µs per
token). ``check_document`` tokenizes the text once, the way the GraphQL lexer does, and refuses
it before parsing when

- its bracket nesting (``{``, ``[`` and ``(`` together) goes deeper than ``max_nesting``;
- it has more than ``max_tokens`` tokens (``GRAPHQL_MAX_TOKENS``);
- it defines more than ``MAX_FRAGMENTS`` fragments: tartiflette's fragment-cycle rule is cubic in
  the length of a chain of fragments (250 chained fragments, 2,000 tokens, cost 0.4 s).

Tokens are the lexical tokens of the GraphQL spec, counted as graphql-js's ``maxTokens`` does:
punctuators (``$`` and ``...`` included), names, numbers and strings each count 1; whitespace,
commas, a byte order mark and ``#`` comments are ignored. Strings (``"..."`` with ``\\`` escapes)
and block strings (triple quotes, where only a backslash before three quotes escapes them) are one
token each, so brackets inside them do not count. Wherever this scanner and the parser could
disagree, the parser stops with a syntax error first (an unterminated string, a bad escape, a
control character in a string), so the parser never builds more nesting than was counted here.
Any other character counts as one token; a closing bracket without an opening one is ignored.

The nesting bound is ``nesting_bound(GRAPHQL_MAX_DEPTH)`` = ``max(64, 2 * max_depth + 24)``, 64
for the default depth of 20: a selection level costs one brace, and the room on top is for
arguments and list/object literals (a ``where`` using its 8 levels of ``AND``/``OR``/``NOT`` takes
about 20 brackets). It is capped at ``MAX_NESTING`` (256): tartiflette's own conversion gives up
(RecursionError) a little deeper, and parse time grows with the square of the nesting; the parser
itself crashes only beyond about 12,000 levels.

The token bound defaults to 2,000: tartiflette spends 5-100 µs per token, so the costliest document
accepted at that bound (1,700 ``__typename`` under 60 nested inline fragments) takes about 0.2 s to
parse and validate on a loaded 2-core machine (1.4 s at 10,000 tokens); the standard introspection
query has about 160 tokens. Large values belong in variables, which are not tokens.

Cost: one compiled regular expression matched once per token, each match consuming its token and
the ignored text before it (possessive quantifiers, no backtracking), so the scan is linear and
stops at the first token over a bound: a 1 MB document over a bound is refused in 3 ms or less.
"""

from __future__ import annotations

import re

MIN_NESTING = 64
MAX_NESTING = 256
MAX_FRAGMENTS = 64

_IGNORED = r"(?:[ \t\n\r,\ufeff]++|#[^\n\r]*+)*+"
_BLOCK_STRING = r'"""(?:[^"\\]++|\\"""|\\|"(?!""))*+(?:"""|\Z)'
_STRING = r'"(?:[^"\\\n\r]++|\\[^\n\r])*+"?'      # an unterminated string ends at the line end
_NUMBER = r"-?[0-9]++(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
_NAME = r"[_A-Za-z][_0-9A-Za-z]*+"
# group 1: an opening bracket, 2: a closing one, 3: the word ``fragment``, 4: any other token; none at the end
_TOKEN = re.compile(rf"{_IGNORED}(?:([\[{{(])|([\]}})])|(fragment(?![_0-9A-Za-z]))"
                    rf"|({_BLOCK_STRING}|{_STRING}|\.\.\.|{_NUMBER}|{_NAME}|.))?", re.S)


def nesting_bound(max_depth: int) -> int:
    """The bracket nesting a document may reach for a selection depth limit of ``max_depth``."""
    return min(MAX_NESTING, max(MIN_NESTING, 2 * max_depth + 24))


def check_document(query: str, *, max_tokens: int, max_nesting: int, max_fragments: int = MAX_FRAGMENTS) -> str | None:
    """The message of the first bound the document exceeds, or None when it may be parsed."""
    tokens = depth = fragments = 0
    for match in _TOKEN.finditer(query):
        kind = match.lastindex
        if kind is None:        # trailing ignored text
            continue
        tokens += 1
        if tokens > max_tokens:
            return f"Document has more than {max_tokens} tokens (GRAPHQL_MAX_TOKENS)"
        if kind == 1:
            depth += 1
            if depth > max_nesting:
                return f"Document nesting exceeds {max_nesting} levels (GRAPHQL_MAX_DEPTH)"
        elif kind == 2:
            if depth:
                depth -= 1
        elif kind == 3 and not depth:       # a fragment definition (outside brackets)
            fragments += 1
            if fragments > max_fragments:
                return f"Document defines more than {max_fragments} fragments"
    return None
