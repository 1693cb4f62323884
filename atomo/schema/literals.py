"""The shared expression reader: literals, object/array literals, identifiers, calls, method chains.

`Reader` turns tokens into small `Node` trees (both syntaxes and the annotation arguments use it);
`Values` turns nodes into Python values (str, int/float, bool, None, list, dict) and resolves
references to earlier top-level consts and enum members. Unsupported constructs (spread, computed
keys, functions, operators, template strings) are reported as `unsupported-syntax` and read as
`Bad` nodes; malformed input raises `ParseError`, which the statement parser turns into a `syntax`
diagnostic.
"""

from __future__ import annotations

from typing import Any

from atomo.schema.tokenizer import COMMENT, EOF, IDENT, NUMBER, PUNCT, STRING, TEMPLATE, Sink, Token

STATEMENT_WORDS = frozenset({"export", "import", "const", "let", "var", "interface", "enum", "type",
                             "function", "class", "declare", "namespace", "module"})
_UNSUPPORTED_WORDS = frozenset({"function", "new", "class", "async", "await", "typeof", "void", "delete",
                                "yield", "this", "super", "import"})
_OPERATORS = frozenset({"+", "-", "*", "/", "%", "**", "?", "??", "&&", "||", "==", "===", "!=", "!==",
                        "<", ">", "<=", ">=", "|", "&", "^", "=>", "=", "!", "~", "??=", "instanceof", "in"})
_OPEN = {"(": ")", "[": "]", "{": "}"}
INVALID: Any = type("Invalid", (), {"__repr__": lambda self: "INVALID"})()


class ParseError(Exception):
    def __init__(self, tok: Token, message: str) -> None:
        super().__init__(message)
        self.tok, self.message = tok, message


class Node:
    __slots__ = ("tok",)

    def __init__(self, tok: Token) -> None:
        self.tok = tok


class Lit(Node):
    __slots__ = ("value",)

    def __init__(self, tok: Token, value: Any) -> None:
        super().__init__(tok)
        self.value = value


class Obj(Node):
    """`items`: (key, key token, value); `ends`: last token of each item; `close`: the `}` token."""

    __slots__ = ("items", "ends", "close")

    def __init__(self, tok: Token, items: list[tuple[str, Token, Node]], ends: list[Token] | None = None,
                 close: Token | None = None) -> None:
        super().__init__(tok)
        self.items, self.ends, self.close = items, ends or [], close or tok

    def get(self, key: str) -> Node | None:
        for k, _, v in self.items:
            if k == key:
                return v
        return None


class Arr(Node):
    __slots__ = ("items",)

    def __init__(self, tok: Token, items: list[Node]) -> None:
        super().__init__(tok)
        self.items = items


class Ref(Node):
    __slots__ = ("name",)

    def __init__(self, tok: Token, name: str) -> None:
        super().__init__(tok)
        self.name = name


class Call(Node):
    __slots__ = ("func", "args")

    def __init__(self, tok: Token, func: Node, args: list[Node]) -> None:
        super().__init__(tok)
        self.func, self.args = func, args


class Member(Node):
    __slots__ = ("obj", "name")

    def __init__(self, tok: Token, obj: Node, name: str) -> None:
        super().__init__(tok)
        self.obj, self.name = obj, name


class Bad(Node):
    """A construct already reported and ignored."""


class Step:
    """One link of a flattened chain: `text()` -> Step('text', []), `allow` -> Step('allow', None)."""

    __slots__ = ("name", "args", "tok")

    def __init__(self, name: str, args: list[Node] | None, tok: Token) -> None:
        self.name, self.args, self.tok = name, args, tok


def describe(tok: Token) -> str:
    if tok.kind == EOF:
        return "end of file"
    if tok.kind == STRING:
        return "a string"
    if tok.kind == NUMBER:
        return "a number"
    return f"'{tok.value}'"


