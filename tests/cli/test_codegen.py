"""`atomo codegen`: golden files, updated/unchanged reports, --check, schemaHash = SHA-256 of the /meta/schema body,
and a `tsc --strict` check of the generated atomo.ts (the typed API's operation types included).

The golden files are what the real `atomo codegen` (a subprocess) writes for the bundled sample (`crm`: its schema.ts
and hooks/, so schema.graphql holds the generic and typed API, enqueueJob and the hook's pipelineTotals) and for
golden/actions/schema.ts. Regenerate them with
``ATOMO_UPDATE_GOLDEN=1 python -m pytest -p no:cacheprovider tests/cli/test_codegen.py -k golden``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from atomo.codegen.meta import meta_schema, meta_schema_bytes, schema_hash
from atomo.schema import load_schema
from tests.cli.conftest import SAMPLE, atomo, atomo_process

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = {"crm": SAMPLE / "schema.ts", "actions": GOLDEN / "actions" / "schema.ts"}


def project_with(tmp_path: Path, schema: Path) -> Path:
    """A project folder with ``schema`` as its schema.ts, and the hooks/ beside it if there are any."""
    project = tmp_path / "proj"
    project.mkdir(parents=True)
    shutil.copy(schema, project / "schema.ts")
    if (schema.parent / "hooks").is_dir():
        shutil.copytree(schema.parent / "hooks", project / "hooks", ignore=shutil.ignore_patterns("__pycache__"))
    return project


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_files(tmp_path: Path, case: str) -> None:
    project = project_with(tmp_path, CASES[case])
    result = atomo_process("--project", str(project), "codegen", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "updated generated/schema.graphql\nupdated generated/atomo.ts\n"
    for name in ("schema.graphql", "atomo.ts"):
        produced = (project / "generated" / name).read_text()
        golden = GOLDEN / case / name
        if os.environ.get("ATOMO_UPDATE_GOLDEN") == "1":
            golden.write_text(produced)
        assert golden.is_file(), f"missing {golden}: run with ATOMO_UPDATE_GOLDEN=1"
        assert produced == golden.read_text(), f"{case}/{name} differs (ATOMO_UPDATE_GOLDEN=1 updates it)"


def test_unchanged_files_are_not_rewritten_and_check(tmp_path: Path) -> None:
    project = project_with(tmp_path, SAMPLE / "schema.ts")
    stale = atomo("--project", str(project), "codegen", "--check", cwd=project)
    assert stale.exit_code == 1
    assert stale.stdout == "would update generated/schema.graphql\nwould update generated/atomo.ts\n"
    assert not (project / "generated").exists()
    assert atomo("--project", str(project), "codegen", cwd=project).exit_code == 0
    ts = project / "generated" / "atomo.ts"
    before = ts.stat().st_mtime_ns
    again = atomo("--project", str(project), "codegen", cwd=project)
    assert again.stdout == "unchanged generated/schema.graphql\nunchanged generated/atomo.ts\n"
    assert ts.stat().st_mtime_ns == before
    assert atomo("--project", str(project), "codegen", "--check", cwd=project).exit_code == 0
    schema = project / "schema.ts"
    schema.write_text(schema.read_text().replace("phone: 'max:40'", "phone: 'max:41'"))   # schemaHash only
    check = atomo("--project", str(project), "codegen", "--check", cwd=project)
    assert check.exit_code == 1
    assert check.stdout == "unchanged generated/schema.graphql\nwould update generated/atomo.ts\n"
    schema.write_text(schema.read_text().replace("  website?: string;", "  website?: string; rating?: number;"))
    check = atomo("--project", str(project), "codegen", "--check", cwd=project)
    assert check.stdout == "would update generated/schema.graphql\nwould update generated/atomo.ts\n"
    out = tmp_path / "elsewhere"
    assert atomo("--project", str(project), "codegen", "-o", str(out), cwd=project).exit_code == 0
    assert "rating: number | null" in (out / "atomo.ts").read_text()
    assert "  rating: Float\n" in (out / "schema.graphql").read_text()


def test_codegen_needs_a_project_and_a_valid_schema(tmp_path: Path) -> None:
    result = atomo("codegen", cwd=tmp_path)
    assert result.exit_code == 1 and "codegen needs a project" in result.stderr
    (tmp_path / "schema.ts").write_text("export interface A { id: string; x: ??? }\n")
    assert atomo("codegen", cwd=tmp_path).exit_code == 4


def test_codegen_refuses_hooks_the_server_refuses(tmp_path: Path) -> None:
    project = project_with(tmp_path, SAMPLE / "schema.ts")
    (project / "hooks" / "bad.py").write_text('from atomo.hooks import query\n\n\n@query("deals", returns="JSON")\n'
                                              "async def deals(args, ctx):\n    return 1\n")
    clash = atomo("--project", str(project), "codegen", cwd=project)
    assert clash.exit_code == 3, clash.output
    assert "hooks/bad.py:4: @query('deals')" in clash.stderr and "Query.deals already exists" in clash.stderr
    (project / "hooks" / "bad.py").write_text('from atomo.hooks import before\n\n\n@before("Dael", "create")\n'
                                              "async def f(data, ctx):\n    return data\n")
    typo = atomo("--project", str(project), "codegen", cwd=project)
    assert typo.exit_code == 3 and "the schema has no model 'Dael'" in typo.stderr, typo.output
    (project / "hooks" / "bad.py").write_text("import nowhere\n")
    broken = atomo("--project", str(project), "codegen", cwd=project)
    assert broken.exit_code == 3 and "hooks/bad.py:1: ModuleNotFoundError" in broken.stderr, broken.output
    assert not (project / "generated").exists()


def test_schema_hash_is_the_meta_schema_etag() -> None:
    schema = load_schema(SAMPLE / "schema.ts")
    body = meta_schema_bytes(schema)
    assert schema_hash(schema) == hashlib.sha256(body).hexdigest()
    assert json.loads(body) == meta_schema(schema)
    assert f"export const schemaHash = '{schema_hash(schema)}'" in (GOLDEN / "crm" / "atomo.ts").read_text()
    deal = next(m for m in json.loads(body)["models"] if m["name"] == "Deal")
    fields = {f["name"]: f for f in deal["fields"]}
    assert fields["id"] == {"name": "id", "column": "id", "type": "text", "required": True, "unique": True}
    assert fields["stage"] == {"name": "stage", "column": "stage", "type": "select", "required": False,
                               "default": "lead", "options": ["lead", "qualified", "proposal", "won", "lost"],
                               "index": True, "validation": "in:lead,qualified,proposal,won,lost"}
    assert fields["companyId"]["type"] == "relation" and fields["companyId"]["target"] == "Company"
    assert [f["name"] for f in deal["fields"] if f.get("system")] == ["createdAt", "updatedAt", "deletedAt",
                                                                       "tenantId", "_version"]
    assert deal["access"] == {"create": "sales|manager|admin", "read": "authenticated",
                              "update": "manager|admin|owner(ownerId)", "delete": "admin"}
    assert deal["events"]["updated"][0] == {"action": "scoreDeal",
                                            "condition": {"changedAny": ["value", "stage", "probability"]}}
    assert deal["relationships"]["company"] == {"type": "belongsTo", "model": "Company", "foreignKey": "companyId"}


USAGE_TS = """\
import type { AtomoTypes, ActionHandlers, DealCreate, Deal, ModelEventMap, SendQuoteInput } from './atomo'
import { schemaHash } from './atomo'

