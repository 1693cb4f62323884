"""The TypeScript worker SDK `@atomo-cc/worker-sdk` (sdk/worker-ts) against a real server: `npm install`,
`npm run build` (tsc), then its Node test-runner suite, and a TS worker running an action while a realtime
subscriber of `job:<id>` watches. Skipped only when node or npm is not installed."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, ServerProcess
from tests.jobs.kit import Api
from tests.jobs.test_workers_e2e import frames_until_finished, subscribe

SDK = ROOT / "sdk" / "worker-ts"


@pytest.fixture(scope="module")
def built_sdk() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to build and test sdk/worker-ts (not installed)")
    for command in ([npm, "install", "--no-audit", "--no-fund"], [npm, "run", "build"]):
        result = subprocess.run(command, cwd=SDK, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    assert (SDK / "dist" / "index.js").is_file() and (SDK / "dist" / "index.d.ts").is_file()
    return SDK


def test_node_test_suite_of_the_sdk(built_sdk: Path, admin: Api) -> None:
    env = {**os.environ, "ATOMO_URL": admin.base_url, "ATOMO_ADMIN_TOKEN": admin.token}
    result = subprocess.run(["npm", "test"], cwd=built_sdk, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "# fail 0" in result.stdout and "# skipped 0" in result.stdout, result.stdout


def test_a_typescript_worker_runs_an_action_with_progress_on_realtime(built_sdk: Path, admin: Api,
                                                                     jobs_server: ServerProcess) -> None:
    admin.create("Ticket", {"title": f"ts {uuid.uuid4()}", "priority": 5})
    job = admin.action_jobs("triage")[0]                  # the newest: this ticket's
    assert job["status"] == "queued"
    token = admin.worker_token(["actions"], ["crud:Ticket", "action:triage"])

    async def scenario() -> list[dict[str, Any]]:
        sock = await subscribe(jobs_server.base_url, admin.token, job["id"])
        proc = subprocess.Popen(["node", str(ROOT / "tests" / "jobs" / "ts_worker.mjs"), jobs_server.base_url, token],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            return await frames_until_finished(sock)
        finally:
            await sock.close()
            proc.terminate()
            out, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, err.decode(errors="replace")
            assert out.decode().strip() == "READY"
    frames = asyncio.run(scenario())
    payloads = [f["payload"] for f in frames]
    assert {f["from"] for f in frames} == {"system:jobs"}
    assert [p.get("status") or p["event"] for p in payloads] == ["leased", "progress", "succeeded"]
    assert payloads[1] == {"event": "progress", "jobId": job["id"], "percent": 50, "message": "triaging",
                           "data": {"attempt": 1}}
    assert payloads[2]["result"] == {"priority": 15, "by": "typescript"}
    assert admin.job(job["id"])["status"] == "succeeded"
    assert admin.action_jobs("triage")[0]["id"] == job["id"]
