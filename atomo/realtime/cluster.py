"""Realtime across the worker processes of ``atomo serve --workers N`` (channels, presence, sessions).

Each worker's hub keeps its own connections; what crosses processes goes over the bus (``atomo.cluster``):

- **Presence.** A worker tells the supervisor when a principal's *local* connection count on a channel
  goes 0->1 or 1->0 (``rt.presence``). The supervisor keeps the union per worker (worker -> channel ->
  principals) and forwards each change to the other workers, which keep a replica of every other worker
  (``ClusterLink.replicas``). A worker sends ``joined``/``left`` to its local subscribers when the
  principal's *global* count (local + replicas) goes 0->1 / 1->0 on its view, and presence snapshots are
  the union; so a second tab on another worker is no second ``joined``, closing one of two no ``left``.
  When a worker's relay connection ends (it died or stopped), the supervisor tells the others
  (``rt.gone``): they drop its replica and send ``left`` for principals no longer present anywhere. When
  a worker connects (or reconnects), the supervisor sends it the full state of the others (``rt.sync``)
  and the worker answers with its own local members (``rt.mine``; nothing for a restarted worker), both
  replacing what was known, so nothing depends on a delta that was lost. The replica is bounded by the
  other workers' connections x ``ATOMO_REALTIME_MAX_SUBSCRIPTIONS``.
- **Publish.** Local fan-out is unchanged; a publish (client ``publish`` and the in-process
  ``hub.publish`` of jobs) is also sent to the workers that have subscribers of the channel, read from
  the presence replica a worker already keeps (a worker has local subscribers exactly when it has local
  members): none -> nothing is sent, one -> to that worker, more -> to every worker (those without
  subscribers ignore it). So no extra bookkeeping messages and no hop through the supervisor; frames go
  worker -> relay -> worker, in order per sender.
- **Coordinator sessions.** One authority for slots and coordinators: the supervisor runs the same
  ``Sessions`` state machine (policy ``reelect``/``close``) over ``Member`` proxies (principal id, the
  owning worker, a connection id) whose ``push`` sends the frame back to that worker, which delivers it
  to the local connection. Workers forward ``session_join``/``session_leave``/``to_coordinator``/
  ``to_members`` and disconnects after their own checks (rate limits, access, the subscription limit).
  A worker that is gone takes all its members out of their sessions (the policy applies).

Alone (one process) nothing here is used: the hub has no ``peers`` and keeps its in-process ``Sessions``.
``attach(hub, bus)`` is the worker's end (called by ``realtime_hub`` when the runtime is a group member);
``supervise(relay, policy)`` is the supervisor's.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any

from atomo.cluster.bus import Bus
from atomo.cluster.frames import ALL, SUPERVISOR
from atomo.cluster.relay import Relay
from atomo.realtime.connection import Connection, Stats
from atomo.realtime.protocol import Outgoing, _portable, error_frame
from atomo.realtime.sessions import Sessions

if TYPE_CHECKING:         # the supervisor imports this module, not the hub (nor the HTTP layer below it)
    from atomo.realtime.hub import RealtimeHub

log = logging.getLogger("atomo.realtime")

# worker -> supervisor
PRESENCE = "rt.presence"        # [channel, principal, present]: a local count went 0->1 (True) or 1->0 (False)
MINE = "rt.mine"                # {channel: [principals]}: every local member, the answer to rt.sync
WANT = "rt.want"                # None: send me rt.sync (a hub made after the bus connected)
JOIN = "rt.s.join"              # [conn id, principal, session]
LEAVE = "rt.s.leave"            # [conn id, session]
TO_COORDINATOR = "rt.s.coord"   # [conn id, session, payload, ref]
TO_MEMBERS = "rt.s.members"     # [conn id, session, payload, ref]
BYE = "rt.s.bye"                # [conn id]: the connection closed
# supervisor -> worker
CHANGES = "rt.changes"          # [[worker, channel, principal, present], ...]
GONE = "rt.gone"                # worker index: drop its replica
SYNC = "rt.sync"                # {worker: {channel: [principals]}}: the other workers' members, in full
OUT = "rt.s.out"                # [[frame, [conn id, ...]], ...]: session frames to local connections
# worker -> worker
MESSAGE = "rt.message"          # [channel, payload, sender principal]


def send(bus: Bus, kind: str, payload: Any, to: int) -> None:
    """``bus.send`` of a value with client data in it: values MessagePack cannot carry as they are (integers
    beyond 64 bits, datetimes of job payloads) are sent in their portable form (strings), as for
    MessagePack clients."""
    try:
        bus.send(kind, payload, to=to)
    except (OverflowError, TypeError, ValueError):
        bus.send(kind, _portable(payload), to=to)


# -- the worker's end ------------------------------------------------------------------------------------
def mark(channels: dict[str, set[str]], channel: str, pid: str, present: bool) -> bool:
    """Add (or remove) ``pid`` in one worker's members of ``channel``; False when nothing changed."""
    pids = channels.get(channel)
    if present:
        if pids is None:
            pids = channels[channel] = set()
        elif pid in pids:
            return False
        pids.add(pid)
        return True
    if pids is None or pid not in pids:
        return False
    pids.discard(pid)
    if not pids:
        del channels[channel]
    return True