class Reader:
    """Recursive-descent reader over the non-comment tokens."""

    def __init__(self, tokens: list[Token], sink: Sink) -> None:
        self.toks = [t for t in tokens if t.kind != COMMENT]
        if not self.toks or self.toks[-1].kind != EOF:
            last = self.toks[-1] if self.toks else Token(EOF, None, 1, 1, 0, 0)
            self.toks.append(Token(EOF, None, last.line, last.col, last.end, last.end))
        self.i = 0
        self.sink = sink

    # -- cursor ---------------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    @property
    def prev(self) -> Token:
        return self.toks[self.i - 1] if self.i else self.toks[0]

    def advance(self) -> Token:
        t = self.toks[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def at(self, value: str, k: int = 0) -> bool:
        t = self.toks[self.i] if not k else self.peek(k)
        return t.value == value and t.kind in (PUNCT, IDENT)

    def accept(self, value: str) -> Token | None:
        return self.advance() if self.at(value) else None

    def expect(self, value: str) -> Token:
        if not self.at(value):
            raise ParseError(self.tok, f"expected '{value}', found {describe(self.tok)}")
        return self.advance()

    def expect_ident(self) -> Token:
        if self.tok.kind != IDENT:
            raise ParseError(self.tok, f"expected a name, found {describe(self.tok)}")
        return self.advance()

    def new_line(self) -> bool:
        """The current token starts a new line (statement / member separator)."""
        return self.i > 0 and self.tok.line != self.prev.line

    def statement_start(self) -> bool:
        t = self.tok
        return t.kind == EOF or (t.kind == IDENT and t.col == 1 and t.value in STATEMENT_WORDS)

    # -- skipping ---------------------------------------------------------------------------------
    def skip_balanced(self) -> None:
        """Skip from an opening bracket to its matching close (or EOF)."""
        depth = 0
        while self.tok.kind != EOF:
            t = self.advance()
            if t.kind == PUNCT and t.value in _OPEN:
                depth += 1
            elif t.kind == PUNCT and t.value in ")]}":
                depth -= 1
                if depth <= 0:
                    return

    def skip_expr(self, stop: tuple[str, ...] = (",", ";")) -> None:
        """Skip the rest of an expression: up to `,`/`;`, an unmatched close, or a new statement."""
        depth, moved = 0, False
        while self.tok.kind != EOF:
            t = self.tok
            if depth == 0 and moved and self.statement_start():
                return
            if t.kind == PUNCT:
                if t.value in _OPEN:
                    depth += 1
                elif t.value in ")]}":
                    if depth == 0:
                        return
                    depth -= 1
                elif depth == 0 and t.value in stop:
                    return
            self.advance()
            moved = True

    def skip_statement(self) -> None:
        self.skip_expr(stop=(";",))
        self.accept(";")

    # -- expressions ------------------------------------------------------------------------------
    def expr(self) -> Node:
        node = self.postfix()
        while True:
            t = self.tok
            if t.kind == IDENT and t.value in ("as", "satisfies") and not self.new_line():
                self.advance()
                if t.value == "as" and self.at("const"):
                    self.advance()
                    continue
                self.sink.warn(t, "ignored-syntax", f"'{t.value} <type>' is not supported; ignored")
                self.skip_expr(stop=(",", ";", "="))
                continue
            if (t.kind == PUNCT or t.kind == IDENT and not self.new_line()) and t.value in _OPERATORS:
                self.sink.error(t, "unsupported-syntax", f"operator '{t.value}' is not supported (write the value)")
                self.skip_expr()
                return Bad(node.tok)
            return node

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            t = self.toks[self.i]
            v = t.value if t.kind == PUNCT else None
            if v == "." or v == "?.":
                if v == "?.":
                    self.sink.warn(t, "ignored-syntax", "optional chaining '?.' is read as '.'")
                self.advance()
                name = self.expect_ident()
                node = Member(name, node, name.value)
            elif v == "(" and not isinstance(node, (Lit, Obj, Arr, Bad)):
                node = Call(node.tok, node, self.args())
            elif v == "[" and not self.new_line():
                self.sink.error(t, "unsupported-syntax", "computed member access is not supported")
                self.skip_balanced()
                node = Bad(node.tok)
            else:
                return node

    def primary(self) -> Node:
        t = self.tok
        if t.kind in (STRING, NUMBER):
            self.advance()
            return Lit(t, t.value)
        if t.kind == TEMPLATE:
            self.advance()
            self.sink.error(t, "unsupported-syntax", "template strings with '${...}' are not supported")
            return Bad(t)
        if t.kind == PUNCT and t.value in "-+" and self.peek().kind == NUMBER:
            self.advance()
            num = self.advance()
            return Lit(t, -num.value if t.value == "-" else num.value)
        if t.kind == IDENT:
            if t.value in ("true", "false", "null", "undefined"):
                self.advance()
                return Lit(t, {"true": True, "false": False}.get(t.value))
            if t.value in _UNSUPPORTED_WORDS:
                self.sink.error(t, "unsupported-syntax", f"'{t.value}' expressions are not supported")
                self.skip_expr()
                return Bad(t)
            self.advance()
            return Ref(t, t.value)
        if self.at("{"):
            return self.obj()
        if self.at("["):
            return self.arr()
        if self.at("("):
            if self.at(")", 1):
                self.sink.error(t, "unsupported-syntax", "functions are not supported")
                self.skip_expr()
                return Bad(t)
            self.advance()
            inner = self.expr()
            self.expect(")")
            return inner
        raise ParseError(t, f"unexpected {describe(t)}")

    def _spread(self) -> None:
        self.sink.error(self.advance(), "unsupported-syntax", "spread '...' is not supported (write the entries out)")
        self.expr()

    def obj(self) -> Obj:
        start = self.expect("{")
        items: list[tuple[str, Token, Node]] = []
        ends: dict[str, Token] = {}
        while not self.at("}"):
            t = self.tok
            if self.at("..."):
                self._spread()
            elif self.at("["):
                self.sink.error(t, "unsupported-syntax", "computed keys are not supported")
                self.skip_balanced()
                if self.accept(":"):
                    self.expr()
            elif t.kind in (IDENT, STRING, NUMBER):
                self.advance()
                key = str(t.value)
                if self.accept(":"):
                    self._put(items, key, t, self.expr())
                    ends[key] = self.prev
                elif self.at("("):
                    self.sink.error(t, "unsupported-syntax", "methods are not supported")
                    self.skip_expr()
                elif t.kind == IDENT and (self.at(",") or self.at("}")):
                    self._put(items, key, t, Ref(t, key))
                    ends[key] = t
                else:
                    raise ParseError(self.tok, f"expected ':', found {describe(self.tok)}")
            else:
                raise ParseError(t, f"expected a property name, found {describe(t)}")
            if not self.accept(",") and not self.at("}"):
                raise ParseError(self.tok, f"expected ',' or '}}', found {describe(self.tok)}")
        close = self.expect("}")
        return Obj(start, items, [ends[k] for k, _, _ in items], close)

    def _put(self, items: list[tuple[str, Token, Node]], key: str, tok: Token, value: Node) -> None:
        for n, (k, _, _) in enumerate(items):
            if k == key:
                self.sink.error(tok, "duplicate", f"duplicate key '{key}'")
                items[n] = (key, tok, value)
                return
        items.append((key, tok, value))

    def _list(self, close: str) -> list[Node]:
        items: list[Node] = []
        while not self.at(close):
            if self.at("..."):
                self._spread()
            elif self.at(","):
                self.sink.warn(self.tok, "ignored-syntax", "empty array elements are not supported; ignored")
            else:
                items.append(self.expr())
            if not self.accept(",") and not self.at(close):
                raise ParseError(self.tok, f"expected ',' or '{close}', found {describe(self.tok)}")
        self.expect(close)
        return items

    def arr(self) -> Arr:
        start = self.expect("[")
        return Arr(start, self._list("]"))

    def args(self) -> list[Node]:
        self.expect("(")
        return self._list(")")
