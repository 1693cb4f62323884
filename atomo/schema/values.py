"""Evaluation of expression nodes: Python values, references to earlier consts and enum members, chains."""

from __future__ import annotations

from typing import Any

from atomo.schema.literals import INVALID, Arr, Bad, Call, Lit, Member, Node, Obj, Ref, Step
from atomo.schema.tokenizer import Sink


class Values:
    """Evaluates nodes to Python values; `env` maps names to earlier consts (nodes) or enums (dicts)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.env: dict[str, Any] = {}

    def deref(self, node: Node, depth: int = 0) -> Node:
        """Follow a reference to an earlier top-level const (a few levels deep)."""
        while isinstance(node, Ref) and isinstance(self.env.get(node.name), Node) and depth < 20:
            node, depth = self.env[node.name], depth + 1
        return node

    def value(self, node: Node, depth: int = 0) -> Any:
        """The Python value of a literal node, or INVALID (reported)."""
        if depth > 100:
            self.sink.error(node.tok, "syntax", "value nested too deeply (or referring to itself)")
            return INVALID
        node = self.deref(node)
        if isinstance(node, Lit):
            return node.value
        if isinstance(node, Obj):
            out = {k: self.value(v, depth + 1) for k, _, v in node.items}
            return {k: v for k, v in out.items() if v is not INVALID}
        if isinstance(node, Arr):
            return [v for v in (self.value(i, depth + 1) for i in node.items) if v is not INVALID]
        if isinstance(node, Member) and isinstance(node.obj, Ref):
            members = self.env.get(node.obj.name)
            if isinstance(members, dict) and node.name in members:
                return members[node.name]
        if isinstance(node, Bad):
            return INVALID
        if isinstance(node, Ref) and node.name not in self.env:
            self.sink.error(node.tok, "reference", f"'{node.name}' is not declared before this point")
            return INVALID
        self.sink.error(node.tok, "unsupported-syntax", f"{self.what(node)} is not a literal value")
        return INVALID

    def string(self, node: Node, what: str) -> str | None:
        """A string literal, or None after a `syntax` error naming `what`."""
        v = self.value(node)
        if isinstance(v, str):
            return v
        if v is not INVALID:
            self.sink.error(node.tok, "syntax", f"{what} must be a string")
        return None

    def strings(self, node: Node, what: str) -> list[str] | None:
        v = self.value(node)
        if isinstance(v, list) and all(isinstance(s, str) for s in v):
            return v
        if v is not INVALID:
            self.sink.error(node.tok, "syntax", f"{what} must be a list of strings")
        return None

    def obj(self, node: Node, what: str) -> Obj | None:
        node = self.deref(node)
        if isinstance(node, Obj):
            return node
        if not isinstance(node, Bad):
            self.sink.error(node.tok, "syntax", f"{what} must be an object literal")
        return None

    def flatten(self, node: Node) -> list[Step]:
        """`a.b(1).c()` -> [Step('a', None), Step('b', [1]), Step('c', [])]; refs to consts followed."""
        node = self.deref(node)
        steps: list[Step] = []
        for _ in range(400):
            if isinstance(node, Call) and isinstance(node.func, Member):
                steps.append(Step(node.func.name, node.args, node.func.tok))
                node = node.func.obj
            elif isinstance(node, Call) and isinstance(node.func, Ref):
                steps.append(Step(node.func.name, node.args, node.func.tok))
                break
            elif isinstance(node, Member):
                steps.append(Step(node.name, None, node.tok))
                node = node.obj
            elif isinstance(node, Ref) and self.deref(node) is not node:
                node = self.deref(node)
            else:
                steps.append(Step(node.name if isinstance(node, Ref) else "", None, node.tok))
                break
        else:
            steps.append(Step("", None, node.tok))
        steps.reverse()
        return steps

    @staticmethod
    def what(node: Node) -> str:
        if isinstance(node, Call):
            return f"call '{Values.callee(node)}()'"
        if isinstance(node, (Member, Ref)):
            return f"'{Values.callee(node)}'"
        return "this expression"

    @staticmethod
    def callee(node: Node) -> str:
        if isinstance(node, Call):
            return Values.callee(node.func)
        if isinstance(node, Member):
            return Values.callee(node.obj) + "." + node.name
        return node.name if isinstance(node, Ref) else "?"


def declares(node: Node, name: str) -> bool:
    """`node` is a chain starting with a call of `name(...)`, e.g. `model('deals', {...})`."""
    inner = node
    while isinstance(inner, (Call, Member)):
        if isinstance(inner, Call) and isinstance(inner.func, Ref):
            return inner.func.name == name
        inner = inner.func if isinstance(inner, Call) else inner.obj
    return False


def called_root(node: Node) -> Ref | None:
    """The root name of a chain at `node` that contains a call (`foo(1).bar` -> `foo`), else None."""
    called = False
    while isinstance(node, (Call, Member)):
        called = called or isinstance(node, Call)
        node = node.func if isinstance(node, Call) else node.obj
    return node if called and isinstance(node, Ref) else None
