"""Hooks in the standalone executable: a project's hooks/*.py are imported from disk with no Python install
(the template's hooks/deals.py, and a module using standard-library modules the executable bundles for hooks)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import new_project
from tests.cli.test_build import ExeServer, exe_env
from tests.e2e.conftest import gql_post, login

pytestmark = pytest.mark.slow

STATS = '''
import csv
import io
import statistics
import zoneinfo
from decimal import Decimal

from atomo.hooks import ValidationError, before, query


@query("dealStats", returns="JSON")
async def deal_stats(args, ctx):
    deals = await ctx.data.records("Deal", limit=100)
    values = [d["value"] for d in deals]
    out = io.StringIO()
    csv.writer(out).writerow(sorted(d["title"] for d in deals)[:2])
    return {"median": statistics.median(values), "sum": str(sum(Decimal(str(v)) for v in values)),
            "csv": out.getvalue().strip(), "zoneinfo": zoneinfo.__name__}


@before("Company", "create")
async def no_shouting(data, ctx):
    if data.get("name", "").isupper():
        raise ValidationError("no shouting", field="name", code="shouting")
'''


def test_executable_loads_project_hooks(built_executable: Path, tmp_path: Path) -> None:
    project = new_project(tmp_path, "crm", "shop")
    (project / "hooks" / "stats.py").write_text(STATS)
    seeded = subprocess.run([str(built_executable), "seed"], cwd=project, capture_output=True, text=True, timeout=120,
                            env=exe_env())
    assert seeded.returncode == 0, seeded.stderr
    server = ExeServer(built_executable, project, ["serve"], exe_env()).start()
    try:
        token = login(server.base_url)
        deal = gql_post(server.base_url, 'mutation { create(model: "Deal", data: {title: "  Binary   hooks ", '
                                         'companyId: "c-1", value: 1000}) }', token=token).json()
        assert deal["data"]["create"]["title"] == "Binary hooks", deal          # hooks/deals.py (the template)
        stats = gql_post(server.base_url, "{ dealStats pipelineTotals }", token=token).json()
        assert "errors" not in stats, stats
        assert stats["data"]["dealStats"] == {"median": 12000, "sum": "145000.5", "csv": "Binary hooks,Clinic rollout",
                                              "zoneinfo": "zoneinfo"}
        assert stats["data"]["pipelineTotals"]["totals"]["lead"] == 6000
        refused = gql_post(server.base_url, 'mutation { create(model: "Company", data: {name: "LOUD"}) }',
                           token=token).json()
        assert refused["errors"][0]["extensions"]["details"][0]["code"] == "shouting", refused
    finally:
        assert server.stop() == 0
    (project / "hooks" / "stats.py").write_text(STATS.replace("async def deal_stats(args, ctx):",
                                                              "async def deal_stats(args, ctx)"))
    check = subprocess.run([str(built_executable), "serve", "--check"], cwd=project, capture_output=True, text=True,
                           timeout=120, env=exe_env())
    assert check.returncode == 3, (check.stdout, check.stderr)
    assert check.stderr.startswith("atomo: hooks/stats.py:12: SyntaxError: expected ':'"), check.stderr
