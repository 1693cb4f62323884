"""``served_sdl(schema, hooks)`` (what `atomo codegen` writes) is byte for byte the SDL of the engine a server builds
(``build_engine``): generic API, enqueueJob, typed API and the hooks' custom fields, in that order; a custom field
the server refuses is refused the same way; without custom fields no tartiflette is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atomo.errors import ConfigError
from atomo.graphql.served import served_sdl
from atomo.hooks.loader import load_hooks
from atomo.hooks.registry import HookSet
from atomo.http.services import build_engine
from atomo.schema import load_schema, parse_schema
from tests.conftest import ROOT, SAMPLE, settings

CUSTOM = '''from atomo.hooks import mutation, query


@mutation("closeDeal", args="id: ID!, stage: DealStage!", returns="Deal!")
async def close_deal(args, ctx):
    """Moves a deal to won or lost."""
    return {}


@query("dealsWon", args="where: DealWhere", returns="[Deal!]!")
async def deals_won(args, ctx):
    return []
'''


def hooks_of(tmp_path: Path, *sources: str) -> HookSet:
    folder = tmp_path / "hooks"
    folder.mkdir()
    for i, source in enumerate(sources):
        (folder / f"h{i}.py").write_text(source)
    return load_hooks(folder)


async def test_the_sample_with_its_hooks_is_what_the_engine_serves() -> None:
    schema, hooks = load_schema(SAMPLE / "schema.ts"), load_hooks(SAMPLE / "hooks")
    engine = await build_engine(settings(), schema, None, hooks)  # type: ignore[arg-type]  # jobs: never called
    sdl = served_sdl(schema, hooks)
    assert sdl == engine.sdl
    assert "  enqueueJob(" in sdl and "  createDeal(data: DealCreateInput!): Deal!\n" in sdl
    assert sdl.endswith('extend type Query {\n  "The value of the deals the caller may read, per stage (one stage '
                        'with `stage`)."\n  pipelineTotals(stage: String): JSON\n}\n')


async def test_custom_fields_on_typed_types_and_no_hooks_or_models(tmp_path: Path) -> None:
    schema = load_schema(SAMPLE / "schema.ts")
    hooks = hooks_of(tmp_path, CUSTOM)
    assert served_sdl(schema, hooks) == (await build_engine(settings(), schema, None, hooks)).sdl  # type: ignore[arg-type]
    assert '  "Moves a deal to won or lost."\n  closeDeal(id: ID!, stage: DealStage!): Deal!\n' in served_sdl(schema, hooks)
    empty = parse_schema("export const schema = { models: {} }\nexport default schema\n")
    assert served_sdl(empty) == (await build_engine(settings(), empty, None)).sdl  # type: ignore[arg-type]
    assert served_sdl(schema) == served_sdl(schema, HookSet()) == (await build_engine(settings(), schema, None)).sdl  # type: ignore[arg-type]


@pytest.mark.parametrize(("source", "message"), [
    ('@query("deals", returns="JSON")\nasync def f(args, ctx):\n    return 1\n', "Query.deals already exists"),
    ('@query("x", returns="Nope")\nasync def f(args, ctx):\n    return 1\n', "unknown type 'Nope'"),
])
async def test_a_custom_field_the_server_refuses_is_refused(tmp_path: Path, source: str, message: str) -> None:
    hooks = hooks_of(tmp_path, "from atomo.hooks import query\n\n\n" + source)
    schema = load_schema(SAMPLE / "schema.ts")
    with pytest.raises(ConfigError, match=message) as served:
        served_sdl(schema, hooks)
    with pytest.raises(ConfigError) as built:
        await build_engine(settings(), schema, None, hooks)  # type: ignore[arg-type]
    assert served.value.message == built.value.message


PROBE = """
import json, sys
from pathlib import Path
from atomo.codegen import generate_files
from atomo.schema import load_schema
files = generate_files(load_schema(Path(sys.argv[1])))
print(json.dumps({"tartiflette": "tartiflette" in sys.modules, "typed": "createDeal" in files["schema.graphql"]}))
"""


def test_codegen_without_custom_fields_imports_no_tartiflette() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(SAMPLE / "schema.ts")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"tartiflette": False, "typed": True}
