"""Where a project is: its folder, its schema file, its data file, or the bundled sample project."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from atomo.config import Settings
from atomo.errors import ConfigError
from atomo.schema.loader import discover_schema


def sample_dir() -> Path:
    """The bundled sample project: inside the package, or the PyInstaller bundle."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "atomo" / "sample_data"
    return Path(__file__).resolve().parent / "sample_data"


@dataclass(frozen=True)
class Project:
    dir: Path                 # the project folder (the current folder for the embedded sample)
    schema_path: Path
    data_file: Path
    is_sample: bool
    seed_file: Path | None

    @property
    def label(self) -> str:
        return "the bundled sample project (CRM)" if self.is_sample else f"project {self.dir}"


def resolve_project(settings: Settings, *, project_dir: str | Path | None = None, schema: str | None = None,
                    allow_sample: bool = True) -> Project:
    base = Path(project_dir or settings.project_dir or ".").resolve()
    path = discover_schema(base, schema, settings.schema_path)
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"schema file {path} does not exist")
        seed = base / "seed.json"
        return Project(base, path, settings.resolved_data_file(base), False, seed if seed.is_file() else None)
    if not allow_sample or settings.production:
        raise ConfigError(f"no schema.ts found in {base}")
    sample = sample_dir()
    return Project(base, sample / "schema.ts", settings.resolved_data_file(base), True, sample / "seed.json")
