"""Shared fixtures: an Atomo project in a temporary folder, opened in-process."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atomo import Atomo
from atomo.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample-data"


def make_project(tmp_path: Path, schema_text: str | None = None) -> Path:
    project = tmp_path / "project"
    project.mkdir(parents=True)
    if schema_text is None:
        shutil.copy(SAMPLE / "schema.ts", project / "schema.ts")
    else:
        (project / "schema.ts").write_text(schema_text)
    return project


def settings(**overrides: object):  # noqa: ANN201
    return load_settings({}, **overrides)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


# The library tests of these folders are the backend contract (issue 21): each test that uses ``app`` (or
# ``backend_settings``) runs on the SQLite file and on a fresh schema of the test run's PostgreSQL (skipped where
# PostgreSQL is not installed).
CONTRACT_FOLDERS = ("data", "content", "graphql", "jobs", "auth", "subscriptions", "hooks")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = Path(str(metafunc.definition.path)).resolve()
    if "backend" in metafunc.fixturenames and path.parent.parent == ROOT / "tests" and \
            path.parent.name in CONTRACT_FOLDERS:
        metafunc.parametrize("backend", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The storage backend of ``app``: "sqlite", unless the test is parametrised (``CONTRACT_FOLDERS``) or
    ``ATOMO_TEST_BACKEND=postgres`` runs every library test there."""
    return getattr(request, "param", None) or os.environ.get("ATOMO_TEST_BACKEND", "sqlite")


@pytest.fixture
def backend_settings(backend: str, request: pytest.FixtureRequest):  # noqa: ANN201
    """``settings()`` on ``backend`` (a fresh PostgreSQL schema for "postgres"), for tests that open Atomo themselves."""
    return settings(database_url=request.getfixturevalue("postgres_url") if backend == "postgres" else None)


@pytest.fixture
async def app(project: Path, backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Atomo]:
    """The sample project opened in-process, on ``backend``."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    async with Atomo(project, settings=settings(database_url=url)) as opened:
        yield opened


@pytest.fixture
async def crm(app: Atomo) -> Atomo:
    """The CRM sample with its seed records."""
    await app.runtime.seed_file(SAMPLE / "seed.json")
    return app


# -- PostgreSQL (issue 21): one throwaway server per test run, a fresh schema per test ---------------------------
@contextlib.contextmanager
def own_postgres():  # noqa: ANN201
    """A real PostgreSQL (``atomo.testing.postgres``) for the block; skips the test where PostgreSQL or psycopg is
    not installed (``.ci/run`` installs both). Tests that restart their server use one of their own."""
    pytest.importorskip("psycopg")
    from atomo.testing.postgres import PostgresUnavailable, TemporaryPostgres
    try:
        server = TemporaryPostgres().start()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server():  # noqa: ANN201
    """The test run's PostgreSQL, started on first use (``own_postgres``)."""
    with own_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server, request: pytest.FixtureRequest) -> str:  # noqa: ANN001
    """The URL of a new, empty schema on the test run's PostgreSQL (its ``search_path``)."""
    return new_postgres_schema(postgres_server, request.node.name)


def new_postgres_schema(server, name: str) -> str:  # noqa: ANN001
    """A new, empty schema on ``server`` named after ``name``; the URL that uses it (its ``search_path``)."""
    import re
    import uuid

    import psycopg
    schema = "t_" + re.sub(r"[^a-z0-9]", "_", name.lower())[:40] + "_" + uuid.uuid4().hex[:8]
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{server.url}?options=-csearch_path%3D{schema}"


def postgres_schema_connection(server, schema: str):  # noqa: ANN001, ANN201
    """A ``PgConnection`` to ``server`` whose ``search_path`` is ``schema`` (made if missing), with
    ``atomo_fold``: for module-scoped fixtures that share one connection."""
    from atomo.storage.pg_database import connect
    from atomo.storage.pg_fold import fold_function_ddl
    connection = connect(server.url)
    connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    connection.execute(f'SET search_path TO "{schema}"')
    connection.execute(fold_function_ddl())
    return connection
