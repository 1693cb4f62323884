"""A cache of tartiflette's SDL parser tables, so a booting server does not rebuild them.

tartiflette builds a lark LALR parser for its SDL grammar when it is imported: about 65 ms of every
cold start (issue 13), the same tables each time. lark can save and load them (``cache=`` path), as
a pickle, so the file is code: it is read only from places that nobody else can write.

- The executable: a file made at build time inside the bundle (``BUNDLED``; the one-file bootloader
  unpacks into a fresh private folder).
- Otherwise: ``$XDG_CACHE_HOME/atomo`` (default ``~/.cache/atomo``), used only when that folder and the
  file belong to this user and are writable by nobody else. The first start writes it to a per-process
  temporary file renamed into place, so concurrent first starts do not read a half-written file; after
  an upgrade lark rewrites it in place, and a start that reads it half-written rebuilds (lark catches it).
  Anything else (no home, another owner, loose permissions): no cache, the tables are built as before.

lark checks a digest of the grammar, its options, lark's version and Python's version at the head of
the file and rebuilds when they differ, so an upgrade never loads stale tables. The ``cache`` option is
one of those options, and its value is the path: ``CachePath`` gives the digest one fixed name instead,
so the tables built at one path (a temporary file, the build machine) load at another (the bundle's
folder differs at every start). tartiflette pins lark-parser 0.12.0, whose digest this follows.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BUNDLED = Path("atomo") / "graphql" / "sdl_grammar.lark-cache"
FILE_NAME = "tartiflette-sdl-grammar.lark-cache"


class CachePath(str):
    """A cache path whose part in lark's digest is a fixed name, not the path itself."""

    def __str__(self) -> str:
        return "atomo:tartiflette-sdl-grammar"


def _private(path: Path, *, folder: bool) -> bool:
    """Whether ``path`` (a folder, or a regular file) is this user's and nobody else can write it."""
    try:
        info = path.lstat()
    except OSError:
        return False
    kind_ok = stat.S_ISDIR(info.st_mode) if folder else stat.S_ISREG(info.st_mode)
    loose = stat.S_IWGRP | stat.S_IWOTH
    return kind_ok and info.st_uid == os.getuid() and not info.st_mode & loose


def user_cache_dir(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path | None:
    """This user's private cache folder for Atomo, created 0700 when missing; None when unusable."""
    if not hasattr(os, "getuid"):
        return None
    base = environ.get("XDG_CACHE_HOME") or (str(Path(environ["HOME"]) / ".cache") if environ.get("HOME") else "")
    if not base or not os.path.isabs(base):
        return None
    folder = Path(base) / "atomo"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if _private(folder, folder=True) else None


def cache_file() -> tuple[Path, bool] | None:
    """Where the tables are read from, and whether they may be written there; None: no cache."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        path = Path(bundle) / BUNDLED
        return (path, False) if path.is_file() else None
    folder = user_cache_dir()
    return None if folder is None else (folder / FILE_NAME, True)


@contextlib.contextmanager
def cached_lark(target: tuple[Path, bool] | None) -> Iterator[None]:
    """While importing tartiflette: its ``Lark.open`` reads the tables from ``target`` (see above) or,
    when they are missing and the place is writable, builds them and saves them there."""
    if target is None:
        yield
        return
    import lark

    path, writable = target
    if path.exists() and not _private(path, folder=False):
        yield
        return
    if not path.exists() and not writable:
        yield
        return
    fresh = not path.exists()
    use = path.with_name(f"{path.name}.{os.getpid()}.tmp") if fresh else path
    original = lark.Lark.__dict__["open"]

    def open_with_cache(cls: type[Any], grammar_filename: str, rel_to: str | None = None, **options: Any) -> Any:
        options.setdefault("cache", CachePath(use))
        return original.__func__(cls, grammar_filename, rel_to, **options)

    lark.Lark.open = classmethod(open_with_cache)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        lark.Lark.open = original  # type: ignore[method-assign]
        if fresh:
            with contextlib.suppress(OSError):
                os.replace(use, path)
            with contextlib.suppress(OSError):
                use.unlink(missing_ok=True)


def write_bundle_cache(path: Path) -> None:
    """Build the tables into ``path`` (``atomo build``; run in a process that has not imported tartiflette)."""
    if "tartiflette" in sys.modules:
        raise RuntimeError("tartiflette is already imported; build the grammar cache in a fresh process")
    from atomo.graphql import import_tartiflette
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    import_tartiflette((path, True))
    if not path.is_file():
        raise RuntimeError(f"lark did not write its tables to {path}")
