"""Interest on the bus between the workers of a group (a real ``Relay`` on a Unix socket, real ``Bus``
clients): ``send_wanted`` reaches only the workers whose ``Want`` is on; a want lingers, then turns off; a
worker that reconnects or goes away is forgotten, and one that (re)connects learns what the others want."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from atomo.cluster.bus import Bus, Want
from atomo.cluster.relay import Relay


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    folder = Path(tempfile.mkdtemp(prefix="atomo-bus-"))
    relay = Relay(folder / "relay.sock")
    await relay.start()
    yield relay
    await relay.close()
    shutil.rmtree(folder, ignore_errors=True)


async def joined(relay: Relay, index: int, size: int = 3) -> tuple[Bus, list[Any]]:
    bus = Bus(index, size)
    got: list[Any] = []
    bus.on("tick", lambda payload, sender: got.append((payload, sender)))
    await bus.connect(relay.path)
    while index not in relay.workers:
        await asyncio.sleep(0.01)
    return bus, got


async def settle() -> None:
    await asyncio.sleep(0.1)


async def test_only_wanting_workers_are_sent_to_and_a_want_lingers(relay: Relay) -> None:
    (b0, got0), (b1, got1), (b2, got2) = [await joined(relay, i) for i in range(3)]
    waiting = [True]
    started: list[int] = []
    want = Want(b1, "tick", lambda: waiting[0], lambda: started.append(1), linger=0.3)
    b0.send_wanted("tick", 1)                 # nobody wants it: nothing is sent
    await settle()
    assert got1 == got2 == []
    want.touch()
    want.touch()
    await settle()
    assert started == [1], "started once per turn-on"
    b0.send_wanted("tick", 2)
    await settle()
    assert got1 == [(2, 0)] and got2 == [], "to the wanting worker only"
    await asyncio.sleep(0.5)                  # still active: stays on past the linger
    b2.send_wanted("tick", 3)
    await settle()
    assert got1 == [(2, 0), (3, 2)]
    waiting[0] = False                        # idle for longer than the linger: off
    await asyncio.sleep(0.8)
    assert not want.on
    b0.send_wanted("tick", 4)
    await settle()
    assert got1 == [(2, 0), (3, 2)]
    want.close()
    for bus in (b0, b1, b2):
        await bus.close()


async def test_a_worker_that_goes_or_reconnects_is_forgotten_and_a_new_one_learns_the_wants(relay: Relay) -> None:
    (b0, got0), (b1, got1) = [await joined(relay, i, 2) for i in range(2)]
    b1.want("tick", True)
    await settle()
    await b1.close()                          # gone: the relay tells b0
    await settle()
    assert b0._wanting["tick"] == set()       # noqa: SLF001
    b0.want("tick", True)                     # b0 wants before the new b1 connects
    b1, got1 = await joined(relay, 1, 2)
    await settle()
    b1.send_wanted("tick", "hello")
    await settle()
    assert got0 == [("hello", 1)], "a (re)connected worker is told what the others want"
    b0.send_wanted("tick", "nobody")          # the new b1 wants nothing (its predecessor did)
    await settle()
    assert got1 == []
    for bus in (b0, b1):
        await bus.close()


async def test_a_stalled_database_bounds_the_notifications_waiting() -> None:
    """``PgBus``: frames wait for the sending connection in a bounded queue; past it they are dropped and
    counted (the feed's poll backs every frame up), never kept without bound."""
    from atomo.cluster import pg_bus
    bus = pg_bus.PgBus("postgresql://unused")
    bus._outbox = asyncio.Queue(maxsize=pg_bus.OUTBOX_MAX)      # noqa: SLF001 (started, its sender stalled)
    for n in range(pg_bus.OUTBOX_MAX + 25):
        bus._deliver("feed.tail", -1, n)                         # noqa: SLF001
    assert bus._outbox.qsize() == pg_bus.OUTBOX_MAX and bus.dropped == 25   # noqa: SLF001
    large = pg_bus.PgBus("postgresql://unused")                   # large frames: bounded by their bytes too
    large._outbox = asyncio.Queue(maxsize=pg_bus.OUTBOX_MAX)    # noqa: SLF001
    for _ in range(100):
        large._deliver("rt.message", -1, ["room", "x" * (1 << 20), "someone"])   # noqa: SLF001
    assert large._outbox.qsize() == pg_bus.OUTBOX_BYTES // (1 << 20) - 1 and large.dropped == 100 - large._outbox.qsize()  # noqa: SLF001, E501
