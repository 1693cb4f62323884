"""Shared fixtures: an Atomo project in a temporary folder, opened in-process."""

from __future__ import annotations

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


@pytest.fixture
async def app(project: Path) -> AsyncIterator[Atomo]:
    async with Atomo(project, settings=settings()) as opened:
        yield opened


@pytest.fixture
async def crm(app: Atomo) -> Atomo:
    """The CRM sample with its seed records."""
    await app.runtime.seed_file(SAMPLE / "seed.json")
    return app
