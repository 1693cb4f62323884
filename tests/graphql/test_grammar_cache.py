"""The cache of tartiflette's SDL parser tables (atomo/graphql/grammar_cache.py), in fresh processes.

Each case imports tartiflette in a new interpreter and reports whether lark built the tables (it
compiles the grammar) or loaded them from the cache file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from atomo.graphql.grammar_cache import BUNDLED, FILE_NAME

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
import lark.lark as L
built = []
original = L.load_grammar
L.load_grammar = lambda *a, **k: (built.append(1), original(*a, **k))[1]
if len(sys.argv) > 1:
    sys._MEIPASS = sys.argv[1]
from atomo.graphql import import_tartiflette
import_tartiflette()
from tartiflette.language.parsers.lark import parse_to_document
assert parse_to_document("type Query { a: Int }").definitions
print("built" if built else "loaded")
"""

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership checks")


def import_tartiflette(cache_home: Path, *args: str) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_built_once_then_loaded(tmp_path: Path) -> None:
    assert import_tartiflette(tmp_path) == "built"
    folder = tmp_path / "atomo"
    assert (folder / FILE_NAME).is_file()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in folder.iterdir()] == [FILE_NAME]      # no temporary file left behind
    assert import_tartiflette(tmp_path) == "loaded"
    assert import_tartiflette(tmp_path) == "loaded"


def test_a_file_others_can_write_is_not_read(tmp_path: Path) -> None:
    import_tartiflette(tmp_path)
    cache = tmp_path / "atomo" / FILE_NAME
    cache.chmod(0o666)
    before = cache.read_bytes()
    assert import_tartiflette(tmp_path) == "built"
    assert cache.read_bytes() == before                          # neither read nor replaced


def test_a_folder_others_can_write_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "atomo"
    folder.mkdir(mode=0o700)
    folder.chmod(0o777)
    assert import_tartiflette(tmp_path) == "built"
    assert import_tartiflette(tmp_path) == "built"
    assert not any(folder.iterdir())


def test_a_damaged_file_is_rebuilt(tmp_path: Path) -> None:
    import_tartiflette(tmp_path)
    cache = tmp_path / "atomo" / FILE_NAME
    header = cache.read_bytes().split(b"\n", 1)[0]
    cache.write_bytes(header + b"\n" + b"\x80\x04not a pickle")  # the right digest, then garbage
    assert import_tartiflette(tmp_path) == "built"
    assert import_tartiflette(tmp_path) == "loaded"


def test_bundled_tables_load_at_another_path(tmp_path: Path) -> None:
    """The executable's tables are built at build time in one folder and read from the bundle's folder,
    which differs at every start (the one-file bootloader unpacks into a new one)."""
    made = tmp_path / "build" / "sdl_grammar.lark-cache"
    code = ("import sys; from pathlib import Path; from atomo.graphql.grammar_cache import write_bundle_cache; "
            "write_bundle_cache(Path(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", code, str(made)], check=True, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    bundle = tmp_path / "_MEI12345"
    (bundle / BUNDLED).parent.mkdir(parents=True)
    shutil.copy(made, bundle / BUNDLED)
    no_home = tmp_path / "unused-cache-home"
    assert import_tartiflette(no_home, str(bundle)) == "loaded"
    assert not no_home.exists()                                  # the executable writes no user cache
    (bundle / BUNDLED).unlink()
    assert import_tartiflette(no_home, str(bundle)) == "built"   # a bundle without it still starts
