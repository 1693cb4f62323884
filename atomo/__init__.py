"""Atomo: an event-sourced backend in one SQLite file, with an auto-generated GraphQL API."""

from typing import Any

from atomo._version import __version__
from atomo.errors import (
    AtomoError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    UnauthenticatedError,
    ValidationError,
)

__all__ = [
    "Atomo", "NewEvent", "StoredEvent", "AtomoError", "ValidationError", "UnauthenticatedError",
    "PermissionDeniedError", "NotFoundError", "ConflictError", "StorageError", "__version__",
]


def __getattr__(name: str) -> Any:
    # Imported on first use so that `import atomo.errors` (and the CLI's start-up) stays light.
    if name == "Atomo":
        from atomo.library import Atomo
        return Atomo
    if name in ("NewEvent", "StoredEvent"):
        from atomo.storage import events
        return getattr(events, name)
    raise AttributeError(name)
