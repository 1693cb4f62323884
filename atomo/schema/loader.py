"""Public entry points: parse, load, locate and check a `schema.ts`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from atomo.errors import SchemaError
from atomo.schema import builder_syntax, interface_syntax
from atomo.schema.assemble import Drafts, finish
from atomo.schema.declarations import ConstDecl, InterfaceDecl, parse_module
from atomo.schema.literals import Obj
from atomo.schema.model import Diagnostic, Schema
from atomo.schema.tokenizer import Pos, Sink
from atomo.schema.values import Values, declares

CANDIDATES = ("schema.ts", "atomo/schema.ts", "src/schema.ts")


def parse_schema(text: str, path: str = "schema.ts") -> Schema:
    """Parse schema source text. Never raises for schema problems: see `Schema.diagnostics`."""
    sink = Sink(str(path))
    try:
        module = parse_module(text, sink)
        values = Values(sink)
        builder = next((d for d in module.of(ConstDecl) if declares(d.node, "model")), None)
        marks = [d for d in module.decls if isinstance(d, InterfaceDecl) and interface_syntax.is_model_interface(d)
                 or isinstance(d, ConstDecl) and d.name == "schema" and isinstance(values.deref(d.node), Obj)]
        interface = marks[0] if marks else None
        syntax = "builder" if builder is not None else "interface"
        if builder is not None and interface is not None:
            first, later = sorted((builder, interface), key=lambda d: (d.tok.line, d.tok.col))
            syntax = "builder" if first is builder else "interface"
            sink.error(later.tok, "mixed-syntax",
                       f"mixed syntax: this file uses the {syntax} syntax (line {first.tok.line}); "
                       f"builder model() declarations and interface declarations cannot be combined")
        reader = builder_syntax.read if syntax == "builder" else interface_syntax.read
        drafts = reader(module, values)
    except RecursionError:
        sink.error(Pos(1, 1), "syntax", "the file is nested too deeply to be read")
        drafts, syntax = Drafts(), "interface"
    return finish(drafts, sink, syntax, str(path))


def load_schema(path: str | Path) -> Schema:
    """Read and parse a schema file (OSError when it cannot be read)."""
    data = Path(path).read_bytes()
    try:
        return parse_schema(data.decode("utf-8"), str(path))
    except UnicodeDecodeError as e:
        prefix = data[:e.start].decode("utf-8", "replace")
        schema = parse_schema(data.decode("utf-8", "replace"), str(path))
        diag = Diagnostic(str(path), prefix.count("\n") + 1, len(prefix) - prefix.rfind("\n"), "error", "syntax",
                          "the file is not valid UTF-8")
        return replace(schema, diagnostics=tuple(sorted((diag, *schema.diagnostics), key=lambda d: (d.line, d.col))))


def discover_schema(project_dir: Path, explicit: str | None = None, env_path: str | None = None) -> Path | None:
    """The schema path: `explicit` (--schema), `env_path` (ATOMO_SCHEMA_PATH), then the first existing
    `schema.ts`, `atomo/schema.ts`, `src/schema.ts` in `project_dir`. Relative paths are resolved
    against `project_dir`; an explicit path is returned even when it does not exist."""
    project_dir = Path(project_dir)
    for given in (explicit, env_path):
        if given:
            p = Path(os.path.expanduser(given))
            return p if p.is_absolute() else project_dir / p
    for name in CANDIDATES:
        p = project_dir / name
        if p.is_file():
            return p
    return None


def require_valid(schema: Schema, strict: bool = False) -> Schema:
    """`schema` itself, or SchemaError(message, diagnostics) when it has errors (with strict: any warning)."""
    bad = list(schema.diagnostics if strict else schema.errors)
    if not bad:
        return schema
    errors, warnings = len(schema.errors), len(schema.warnings)
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    message = (f"{schema.path}: {_count(errors, 'error')}, {_count(warnings, 'warning')}: {bad[0]}{more}")
    raise SchemaError(message, bad)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def field_count(schema: Schema) -> int:
    """Declared fields plus the managed `createdAt`/`updatedAt` a model does not declare."""
    total = 0
    for m in schema.models:
        keys = {f.key for f in m.fields}
        total += len(m.fields) + sum(1 for k in ("createdAt", "updatedAt") if k not in keys)
    return total


def check_report(schema: Schema, strict: bool = False) -> tuple[str, int]:
    """The text printed by `atomo schema check` and its exit code: 4 when the summary counts an error
    (with `strict`: any diagnostic), which is exactly when `serve`/`dev` refuse the schema; else 0."""
    lines = [str(d) for d in schema.diagnostics]
    errors, warnings = len(schema.errors), len(schema.warnings)
    lines.append(f"{schema.path}: {_count(len(schema.models), 'model')}, {_count(field_count(schema), 'field')}; "
                 f"{_count(errors, 'error')}, {_count(warnings, 'warning')}")
    failing = errors or (strict and warnings)
    return "\n".join(lines), 4 if failing else 0


def check_report_json(schema: Schema) -> dict[str, Any]:
    """`atomo schema check --format json`."""
    return {"file": schema.path, "models": len(schema.models), "fields": field_count(schema),
            "diagnostics": [d.to_dict() for d in schema.diagnostics]}
