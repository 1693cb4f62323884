"""Every acknowledged write survives SIGKILL, and the projections still equal a rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atomo import Atomo
from tests.conftest import ROOT, settings


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_acknowledged_writes_survive_sigkill(project: Path, backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("crash_writer.py")), str(project),
                              *([url] if url else [])],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    acked: dict[str, int] = {}
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        rid, version = line.split()
        acked[rid] = max(acked.get(rid, 0), int(version))
    os.kill(child.pid, signal.SIGKILL)
    for line in child.stdout:   # acknowledgements already in the pipe count too
        parts = line.split()
        if len(parts) == 2:
            acked[parts[0]] = max(acked.get(parts[0], 0), int(parts[1]))
    child.wait()
    child.stdout.close()
    assert len(acked) > 100

    async with Atomo(project, settings=settings(database_url=url)) as app:
        rows = {r["id"]: r for r in await app.records("Company")}
        missing = [rid for rid in acked if rid not in rows]
        assert not missing, f"{len(missing)} acknowledged writes lost"
        assert all(rows[rid]["_version"] >= v for rid, v in acked.items())
        check = await app.projections.rebuild(check=True)
        assert check.differences == []
        logged = await app.runtime.db.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0])
        assert sum(m.events for m in check.models) == logged
