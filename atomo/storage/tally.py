"""Counters by label values for ``/metrics``, in plain Python (no metrics library below the HTTP layer).

A ``Tally`` holds at most ``cap`` distinct keys; further keys are counted under ``other`` (a value chosen
by a client, such as a queue name, must not grow memory). Each tally is written by one thread only (the
event loop or the writer); the scrape reads a copy.
"""

from __future__ import annotations

from collections.abc import Hashable

OTHER = "other"
MAX_KEYS = 200


class Tally:
    __slots__ = ("counts", "cap")

    def __init__(self, cap: int = MAX_KEYS) -> None:
        self.counts: dict[Hashable, int] = {}
        self.cap = cap

    def add(self, key: Hashable, n: int = 1, other: Hashable = OTHER) -> None:
        counts = self.counts
        if key not in counts and len(counts) >= self.cap:
            key = other
        counts[key] = counts.get(key, 0) + n

    def snapshot(self) -> dict[Hashable, int]:
        return dict(self.counts)
