"""The offline queue of `@atomo-cc/client` (sdk/client-ts/test/offline.test.mjs) against a real server that the
Node test starts, kills with SIGKILL and restarts itself on a temporary copy of the sample CRM project:
persistence across an app restart, FIFO replay exactly once (Idempotency-Key), kill -9 while draining,
conflicts, rejections, dependent items, backoff and the failed list, the 401 pause."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, free_port, server_env
from tests.sdk.conftest import crm_project, run_node_tests


def test_offline_queue_against_a_server_that_goes_down(built_sdk: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    project = crm_project(tmp_path_factory.mktemp("offline"))
    env = server_env(TEST_PYTHON=sys.executable, TEST_PROJECT=str(project), TEST_PORT=str(free_port()),
                     ATOMO_ADMIN_EMAIL=ADMIN_EMAIL, ATOMO_ADMIN_PASSWORD=ADMIN_PASSWORD)
    run_node_tests(built_sdk, "test/offline.test.mjs", env, expected_pass=7, timeout=600)
