"""The serving process's heap on glibc (Linux): one malloc arena, and boot's freed memory handed back.

Measured with ``bench/coldstart_bench.py`` (issue 13): a booted, idle ``atomo serve`` held about 17 MiB
of heap that boot had freed (schema parsing, the engine's build, migration and seeding work) but that
glibc kept. With the default arena count (8 per core) that memory sits in per-thread arenas that
``malloc_trim`` does not shrink; with one arena it is returned. Python's own small objects do not go
through malloc arenas (pymalloc), and every thread but the event loop's spends its time in SQLite, so
one arena costs no measured throughput (``bench/http_bench.py``, figures in the issue note).

Only ``atomo serve``/``atomo dev`` call these: a process that embeds Atomo keeps its own malloc
settings. Elsewhere (macOS, Windows, musl) both are no-ops.
"""

from __future__ import annotations

import ctypes
import sys

M_ARENA_MAX = -8   # glibc's <malloc.h>


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        return libc
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas at ``count`` (before the threads start); whether it took effect."""
    libc = _glibc()
    return bool(libc is not None and count > 0 and libc.mallopt(M_ARENA_MAX, count) == 1)


def release_free_heap() -> bool:
    """Give the heap's free pages back to the operating system (``malloc_trim``); whether any were."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
