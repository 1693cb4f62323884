"""Tokenizer for the declarative TypeScript subset used by `schema.ts`.

Produces identifiers (keywords included), strings (quotes and backticks; a backtick string holding
`${` becomes a TEMPLATE token), numbers, punctuation and comments, each with a 1-based line and
column counted in code points. Problems become `syntax` diagnostics in a `Sink`; tokenizing never
raises.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from atomo.schema.model import SEVERITY, Diagnostic

IDENT, STRING, NUMBER, PUNCT, COMMENT, TEMPLATE, EOF = (
    "ident", "string", "number", "punct", "comment", "template", "eof")


class Token:
    """One token. `value`: identifier/punctuation text, decoded string, int/float, comment body."""

    __slots__ = ("kind", "value", "line", "col", "pos", "end", "block")

    def __init__(self, kind: str, value: Any, line: int, col: int, pos: int, end: int,
                 block: bool = False) -> None:
        self.kind, self.value, self.line, self.col = kind, value, line, col
        self.pos, self.end, self.block = pos, end, block

    def __repr__(self) -> str:
        return f"Token({self.kind}, {self.value!r}, {self.line}:{self.col})"


def doc_comment(tok: Token) -> str | None:
    """The text of a `/** ... */` doc comment token (None for any other token, or an empty doc).

    Drops the `/**` and `*/`, then on each line the leading blanks, one `*` and one space after it;
    trims the result (inner lines and their further indentation are kept). `/* */`, `/**/`, banner
    comments starting with `/***` and `//` comments are not docs.
    """
    if tok.kind != COMMENT or not tok.block or not tok.value.startswith("*") or tok.value.startswith("**"):
        return None
    lines = []
    for line in tok.value[1:].split("\n"):
        line = line.strip()
        if line.startswith("*"):
            line = line[2:] if line.startswith("* ") else line[1:]
        lines.append(line)
    return "\n".join(lines).strip() or None


class Pos:
    """A bare position (line, col) where a diagnostic can point."""

    __slots__ = ("line", "col")

    def __init__(self, line: int, col: int) -> None:
        self.line, self.col = line, col


class Sink:
    """Collects diagnostics for one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[Diagnostic] = []

    def add(self, at: Any, severity: str, code: str, message: str) -> None:
        line, col = (getattr(at, "line", 1) or 1), (getattr(at, "col", 1) or 1)
        severity = SEVERITY.get(code, severity)  # one severity per code, whichever method reported it
        self.items.append(Diagnostic(self.path, line, col, severity, code, message))

    def error(self, at: Any, code: str, message: str) -> None:
        self.add(at, "error", code, message)

    def warn(self, at: Any, code: str, message: str) -> None:
        self.add(at, "warning", code, message)

    def diagnostics(self) -> tuple[Diagnostic, ...]:
        unique = dict.fromkeys(self.items)
        return tuple(sorted(unique, key=lambda d: (d.line, d.col)))


_SPEC = re.compile(r"""\s*(?:
 (?P<lc>//[^\n]*)
|(?P<bc>/\*[\s\S]*?\*/)
|(?P<ubc>/\*)
|(?P<id>(?:[^\W\d]|\$)(?:\w|\$)*)
|(?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
   |(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)
|(?P<sq>'(?:[^'\\\n]|\\[\s\S])*')
|(?P<dq>"(?:[^"\\\n]|\\[\s\S])*")
|(?P<bt>`(?:[^`\\]|\\[\s\S])*`)
|(?P<p>\.\.\.|=>|\?\?=?|\?\.|===|!==|==|!=|<=|>=|&&|\|\||\*\*|[{}()\[\];,:.?<>=|&+\-*/%!~^@\#])
)""", re.X)
_IDENT_CHAR = re.compile(r"[\w$]")
_IDENT_TAIL = re.compile(r"[\w$]*")
_WS = re.compile(r"\s*")
_ESC = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\n|[\s\S])")
_SIMPLE_ESC = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0", "\n": ""}


def _unescape_one(m: re.Match[str]) -> str:
    s = m.group(1)
    if s[0] in "ux" and len(s) > 1:
        code = int(s.strip("u{}x") if s[0] == "x" else s[1:].strip("{}"), 16)
        return chr(code) if code <= 0x10FFFF else "\ufffd"
    return _SIMPLE_ESC.get(s, s)