const create: DealCreate = { title: 'Pilot', accountId: 'a-1', stage: 'won', notes: [{ type: 'paragraph', text: 'x' }] }
// @ts-expect-error: stage must be one of the options
const wrong: DealCreate = { title: 'Pilot', accountId: 'a-1', stage: 'maybe' }
const update: AtomoTypes['update']['Deal'] = { value: 3 }
function onEvent(e: ModelEventMap['Deal']): string {
  return e.eventType === 'RESTORED' ? e.data.id : e.data.title
}
const handlers: ActionHandlers = {
  scoreDeal: (payload) => { const v: number = payload.input.value; return v },
  sendQuote: async (payload) => { const input: SendQuoteInput = payload.input; return { url: input.email } },
}
const deal: Deal | null = null
export { create, wrong, update, onEvent, handlers, deal, schemaHash }
"""


# the typed API's operation types, on the bundled sample (Deal.stage is the enum DealStage)
TYPED_USAGE_TS = """\
import type { Deal, DealStage, TypedMutations, TypedQueries, TypedSubscriptions } from './atomo'

const won: TypedQueries['deals']['args'] = {
  where: { stage: { in: ['won'] }, OR: [{ value: { gte: 1000 } }, { title: { contains: 'pilot', mode: 'insensitive' } }] },
  orderBy: [{ closeDate: 'desc' }, { createdAt: 'asc' }],
  limit: 10,
}
// @ts-expect-error: 'maybe' is not a DealStage
const wrongStage: TypedQueries['deals']['args'] = { where: { stage: { in: ['maybe'] } } }
// @ts-expect-error: orderBy takes asc or desc
const wrongOrder: TypedQueries['contacts']['args'] = { orderBy: [{ lastName: 'up' }] }
// @ts-expect-error: a JSON field is not sortable
const jsonOrder: TypedQueries['contacts']['args'] = { orderBy: [{ tags: 'asc' }] }
const create: TypedMutations['createDeal']['args'] = {
  data: { title: 'Pilot', companyId: 'c-1', stage: 'won', currency: 'EUR', notes: [{ type: 'paragraph', text: 'x' }] },
}
// @ts-expect-error: title and companyId are required on create
const incomplete: TypedMutations['createDeal']['args'] = { data: { value: 3 } }
const update: TypedMutations['updateDeal']['args'] = {
  id: 'd-1', data: { stage: 'lost', probability: null }, expectedVersion: 2,
}
const one: TypedQueries['deal']['result'] = null
function companyNames(page: TypedQueries['dealsPage']['result']): (string | undefined)[] {
  return page.data.map((deal) => deal.company?.name)
}
function dealsOf(company: TypedQueries['company']['result']): Deal[] { return company?.deals ?? [] }
function stageOf(event: TypedSubscriptions['dealChanges']['result']): DealStage | null {
  return event.eventType === 'DELETED' ? null : event.data.stage
}
const counted: TypedQueries['contactsCount']['result'] = 3
const deleted: TypedMutations['deleteContact']['result'] = 1
export { won, wrongStage, wrongOrder, jsonOrder, create, incomplete, update, one, companyNames, dealsOf, stageOf, counted,
  deleted }
"""


@pytest.fixture(scope="session")
def tsc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not available: the generated TypeScript is not type-checked")
    folder = tmp_path_factory.mktemp("typescript")
    run = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "typescript@5"], cwd=folder,
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        pytest.skip(f"npm install typescript failed (no registry?): {run.stderr.strip()[-300:]}")
    return folder / "node_modules" / ".bin" / "tsc"


def test_generated_typescript_type_checks(tmp_path: Path, tsc: Path) -> None:
    project = project_with(tmp_path, CASES["actions"])
    assert atomo("--project", str(project), "codegen", cwd=project).exit_code == 0
    crm = project_with(tmp_path / "crm", CASES["crm"])
    assert atomo("--project", str(crm), "codegen", cwd=crm).exit_code == 0
    (project / "generated" / "usage.ts").write_text(USAGE_TS)
    (crm / "generated" / "typed.ts").write_text(TYPED_USAGE_TS)
    files = [str(project / "generated" / "usage.ts"), str(crm / "generated" / "typed.ts")]
    run = subprocess.run([str(tsc), "--noEmit", "--strict", "--target", "es2020", "--moduleResolution", "node",
                          *files], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
