"""A spinner on stderr for work whose total is unknown (cli chapter §13): a redrawn line on a terminal,
start/end lines per phase otherwise."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType

FRAMES = "|/-\\"


class Spinner:
    def __init__(self, label: str, *, plain: bool = False) -> None:
        self.label = label
        self.phase = ""
        self.plain = plain or not sys.stderr.isatty()
        self.start = time.perf_counter()
        self._phase_start = self.start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Spinner:
        if self.plain:
            print(f"{self.label}: started", file=sys.stderr)
        else:
            self._thread = threading.Thread(target=self._spin, name="atomo-spinner", daemon=True)
            self._thread.start()
        return self

    def set_phase(self, phase: str) -> None:
        if phase == self.phase:
            return
        now = time.perf_counter()
        if self.plain:
            if self.phase:
                print(f"{self.label}: {self.phase} done in {now - self._phase_start:.1f} s", file=sys.stderr)
            print(f"{self.label}: {phase}", file=sys.stderr)
        self.phase, self._phase_start = phase, now

    def _spin(self) -> None:
        i = 0
        while not self._stop.wait(0.1):
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(f"\r{FRAMES[i % 4]} {self.label}: {self.phase:<12} {elapsed:5.0f} s")
            sys.stderr.flush()
            i += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        elapsed = time.perf_counter() - self.start
        outcome = "failed" if kind is not None else "done"
        if self.plain:
            print(f"{self.label}: {outcome} in {elapsed:.1f} s", file=sys.stderr)
        else:
            sys.stderr.write(f"\r{self.label}: {outcome} in {elapsed:.1f} s" + " " * 30 + "\n")
            sys.stderr.flush()