def unescape(body: str) -> str:
    """Decode the JS escapes of a string body (without its quotes)."""
    if "\\" not in body:
        return body
    out = _ESC.sub(_unescape_one, body)
    if any("\ud800" <= c <= "\udfff" for c in out):
        out = out.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return out


def normalise_text(text: str) -> str:
    """Drop a BOM and turn CRLF / CR line breaks into LF (lines are then counted as editors do)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _number(raw: str) -> int | float:
    s = raw.replace("_", "")
    if s[:2].lower() in ("0x", "0b", "0o"):
        return int(s, 0)
    if s.isdigit():
        return int(s)
    value = float(s)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


class _Lines:
    def __init__(self, text: str, line: int, col: int) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)] + [len(text) + 1]
        self.line0, self.col0, self.i = line, col, 0

    def at(self, pos: int) -> tuple[int, int]:
        i, starts = self.i, self.starts
        if starts[i] > pos:
            i = bisect.bisect_right(starts, pos) - 1
        while starts[i + 1] <= pos:
            i += 1
        self.i = i
        col = pos - starts[i] + 1
        return self.line0 + i, col + (self.col0 - 1 if i == 0 else 0)


def tokenize(text: str, sink: Sink, line: int = 1, col: int = 1) -> list[Token]:
    """All tokens of `text` (comments included) followed by one EOF token.

    `line`/`col` give the position of the first character, for text cut out of a larger file.
    """
    lines = _Lines(text, line, col)
    tokens: list[Token] = []
    append, match, starts, li = tokens.append, _SPEC.match, lines.starts, 0
    pos, n = 0, len(text)
    while pos < n:
        m = match(text, pos)
        kind = m.lastgroup if m is not None else None
        if kind is None or kind == "ubc":
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if pos < n:
                pos = _bad_char(text, pos, lines, sink, tokens)
            continue
        start, end = m.start(kind), m.end()
        while starts[li + 1] <= start:
            li += 1
        ln, cl = line + li, start - starts[li] + (col if li == 0 else 1)
        if kind == "id":
            append(Token(IDENT, m.group(kind), ln, cl, start, end))
        elif kind == "p":
            append(Token(PUNCT, m.group(kind), ln, cl, start, end))
        elif kind == "sq" or kind == "dq":
            append(Token(STRING, unescape(text[start + 1:end - 1]), ln, cl, start, end))
        elif kind == "num":
            value: Any = 0
            if end < n and _IDENT_CHAR.match(text, end):
                end = _IDENT_TAIL.match(text, end).end()  # type: ignore[union-attr]
                sink.error(Pos(ln, cl), "syntax", f"invalid number '{text[start:end]}'")
            else:
                value = _number(text[start:end])
            append(Token(NUMBER, value, ln, cl, start, end))
        elif kind == "bt":
            body = text[start + 1:end - 1]
            template = "${" in body
            append(Token(TEMPLATE if template else STRING, body if template else unescape(body), ln, cl, start, end))
        else:
            append(Token(COMMENT, text[start + 2:end - (2 if kind == "bc" else 0)], ln, cl, start, end,
                         kind == "bc"))
        pos = end
    ln, cl = lines.at(n)
    append(Token(EOF, None, ln, cl, n, n))
    return tokens


def _bad_char(text: str, pos: int, lines: _Lines, sink: Sink, tokens: list[Token]) -> int:
    """Report the character at `pos` that starts no token; returns where to resume."""
    at = Pos(*lines.at(pos))
    ch, n = text[pos], len(text)
    if ch in "'\"":
        sink.error(at, "syntax", "unterminated string")
        end = text.find("\n", pos)
        end = n if end < 0 else end
        tokens.append(Token(STRING, unescape(text[pos + 1:end]), at.line, at.col, pos, end))
        return end
    if ch == "`" or text.startswith("/*", pos):
        sink.error(at, "syntax", "unterminated template string" if ch == "`" else "unterminated comment")
        return n
    sink.error(at, "syntax", f"unexpected character {ch!r}")
    return pos + 1
