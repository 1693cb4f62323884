"""The realtime hub (realtime chapter §2-§6): channels, presence, fan-out, sessions, statistics.

All state lives in this process and on the event loop (no locks). Presence is per principal: a
channel counts each principal's connections, so a second tab of the same user is no second
``joined`` and closing one of two tabs no ``left``. A publish is encoded once per encoding and the
same ASGI message is queued on every recipient (never the sending connection). Nothing here touches
the event log. ``publish(channel, payload, sender=...)`` is the in-process API (job progress).

With ``atomo serve --workers N`` the hub of each worker gets ``peers`` (``atomo.realtime.cluster``): the
presence of the other workers' connections and the route of publishes to them. Presence is then global:
``joined``/``left`` go out when a principal's count over all workers goes 0->1 / 1->0, and snapshots are
the union. Alone, ``peers`` is None and nothing here changes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from atomo.realtime.access import ChannelAccess
from atomo.realtime.connection import Connection, Stats
from atomo.realtime.protocol import Outgoing, Request, error_frame, frame
from atomo.realtime.sessions import Sessions


class Channel:
    __slots__ = ("name", "conns", "members")

    def __init__(self, name: str) -> None:
        self.name = name
        self.conns: dict[Connection, None] = {}       # subscribed connections, in join order
        self.members: dict[str, int] = {}             # principal id -> its connections here

    def snapshot(self) -> list[str]:
        return sorted(self.members)


class Peers(Protocol):
    """The other worker processes of the server, as seen by one hub (``atomo.realtime.cluster.ClusterLink``)."""

    def joined(self, channel: str, pid: str) -> bool:
        """A principal's first local connection on ``channel``: tell the others; True when it is new everywhere."""

    def left(self, channel: str, pid: str) -> bool:
        """A principal's last local connection left ``channel``: tell the others; True when it is gone everywhere."""

    def members(self, channel: str, local: dict[str, int]) -> list[str]:
        """The channel's principals on every worker (sorted), given the local ones."""

    def publish(self, channel: str, payload: Any, sender: str) -> None:
        """Send a publish to the workers with subscribers of ``channel``."""


