"""``atomo_fold(text)`` on PostgreSQL (issue 21): Python's ``str.casefold``, exactly, as an SQL function.

Text filters fold case with ``str.casefold`` (``atomo.data.query``); on SQLite that is a Python function
registered on each connection. PostgreSQL 15 has no case folding (``lower`` is not it: ``ß`` stays, final
``ς`` stays), and a version of ICU is not a version of Python's Unicode tables. Full case folding is a
mapping of each code point on its own (no context, unlike ``lower``'s final sigma), and its result is folded
already, so it can be written down: the 104 code points that fold to several (``ß`` -> ``ss``, ``İ`` -> ``i̇``)
as ``replace`` calls, then the 1,426 that fold to one as ``translate`` calls over lists of 64 (``translate``
looks each character up in its whole list), each step skipped unless a regular expression finds one of its
characters. The tables come from
the running Python's ``unicodedata`` when the function is created, so the database folds as the server does;
``CREATE OR REPLACE`` at every boot keeps them in step after a Python upgrade. The function (plpgsql) is
IMMUTABLE (an index on ``atomo_fold(col)`` is possible) and STRICT (NULL in, NULL out). Compiled filters call it
only for values outside printable ASCII, as on SQLite.
"""

from __future__ import annotations

import sys
from functools import cache


@cache
def fold_tables() -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(code points folding to one, what they fold to, (code point, its fold) for those folding to several)."""
    sources, targets, expanding = [], [], []
    for code in range(1, sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:                    # surrogates: never in PostgreSQL text
            continue
        char = chr(code)
        folded = char.casefold()
        if folded == char:
            continue
        if len(folded) == 1:
            sources.append(char)
            targets.append(folded)
        else:
            expanding.append((char, folded))
    return "".join(sources), "".join(targets), tuple(expanding)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _char_class(chars: str) -> str:
    return _literal("[" + "".join("\\" + c if c in "]\\^-[" else c for c in chars) + "]")


CHUNK = 64          # translate() looks each character up in its whole list: short lists, each behind a test


def fold_function_ddl() -> str:
    sources, targets, expanding = fold_tables()
    replaced = "t"
    for char, folded in expanding:
        replaced = f"replace({replaced}, {_literal(char)}, {_literal(folded)})"
    steps = [f"IF t ~ {_char_class(''.join(c for c, _ in expanding))} THEN t := {replaced}; END IF;"]
    for start in range(0, len(sources), CHUNK):
        chunk, into = sources[start:start + CHUNK], targets[start:start + CHUNK]
        steps.append(f"IF t ~ {_char_class(chunk)} THEN t := translate(t, {_literal(chunk)}, {_literal(into)}); END IF;")
    body = "\n  ".join(steps)
    return ("CREATE OR REPLACE FUNCTION atomo_fold(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT"
            f" PARALLEL SAFE AS $fold$\nBEGIN\n  {body}\n  RETURN t;\nEND $fold$")
