"""What every command gets from the `atomo` group: the global options, and the settings they make.

Command modules import ``CliContext`` from here, never ``atomo.cli.main`` (which registers them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atomo.config import Settings, load_settings


@dataclass
class CliContext:
    project: str | None
    env_file: str | None
    data_file: str | None
    no_progress: bool
    debug: bool
    adopt_existing: bool = False
    no_integrity_check: bool = False

    def settings(self, **overrides: Any) -> Settings:
        project = Path(self.project or ".")
        env_file = Path(self.env_file) if self.env_file else project / ".env"
        if self.adopt_existing:
            overrides.setdefault("adopt_existing", True)
        if self.no_integrity_check:
            overrides.setdefault("integrity_check", False)
        settings = load_settings(env_file=env_file, data_file=self.data_file, **overrides)
        settings = settings.with_(project_dir=str(project.resolve()))
        if self.no_progress:
            settings = settings.with_(no_progress=True)
        return settings
