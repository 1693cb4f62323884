"""An event loop on a thread of its own, and a proxy that runs an object's coroutines there.

The test fixtures keep one ``Atomo`` per session on this loop, so the app never depends on the event
loop of a test (pytest-asyncio makes one per test by default). ``Proxy`` forwards attribute access to
the object; a call whose result is a coroutine runs on the loop: a sync test gets the result
(``Proxy(blocking=True)``), an ``async def`` test gets an awaitable of it. Results that are handles of
the library (``app.as_user(...)``, ``app.events``) are proxied the same way.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_PLAIN = (str, bytes, int, float, bool, type(None), dict, list, tuple, set, frozenset)


class LoopThread:
    """``asyncio`` loop running forever on a daemon thread until ``close``."""

    def __init__(self, name: str = "atomo-test-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = 120.0) -> T:
        """Run on the loop and wait for the result (from any thread but the loop's own)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """Run on the loop; an awaitable of the result for the caller's running loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


class Proxy:
    """``target`` seen from a test: coroutines run on ``runner``'s loop (blocking or awaitable)."""

    __slots__ = ("_target", "_runner", "_blocking")

    def __init__(self, target: Any, runner: LoopThread, *, blocking: bool) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_runner", runner)
        object.__setattr__(self, "_blocking", blocking)

    def _wrap(self, value: Any) -> Any:
        if inspect.iscoroutine(value):
            runner = self._runner
            if not self._blocking:
                return runner.submit(_unwrapped(value, self))
            return self._wrap(runner.run(value))
        if isinstance(value, _PLAIN) or not type(value).__module__.startswith("atomo."):
            return value
        return Proxy(value, self._runner, blocking=self._blocking)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._wrap(value(*args, **kwargs))
            call.__name__ = name
            call.__doc__ = getattr(value, "__doc__", None)
            return call
        return self._wrap(value)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __repr__(self) -> str:
        return f"<test proxy of {self._target!r}>"

    @property
    def target(self) -> Any:
        """The object itself (for what the proxy cannot forward, e.g. async context managers, which
        must then be used on the fixture's loop)."""
        return self._target


async def _unwrapped(coroutine: Coroutine[Any, Any, Any], proxy: Proxy) -> Any:
    value = await coroutine
    if isinstance(value, _PLAIN) or not type(value).__module__.startswith("atomo."):
        return value
    return Proxy(value, proxy._runner, blocking=False)
