"""`modelChanges` over /graphql/ws and the query cache of `@atomo-cc/client` (sdk/client-ts/test/cache.test.mjs)
against a real server on the sample CRM schema: events with positions, resume with `after` across a dropped
socket, two clients keeping each other's cached queries current, gc, coalesced refetches, request dedupe,
local and optimistic writes, clearing on tenant change and logout, and the BENCH latency line of a cached list
update after a remote write. Skipped only when node or npm is not installed."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import ServerProcess
from tests.sdk.conftest import node_env, run_node_tests


def test_cache_and_model_changes(built_sdk: Path, crm_server: ServerProcess) -> None:
    stdout = run_node_tests(built_sdk, "test/cache.test.mjs", node_env(crm_server), expected_pass=10)
    bench = [line.lstrip("# ") for line in stdout.splitlines() if line.lstrip("# ").startswith("BENCH ")]
    assert len(bench) == 2, stdout
    print("\n" + "\n".join(bench))
