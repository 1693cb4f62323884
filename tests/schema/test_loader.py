"""Entry points: load, discover, require_valid, the `schema check` report; speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomo.errors import SchemaError
from atomo.schema import check_report, check_report_json, discover_schema, load_schema, parse_schema, require_valid

from .helpers import BUILDER_CRM, SAMPLE


def test_discover_order(tmp_path: Path) -> None:
    assert discover_schema(tmp_path) is None
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "schema.ts").write_text("")
    assert discover_schema(tmp_path) == tmp_path / "src" / "schema.ts"
    (tmp_path / "atomo").mkdir()
    (tmp_path / "atomo" / "schema.ts").write_text("")
    assert discover_schema(tmp_path) == tmp_path / "atomo" / "schema.ts"
    (tmp_path / "schema.ts").write_text("")
    assert discover_schema(tmp_path) == tmp_path / "schema.ts"
    assert discover_schema(tmp_path, env_path="other.ts") == tmp_path / "other.ts"
    assert discover_schema(tmp_path, explicit="x/s.ts", env_path="other.ts") == tmp_path / "x" / "s.ts"
    assert discover_schema(tmp_path, explicit=str(tmp_path / "abs.ts")) == tmp_path / "abs.ts"


def test_no_recursive_search(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "schema.ts").write_text("")
    assert discover_schema(tmp_path) is None


def test_load_schema_uses_the_path_in_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "schema.ts"
    path.write_text("export interface A { id: string; x?: Nope }\n")
    schema = load_schema(path)
    assert schema.path == str(path) and str(schema.diagnostics[0]).startswith(f"{path}:1:")
    path.write_bytes(b"export interface A { id: string }\n// caf\xe9\n")
    assert [(d.line, d.col, d.code) for d in load_schema(path).diagnostics] == [(2, 7, "syntax")]


def test_require_valid() -> None:
    good = load_schema(SAMPLE)
    assert require_valid(good) is good and require_valid(good, strict=True) is good
    warned = parse_schema("export interface A {\n  id: string\n  URL?: string\n}\n")
    assert require_valid(warned) is warned
    with pytest.raises(SchemaError) as info:
        require_valid(warned, strict=True)
    assert [d.code for d in info.value.diagnostics] == ["key-rename"]
    with pytest.raises(SchemaError) as info:
        require_valid(parse_schema("export interface A { id: string; x?: Nope }\n"))
    assert [d.code for d in info.value.diagnostics] == ["unknown-type"]
    bad = parse_schema("export interface A { id: string; tenantId?: string }\n")
    with pytest.raises(SchemaError) as info:
        require_valid(bad)
    assert info.value.exit_code == 4 and "invalid-name" in info.value.message


def test_check_report_sample() -> None:
    text, code = check_report(load_schema(SAMPLE), strict=True)
    assert (text, code) == ("sample-data/schema.ts: 3 models, 31 fields; 0 errors, 0 warnings".replace(
        "sample-data/schema.ts", str(SAMPLE)), 0)
    builder_text, _ = check_report(parse_schema(BUILDER_CRM), strict=False)
    assert builder_text.endswith("3 models, 31 fields; 0 errors, 0 warnings")


def test_check_report_exit_codes() -> None:
    rename = parse_schema("export interface A {\n  id: string\n  URL?: string\n}\n")
    text, code = check_report(rename, strict=False)
    assert text.splitlines() == [
        "schema.ts:3:3: warning[key-rename]: field 'URL' of A appears as 'url' in records",
        "schema.ts: 1 model, 4 fields; 0 errors, 1 warning"]
    assert code == 0 and check_report(rename, strict=True)[1] == 4
    unknown = parse_schema("export interface A { id: string; x?: Strin }\n")
    assert check_report(unknown, strict=False) == (
        "schema.ts:1:38: error[unknown-type]: unknown type 'Strin'. Did you mean 'string'?\n"
        "schema.ts: 1 model, 4 fields; 1 error, 0 warnings", 4)
    unsupported = parse_schema("export interface A { id: string }\nfunction f() {}\n")
    assert check_report(unsupported, strict=False)[1] == 4
    ignored = parse_schema("export interface A { id: string }\nlet x = 1\n")
    assert check_report(ignored, strict=False) == (
        "schema.ts:2:1: warning[ignored-syntax]: 'let' is read as 'const'\n"
        "schema.ts: 1 model, 3 fields; 0 errors, 1 warning", 0)
    assert check_report(ignored, strict=True)[1] == 4
    error = parse_schema("export interface A { id: string; _x?: string }\n")
    assert check_report(error, strict=False) == (
        "schema.ts:1:34: error[invalid-name]: names starting with '_' are reserved: '_x'\n"
        "schema.ts: 1 model, 3 fields; 1 error, 0 warnings", 4)


def test_summary_and_exit_code_agree_for_every_code() -> None:
    from tests.schema.test_diagnostics import CASES
    for code, source, _ in CASES:
        schema = parse_schema(source)
        text, exit_code = check_report(schema, strict=False)
        summary = text.splitlines()[-1]
        assert (exit_code == 4) == ("; 0 errors," not in summary), (code, text)
        assert (exit_code == 4) == bool(schema.errors) and check_report(schema, strict=True)[1] == 4, (code, text)


def test_check_report_json() -> None:
    schema = parse_schema("export interface A { id: string; x?: Nope }\n")
    assert check_report_json(schema) == {
        "file": "schema.ts", "models": 1, "fields": 4,
        "diagnostics": [{"line": 1, "column": 38, "severity": "error", "code": "unknown-type",
                         "message": "unknown type 'Nope' (declare it in this file, or use any, object or "
                                    "Record<string, any> for JSON)"}]}


def test_parse_never_raises_on_garbage() -> None:
    for text in ["", "}", "{{{{", "export", "export interface", "export const schema = ", "'", "`${", "/*",
                 "export const A = model(", "export interface A { id: string; x: 'a' | }", "[" * 500, "@@@@"]:
        schema = parse_schema(text)
        assert isinstance(schema.diagnostics, tuple)


def _fifty_models() -> str:
    parts = ["export enum Stage { Lead = 'lead', Won = 'won' }"]
    config = []
    for i in range(50):
        parts.append(f"""export interface Model{i} {{
  id: string
  title: string                 // @unique
  value: number                 // @default(0)
  stage: Stage                  // @default('lead') @index
  probability?: number; closeDate?: Date
  ownerId?: string; parentId?: string; tags?: string[]; notes?: Block[]
  // @@index([stage, closeDate])
  // @@check(value >= 0 AND probability BETWEEN 0 AND 100)
}}""")
        config.append(f"""    Model{i}: {{
      access: {{ read: 'authenticated', create: 'sales|admin', update: 'admin|owner(ownerId)', delete: 'admin' }},
      validation: {{ title: 'required|min:2|max:160', probability: 'min:0|max:100' }},
      relationships: {{ parent: {{ type: 'belongsTo', model: 'Model{max(i - 1, 0)}', foreignKey: 'parentId' }} }},
      events: {{ updated: [{{ action: 'score', condition: {{ changedAny: ['value', 'stage'] }} }}] }},
    }},""")
    parts.append("export const schema = {\n  models: {\n" + "\n".join(config) + "\n  },\n}")
    return "\n".join(parts) + "\n"


def test_fifty_models_parse_fast() -> None:
    text = _fifty_models()
    schema = parse_schema(text)
    assert schema.diagnostics == () and len(schema.models) == 50
    best = min(_timed(text) for _ in range(5))
    assert best < 0.1, f"{best * 1000:.1f} ms"


def _timed(text: str) -> float:
    start = time.process_time()
    parse_schema(text)
    return time.process_time() - start


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_schemas_never_raise_and_report_positions_inside_the_text(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from([SAMPLE.read_text(), BUILDER_CRM]))
    pieces = ["{", "}", "(", ")", "[", "]", "'", '"', "`", "${", "//", "/*", "*/", "\n", ":", ",", "|", "@@check(",
              "@default(", "export ", "model(", "...", "=>", "?", "<", ">", "😀"]
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + text[at + data.draw(st.integers(1, 30)):]
        else:
            text = text[:at] + data.draw(st.sampled_from(pieces)) + text[at:]
    schema = parse_schema(text)
    lines = text.split("\n")
    for d in schema.diagnostics:
        assert 1 <= d.line <= len(lines)
        assert 1 <= d.col <= len(lines[d.line - 1]) + 1