class ClusterLink:
    """The hub's ``peers``: replicas of the other workers' presence, and publishes to them."""

    def __init__(self, hub: RealtimeHub, bus: Bus) -> None:
        self.hub = hub
        self.bus = bus
        self.replicas: dict[int, dict[str, set[str]]] = {}     # worker -> channel -> principals present there
        self.remote: dict[str, dict[str, int]] = {}            # channel -> principal -> workers (not this one)
        bus.on(CHANGES, self._on_changes)
        bus.on(GONE, self._on_gone)
        bus.on(SYNC, self._on_sync)
        bus.on(MESSAGE, self._on_message)

    # -- Peers (called by the hub) ---------------------------------------------------------------------
    def joined(self, channel: str, pid: str) -> bool:
        self.bus.send(PRESENCE, [channel, pid, True], to=SUPERVISOR)
        return pid not in self.remote.get(channel, ())

    def left(self, channel: str, pid: str) -> bool:
        self.bus.send(PRESENCE, [channel, pid, False], to=SUPERVISOR)
        return pid not in self.remote.get(channel, ())

    def members(self, channel: str, local: dict[str, int]) -> list[str]:
        remote = self.remote.get(channel)
        if not remote:
            return sorted(local)
        return sorted(local.keys() | remote.keys())

    def publish(self, channel: str, payload: Any, sender: str) -> None:
        targets = [worker for worker, channels in self.replicas.items() if channel in channels]
        if targets:
            send(self.bus, MESSAGE, [channel, payload, sender], targets[0] if len(targets) == 1 else ALL)

    # -- from the bus ----------------------------------------------------------------------------------
    def _on_message(self, payload: Any, _sender: int) -> None:
        channel, data, who = payload
        self.hub.deliver(channel, data, who)

    def _on_changes(self, payload: Any, _sender: int) -> None:
        for worker, channel, pid, present in payload:
            if worker != self.bus.index:
                self._apply(worker, channel, pid, present)

    def _on_gone(self, payload: Any, _sender: int) -> None:
        for channel, pids in list(self.replicas.get(payload, {}).items()):
            for pid in list(pids):
                self._apply(payload, channel, pid, False)
        self.replicas.pop(payload, None)

    def _on_sync(self, payload: Any, _sender: int) -> None:
        """The full state of the other workers: replaces the replicas (joined/left for what differs), then
        this worker's own members go to the supervisor, replacing what it knew of this worker."""
        wanted = {(int(w), channel, pid) for w, channels in payload.items() if int(w) != self.bus.index
                  for channel, pids in channels.items() for pid in pids}
        known = {(w, channel, pid) for w, channels in self.replicas.items()
                 for channel, pids in channels.items() for pid in pids}
        for worker, channel, pid in known - wanted:
            self._apply(worker, channel, pid, False)
        for worker, channel, pid in wanted - known:
            self._apply(worker, channel, pid, True)
        mine = {name: list(channel.members) for name, channel in self.hub.channels.items()}
        self.bus.send(MINE, mine, to=SUPERVISOR)

    def _apply(self, worker: int, channel: str, pid: str, present: bool) -> None:
        if not mark(self.replicas.setdefault(worker, {}), channel, pid, present):
            return
        if present:
            counts = self.remote.setdefault(channel, {})
            before = counts.get(pid, 0)
            counts[pid] = before + 1
            if before == 0:
                self.hub.remote_presence(channel, pid, True)
            return
        counts = self.remote[channel]
        after = counts[pid] - 1
        if after:
            counts[pid] = after
            return
        del counts[pid]
        if not counts:
            del self.remote[channel]
        self.hub.remote_presence(channel, pid, False)


