"""The SDL: a golden file, and agreement with the spec's §2 block and with the engine's introspection.

Regenerate the golden file with ``ATOMO_UPDATE_GOLDEN=1 python -m pytest tests/graphql/test_sdl.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from graphql import build_client_schema, build_schema, get_introspection_query, lexicographic_sort_schema, print_schema

from atomo.graphql.engine import GraphQLEngine, SchemaExtension
from atomo.graphql.sdl import BASE_SDL, full_sdl
from tests.graphql.conftest import Runner

GOLDEN = Path(__file__).parent / "golden" / "schema.graphql"
SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "graphql.md"


def canonical(sdl: str) -> str:
    """Printed schema, sorted, descriptions dropped: two SDLs that mean the same compare equal."""
    text = print_schema(lexicographic_sort_schema(build_schema(sdl)))
    text = re.sub(r'(?m)^\s*"""[^"]*"""\n|^\s*"[^"\n]*"\n', "", text)
    return "\n".join(line for line in text.splitlines() if line.strip())


async def test_sdl_matches_the_golden_file(engine: GraphQLEngine) -> None:
    if os.environ.get("ATOMO_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(engine.sdl, encoding="utf-8")
    assert GOLDEN.exists(), "run with ATOMO_UPDATE_GOLDEN=1 to create the golden file"
    assert engine.sdl == GOLDEN.read_text(encoding="utf-8")
    assert engine.sdl == full_sdl() and engine.sdl.startswith(BASE_SDL)


@pytest.mark.skipif(not SPEC.exists(), reason="the shared spec is not beside the repository")
def test_sdl_means_what_the_spec_says() -> None:
    block = re.search(r"## 2\. Schema\s+```graphql\n(.*?)```", SPEC.read_text(encoding="utf-8"), re.S)
    assert block is not None
    assert canonical(BASE_SDL) == canonical(block.group(1))


async def test_introspection_agrees_with_the_sdl(gql: Runner) -> None:
    data = (await gql.data(get_introspection_query(descriptions=False)))
    served = print_schema(lexicographic_sort_schema(build_client_schema(data)))
    assert canonical(served) == canonical(gql.engine.sdl)


async def test_extensions_are_appended_in_order() -> None:
    async def ping(parent: object, args: dict, ctx: object, info: object) -> str:
        return "pong"
    extensions = [SchemaExtension("extend type Query { ping: String! }", {"Query.ping": ping}),
                  SchemaExtension("extend type Mutation { noop: Int }")]
    from atomo.config import load_settings
    engine = await GraphQLEngine.build(None, load_settings({}), extensions=extensions)
    assert engine.sdl == BASE_SDL + "\nextend type Query { ping: String! }\n\nextend type Mutation { noop: Int }\n"
    outcome = await engine.execute("{ ping }", None, None, service=None, caller=None)  # type: ignore[arg-type]
    assert outcome.body == {"data": {"ping": "pong"}}
