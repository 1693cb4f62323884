"""A jobs server shared by the e2e modules of this folder (reclaim sweep every second)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.authkit import PASSWORD
from tests.e2e.conftest import ServerProcess
from tests.jobs.kit import USERS, Api, make_project, start


@pytest.fixture(scope="session")
def jobs_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("jobs-shared")
    return folder, make_project(folder)


@pytest.fixture(scope="session")
def jobs_server(jobs_folder: tuple[Path, dict[str, str]]) -> Iterator[ServerProcess]:
    process = start(jobs_folder[0])
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def user_ids(jobs_folder: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return jobs_folder[1]


@pytest.fixture(scope="session")
def admin(jobs_server: ServerProcess) -> Iterator[Api]:
    api = Api(jobs_server.base_url)
    yield api
    api.close()


@pytest.fixture(scope="session")
def users(jobs_server: ServerProcess) -> Iterator[dict[str, Api]]:
    """Logged-in clients of the project's users: alice, bob (sales), carol (sales, acme), root (admin, acme)."""
    apis = {name: Api(jobs_server.base_url, email, PASSWORD) for name, (email, _, _) in USERS.items()}
    yield apis
    for api in apis.values():
        api.close()