class ClusterSessions(Sessions):
    """A worker's sessions while the bus is connected: every operation goes to the supervisor, and the frames
    it sends back are delivered to the local connections. Before the bus connects (or alone), the
    in-process ``Sessions`` it extends."""

    def __init__(self, policy: str, bus: Bus, stats: Stats) -> None:
        super().__init__(policy)
        self.bus = bus
        self.stats = stats
        self.ids: dict[Connection, int] = {}        # connections that used sessions -> their id on the relay
        self.conns: dict[int, Connection] = {}
        self._next_id = itertools.count(1)
        bus.on(OUT, self._on_out)

    def __len__(self) -> int:
        if not self.bus.clustered:
            return super().__len__()
        return len({name for conn in self.conns.values() for name in conn.sessions})

    def _id(self, conn: Connection) -> int:
        cid = self.ids.get(conn)
        if cid is None:
            cid = self.ids[conn] = next(self._next_id)
            self.conns[cid] = conn
        return cid

    def join(self, conn: Connection, name: str) -> None:
        if not self.bus.clustered:
            super().join(conn, name)
            return
        conn.sessions.add(name)
        self.bus.send(JOIN, [self._id(conn), conn.pid, name], to=SUPERVISOR)

    def leave(self, conn: Connection, name: str) -> None:
        if not self.bus.clustered:
            super().leave(conn, name)
            return
        conn.sessions.discard(name)
        cid = self.ids.get(conn)
        if cid is not None:
            self.bus.send(LEAVE, [cid, name], to=SUPERVISOR)

    def to_coordinator(self, conn: Connection, name: str, payload: Any, ref: Any) -> int:
        if not self.bus.clustered:
            return super().to_coordinator(conn, name, payload, ref)
        if name not in conn.sessions:
            conn.push(error_frame("NOT_A_MEMBER", f"not a member of session '{name}'", session=name, ref=ref))
            return 0
        send(self.bus, TO_COORDINATOR, [self._id(conn), name, payload, ref], SUPERVISOR)
        return 0                    # counted when delivered (_on_out)

    def to_members(self, conn: Connection, name: str, payload: Any, ref: Any) -> int:
        if not self.bus.clustered:
            return super().to_members(conn, name, payload, ref)
        if name not in conn.sessions:
            conn.push(error_frame("NOT_COORDINATOR", f"not the coordinator of session '{name}'", session=name,
                                  ref=ref))
            return 0
        send(self.bus, TO_MEMBERS, [self._id(conn), name, payload, ref], SUPERVISOR)
        return 0

    def leave_all(self, conn: Connection) -> None:
        cid = self.ids.pop(conn, None)
        if cid is None:
            super().leave_all(conn)
            return
        del self.conns[cid]
        conn.sessions.clear()
        self.bus.send(BYE, cid, to=SUPERVISOR)

    def _on_out(self, payload: Any, _sender: int) -> None:
        for body, cids in payload:
            out = Outgoing(body)
            kind = body.get("type")
            for cid in cids:
                conn = self.conns.get(cid)
                if conn is None:
                    continue
                if kind == "session_closed":
                    conn.sessions.discard(body.get("session"))
                if conn.push(out) and kind in ("from_member", "from_coordinator"):
                    self.stats.messages_delivered += 1


def attach(hub: RealtimeHub, bus: Bus) -> ClusterLink:
    """Make ``hub`` one of several workers' hubs (its ``peers`` and ``sessions``); the bus may connect later."""
    link = ClusterLink(hub, bus)
    hub.peers = link
    hub.sessions = ClusterSessions(hub.sessions.policy, bus, hub.stats)
    if bus.clustered:             # connected already: the supervisor's hello-time sync may have gone unheard
        bus.send(WANT, None, to=SUPERVISOR)
    return link


# -- the supervisor's end --------------------------------------------------------------------------------
class Member:
    """A session member as the supervisor sees it: one connection of one worker."""

    __slots__ = ("owner", "worker", "cid", "pid", "sessions", "alive")

    def __init__(self, owner: RealtimeSupervisor, worker: int, cid: int, pid: str) -> None:
        self.owner = owner
        self.worker = worker
        self.cid = cid
        self.pid = pid
        self.sessions: set[str] = set()
        self.alive = True

    def push(self, out: Outgoing, burst: int | None = None) -> bool:
        if not self.alive:
            return False
        box = self.owner.outbox.setdefault(self.worker, [])
        if box and box[-1][0] is out:        # the same frame to several members of one worker: sent once
            box[-1][2].append(self.cid)
        else:
            box.append((out, out.frame, [self.cid]))
        return True


