"""The data file on disk: which file Atomo may use, and how it is created.

- **Created private**: when Atomo creates the data folder it is made ``0700``, and a new data file is
  created empty with ``0600`` before SQLite opens it; SQLite gives its ``-wal`` and ``-shm`` files the
  permissions of the main file, so they are private too. Existing files are left as they are (an
  operator may share them on purpose), with a warning at boot when group or others can read them.
- **Marked as Atomo's**: a new file gets ``PRAGMA application_id`` = ``APPLICATION_ID`` and
  ``user_version`` = ``FORMAT_VERSION``. A file with another application id, or with tables Atomo did not
  create (another application's database), is refused unless the operator adopts it
  (``--adopt-existing``): then Atomo adds its tables next to the others, provided none collides with
  Atomo's own. A file of an Atomo build from before the mark (it has ``_atomo_migrations`` and
  ``events``) is marked on open. A zero-byte file is a new file.
- **Checked at boot**: writable (file and folder), and ``PRAGMA quick_check`` unless turned off.
- **In memory** (``:memory:``): a new private file in a fresh ``0700`` folder on a RAM-backed file
  system (``/dev/shm`` when it exists and is writable, else the system temp folder), removed on close
  (``memory_data_file``). Not SQLite's own in-memory databases: shared-cache in-memory databases have no
  WAL and lock whole tables (a reader gets SQLITE_LOCKED while the writer holds a write transaction),
  so readers would either block the single writer's group commit or need ``read_uncommitted`` (and
  see batches that may still roll back). A file on tmpfs keeps the production semantics (WAL snapshot
  isolation, one writer, concurrent readers) at memory speed; after a crash it is in tmpfs or the
  temp folder anyway.

Every problem is a ``ConfigError`` (CLI exit 3) naming the file and the cause, in one line.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from atomo.errors import ConfigError

log = logging.getLogger("atomo.storage")
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
APPLICATION_ID = 0x41544F4D          # "ATOM"
FORMAT_VERSION = 1
PLATFORM_TABLES = frozenset({"events", "users", "sessions", "_atomo_migrations", "_atomo_auth_epoch", "jobs",
                             "workers", "_atomo_idempotency"})
LEGACY_MARKERS = frozenset({"events", "_atomo_migrations"})


MEMORY_FILE_NAME = "atomo.db"
RAM_DIR = Path("/dev/shm")
_MEMORY_FOLDERS: set[Path] = set()         # folders of open in-memory data files: removed at exit if not before


def memory_root() -> Path:
    """Where ``:memory:`` data files go: ``/dev/shm`` (tmpfs) when usable, else the system temp folder."""
    if RAM_DIR.is_dir() and os.access(RAM_DIR, os.W_OK | os.X_OK):
        return RAM_DIR
    return Path(tempfile.gettempdir())


def memory_data_file() -> Path:
    """A new private data file path for ``:memory:``: ``<ram>/atomo-mem-XXXX/atomo.db`` (folder ``0700``; the
    file is created ``0600`` by ``prepare_data_file``). ``remove_memory_data_file`` removes the folder (at
    interpreter exit at the latest)."""
    problem = None
    for root in dict.fromkeys((memory_root(), Path(tempfile.gettempdir()))):
        try:
            folder = Path(tempfile.mkdtemp(prefix="atomo-mem-", dir=root))     # mkdtemp: mode 0700
        except OSError as exc:
            problem = exc
            continue
        _MEMORY_FOLDERS.add(folder)
        return folder / MEMORY_FILE_NAME
    raise ConfigError(f"cannot create a private folder for the in-memory data file: {problem}")


def remove_memory_data_file(path: Path) -> None:
    """Remove the folder of a ``memory_data_file``: the file, its WAL and SHM, and anything next to them."""
    shutil.rmtree(path.parent, ignore_errors=True)
    _MEMORY_FOLDERS.discard(path.parent)


def _remove_leftovers() -> None:
    for folder in list(_MEMORY_FOLDERS):
        shutil.rmtree(folder, ignore_errors=True)
    _MEMORY_FOLDERS.clear()


atexit.register(_remove_leftovers)


def prepare_data_file(path: Path) -> bool:
    """Create the folder and an empty private data file when missing; True when the file is new
    (created now, or an existing zero-byte file). Refuses a read-only file or folder."""
    folder = path.parent
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ConfigError(f"cannot use data file {path}: {blocker} is a file, not a folder")
    if not folder.exists():
        try:
            folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the data folder {folder}: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        if path.is_dir():
            raise ConfigError(f"cannot use data file {path}: it is a folder") from None
        check_writable(path)
        return path.stat().st_size == 0
    except OSError as exc:
        raise ConfigError(f"cannot create data file {path}: {exc.strerror}") from None
    os.close(fd)
    return True


def check_writable(path: Path) -> None:
    """The file and its folder must be writable (SQLite creates ``-wal``/``-shm`` next to the file)."""
    if not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"data file {path} is not writable by this user (mode {oct(stat.S_IMODE(path.stat().st_mode))})")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"data folder {path.parent} is not writable by this user (SQLite creates "
                          f"{path.name}-wal and {path.name}-shm there)")


def warn_if_readable(path: Path) -> None:
    """Log a warning for each of the data file and its WAL/SHM files that group or others can read."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = candidate.stat().st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning("%s is readable by other users (mode %s); it holds password hashes and all data: "
                        "chmod 600 it", candidate, oct(mode & 0o777))


def claim(conn: sqlite3.Connection, path: Path, *, adopt: bool = False, model_tables: Iterable[str] = ()) -> None:
    """Make sure ``conn``'s file is an Atomo data file (marking a new, legacy or adopted one)."""
    try:
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'")}
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path} is not a usable SQLite database: {exc}") from None
    if app_id == APPLICATION_ID:
        if version > FORMAT_VERSION:
            raise ConfigError(f"{path} was written by a newer Atomo (data format {version}; this build reads "
                              f"{FORMAT_VERSION}): upgrade Atomo")
        warn_if_readable(path)
        return
    if app_id != 0:
        raise ConfigError(f"{path} belongs to another application (application_id {app_id:#010x}); "
                          "refusing to use it as an Atomo data file")
    if tables and not LEGACY_MARKERS <= tables:
        if not adopt:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise ConfigError(f"{path} is not an Atomo data file (it has tables Atomo did not create: {shown}); "
                              "choose another file, or pass --adopt-existing to add Atomo's tables to it")
        collisions = sorted(tables & (PLATFORM_TABLES | set(model_tables)))
        if collisions:
            raise ConfigError(f"cannot adopt {path}: its tables {', '.join(collisions)} have the names of "
                              "Atomo's own tables")
        log.warning("adopting %s: Atomo's tables are added next to its %d existing tables", path, len(tables))
    warn_if_readable(path)
    try:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot write to data file {path}: {exc}") from None


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check``: refuse a file with damaged pages (a damaged file is never written to)."""
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"data file {path} is damaged ({exc}); restore a backup") from None
    if rows != ["ok"]:
        problems = [line.strip() for row in rows for line in str(row).splitlines()
                    if line.strip() and not line.startswith("***")]
        raise ConfigError(f"data file {path} is damaged ({problems[0] if problems else rows[0]}; PRAGMA quick_check "
                          "found more); restore a backup, or start with --no-integrity-check to open it anyway")
