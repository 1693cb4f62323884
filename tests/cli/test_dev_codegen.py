"""`atomo dev` writes the same generated/ files as `atomo codegen` (one function, ``generate_files``): at start (the
crm template's schema and hooks) and after a reload that adds a hook's custom field and a schema field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import atomo_process, new_project
from tests.cli.test_dev import DEAL_FIELD, Dev

HOOK = '''from atomo.hooks import query


@query("stageCount", args="stage: DealStage!", returns="Int!")
async def stage_count(args, ctx):
    """How many deals are at this stage."""
    return await ctx.data.count("Deal", where={"stage": args["stage"]})
'''


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    process = Dev(new_project(tmp_path))
    try:
        process.wait_for(process.healthy, "/health")
        yield process
    finally:
        process.stop()


def same_as_codegen(dev: Dev) -> str:
    """What `atomo codegen -o` writes equals what `atomo dev` wrote; returns the schema.graphql text."""
    other = dev.project.parent / "codegen-out"
    run = atomo_process("--project", str(dev.project), "codegen", "-o", str(other), cwd=dev.project)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("schema.graphql", "atomo.ts"):
        assert (dev.project / "generated" / name).read_text() == (other / name).read_text(), name
    return (other / "schema.graphql").read_text()


def test_dev_writes_what_codegen_writes(dev: Dev) -> None:
    sdl = same_as_codegen(dev)
    assert "pipelineTotals(stage: String): JSON" in sdl and "createDeal(data: DealCreateInput!): Deal!" in sdl

    (dev.project / "hooks" / "stages.py").write_text(HOOK)
    dev.wait_for(lambda: "hooks reloaded" in dev.stdout, "the hooks reload")
    dev.wait_for(lambda: "stageCount" in (dev.project / "generated" / "schema.graphql").read_text(), "codegen")
    assert '  "How many deals are at this stage."\n  stageCount(stage: DealStage!): Int!\n' in same_as_codegen(dev)

    schema = dev.project / "schema.ts"
    schema.write_text(schema.read_text().replace(DEAL_FIELD, DEAL_FIELD + "\n  priority?: number", 1))
    dev.wait_for(lambda: dev.stdout.count("reloaded in") == 2, "the schema reload")
    sdl = same_as_codegen(dev)
    assert "  priority: Float\n" in sdl and "stageCount" in sdl
    assert "  priority?: number | null\n" in (dev.project / "generated" / "atomo.ts").read_text()
    assert dev.stop() == 0