class RealtimeSupervisor:
    """The supervisor's realtime state: every worker's channel members, and the coordinator sessions."""

    def __init__(self, relay: Relay, policy: str = "reelect") -> None:
        self.relay = relay
        self.members: dict[int, dict[str, set[str]]] = {}     # worker -> channel -> its local principals
        self.sessions = Sessions(policy)
        self.proxies: dict[tuple[int, int], Member] = {}
        self.outbox: dict[int, list[tuple[Outgoing, dict[str, Any], list[int]]]] = {}
        for kind, handler in ((PRESENCE, self._presence), (MINE, self._mine), (WANT, self._want),
                              (JOIN, self._join), (LEAVE, self._leave), (TO_COORDINATOR, self._to_coordinator),
                              (TO_MEMBERS, self._to_members), (BYE, self._bye)):
            relay.on(kind, handler)
        relay.joined.append(self._joined)
        relay.gone.append(self._gone)

    # -- workers coming and going ----------------------------------------------------------------------
    def _joined(self, index: int) -> None:
        if index in self.members or any(worker == index for worker, _ in self.proxies):
            self._drop(index)           # a replacement of a worker whose connection did not end first
        self._sync(index)

    def _gone(self, index: int) -> None:
        self._drop(index)

    def _drop(self, index: int) -> None:
        self.members.pop(index, None)
        self.relay.broadcast(GONE, index, exclude=index)
        lost = [key for key in self.proxies if key[0] == index]
        members = [self.proxies.pop(key) for key in lost]
        for member in members:
            member.alive = False
        self.outbox.pop(index, None)
        for member in members:
            self.sessions.leave_all(member)     # type: ignore[arg-type]
        self._flush()

    def _sync(self, index: int) -> None:
        state = {worker: {channel: sorted(pids) for channel, pids in channels.items()}
                 for worker, channels in self.members.items() if worker != index}
        self.relay.send_to(index, SYNC, state)

    def _want(self, _payload: Any, sender: int) -> None:
        self._sync(sender)

    # -- presence ------------------------------------------------------------------------------------------
    def _presence(self, payload: Any, sender: int) -> None:
        channel, pid, present = payload
        if not mark(self.members.setdefault(sender, {}), channel, pid, bool(present)):
            return
        self.relay.broadcast(CHANGES, [[sender, channel, pid, bool(present)]], exclude=sender)

    def _mine(self, payload: Any, sender: int) -> None:
        new = {channel: set(pids) for channel, pids in payload.items() if pids}
        old = self.members.get(sender, {})
        changes = [[sender, channel, pid, False] for channel, pids in old.items()
                   for pid in pids - new.get(channel, set())]
        changes += [[sender, channel, pid, True] for channel, pids in new.items()
                    for pid in pids - old.get(channel, set())]
        self.members[sender] = new
        if changes:
            self.relay.broadcast(CHANGES, changes, exclude=sender)

    # -- sessions ------------------------------------------------------------------------------------------
    def _member(self, worker: int, cid: int, pid: str = "") -> Member:
        member = self.proxies.get((worker, cid))
        return member if member is not None else Member(self, worker, cid, pid)

    def _join(self, payload: Any, sender: int) -> None:
        cid, pid, name = payload
        member = self.proxies.get((sender, cid))
        if member is None:
            member = self.proxies[(sender, cid)] = Member(self, sender, cid, pid)
        self.sessions.join(member, name)                    # type: ignore[arg-type]
        self._flush()

    def _leave(self, payload: Any, sender: int) -> None:
        cid, name = payload
        member = self.proxies.get((sender, cid))
        if member is not None:
            self.sessions.leave(member, name)               # type: ignore[arg-type]
            if not member.sessions:
                del self.proxies[(sender, cid)]
            self._flush()

    def _to_coordinator(self, payload: Any, sender: int) -> None:
        cid, name, data, ref = payload
        self.sessions.to_coordinator(self._member(sender, cid), name, data, ref)   # type: ignore[arg-type]
        self._flush()

    def _to_members(self, payload: Any, sender: int) -> None:
        cid, name, data, ref = payload
        self.sessions.to_members(self._member(sender, cid), name, data, ref)       # type: ignore[arg-type]
        self._flush()

    def _bye(self, payload: Any, sender: int) -> None:
        member = self.proxies.pop((sender, payload), None)
        if member is not None:
            self.sessions.leave_all(member)                 # type: ignore[arg-type]
            self._flush()

    def _flush(self) -> None:
        outbox, self.outbox = self.outbox, {}
        for worker, box in outbox.items():
            self.relay.send_to(worker, OUT, [[body, cids] for _, body, cids in box])


def supervise(relay: Relay, policy: str = "reelect") -> RealtimeSupervisor:
    """The supervisor's part of realtime across workers, on ``relay`` (before workers connect, or at least
    before they serve): ``policy`` is ``settings.realtime_coordinator_policy``
    (``ATOMO_REALTIME_COORDINATOR_POLICY``). The returned state needs no further calls."""
    return RealtimeSupervisor(relay, policy)
