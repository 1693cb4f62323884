"""Top-level statements of `schema.ts`: imports, interfaces, enums, type aliases, consts, default export.

`parse_module` reads the whole file once; both syntaxes interpret the resulting `Module`. A malformed
statement becomes one `syntax` error and reading resumes at the next statement.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from atomo.schema.literals import Lit, Node, ParseError, Reader, Ref, describe
from atomo.schema.tokenizer import (
    COMMENT,
    EOF,
    IDENT,
    NUMBER,
    PUNCT,
    STRING,
    Sink,
    Token,
    doc_comment,
    normalise_text,
    tokenize,
)


class TType:
    """A TypeScript type: kind 'name' | 'array' | 'union' | 'lit' | 'null' | 'object' | 'tuple' | 'bad'."""

    __slots__ = ("kind", "name", "args", "value", "tok", "src")

    def __init__(self, kind: str, tok: Token, src: str, name: str = "", args: list[TType] | None = None,
                 value: Any = None) -> None:
        self.kind, self.tok, self.src, self.name = kind, tok, src, name
        self.args, self.value = args or [], value


@dataclass
class MemberDecl:
    name: str
    tok: Token
    optional: bool
    type: TType
    end: Token                     # last token of the member
    start: Token | None = None     # first token (`readonly` or the name): where a doc comment ends


@dataclass
class InterfaceDecl:
    name: str
    tok: Token
    members: list[MemberDecl]
    open: Token
    close: Token
    start: Token | None = None     # first token of the statement (`export` / `interface`)


@dataclass
class EnumDecl:
    name: str
    tok: Token
    members: list[tuple[str, Token, str]]


@dataclass
class AliasDecl:
    name: str
    tok: Token
    type: TType


@dataclass
class ConstDecl:
    name: str
    tok: Token
    node: Node
    start: Token | None = None     # first token of the statement (`export` / `const`)


@dataclass
class Module:
    text: str
    comments: list[Token]                            # the `//` comments (annotations)
    decls: list[Any] = field(default_factory=list)   # in file order
    default_export: str | None = None
    all_comments: list[Token] = field(default_factory=list)  # `//` and `/* */` comments, in order (docs)
    code: list[Token] = field(default_factory=list)    # every other token, in order (doc lookup)

    def of(self, kind: type) -> list[Any]:
        return [d for d in self.decls if isinstance(d, kind)]

    def doc_before(self, tok: Token | None) -> str | None:
        """The `/** ... */` doc comment placed before `tok`, the first token of a declaration.

        Only blanks and other comments may stand between them (the nearest doc comment wins). A doc
        comment that follows code on its line while `tok` starts on a later line trails that code
        (`a: string /** about a */`) and documents nothing; after an opening `{`, `(` or `[` it is
        still the next declaration's.
        """
        if tok is None or not self.all_comments:
            return None
        ends = self.__dict__.get("_ends")
        if ends is None:  # built once
            ends = self.__dict__["_ends"] = [t.end for t in self.code]
            self.__dict__["_starts"] = [c.pos for c in self.all_comments]
        starts = self.__dict__["_starts"]
        i = bisect.bisect_right(ends, tok.pos) - 1
        prev = self.code[i] if i >= 0 else None
        lo = bisect.bisect_left(starts, prev.end if prev is not None else 0)
        hi = bisect.bisect_left(starts, tok.pos)
        doc = next((c for c in reversed(self.all_comments[lo:hi]) if doc_comment(c) is not None), None)
        if doc is None:
            return None
        text = self.text
        opening = prev is not None and prev.kind == PUNCT and prev.value in ("{", "(", "[")
        if prev is not None and not opening and "\n" not in text[prev.end:doc.pos] \
                and "\n" in text[doc.end:tok.pos]:
            return None
        return doc_comment(doc)


def parse_module(text: str, sink: Sink) -> Module:
    text = normalise_text(text)
    tokens = tokenize(text, sink)
    comments = [t for t in tokens if t.kind == COMMENT]
    module = Module(text, [t for t in comments if not t.block], all_comments=comments)
    r = Reader(tokens, sink)
    module.code = r.toks
    while r.tok.kind != EOF:
        start, count = r.i, len(module.decls)
        try:
            _statement(r, module)
            for decl in module.decls[count:]:
                if isinstance(decl, (InterfaceDecl, ConstDecl)):
                    decl.start = r.toks[start]
        except ParseError as e:
            sink.error(e.tok, "syntax", e.message)
            if r.i == start:
                r.advance()
            while not r.statement_start():
                r.advance()
    seen: set[str] = set()
    for decl in module.decls:
        if isinstance(decl, (ConstDecl, EnumDecl)):
            if decl.name in seen:
                sink.error(decl.tok, "duplicate", f"duplicate declaration '{decl.name}'")
            seen.add(decl.name)
    return module


def _end_statement(r: Reader) -> None:
    if r.accept(";") or r.tok.kind == EOF or r.new_line():
        return
    raise ParseError(r.tok, f"expected ';' or a new line, found {describe(r.tok)}")


def _statement(r: Reader, module: Module) -> None:
    if r.accept(";"):
        return
    export = r.accept("export")
    t = r.tok
    if r.at("declare"):
        r.sink.warn(t, "ignored-syntax", "'declare' statements are not supported; ignored")
        r.skip_statement()
        return
    if export and r.at("default"):
        r.advance()
        node = r.expr()
        if isinstance(node, Ref):
            module.default_export = node.name
        else:
            r.sink.warn(t, "ignored-syntax", "only 'export default <name>' is supported; ignored")
        _end_statement(r)
    elif r.at("import") and not export:
        r.advance()
        while r.tok.kind != STRING:
            if r.tok.kind == EOF or r.statement_start():
                raise ParseError(r.tok, "expected the module name of the import")
            r.advance()
        r.advance()
        _end_statement(r)
    elif r.at("interface"):
        module.decls.append(_interface(r, module.text))
    elif r.at("enum") or (r.at("const") and r.at("enum", 1)):
        module.decls.append(_enum(r))
    elif r.at("type") and r.peek().kind == IDENT:
        r.advance()
        name = r.expect_ident()
        _skip_generics(r)
        r.expect("=")
        module.decls.append(AliasDecl(name.value, name, parse_type(r, module.text)))
        _end_statement(r)
    elif t.kind == IDENT and t.value in ("const", "let", "var"):
        r.advance()
        if t.value != "const":
            r.sink.warn(t, "ignored-syntax", f"'{t.value}' is read as 'const'")
        name = r.expect_ident()
        if r.accept(":"):
            r.sink.warn(r.prev, "ignored-syntax", "type annotations on consts are ignored")
            parse_type(r, module.text)
        r.expect("=")
        module.decls.append(ConstDecl(name.value, name, r.expr()))
        _end_statement(r)
    else:
        what = "export lists" if export and r.at("{") else f"'{t.value}' statements"
        if t.kind not in (IDENT, PUNCT):
            what = f"statements starting with {describe(t)}"
        if what == "export lists":   # no effect on the schema
            r.sink.warn(t, "ignored-syntax", f"{what} are not supported; ignored")
        else:                        # a function, class, ... may be meant to declare something
            r.sink.error(t, "unsupported-syntax", f"{what} are not supported (schema.ts holds declarations only)")
        start = r.i
        r.skip_statement()
        if r.i == start:
            r.advance()


def _skip_generics(r: Reader) -> None:
    if not r.at("<"):
        return
    r.sink.warn(r.tok, "ignored-syntax", "type parameters are not supported; ignored")
    depth = 0
    while r.tok.kind != EOF:
        t = r.advance()
        depth += (t.value == "<") - (t.value == ">") if t.kind == PUNCT else 0
        if depth <= 0:
            return


def _interface(r: Reader, text: str) -> InterfaceDecl:
    r.expect("interface")
    name = r.expect_ident()
    _skip_generics(r)
    if r.at("extends"):
        r.sink.error(r.tok, "unsupported-syntax", "'extends' is not supported: declare the inherited fields here")
        while not r.at("{") and r.tok.kind != EOF:
            r.advance()
    open_tok = r.expect("{")
    members: list[MemberDecl] = []
    while not r.at("}"):
        if r.tok.kind == EOF:
            raise ParseError(r.tok, f"missing '}}' to close interface {name.value}")
        if r.accept(";") or r.accept(","):
            continue
        try:
            _member(r, text, members)
        except ParseError as e:
            r.sink.error(e.tok, "syntax", e.message)
            _skip_member(r)
    return InterfaceDecl(name.value, name, members, open_tok, r.expect("}"))


def _member(r: Reader, text: str, members: list[MemberDecl]) -> None:
    start = r.tok
    if r.at("readonly") and r.peek().kind in (IDENT, STRING) and r.peek().line == r.tok.line:
        r.advance()
    t = r.tok
    if r.at("["):
        r.sink.warn(t, "ignored-syntax", "index signatures are not supported; ignored")
        _skip_member(r)
        return
    if t.kind not in (IDENT, STRING):
        raise ParseError(t, f"expected a field name, found {describe(t)}")
    r.advance()
    optional = bool(r.accept("?"))
    if r.at("(") or r.at("<"):
        r.sink.warn(t, "ignored-syntax", "methods are not supported in interfaces; ignored")
        _skip_member(r)
        return
    r.expect(":")
    members.append(MemberDecl(str(t.value), t, optional, parse_type(r, text), r.prev, start))
    if not (r.at(";") or r.at(",") or r.at("}") or r.new_line()):
        raise ParseError(r.tok, f"expected ';' or a new line, found {describe(r.tok)}")


def _skip_member(r: Reader) -> None:
    depth, moved = 0, False
    while r.tok.kind != EOF:
        t = r.tok
        if depth == 0 and (moved and r.new_line() or t.kind == PUNCT and t.value in ";,}"):
            return
        if t.kind == PUNCT and t.value in "([{":
            depth += 1
        elif t.kind == PUNCT and t.value in ")]}":
            depth = max(depth - 1, 0)
        r.advance()
        moved = True


def _enum(r: Reader) -> EnumDecl:
    r.accept("const")
    r.expect("enum")
    name = r.expect_ident()
    r.expect("{")
    members: list[tuple[str, Token, str]] = []
    while not r.at("}"):
        t = r.tok
        if t.kind not in (IDENT, STRING):
            raise ParseError(t, f"expected an enum member, found {describe(t)}")
        r.advance()
        value = str(t.value)
        if r.accept("="):
            node = r.expr()
            if isinstance(node, Lit) and isinstance(node.value, str):
                value = node.value
            else:
                r.sink.error(node.tok, "unsupported-syntax", f"enum member '{t.value}' needs a string value")
        if any(m[0] == t.value for m in members):
            r.sink.error(t, "duplicate", f"duplicate enum member '{t.value}'")
        else:
            members.append((str(t.value), t, value))
        if not r.accept(",") and not r.at("}"):
            raise ParseError(r.tok, f"expected ',' or '}}', found {describe(r.tok)}")
    r.expect("}")
    return EnumDecl(name.value, name, members)


def parse_type(r: Reader, text: str) -> TType:
    start = r.tok
    r.accept("|")
    items = [_postfix_type(r, text)]
    while r.at("|"):
        r.advance()
        items.append(_postfix_type(r, text))
    if len(items) == 1:
        return items[0]
    return TType("union", start, text[start.pos:r.prev.end], args=items)


def _postfix_type(r: Reader, text: str) -> TType:
    start = r.tok
    t = _primary_type(r, text)
    while r.at("[") and r.at("]", 1) and not r.new_line():
        r.advance()
        r.advance()
        t = TType("array", start, text[start.pos:r.prev.end], args=[t])
    return t


def _primary_type(r: Reader, text: str) -> TType:
    t = r.tok
    if t.kind in (STRING, NUMBER):
        r.advance()
        return TType("lit", t, text[t.pos:t.end], value=t.value)
    if r.at("-") and r.peek().kind == NUMBER:
        r.advance()
        return TType("lit", t, text[t.pos:r.advance().end], value=-r.prev.value)
    if t.kind == IDENT:
        r.advance()
        if t.value in ("true", "false"):
            return TType("lit", t, t.value, value=t.value == "true")
        if t.value in ("null", "undefined"):
            return TType("null", t, t.value)
        name = t.value
        while r.at(".") and r.peek().kind == IDENT:
            r.advance()
            name += "." + r.advance().value
        args: list[TType] = []
        if r.at("<") and not r.new_line():
            r.advance()
            args.append(parse_type(r, text))
            while r.accept(","):
                args.append(parse_type(r, text))
            r.expect(">")
        return TType("name", t, text[t.pos:r.prev.end], name=name, args=args)
    if r.at("{") or r.at("["):
        r.skip_balanced()
        return TType("object" if t.value == "{" else "tuple", t, text[t.pos:r.prev.end])
    if r.at("("):
        r.advance()
        if r.at(")") or r.at("..."):
            inner = TType("bad", t, "")
            r.skip_balanced()
        else:
            inner = parse_type(r, text)
            if not r.at(")"):
                r.skip_balanced()
            else:
                r.advance()
        if r.at("=>"):
            r.sink.warn(t, "ignored-syntax", "function types are not supported; stored as JSON")
            r.advance()
            parse_type(r, text)
            return TType("bad", t, text[t.pos:r.prev.end])
        return inner
    raise ParseError(t, f"expected a type, found {describe(t)}")
