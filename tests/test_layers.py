"""Dependencies point one way: a lower layer never imports a higher one (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "atomo"
# Each layer may import itself and the layers listed before it.
LAYERS = [
    {"errors", "config", "_version"},
    {"schema"},
    {"storage"},
    {"auth", "content"},
    {"data"},
]


def layer_of(module: str) -> int | None:
    for i, names in enumerate(LAYERS):
        if module in names:
            return i
    return None


def test_lower_layers_never_import_higher_ones() -> None:
    problems = []
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        mine = layer_of(top)
        if mine is None:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("atomo."):
                theirs = layer_of(node.module.split(".")[1])
                if theirs is not None and theirs > mine:
                    problems.append(f"{path.relative_to(PACKAGE)} imports {node.module}")
    assert problems == []
