"""The event store of the TypeScript client SDK `@atomo-cc/client` (sdk/client-ts/test/events.test.mjs) against a real
server on the sample CRM schema plus stream rules (`order-*`: appended by sales and admins, read by anyone signed in;
`audit-*`: admins only) with self-registration on (role `viewer`): `events.append` with `expectedVersion` 0 then
CONFLICT carrying `details.currentVersion`, `readStream` in version order with `fromVersion`/`limit`, metadata
round trip, record streams read-only, `streams` with `prefix`/`after`/`limit`, the global log still callable as
`events(...)`, and a viewer and an anonymous client refused by the rules. Skipped only when node or npm is not
installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ServerProcess, server_env
from tests.sdk.conftest import crm_project, node_env, run_node_tests

STREAM_RULES = """  streams: {
    'order-*': { append: 'sales|admin', read: 'authenticated' },
    'audit-*': { append: 'admin', read: 'admin' },
  },
"""


@pytest.fixture(scope="module")
def events_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = crm_project(tmp_path_factory.mktemp("client-ts-events"))
    schema = project / "schema.ts"
    text = schema.read_text()
    assert text.count("export const schema = {\n") == 1
    schema.write_text(text.replace("export const schema = {\n", "export const schema = {\n" + STREAM_RULES))
    process = ServerProcess(project, env=server_env(ATOMO_ENABLE_SELF_REGISTRATION="1")).start()
    try:
        yield process
    finally:
        process.stop()


def test_event_store_of_the_client(built_sdk: Path, events_server: ServerProcess) -> None:
    run_node_tests(built_sdk, "test/events.test.mjs", node_env(events_server), expected_pass=6)
