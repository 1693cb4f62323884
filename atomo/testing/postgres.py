"""A throwaway PostgreSQL server for tests and benchmarks (issue 21): Debian's binaries, a private folder, a
free port, started and stopped by the caller.

``TemporaryPostgres().start()`` finds PostgreSQL 15 or later (``/usr/lib/postgresql/<v>/bin``, else
``pg_config --bindir``), makes a folder (``/dev/shm`` when writable: fast, and reachable by another user,
unlike pytest's 0700 ``/tmp/pytest-of-root``), runs ``initdb`` (superuser ``atomo``, trust authentication
on the folder's socket and 127.0.0.1 only, UTF-8, C locale) and ``pg_ctl start`` on a port bound just
before. PostgreSQL refuses to run as root: as root every command runs as the ``postgres`` account (made by
Debian's package) or else ``nobody``, through ``runuser`` (``setpriv`` when it is missing), and the folder is
given to that account. ``stop()`` stops the server (``immediate``: nothing to keep) and removes the folder.

Durability is off (``fsync``, ``full_page_writes``, ``synchronous_commit``): the crash tests kill Atomo, never
this server. Nothing here imports a PostgreSQL driver: ``url`` is what a client connects to.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MIN_VERSION = 15
START_TRIES = 3


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (Debian: ``apt-get install postgresql``)."""


def find_bindir() -> Path:
    """The folder of ``initdb``/``pg_ctl`` of the newest PostgreSQL >= ``MIN_VERSION`` installed."""
    versions = []
    for path in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        with contextlib.suppress(ValueError):
            versions.append((int(path.parent.parent.name), path.parent))
    if versions:
        version, bindir = max(versions)
        if version >= MIN_VERSION:
            return bindir
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    raise PostgresUnavailable(f"PostgreSQL >= {MIN_VERSION} is not installed (Debian: apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when this process is root (None: run as this process)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable("running as root and there is neither a postgres nor a nobody account")


class TemporaryPostgres:
    def __init__(self, *, bindir: Path | None = None, settings: dict[str, str] | None = None,
                 parent: Path | None = None) -> None:
        """``parent``: where the server's folder goes (default /dev/shm when writable; a disk folder for a
        benchmark that should flush to disk)."""
        self.bindir = bindir or find_bindir()
        self.parent = parent
        self.account = _server_account()
        self.settings = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off",
                         "max_connections": "200", "shared_buffers": "64MB", **(settings or {})}
        self.folder: Path | None = None
        self.port = 0

    # -- what a client needs ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"postgresql://atomo@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        assert self.folder is not None, "not started"
        return self.folder / "data"

    @property
    def version(self) -> int:
        return int((self.data / "PG_VERSION").read_text().strip())

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> TemporaryPostgres:
        if not (self.bindir / "initdb").exists() or not (self.bindir / "pg_ctl").exists():
            raise PostgresUnavailable(f"no initdb and pg_ctl in {self.bindir}")
        shm = Path("/dev/shm")
        where = str(self.parent) if self.parent else str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        self.folder = Path(tempfile.mkdtemp(prefix="atomo-pg-", dir=where))
        try:
            if self.account is not None:
                os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
            self._run("initdb", "-D", str(self.data), "-U", "atomo", "-A", "trust", "-E", "UTF8", "--locale=C",
                      "--no-sync")
            for attempt in range(START_TRIES):
                self.port = _free_port()
                options = " ".join([f"-p {self.port}", f"-k {self.folder}", "-h 127.0.0.1",
                                    *(f"-c {k}={v}" for k, v in self.settings.items())])
                done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "30",
                                 "-o", options, "start", check=False)
                if done.returncode == 0:
                    return self
                if attempt == START_TRIES - 1 or "could not bind" not in self.log_tail():
                    raise RuntimeError(f"PostgreSQL did not start:\n{done.stdout}{done.stderr}\n{self.log_tail()}")
        except BaseException:
            self._remove()
            raise
        return self

    def restart(self, *, down_secs: float = 0.0) -> None:
        """Stop the server (``fast``: sessions are cut), stay down ``down_secs``, start it again on the same port
        and data: what a client sees of a database restart or failover."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(down_secs)
        options = " ".join([f"-p {self.port}", f"-k {self.folder}", "-h 127.0.0.1",
                            *(f"-c {k}={v}" for k, v in self.settings.items())])
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-t", "30", "-o", options,
                  "start")

    def stop(self) -> None:
        if self.folder is None:
            return
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        self._remove()

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.folder / "log").read_text(errors="replace") if self.folder else ""
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def server_pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if re.fullmatch(r"\d+", first) else None

    # -- helpers --------------------------------------------------------------------------------------------------
    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        account = self.account
        if account is not None:
            if shutil.which("runuser"):
                command = ["runuser", "-u", account.pw_name, "--", *command]
            else:
                command = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups",
                           *command]
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=self.folder, check=False,
                              timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def _remove(self) -> None:
        folder, self.folder = self.folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
