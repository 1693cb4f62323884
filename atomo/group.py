"""``atomo serve --workers N`` from the command line: the supervisor's process, kept small.

The supervisor holds the port, the relay, the shared table and the realtime state of the group for as long
as it runs, and none of the HTTP stack: it never imports ``atomo.server`` (litestar, tartiflette, the
schema and data layers stay in the workers; the supervisor stays near 30 MiB instead of a server's 70).
The one boot of the group (schema, migrations, admin, secret) runs in a child started with the same
command line and ``ATOMO_CLUSTER_BOOT=<fd>:<port>`` (``atomo.server.boot_once``): it prints its own
progress and errors, sends back the banner and the data file on the pipe, and exits; a boot that fails
ends the group with the child's exit code. Then the workers start (``atomo.cluster.supervisor``), the
banner is printed once they all listen, and once they all stopped the WAL is checkpointed and truncated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atomo.config import Settings, is_memory
from atomo.errors import ConfigError

log = logging.getLogger("atomo.cluster")
BOOT_ENV = "ATOMO_CLUSTER_BOOT"


def serves_as_group(settings: Settings, data_file: Path | str, *, check: bool, member: bool) -> bool:
    """Whether ``atomo serve`` starts a group: more than one worker asked, and neither ``--check``, a worker
    of a group itself, nor in-memory data (which lives in one process: then one serves, with a warning)."""
    if settings.workers <= 1 or check or member:
        return False
    if settings.ephemeral or is_memory(data_file):
        log.warning("ATOMO_WORKERS=%d ignored: in-memory data lives in one process, which serves alone",
                    settings.workers)
        return False
    if settings.postgres_url:
        log.warning("ATOMO_WORKERS=%d ignored on PostgreSQL: one process serves; run more instances on the same "
                    "DATABASE_URL to use more cores or machines", settings.workers)
        return False
    return True


def run_group(settings: Settings, out: Callable[[str], Any] | None = None) -> int:
    """Supervise ``settings.workers`` workers until stopped; the exit code."""
    from atomo.http.logs import configure_logging
    from atomo.sockets import loop_factory
    configure_logging(settings)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(supervise(settings, out))


async def boot(port: int) -> tuple[int, dict[str, Any]]:
    """Run the group's boot in a child process: its exit code and report (banner, data file)."""
    from atomo.cluster.supervisor import worker_command
    read_fd, write_fd = os.pipe()
    try:
        child = await asyncio.create_subprocess_exec(
            *worker_command(), env={**os.environ, BOOT_ENV: f"{write_fd}:{port}"}, pass_fds=(write_fd,),
            stdin=asyncio.subprocess.DEVNULL)
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        report = await asyncio.get_running_loop().run_in_executor(None, pipe.read)
    code = await child.wait()
    if code != 0:
        return code, {}
    try:
        return 0, json.loads(report)
    except ValueError:
        raise ConfigError("the boot of the workers' group ended without a report") from None


async def supervise(settings: Settings, out: Callable[[str], Any] | None = None) -> int:
    """Bind, boot once (in a child), then run the workers on the port until stopped."""
    from atomo.cluster.shared_table import create_table, forget_worker
    from atomo.cluster.supervisor import Supervisor
    from atomo.realtime.cluster import supervise as supervise_realtime
    from atomo.sockets import bind_socket, someone_listens

    sock = bind_socket(settings.host, settings.port, reuse_port=True, listen=False)
    if someone_listens(sock):       # another group on this port: SO_REUSEPORT would let the two share it
        sock.close()
        raise ConfigError(f"port {settings.port} is already in use on {settings.host} (set PORT or use --port)")
    try:
        code, report = await boot(sock.getsockname()[1])
        if code != 0:
            return code
        supervisor = Supervisor(
            size=settings.workers, sock=sock, grace_secs=settings.shutdown_grace_secs,
            prepare=[lambda relay, folder: create_table(folder / "shared.table", workers=settings.workers),
                     lambda relay, folder: supervise_realtime(relay, settings.realtime_coordinator_policy)],
            gone=[lambda folder, index: forget_worker(folder / "shared.table", index)],
            on_ready=lambda: (out or _stdout)(report["banner"]))
        code = await supervisor.run()
    finally:
        sock.close()
    if report.get("dataFile"):
        truncate_wal(Path(report["dataFile"]))
    return code


def truncate_wal(path: Path) -> None:
    """Once every worker stopped: fold the WAL into the data file and truncate it (as one process does)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.warning("the closing WAL checkpoint failed (the WAL is kept and replayed on the next open): %s", exc)


def _stdout(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
