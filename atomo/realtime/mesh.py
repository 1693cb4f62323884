"""Realtime across server instances on one PostgreSQL (issue 21): channels and presence without a supervisor.

``atomo serve --workers N`` has a supervisor that keeps every worker's presence and forwards changes
(``atomo.realtime.cluster``). Instances behind a load balancer have none: they talk over ``PgBus`` (LISTEN/NOTIFY)
as peers, each keeping a replica of every other instance's presence (``ClusterLink``'s replicas and counts):

- A principal's first (last) local connection on a channel is sent to every instance as one presence change
  (``rt.changes``, the frame the supervisor would have forwarded), so ``joined``/``left`` stay global.
- A new instance says ``rt.m.hello``; every instance answers it (to it alone) with its local members as
  presence changes, in frames of ``CHUNK`` entries.
- Every ``BEAT_SECS`` an instance says ``rt.m.alive``; an instance not heard from for ``LOST_SECS`` (killed,
  cut off) is gone: its replica is dropped and ``left`` goes out for principals no longer present anywhere.
  When a lost instance is heard from again, it is asked (``rt.m.hello`` to it) for its members again.
- Publishes go to the instances with members on the channel (``ClusterLink.publish``).

Coordinator sessions stay per instance on PostgreSQL: the members of a session are those connected to one
instance (the supervisor's single authority has no equivalent here yet).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from atomo.cluster.bus import Bus
from atomo.cluster.frames import ALL
from atomo.cluster.tasks import stop_task
from atomo.realtime.cluster import CHANGES, ClusterLink, send

if TYPE_CHECKING:
    from atomo.realtime.hub import RealtimeHub

HELLO = "rt.m.hello"           # None: tell me your members (to ALL at start, or to one instance)
ALIVE = "rt.m.alive"           # None: this instance is up
BEAT_SECS = 2.0
LOST_SECS = 7.0
CHUNK = 100                    # presence entries per frame (well under a notification's 8,000 bytes)


class MeshLink(ClusterLink):
    """``ClusterLink`` between peers: presence changes go to every instance, liveness by heartbeat."""

    def __init__(self, hub: RealtimeHub, bus: Bus) -> None:
        super().__init__(hub, bus)
        self.seen: dict[int, float] = {}           # instance -> when last heard from (monotonic)
        bus.on(HELLO, self._on_hello)
        bus.on(ALIVE, self._on_alive)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.bus.send(HELLO, None)
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="atomo-realtime-mesh")

    async def close(self) -> None:
        await stop_task(self._task)
        self._task = None

    # -- Peers --------------------------------------------------------------------------------------
    def joined(self, channel: str, pid: str) -> bool:
        self.bus.send(CHANGES, [[self.bus.index, channel, pid, True]])
        return pid not in self.remote.get(channel, ())

    def left(self, channel: str, pid: str) -> bool:
        self.bus.send(CHANGES, [[self.bus.index, channel, pid, False]])
        return pid not in self.remote.get(channel, ())

    # -- from the bus ---------------------------------------------------------------------------------
    def _on_changes(self, payload: Any, sender: int) -> None:
        self._heard(sender)
        super()._on_changes(payload, sender)

    def _on_hello(self, _payload: Any, sender: int) -> None:
        self._heard(sender)
        mine = [[self.bus.index, name, pid, True] for name, channel in self.hub.channels.items()
                for pid in channel.members]
        for start in range(0, len(mine), CHUNK):
            send(self.bus, CHANGES, mine[start:start + CHUNK], sender)

    def _on_alive(self, _payload: Any, sender: int) -> None:
        self._heard(sender)

    def _heard(self, sender: int) -> None:
        if sender not in self.seen and sender not in self.replicas:
            self.bus.send(HELLO, None, to=sender)     # new to us (or back after being lost): its members, please
        self.seen[sender] = time.monotonic()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(BEAT_SECS)
            self.bus.send(ALIVE, None)
            now = time.monotonic()
            for instance, at in list(self.seen.items()):
                if now - at > LOST_SECS:
                    del self.seen[instance]
                    self._on_gone(instance, ALL)
