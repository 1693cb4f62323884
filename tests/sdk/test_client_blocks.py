"""Block mutations of the TypeScript client SDK `@atomo-cc/client` (sdk/client-ts/test/blocks.test.mjs) against a
real server on the sample CRM schema (Deal.notes is a Blocks field): `blocks.insert` (end, after, position),
`update` with an `expectedRev` CONFLICT carrying `currentRev`, `move`, `remove`, `apply` (a batch, and a failing
batch naming its opIndex), `render` as Markdown and HTML, NOT_FOUND of a missing block, `atomo.model('Deal').blocks`,
the query cache taking the returned record, a second client's `modelChanges` receiving `blockOp`, and the offline
queue (a queued insert's client-side block id targeted by later queued operations; a replay after a lost answer
applied once; DEPENDENCY_FAILED after a rejected insert). Skipped only when node or npm is not installed."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import ServerProcess
from tests.sdk.conftest import node_env, run_node_tests


def test_block_mutations_of_the_client(built_sdk: Path, crm_server: ServerProcess) -> None:
    run_node_tests(built_sdk, "test/blocks.test.mjs", node_env(crm_server), expected_pass=9)
