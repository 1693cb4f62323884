"""Comment annotations (`@unique @index @default(..) @@unique([..]) [WHERE e] @@index(..) @@check(e)`)
and the check-expression compiler (the SQLite subset of schema chapter §6).
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from atomo.schema.literals import INVALID, Arr, Lit, ParseError, Reader, Ref
from atomo.schema.suggest import hinted
from atomo.schema.tokenizer import EOF, Pos, Sink, Token, tokenize
from atomo.schema.values import Values

FIELD_ANNOTATIONS = ("unique", "index", "default")
MODEL_ANNOTATIONS = ("unique", "index", "check", "graphqlName")
_ANN = re.compile(r"(?<!\S)(@@?)([A-Za-z_][A-Za-z0-9_]*)")
_WHERE = re.compile(r"\s+WHERE\s+", re.I)
_NEXT = re.compile(r"\s@")


@dataclass
class Annotation:
    name: str                      # without the @ signs
    model_level: bool              # `@@name`
    pos: Pos
    arg: str | None = None
    arg_pos: Pos | None = None
    where: str | None = None
    where_pos: Pos | None = None

    @property
    def label(self) -> str:
        return ("@@" if self.model_level else "@") + self.name


def _matching(text: str, start: int) -> int:
    """Index of the `)` closing the `(` at `start`, skipping quoted text; -1 when unterminated."""
    depth, quote, i = 0, "", start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote != "'":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def scan(comment: Token, sink: Sink) -> list[Annotation]:
    """The annotations of one `//` comment, in order."""
    text, line, base = comment.value, comment.line, comment.col + 2
    out: list[Annotation] = []
    pos = 0
    while (m := _ANN.search(text, pos)) is not None:
        ann = Annotation(m.group(2), m.group(1) == "@@", Pos(line, base + m.start()))
        end = m.end()
        if end < len(text) and text[end] == "(":
            close = _matching(text, end)
            if close < 0:
                sink.error(ann.pos, "syntax", f"unterminated argument of '{ann.label}'")
                break
            ann.arg, ann.arg_pos, end = text[end + 1:close], Pos(line, base + end + 1), close + 1
        if ann.model_level and ann.name in ("unique", "index") and (w := _WHERE.match(text, end)):
            stop = _NEXT.search(text, w.end())
            stop_at = stop.start() if stop else len(text)
            ann.where, ann.where_pos, end = text[w.end():stop_at].strip(), Pos(line, base + w.end()), stop_at
        out.append(ann)
        pos = end
    return out


def attach(comments: list[Token], open_tok: Token, close_tok: Token, ends: list[tuple[str, Token]],
           sink: Sink) -> tuple[dict[str, list[Annotation]], list[Annotation]]:
    """Annotations inside a body: field ones (trailing comment of the field's last line) and model ones."""
    fields: dict[str, list[Annotation]] = {}
    model: list[Annotation] = []
    first = bisect.bisect_right([c.pos for c in comments], open_tok.pos) if len(comments) > 32 else 0
    for c in comments[first:]:
        if c.pos >= close_tok.pos:
            break
        if c.pos <= open_tok.pos:
            continue
        anns = scan(c, sink)
        target = None
        for name, end in ends:
            if end.line == c.line and end.end <= c.pos:
                target = name
        for a in anns:
            known = MODEL_ANNOTATIONS if a.model_level else FIELD_ANNOTATIONS
            if a.name not in known:
                labels = ["@" + n for n in FIELD_ANNOTATIONS] + ["@@" + n for n in MODEL_ANNOTATIONS]
                same_level = [label for label in labels if label.startswith("@@") == a.model_level]
                message, found = hinted(f"unknown annotation '{a.label}'", a.label, same_level)
                sink.error(a.pos, "unknown-annotation", message if found else
                           f"{message} (annotations: {', '.join(labels)}; write other text in a /* */ comment)")
            elif a.model_level:
                model.append(a)
            elif target is None:
                also = f" (or use '@{a.label}([...])' for several fields)" if a.name != "default" else ""
                sink.error(a.pos, "unknown-annotation", f"'{a.label}' must follow a field on its line{also}")
            else:
                fields.setdefault(target, []).append(a)
    return fields, model


def _read_arg(ann: Annotation, sink: Sink) -> Any:
    """The argument of an annotation read as one expression node, or None (reported)."""
    if ann.arg is None or not ann.arg.strip():
        sink.error(ann.pos, "syntax", f"'{ann.label}' needs an argument")
        return None
    pos = ann.arg_pos or ann.pos
    r = Reader(tokenize(ann.arg, sink, pos.line, pos.col), sink)
    try:
        node = r.expr()
        if r.tok.kind != EOF:
            raise ParseError(r.tok, f"unexpected text in '{ann.label}(...)'")
    except ParseError as e:
        sink.error(e.tok, "syntax", e.message)
        return None
    return node


def default_value(ann: Annotation, values: Values) -> Any:
    """The literal of `@default(...)`, or INVALID (reported)."""
    node = _read_arg(ann, values.sink)
    return INVALID if node is None else values.value(node)


def string_arg(ann: Annotation, sink: Sink) -> str | None:
    """The string literal argument of an annotation (`@@graphqlName('people')`), or None (reported)."""
    node = _read_arg(ann, sink)
    if node is None:
        return None
    if isinstance(node, Lit) and isinstance(node.value, str):
        return node.value
    sink.error(node.tok, "syntax", f"'{ann.label}' takes a string, e.g. {ann.label}('people')")
    return None


def column_names(ann: Annotation, sink: Sink) -> list[tuple[str, Any]] | None:
    """`@@unique([a, b])` -> [('a', pos), ('b', pos)]; None when malformed (reported)."""
    node = _read_arg(ann, sink)
    if node is None:
        return None
    items = node.items if isinstance(node, Arr) else [node]
    out = []
    for item in items:
        if isinstance(item, Ref) or isinstance(item, Lit) and isinstance(item.value, str):
            out.append((item.name if isinstance(item, Ref) else item.value, item.tok))
        else:
            sink.error(item.tok, "syntax", f"'{ann.label}' takes a list of field names")
            return None
    if not out:
        sink.error(node.tok, "syntax", f"'{ann.label}' needs at least one field")
        return None
    return out


# -- check expressions ----------------------------------------------------------------------------

_SQL_KEYWORDS = frozenset("""ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT
BEFORE BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE CROSS
CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE DEFERRED DELETE DESC
DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST
FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED
INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED
NATURAL NO NOT NOTHING NOTNULL NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA
PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT
RETURNING RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION
TRIGGER TRUE FALSE UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW WITH
WITHOUT""".split())
_FUNCTIONS = {"length": (1, 1), "lower": (1, 1), "upper": (1, 1), "abs": (1, 1), "coalesce": (2, 64),
              "trim": (1, 2)}
_SQL = re.compile(r"""\s*(?:
 (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))
|(?P<str>'(?:[^']|'')*')
|(?P<qid>"(?:[^"]|"")+")
|(?P<id>[A-Za-z_][A-Za-z0-9_]*)
|(?P<op><>|!=|==|<=|>=|\|\||[-+*/%<>=(),])
)""", re.X)
_COMPARE = {"=": "=", "==": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_PREC = {"OR": 1, "AND": 2, "=": 4, "<>": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "+": 6, "-": 6,
         "*": 7, "/": 7, "%": 7}


class _CheckError(Exception):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset, self.message = offset, message


def quote_column(column: str) -> str:
    if column.upper() in _SQL_KEYWORDS or not re.fullmatch(r"[a-z_][a-z0-9_]*", column):
        return '"' + column.replace('"', '""') + '"'
    return column


class _CheckParser:
    def __init__(self, text: str, resolve: Callable[[str], str | None]) -> None:
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _SQL.match(text, pos)
            if m is None or m.lastgroup is None:
                off = len(text[pos:]) - len(text[pos:].lstrip()) + pos
                raise _CheckError(off, f"unexpected character {text[off]!r}")
            kind = m.lastgroup
            value = m.group(kind)
            self.toks.append((kind, value, m.start(kind)))
            pos = m.end()
        self.toks.append(("eof", "", len(text)))
        self.i, self.resolve = 0, resolve

    def peek(self, k: int = 0) -> tuple[str, str, int]:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def word(self, *words: str) -> bool:
        kind, value, _ = self.peek()
        return kind == "id" and value.upper() in words

    def op(self, *ops: str) -> bool:
        kind, value, _ = self.peek()
        return kind == "op" and value in ops

    def take(self) -> tuple[str, str, int]:
        t = self.peek()
        self.i += 1
        return t

    def need_op(self, value: str) -> None:
        if not self.op(value):
            raise _CheckError(self.peek()[2], f"expected '{value}'")
        self.take()

    def parse(self) -> tuple:
        node = self.or_()
        kind, value, off = self.peek()
        if kind != "eof":
            raise _CheckError(off, f"unexpected '{value}'")
        return node

    def _chain(self, ops: tuple[str, ...], sub: Callable[[], tuple]) -> tuple:
        node = sub()
        while self.word(*ops) or self.op(*ops):
            node = ("bin", self.take()[1].upper(), node, sub())
        return node

    def or_(self) -> tuple:
        return self._chain(("OR",), self.and_)

    def and_(self) -> tuple:
        return self._chain(("AND",), self.negation)

    def add(self) -> tuple:
        return self._chain(("+", "-"), self.mul)

    def mul(self) -> tuple:
        return self._chain(("*", "/", "%"), self.unary)

    def negation(self) -> tuple:
        if self.word("NOT"):
            self.take()
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> tuple:
        left = self.add()
        kind, value, off = self.peek()
        if kind == "op" and value in _COMPARE:
            self.take()
            return ("bin", _COMPARE[value], left, self.add())
        if self.word("IS"):
            self.take()
            negated = self.word("NOT") and bool(self.take())
            if not self.word("NULL"):
                raise _CheckError(self.peek()[2], "only 'IS NULL' and 'IS NOT NULL' are allowed")
            self.take()
            return ("isnull", negated, left)
        negated = self.word("NOT") and self.peek(1)[1].upper() in ("IN", "BETWEEN", "LIKE")
        if negated:
            self.take()
        if self.word("IN"):
            self.take()
            self.need_op("(")
            items = [self.or_()]
            while self.op(","):
                self.take()
                items.append(self.or_())
            self.need_op(")")
            return ("in", negated, left, items)
        if self.word("BETWEEN"):
            self.take()
            low = self.add()
            if not self.word("AND"):
                raise _CheckError(self.peek()[2], "expected 'AND' in BETWEEN")
            self.take()
            return ("between", negated, left, low, self.add())
        if self.word("LIKE"):
            self.take()
            return ("like", negated, left, self.add())
        return left

    def unary(self) -> tuple:
        if self.op("-", "+"):
            return ("neg", self.take()[1], self.unary())
        return self.primary()

    def primary(self) -> tuple:
        kind, value, off = self.take()
        if kind == "num":
            return ("lit", value.lower())
        if kind == "str":
            return ("lit", value)
        if kind == "op" and value == "(":
            node = self.or_()
            self.need_op(")")
            return node
        if kind == "qid":
            return self.column(value[1:-1].replace('""', '"'), off)
        if kind == "id":
            upper = value.upper()
            if upper in ("NULL", "TRUE", "FALSE"):
                return ("lit", upper)
            if self.op("("):
                return self.call(value, off)
            if upper in _SQL_KEYWORDS and self.resolve(value) is None:
                raise _CheckError(off, f"'{value}' is not allowed in a check expression")
            return self.column(value, off)
        if kind == "eof":
            raise _CheckError(off, "unexpected end of expression")
        raise _CheckError(off, f"operator '{value}' is not allowed in a check expression")

    def column(self, name: str, off: int) -> tuple:
        column = self.resolve(name)
        if column is None:
            raise _CheckError(off, f"'{name}' is not a field of this model")
        return ("col", column)

    def call(self, name: str, off: int) -> tuple:
        low = name.lower()
        if low not in _FUNCTIONS:
            raise _CheckError(off, f"function '{name}' is not allowed in a check expression")
        self.take()
        args = [] if self.op(")") else [self.or_()]
        while self.op(","):
            self.take()
            args.append(self.or_())
        self.need_op(")")
        least, most = _FUNCTIONS[low]
        if not least <= len(args) <= most:
            raise _CheckError(off, f"wrong number of arguments for '{low}'")
        return ("func", low, args)


def _render(n: tuple, minimum: int = 0) -> str:
    kind, prec = n[0], 9
    if kind == "lit":
        s = n[1]
    elif kind == "col":
        s = quote_column(n[1])
    elif kind == "func":
        s = f"{n[1]}({', '.join(_render(a) for a in n[2])})"
    elif kind == "neg":
        s, prec = n[1] + _render(n[2], 9), 8
    elif kind == "not":
        s, prec = "NOT " + _render(n[1], 3), 3
    elif kind == "bin":
        prec = _PREC[n[1]]
        right = 5 if prec == 4 else prec + 1
        s = f"{_render(n[2], 5 if prec == 4 else prec)} {n[1]} {_render(n[3], right)}"
    else:
        prec, neg = 4, "NOT " if n[1] else ""
        left = _render(n[2], 5)
        if kind == "isnull":
            s = f"{left} IS {neg}NULL"
        elif kind == "in":
            s = f"{left} {neg}IN ({', '.join(_render(i) for i in n[3])})"
        elif kind == "between":
            s = f"{left} {neg}BETWEEN {_render(n[3], 5)} AND {_render(n[4], 5)}"
        else:
            s = f"{left} {neg}LIKE {_render(n[3], 5)}"
    return f"({s})" if prec < minimum else s


def compile_expr(text: str, at: Pos, resolve: Callable[[str], str | None], sink: Sink,
                 where: bool = False) -> str | None:
    """The normalised SQLite expression (field names turned into columns), or None (`invalid-check`)."""
    try:
        if not text.strip():
            raise _CheckError(0, "empty expression")
        return _render(_CheckParser(text, resolve).parse())
    except _CheckError as e:
        what = f"WHERE {text.strip()}" if where else f"@@check({text.strip()})"
        sink.error(Pos(at.line, at.col + e.offset), "invalid-check", f"{e.message} in '{what}'")
        return None
    except RecursionError:
        sink.error(at, "invalid-check", "expression nested too deeply")
        return None


def check_name(table: str, expr: str) -> str:
    return f"chk_{table}_{hashlib.sha256(expr.encode('utf-8')).hexdigest()[:8]}"
