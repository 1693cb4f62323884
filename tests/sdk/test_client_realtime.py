"""`atomo.realtime`, `atomo.actions` and `atomo.jobs` of the TypeScript client SDK `@atomo-cc/client` against a real
server: the Node suite test/realtime.test.mjs (realtime token in the URL, presence and publish between two users,
lazy connect with queued frames, reconnect with re-subscribe, unsubscribe, logout, sessions, error frames; action
invocation with wait and Idempotency-Key, jobs.get/cancel, job:<id> frames while a worker completes the job over
the HTTP lease API). The sample CRM schema declares no callable action, so this server's copy adds two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ServerProcess, server_env
from tests.sdk.conftest import crm_project, node_env, run_node_tests

CALLABLE_ACTIONS = """  actions: {
    sendQuote: { input: { object: { dealId: 'string', email: 'string', note: 'string?' } }, returns: { url: 'string' } },
    renderReport: { input: { object: { title: 'string' } }, returns: { url: 'string' } },
"""


@pytest.fixture(scope="module")
def realtime_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = crm_project(tmp_path_factory.mktemp("client-ts-realtime"))
    schema = project / "schema.ts"
    text = schema.read_text()
    assert text.count("  actions: {\n") == 1
    schema.write_text(text.replace("  actions: {\n", CALLABLE_ACTIONS))
    process = ServerProcess(project, env=server_env(ATOMO_ENABLE_SELF_REGISTRATION="1")).start()
    try:
        yield process
    finally:
        process.stop()


def test_node_test_suite_of_realtime_actions_and_jobs(built_sdk: Path, realtime_server: ServerProcess) -> None:
    run_node_tests(built_sdk, "test/realtime.test.mjs", node_env(realtime_server), expected_pass=14)
