"""The GraphQL API (graphql chapter): SDL, scalars, resolvers, limits and the engine.

Importing this package is cheap (``atomo.graphql.sdl`` needs no GraphQL library); the engine
classes are loaded on first use. tartiflette (through lark) imports the deprecated ``sre_parse``
module, so every module that needs tartiflette calls ``import_tartiflette()`` first: the import then
happens with that DeprecationWarning silenced and warnings-as-errors runs are not tripped by it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atomo.graphql.engine import ExecutionOutcome, GraphQLEngine, SchemaExtension

__all__ = ["ExecutionOutcome", "GraphQLEngine", "SchemaExtension", "import_tartiflette"]


def import_tartiflette() -> None:
    """Import tartiflette once, without its DeprecationWarning about ``sre_parse``."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import tartiflette  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in ("ExecutionOutcome", "GraphQLEngine", "SchemaExtension"):
        from atomo.graphql import engine
        return getattr(engine, name)
    raise AttributeError(f"module 'atomo.graphql' has no attribute {name!r}")
