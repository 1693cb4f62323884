"""The serving process's heap on glibc (Linux): one malloc arena, and boot's freed memory handed back.

Measured with ``bench/coldstart_bench.py`` (issue 13): a booted, idle ``atomo serve`` held about 17 MiB
of heap that boot had freed (schema parsing, the engine's build, migration and seeding work) but that
glibc kept. With the default arena count (8 per core) that memory sits in per-thread arenas that
``malloc_trim`` does not shrink; with one arena it is returned. Python's own small objects do not go
through malloc arenas (pymalloc), and every thread but the event loop's spends its time in SQLite:
``bench/http_bench.py --seconds 6 --concurrency 8`` gave the same ratios to PocketBase with one arena
and with glibc's default (create 1.09x both, read 1.73x and 1.62x).

The mmap threshold is fixed too. glibc raises it after a large mmap'd block is freed, and argon2's 19 MiB
working memory (one per password check) then comes from the heap and stays resident: idle RSS after the
first login was 87 MiB. With a fixed threshold that block is mmap'd and unmapped at every check.

Only ``atomo serve``/``atomo dev`` call these: a process that embeds Atomo keeps its own malloc
settings. Elsewhere (macOS, Windows, musl) both are no-ops.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3   # glibc's <malloc.h>
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1 << 20   # blocks of 1 MiB and more are mmap'd; setting it stops glibc's dynamic raise


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        return libc
    except (OSError, AttributeError):
        return None


def configure_heap(arenas: int) -> bool:
    """Before the threads start: cap glibc's malloc arenas at ``arenas`` (0: glibc's default) and fix the
    mmap threshold; whether glibc took the settings."""
    libc = _glibc()
    if libc is None:
        return False
    fixed = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return fixed and (arenas == 0 or libc.mallopt(M_ARENA_MAX, arenas) == 1)


def release_free_heap() -> bool:
    """Give the heap's free pages back to the operating system (``malloc_trim``); whether any were."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
