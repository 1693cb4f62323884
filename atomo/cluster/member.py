"""What a worker process knows of its group, from the environment its supervisor sets.

The supervisor (``atomo serve --workers N``) starts each worker with the same command line and these
variables; a process without them serves alone (``member()`` is None).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_INDEX = "ATOMO_CLUSTER_INDEX"       # this worker's index, 0..size-1 (kept by a restarted worker)
ENV_SIZE = "ATOMO_CLUSTER_SIZE"         # the number of workers
ENV_DIR = "ATOMO_CLUSTER_DIR"           # the group's private folder: relay socket, shared table, writer lock
ENV_PORT = "ATOMO_CLUSTER_PORT"         # the port every worker listens on (SO_REUSEPORT), resolved by the supervisor


@dataclass(frozen=True)
class Member:
    index: int
    size: int
    folder: Path
    port: int

    @property
    def relay_path(self) -> Path:
        return self.folder / "relay.sock"

    @property
    def table_path(self) -> Path:
        return self.folder / "shared.table"

    @property
    def lock_path(self) -> Path:
        return self.folder / "writer.lock"

    @property
    def leader(self) -> bool:
        """The worker that runs the once-per-server chores (the job reclaim sweep)."""
        return self.index == 0

    def environ(self) -> dict[str, str]:
        return {ENV_INDEX: str(self.index), ENV_SIZE: str(self.size), ENV_DIR: str(self.folder), ENV_PORT: str(self.port)}


def member(environ: Mapping[str, str] | None = None) -> Member | None:
    env = os.environ if environ is None else environ
    if ENV_INDEX not in env:
        return None
    return Member(index=int(env[ENV_INDEX]), size=int(env[ENV_SIZE]), folder=Path(env[ENV_DIR]),
                  port=int(env[ENV_PORT]))
