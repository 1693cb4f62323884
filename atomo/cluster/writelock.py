"""One writer at a time across the processes of a server, before SQLite's own lock is tried.

SQLite already lets one connection write at a time (``BEGIN IMMEDIATE`` takes the file's write lock),
but a connection that finds it taken waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... 100 ms
between tries: with two processes committing a few hundred times a second each, writers would spend
most of their time asleep. The writer thread of each worker takes this ``flock`` first: a blocked
``flock`` wakes as soon as the holder lets go, so the SQLite lock is always free when it is tried.
The lock file is in the group's private folder; other programs writing the file (the CLI) still meet
SQLite's lock and busy timeout, as before. A process killed while holding it releases it (the kernel
drops the locks of a closed file).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
