"""glibc heap settings of `atomo serve`/`atomo dev` (atomo/process_memory.py), in a fresh interpreter."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
from atomo.process_memory import configure_heap, release_free_heap
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
assert configure_heap(1)
start = rss()
for _ in range(3):                         # argon2's working memory: 19 MiB per password check
    big = bytearray(20 << 20)
    del big
big_kept = rss() - start
blocks = [bytearray(4096) for _ in range(50_000)]   # ~200 MB of malloc'd (not pymalloc) blocks
keep = blocks[-1]
peak = rss()
del blocks
release_free_heap()
print(peak - rss(), big_kept)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_heap_goes_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    returned, big_kept = map(int, out.stdout.split())
    assert returned > 150_000                    # kB returned by release_free_heap
    assert big_kept < 5_000                      # large blocks are not kept after free (was ~20 MB)
