"""graphql-http's own server audit (the GraphQL-over-HTTP spec's reference tests, npm `graphql-http`) run
by Node against the real server, the typed API included: every audit passes, warnings included."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.nodekit import node_script


def test_graphql_http_server_audit_passes_completely(base_url: str, admin_token: str) -> None:
    script = node_script("audit.mjs", "graphql-http")
    result = subprocess.run(["node", str(script), base_url + "/graphql", admin_token], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    audits = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    failed = [a for a in audits if a["status"] != "ok"]
    assert len(audits) >= 61 and not failed, failed