class RealtimeHub:
    def __init__(self, access: ChannelAccess, *, policy: str = "reelect", max_subscriptions: int = 100) -> None:
        self.access = access
        self.max_subscriptions = max_subscriptions
        self.channels: dict[str, Channel] = {}
        self.sessions = Sessions(policy)
        self.connections: set[Connection] = set()
        self.stats = Stats()
        self.round = 0                       # fan-out round: one per event-loop iteration with fan-outs
        self._round_open = False
        self.peers: Peers | None = None      # the other workers (atomo serve --workers N), None when alone

    # -- connections ---------------------------------------------------------------------------
    def attach(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.stats.connections_opened += 1

    def detach(self, conn: Connection) -> None:
        """Disconnect: unsubscribe from every channel and leave every session."""
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self.stats.connections_closed += 1
        for name in list(conn.channels):
            self.unsubscribe(conn, name)
        self.sessions.leave_all(conn)

    # -- channel operations ----------------------------------------------------------------------
    def subscribe(self, conn: Connection, name: str, ref: Any = None) -> None:
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = Channel(name)
        if conn not in channel.conns:
            channel.conns[conn] = None
            conn.channels.add(name)
            count = channel.members.get(conn.pid, 0)
            channel.members[conn.pid] = count + 1
            if count == 0 and (self.peers is None or self.peers.joined(name, conn.pid)):
                self._fan_out(channel, frame("joined", channel=name, who=conn.pid), conn)
        conn.push(frame("presence", ref, channel=name, members=self._members(name, channel)))

    def unsubscribe(self, conn: Connection, name: str) -> None:
        conn.channels.discard(name)
        channel = self.channels.get(name)
        if channel is None or conn not in channel.conns:
            return
        del channel.conns[conn]
        count = channel.members[conn.pid] - 1
        if count:
            channel.members[conn.pid] = count
            return
        del channel.members[conn.pid]
        gone = self.peers is None or self.peers.left(name, conn.pid)
        if not channel.conns:
            del self.channels[name]
            return
        if gone:
            self._fan_out(channel, frame("left", channel=name, who=conn.pid), None)

    def presence(self, conn: Connection, name: str, ref: Any = None) -> None:
        conn.push(frame("presence", ref, channel=name, members=self._members(name, self.channels.get(name))))

    def _members(self, name: str, channel: Channel | None) -> list[str]:
        if self.peers is not None:
            return self.peers.members(name, channel.members if channel is not None else {})
        return channel.snapshot() if channel is not None else []

    def remote_presence(self, name: str, pid: str, present: bool) -> None:
        """Another worker's presence changed so that ``pid`` is now present (or gone) on every worker but this
        one: tell the local subscribers, unless the principal has connections here (no change for them)."""
        channel = self.channels.get(name)
        if channel is None or pid in channel.members:
            return
        self._fan_out(channel, frame("joined" if present else "left", channel=name, who=pid), None)

    def publish(self, channel: str, payload: Any, sender: str = "system:jobs", *,
                origin: Connection | None = None) -> int:
        """Deliver ``payload`` to the channel's subscribers (not ``origin``); the number of deliveries."""
        self.stats.messages_published += 1
        if self.peers is not None:
            self.peers.publish(channel, payload, sender)
        return self.deliver(channel, payload, sender, origin)

    def deliver(self, channel: str, payload: Any, sender: str, origin: Connection | None = None) -> int:
        """The local fan-out of a publish (of this process, or of another worker's)."""
        target = self.channels.get(channel)
        if target is None:
            return 0
        delivered = self._fan_out(target, frame("message", channel=channel, payload=payload, **{"from": sender}),
                                  origin)
        self.stats.messages_delivered += delivered
        return delivered

    def _fan_out(self, channel: Channel, out: Outgoing, skip: Connection | None) -> int:
        if not self._round_open:
            self._round_open = True
            asyncio.get_running_loop().call_soon(self._next_round)
        burst, delivered = self.round, 0
        for conn in list(channel.conns):
            if conn is not skip and conn.push(out, burst):
                delivered += 1
        return delivered

    def _next_round(self) -> None:
        self.round += 1
        self._round_open = False

    # -- one client frame -------------------------------------------------------------------------
    async def handle(self, conn: Connection, req: Request) -> None:
        op, name, ref = req.op, req.name, req.ref
        if op == "ping":
            conn.push(frame("pong", ref))
            return
        assert name is not None
        if op == "unsubscribe":
            self.unsubscribe(conn, name)
            return
        if op == "session_leave":
            self.sessions.leave(conn, name)
            return
        is_session = op in ("session_join", "to_coordinator", "to_members")
        where = {"session": name} if is_session else {"channel": name}
        if op in ("subscribe", "presence", "session_join"):
            if not conn.joins.take():
                self.stats.rate_limited += 1
                conn.push(error_frame("RATE_LIMITED", "join rate limit exceeded", ref=ref, **where))
                return
        elif not conn.publishes.take():
            self.stats.rate_limited += 1
            conn.push(error_frame("RATE_LIMITED", "publish rate limit exceeded", ref=ref, **where))
            return
        if op == "to_coordinator":
            self.stats.messages_delivered += self.sessions.to_coordinator(conn, name, req.payload, ref)
            return
        if op == "to_members":
            self.stats.messages_delivered += self.sessions.to_members(conn, name, req.payload, ref)
            return
        joining = (op == "subscribe" and name not in conn.channels) or (op == "session_join"
                                                                         and name not in conn.sessions)
        if joining and len(conn.channels) + len(conn.sessions) >= self.max_subscriptions:
            conn.push(error_frame("LIMIT_EXCEEDED", f"at most {self.max_subscriptions} channels and sessions "
                                  "per connection", ref=ref, **where))
            return
        action = "publish" if op == "publish" else "subscribe"
        target = f"session:{name}" if is_session else name
        if not await self.access.allowed(conn.principal, target, action):
            verb = {"subscribe": "subscribe to channel", "presence": "see presence of channel",
                    "publish": "publish on channel", "session_join": "join session"}[op]
            conn.push(error_frame("PERMISSION_DENIED", f"not allowed to {verb} '{name}'", ref=ref, **where))
            return
        if op == "subscribe":
            self.subscribe(conn, name, ref)
        elif op == "presence":
            self.presence(conn, name, ref)
        elif op == "publish":
            self.publish(name, req.payload, conn.pid, origin=conn)
        else:
            self.sessions.join(conn, name)

    # -- GET /realtime/health -----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        s = self.stats
        return {"status": "ok", "tier": "ephemeral-realtime", "stats": {
            "messages_published": s.messages_published, "messages_delivered": s.messages_delivered,
            "dropped_frames": s.dropped_frames, "connections_opened": s.connections_opened,
            "connections_closed": s.connections_closed, "active_clients": len(self.connections),
            "active_channels": len(self.channels), "active_sessions": len(self.sessions)}}
