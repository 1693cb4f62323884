"""Coordinator sessions (realtime chapter §5): named groups with one coordinator and numbered slots.

The first joiner creates the session, is coordinator and gets slot 0; later joiners get the next
unused slot (never reused). Each connection is its own member. When the coordinator leaves, the
policy decides: ``reelect`` (lowest slot takes over: ``member_left`` then ``coordinator_changed``)
or ``close`` (``session_closed`` to everyone, the session ends). Empty sessions are removed.
"""

from __future__ import annotations

from typing import Any

from atomo.realtime.connection import Connection
from atomo.realtime.protocol import Outgoing, error_frame, frame


class Session:
    __slots__ = ("name", "members", "slots", "next_slot", "coordinator")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[int, Connection] = {}     # slot -> connection, in slot order
        self.slots: dict[Connection, int] = {}
        self.next_slot = 0
        self.coordinator = 0

    def roster(self) -> list[dict[str, Any]]:
        return [{"slot": slot, "id": conn.pid} for slot, conn in self.members.items()]

    def start_frame(self, conn: Connection) -> Outgoing:
        slot = self.slots[conn]
        return frame("session_start", session=self.name, slot=slot, coordinator=slot == self.coordinator,
                     members=self.roster())

    def tell_others(self, out: Outgoing, sender: Connection | None) -> int:
        return sum(1 for conn in list(self.members.values()) if conn is not sender and conn.push(out))


class Sessions:
    def __init__(self, policy: str = "reelect") -> None:
        self.policy = policy
        self.sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self.sessions)

    def join(self, conn: Connection, name: str) -> None:
        session = self.sessions.get(name)
        if session is None:
            session = self.sessions[name] = Session(name)
        if conn in session.slots:
            conn.push(session.start_frame(conn))
            return
        slot = session.next_slot
        session.next_slot += 1
        if not session.members:
            session.coordinator = slot
        session.members[slot] = conn
        session.slots[conn] = slot
        conn.sessions.add(name)
        conn.push(session.start_frame(conn))
        session.tell_others(frame("member_joined", session=name, slot=slot, id=conn.pid), conn)

    def leave(self, conn: Connection, name: str) -> None:
        session = self.sessions.get(name)
        conn.sessions.discard(name)
        if session is None or conn not in session.slots:
            return
        slot = session.slots.pop(conn)
        del session.members[slot]
        if not session.members:
            del self.sessions[name]
            return
        if slot != session.coordinator:
            session.tell_others(frame("member_left", session=name, slot=slot, id=conn.pid), None)
        elif self.policy == "close":
            session.tell_others(frame("session_closed", session=name, reason="coordinator_left"), None)
            for member in session.members.values():
                member.sessions.discard(name)
            del self.sessions[name]
        else:
            session.tell_others(frame("member_left", session=name, slot=slot, id=conn.pid), None)
            session.coordinator = min(session.members)
            chosen = session.members[session.coordinator]
            session.tell_others(frame("coordinator_changed", session=name, slot=session.coordinator,
                                      id=chosen.pid), None)

    def to_coordinator(self, conn: Connection, name: str, payload: Any, ref: Any) -> int:
        session = self.sessions.get(name)
        if session is None or conn not in session.slots:
            conn.push(error_frame("NOT_A_MEMBER", f"not a member of session '{name}'", session=name, ref=ref))
            return 0
        slot = session.slots[conn]
        if slot == session.coordinator:
            return 0
        coordinator = session.members[session.coordinator]
        out = frame("from_member", **{"session": name, "from": conn.pid, "slot": slot, "payload": payload})
        return 1 if coordinator.push(out) else 0

    def to_members(self, conn: Connection, name: str, payload: Any, ref: Any) -> int:
        session = self.sessions.get(name)
        if session is None or session.slots.get(conn) != session.coordinator:
            conn.push(error_frame("NOT_COORDINATOR", f"not the coordinator of session '{name}'", session=name,
                                  ref=ref))
            return 0
        return session.tell_others(frame("from_coordinator", session=name, payload=payload), conn)

    def leave_all(self, conn: Connection) -> None:
        for name in list(conn.sessions):
            self.leave(conn, name)
