"""The SDL a server serves for a project, without building an engine: what ``atomo codegen`` and ``atomo dev``
write to ``generated/schema.graphql``.

``served_sdl(schema, hooks)`` joins the parts ``build_engine`` (``atomo/http/services.py``) gives the engine, in
its order: the model-generic SDL, ``enqueueJob`` (jobs chapter §5), the block mutations and
``renderBlocks`` (content chapter §3, §6), the event store (``appendEvents``, ``stream``,
``streams``), the typed per-model API of ``schema`` and the
custom ``@query``/``@mutation`` fields of the project's hooks. The custom fields are checked as at boot (a
``ConfigError`` naming the hook), with tartiflette's SDL parser: only then is tartiflette imported.
``tests/graphql/test_served_sdl.py`` holds the text equal to the engine's.
"""

from __future__ import annotations

from atomo.graphql.sdl import CONTENT_SDL, ENQUEUE_SDL, STREAMS_SDL, full_sdl
from atomo.graphql.typed_sdl import typed_sdl
from atomo.hooks.registry import HookSet
from atomo.schema.model import Schema


def served_sdl(schema: Schema, hooks: HookSet | None = None) -> str:
    """The full SDL served for ``schema`` with ``hooks`` (byte for byte the engine's ``sdl``)."""
    extensions = [ENQUEUE_SDL, CONTENT_SDL, STREAMS_SDL, typed_sdl(schema)]
    fields = hooks.fields if hooks is not None else []
    if fields:
        from atomo.graphql.custom_fields import custom_fields_sdl  # tartiflette parses and checks them
        extensions.append(custom_fields_sdl(fields, extensions))
    return full_sdl(extensions)
