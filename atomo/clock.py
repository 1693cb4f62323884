"""The process clock: every time-dependent rule reads the time here, so tests can freeze and move it.

Wall time (``time()``, ``now()``, ``now_iso()``) decides token ``exp``, session ``expires_at``, job
``visibleAt`` and backoff, and the ``recorded_at`` of events and records; monotonic time
(``monotonic()``) measures intervals (rate-limit buckets, the auth-epoch check). By default they are
the real ``time.time``/``time.monotonic``; ``CLOCK.frozen(at=...)`` (``app.clock.frozen`` in the library)
stops both until the block ends, and only ``advance`` moves them::

    with app.clock.frozen(at="2026-06-08T10:00:00Z") as clock:
        token = ...                      # issued at 10:00:00
        clock.advance(3601)              # expired, without sleeping

One clock per process (module state, not a context variable): threads (the writer) and every
``Atomo`` of the process see the same time. A read is one call through a module-level indirection, so
the hot paths pay nothing for it. Waits that end on asyncio timers (long polls, ``?wait=``, sleeps of
the sweeps) keep the real time: they must end even while the clock is frozen. When a block ends the real time is back,
so objects that kept frozen times (rate-limit buckets, cached principals) belong inside the block.
"""

from __future__ import annotations

import time as _std_time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# the current sources; ``Clock.frozen`` swaps them and puts them back
_wall: Callable[[], float] = _std_time.time
_mono: Callable[[], float] = _std_time.monotonic
_now: Callable[[], datetime] = partial(datetime.now, UTC)


def time() -> float:
    """Wall time, seconds since the epoch (``time.time`` unless frozen)."""
    return _wall()


def monotonic() -> float:
    """Seconds of a clock that never goes back (``time.monotonic`` unless frozen)."""
    return _mono()


def now() -> datetime:
    """The wall time as an aware UTC ``datetime``."""
    return _now()


def now_iso() -> str:
    """The wall time in the canonical form ``2026-06-08T10:00:00.123456+00:00``."""
    return _now().isoformat(timespec="microseconds")


def _micros(at: datetime | str | float | int) -> int:
    """Microseconds since the epoch of an aware datetime (naive = UTC), an ISO 8601 text or epoch seconds."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if isinstance(at, datetime):
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        delta = at - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise TypeError(f"cannot freeze the clock at {at!r}: give a datetime, an ISO 8601 text or epoch seconds")
    return round(at * 1_000_000)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class FrozenClock:
    """The stopped time of a ``Clock.frozen`` block; only ``advance`` moves it (both wall and monotonic)."""

    __slots__ = ("_micros", "_mono_micros")

    def __init__(self, at: datetime | str | float | int, monotonic_start: float) -> None:
        self._micros = _micros(at)                       # whole microseconds: exact datetimes, no float drift
        self._mono_micros = round(monotonic_start * 1_000_000)

    def time(self) -> float:
        return self._micros / 1_000_000

    def monotonic(self) -> float:
        return self._mono_micros / 1_000_000

    def now(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self._micros)

    def now_iso(self) -> str:
        return self.now().isoformat(timespec="microseconds")

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move the time forward (never back: monotonic time would break); returns the new ``now()``."""
        step = round(_seconds(seconds) * 1_000_000)
        if step < 0:
            raise ValueError("the clock only moves forward")
        self._micros += step
        self._mono_micros += step
        return self.now()

    def __repr__(self) -> str:
        return f"<FrozenClock at {self.now_iso()}>"


class Clock:
    """The clock of the process (``CLOCK``; ``app.clock`` in the library): reads, and the test hook ``frozen``."""

    time = staticmethod(time)
    monotonic = staticmethod(monotonic)
    now = staticmethod(now)
    now_iso = staticmethod(now_iso)

    @property
    def is_frozen(self) -> bool:
        return _wall is not _std_time.time

    @contextmanager
    def frozen(self, at: datetime | str | float | int | None = None) -> Iterator[FrozenClock]:
        """Stop the time of the whole process at ``at`` (default: the current time) until the block ends.

        ``at`` is an aware ``datetime`` (naive = UTC), an ISO 8601 text or epoch seconds. Blocks may nest;
        the outer time is back when the inner block ends."""
        global _wall, _mono, _now
        frozen = FrozenClock(time() if at is None else at, monotonic())
        saved = _wall, _mono, _now
        _wall, _mono, _now = frozen.time, frozen.monotonic, frozen.now
        try:
            yield frozen
        finally:
            _wall, _mono, _now = saved


CLOCK = Clock()
