"""The GraphQL API (graphql chapter): SDL, scalars, resolvers, limits and the engine.

Importing this package is cheap (``atomo.graphql.sdl`` needs no GraphQL library); the engine
classes are loaded on first use. tartiflette (through lark) imports the deprecated ``sre_parse``
module, so every module that needs tartiflette calls ``import_tartiflette()`` first: the import then
happens with that DeprecationWarning silenced and warnings-as-errors runs are not tripped by it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atomo.graphql.engine import ExecutionOutcome, GraphQLEngine, SchemaExtension

__all__ = ["ExecutionOutcome", "GraphQLEngine", "SchemaExtension", "import_tartiflette"]


def import_tartiflette(grammar_cache: tuple[Path, bool] | None = None) -> None:
    """Import tartiflette once, without its DeprecationWarning about ``sre_parse``, its SDL parser tables
    read from ``grammar_cache`` (default: ``grammar_cache.cache_file()``, see there)."""
    if "tartiflette" in sys.modules:
        return
    from atomo.graphql.grammar_cache import cache_file, cached_lark
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with cached_lark(grammar_cache or cache_file()):
            import tartiflette  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in ("ExecutionOutcome", "GraphQLEngine", "SchemaExtension"):
        from atomo.graphql import engine
        return getattr(engine, name)
    raise AttributeError(f"module 'atomo.graphql' has no attribute {name!r}")
