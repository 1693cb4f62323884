"""The React hooks of `@atomo-cc/client/react` (sdk/client-ts/test/react.test.mjs): React 18 rendered in
happy-dom against a real server on the sample CRM schema — loading then data, errors, live updates from another
client, optimistic mutations with rollback, one request for two components, one shared subscription per model,
no fetching during SSR. Skipped only when node or npm is not installed."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import ServerProcess
from tests.sdk.conftest import node_env, run_node_tests


def test_react_hooks(built_sdk: Path, crm_server: ServerProcess) -> None:
    run_node_tests(built_sdk, "test/react.test.mjs", node_env(crm_server), expected_pass=6)
