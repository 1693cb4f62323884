"""Both syntaxes describe the same models: the spec's CRM, and generated declarations."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from atomo.schema import Schema, load_schema, parse_schema

from .helpers import BUILDER_CRM, BUILDER_HEADER, SAMPLE

# Builder kinds that the interface syntax spells `string` (+ a relationship / validation rule).
_TEXTLIKE = {"email": "text", "url": "text", "relation": "text"}


def facts(schema: Schema) -> dict[tuple[str, ...], Any]:
    """Every comparable fact of a schema, keyed so that two schemas can be diffed."""
    out: dict[tuple[str, ...], Any] = {}
    for m in schema.models:
        out[(m.name, "table")] = m.table
        out[(m.name, "fields")] = sorted(f.name for f in m.fields)
        for f in m.fields:
            out[(m.name, f.name, "kind")] = _TEXTLIKE.get(f.kind, f.kind)
            out[(m.name, f.name, "column")] = (f.column, f.key)
            out[(m.name, f.name, "rules")] = [r.source() for r in f.rules]
            out[(m.name, f.name, "options")] = f.options
            out[(m.name, f.name, "target")] = f.target
            out[(m.name, f.name, "default")] = f.default if f.has_default else "-"
            out[(m.name, f.name, "flags")] = (f.primary, f.unique, f.required)
        out[(m.name, "access")] = {op: r.source() if r else None for op, r in m.access.items()}
        out[(m.name, "belongsTo")] = m.belongs_to
        out[(m.name, "events")] = dict(m.events)
        out[(m.name, "indexes")] = sorted((i.name, i.columns, i.unique, i.where) for i in m.indexes)
        out[(m.name, "checks")] = m.checks
    for a in schema.actions:
        out[("action", a.name)] = (a.input, a.returns, a.source_model)
    return out


def differences(a: Schema, b: Schema) -> set[tuple[str, ...]]:
    fa, fb = facts(a), facts(b)
    return {k for k in fa.keys() | fb.keys() if fa.get(k, "absent") != fb.get(k, "absent")}


def test_crm_examples_of_both_syntaxes_are_equivalent() -> None:
    interface, builder = load_schema(SAMPLE), parse_schema(BUILDER_CRM)
    assert interface.diagnostics == () and builder.diagnostics == ()
    # The only differences are those written differently in the spec's two examples:
    # `tags?: string[]` vs `json().default([])`, `employeeCount: number().min(0)`,
    # `value: number().required().min(0)` and `ownerId: text().index()` on Deal.
    assert differences(interface, builder) == {
        ("Contact", "tags", "kind"), ("Contact", "tags", "default"),
        ("Company", "employeeCount", "rules"), ("Deal", "value", "rules"), ("Deal", "indexes"),
    }
    assert {i.name for i in builder.model("Deal").indexes} - {i.name for i in interface.model("Deal").indexes} == {
        "idx_deals_owner_id"}


FIELD_NAMES = st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True).filter(
    lambda n: n not in ("id", "email", "createdAt", "updatedAt") and n.upper() not in ("AND", "OR", "NOT")
    and n.lower() not in ("id",))
OPTIONS = st.lists(st.from_regex(r"[a-z]{1,5}", fullmatch=True), min_size=1, max_size=4, unique=True)


@st.composite
def field_specs(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["text", "number", "boolean", "datetime", "select", "blocks", "json"]))
    spec: dict[str, Any] = {"kind": kind, "optional": draw(st.booleans()), "unique": draw(st.booleans()),
                            "index": draw(st.booleans()), "options": None, "default": None,
                            "min": draw(st.one_of(st.none(), st.integers(0, 50)))}
    if kind == "select":
        spec["options"] = draw(OPTIONS)
        if draw(st.booleans()):
            spec["default"] = repr(draw(st.sampled_from(spec["options"])))
    elif kind == "number" and draw(st.booleans()):
        spec["default"] = str(draw(st.integers(-5, 5)))
    if kind not in ("text", "number"):
        spec["min"] = None
    return spec


_TS = {"text": "string", "number": "number", "boolean": "boolean", "datetime": "Date", "blocks": "Block[]",
       "json": "object"}


def interface_source(fields: dict[str, dict[str, Any]]) -> str:
    lines, validation = ["export interface Thing {", "  id: string"], []
    for name, s in fields.items():
        ts = " | ".join(f"'{o}'" for o in s["options"]) if s["kind"] == "select" else _TS[s["kind"]]
        notes = [a for a in ("unique", "index") if s[a]] + ([f"default({s['default']})"] if s["default"] else [])
        comment = ("  // " + " ".join("@" + n for n in notes)) if notes else ""
        lines.append(f"  {name}{'?' if s['optional'] else ''}: {ts}{comment}")
        if s["min"] is not None:
            validation.append(f"{name}: 'min:{s['min']}'")
    lines.append("}")
    lines.append("export const schema = { models: { Thing: { validation: { " + ", ".join(validation) + " } } } }")
    return "\n".join(lines) + "\n"


def builder_source(fields: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, s in fields.items():
        call = f"select({s['options']!r})" if s["kind"] == "select" else f"{s['kind']}()"
        call += "" if s["optional"] else ".required()"
        call += f".min({s['min']})" if s["min"] is not None else ""
        call += f".default({s['default']})" if s["default"] else ""
        call += ".unique()" if s["unique"] else ""
        call += ".index()" if s["index"] else ""
        parts.append(f"    {name}: {call},")
    return BUILDER_HEADER + "export const Thing = model('things', {\n  fields: {\n" + "\n".join(parts) + "\n  },\n})\n"


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(FIELD_NAMES, field_specs(), min_size=1, max_size=6).filter(
    lambda d: len({n.lower().replace("_", "") for n in d}) == len(d)))
def test_generated_declarations_are_equivalent(fields: dict[str, dict[str, Any]]) -> None:
    interface, builder = parse_schema(interface_source(fields)), parse_schema(builder_source(fields))
    relevant = [d for d in interface.diagnostics + builder.diagnostics if d.code != "key-rename"]
    assert relevant == []
    assert differences(interface, builder) == set()
    thing = builder.models[0]
    for name, s in fields.items():
        field = thing.field(name)
        assert field.optional == s["optional"]
        assert field.required == (not s["optional"] and not s["default"])
