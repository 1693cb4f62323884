"""Progress on stderr: a redrawn bar on a terminal, start/end lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, *, plain: bool = False) -> None:
        self.label = label
        self.total = total
        self.plain = plain or not sys.stderr.isatty()
        self.start = time.perf_counter()
        self._last = 0.0
        self.done = 0
        if self.plain:
            print(f"{label}: started ({total} to do)", file=sys.stderr)

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if self.plain or now - self._last < 0.1:
            return
        self._last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        pct = 100 * done / self.total if self.total else 100.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * pct / 100)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label:<10} [{bar}] {done}/{self.total} {pct:5.1f}% {rate:,.0f}/s ETA {eta:.0f}s")
        sys.stderr.flush()

    def finish(self) -> None:
        elapsed = time.perf_counter() - self.start
        if self.plain:
            print(f"{self.label}: done {self.done}/{self.total} in {elapsed:.2f} s", file=sys.stderr)
        else:
            sys.stderr.write(f"\r{self.label:<10} {self.done}/{self.total} done in {elapsed:.2f} s" + " " * 30 + "\n")
            sys.stderr.flush()
