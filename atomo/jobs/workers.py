"""Worker tokens and capabilities (jobs chapter §7).

A token is ``wkr_`` + 64 lower-case hex characters; only its SHA-256 hex is stored and the plain
token is returned once, at creation. Authenticated identities are cached by hash (a revoke in this
process drops the entry). ``lastSeenAt`` is kept in memory on every call, shown by the list route,
and written to the table by the reclaim sweep, so worker calls cost no extra write.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from atomo.errors import UnauthenticatedError, ValidationError
from atomo.schema.patterns import compile_rules, match, valid_pattern
from atomo.storage.database import Database
from atomo.storage.events import uuid4

from .store import iso, utcnow

QUEUE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,100}\Z")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
CRUD_OPS = ("create", "read", "update", "delete")
MAX_EVENTS_PATTERN = 200


@dataclass(frozen=True)
class StreamPattern:
    """The stream pattern of an ``events:`` capability (same patterns as the schema's stream rules)."""

    pattern: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "wkr_" + secrets.token_hex(32)


def _stream_pattern(pattern: str) -> bool:
    return (1 <= len(pattern) <= MAX_EVENTS_PATTERN and valid_pattern(pattern)
            and not any(ord(c) < 32 or ord(c) == 127 for c in pattern))


def normalize_capability(raw: Any) -> str:
    """``crud:*``, ``crud:<Model>``, ``crud:<Model>:<op>[,<op>…]``, ``action:*``, ``action:<name>``,
    ``events:<stream pattern>`` (``events:*``, ``events:order-*``, ``events:Deal/*``: the patterns of stream rules)."""
    text = raw.strip() if isinstance(raw, str) else ""
    prefix, _, rest = text.partition(":")
    prefix = prefix.lower()
    if prefix == "action" and (rest == "*" or NAME_RE.match(rest)):
        return f"action:{rest}"
    if prefix == "events" and _stream_pattern(rest):
        return f"events:{rest}"
    if prefix == "crud":
        model, _, ops = rest.partition(":")
        if model == "*" and not ops:
            return "crud:*"
        if NAME_RE.match(model):
            if not ops:
                return f"crud:{model}"
            names = [o.strip().lower() for o in ops.split(",")]
            if names and all(o in CRUD_OPS for o in names):
                return f"crud:{model}:{','.join(dict.fromkeys(names))}"
    raise ValidationError.single("capabilities", f"invalid capability {json.dumps(raw)}", "invalid_capability")


@dataclass(frozen=True)
class WorkerIdentity:
    id: str
    name: str
    queues: tuple[str, ...]
    capabilities: tuple[str, ...]
    tenant_id: str | None = None      # created by a tenant-scoped admin: never leaves that tenant

    def allows_queue(self, queue: str) -> bool:
        return "*" in self.queues or queue in self.queues

    @property
    def action_kinds(self) -> tuple[str, ...] | None:
        """Kinds this token may lease from ``actions``; None = every kind."""
        names = [c[7:] for c in self.capabilities if c.startswith("action:")]
        return None if not names or "*" in names else tuple(names)

    def allows_crud(self, model: str, op: str) -> bool:
        for cap in self.capabilities:
            if cap == "crud:*" or cap == f"crud:{model}":
                return True
            prefix = f"crud:{model}:"
            if cap.startswith(prefix) and op in cap[len(prefix):].split(","):
                return True
        return False

    @property
    def stream_patterns(self) -> tuple[StreamPattern, ...]:
        return tuple(StreamPattern(c[7:]) for c in self.capabilities if c.startswith("events:"))

    def allows_events(self, stream: str) -> bool:
        """Whether an ``events:<pattern>`` capability matches ``stream`` (for appending and reading)."""
        patterns = self.stream_patterns
        return bool(patterns) and match(compile_rules(patterns), stream) is not None


def _listed(row: sqlite3.Row, seen: str | None) -> dict[str, Any]:
    last = row["last_seen_at"]
    if seen is not None and (last is None or seen > last):
        last = seen
    return {"id": row["id"], "name": row["name"], "queues": json.loads(row["queues"]),
            "capabilities": json.loads(row["capabilities"]), "isRevoked": bool(row["is_revoked"]),
            "tenantId": row["tenant_id"], "createdAt": row["created_at"], "lastSeenAt": last}


class WorkerRegistry:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_hash: dict[str, WorkerIdentity] = {}
        self.seen: dict[str, str] = {}          # worker id -> last call, not yet written

    async def create(self, body: Any, tenant_id: str | None = None) -> dict[str, Any]:
        """A new worker token; ``tenant_id`` binds it (the creating admin's tenant scope)."""
        if not isinstance(body, dict):
            raise ValidationError.single(None, "body must be a JSON object", "type")
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
            raise ValidationError.single("name", "name must be 1 to 100 characters", "invalid_name")
        queues, caps = body.get("queues") or [], body.get("capabilities") or []
        if not isinstance(queues, list) or not all(isinstance(q, str) and (q == "*" or QUEUE_RE.match(q))
                                                   for q in queues):
            raise ValidationError.single("queues", "queues must be names of [A-Za-z0-9_.:-]{1,100} or '*'",
                                         "invalid_queue")
        if not isinstance(caps, list):
            raise ValidationError.single("capabilities", "capabilities must be a list", "type")
        capabilities = list(dict.fromkeys(normalize_capability(c) for c in caps))
        queues = list(dict.fromkeys(queues))
        token, worker_id, now = new_token(), uuid4(), iso(utcnow())
        name = name.strip()

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO workers (id, name, token_hash, queues, capabilities, created_at, tenant_id)"
                         " VALUES (?,?,?,?,?,?,?)", (worker_id, name, hash_token(token), json.dumps(queues),
                                                    json.dumps(capabilities), now, tenant_id))
        await self.db.write(unit)
        return {"id": worker_id, "name": name, "token": token, "queues": queues, "capabilities": capabilities,
                "tenantId": tenant_id, "createdAt": now}

    async def list(self, scope: tuple[bool, str | None] = (False, None)) -> list[dict[str, Any]]:
        """Workers in a tenant scope ``(scoped, tenant)``, newest first."""
        scoped, tenant = scope
        sql, params = "SELECT * FROM workers", []
        if scoped:
            sql, params = sql + " WHERE tenant_id IS ?", [tenant]
        rows = await self.db.read(lambda c: c.execute(sql + " ORDER BY created_at DESC, id", params).fetchall())
        return [_listed(r, self.seen.get(r["id"])) for r in rows]

    async def authenticate(self, token: str | None) -> WorkerIdentity:
        if token is None:
            raise UnauthenticatedError("missing worker token")
        digest = hash_token(token.strip())
        identity = self._by_hash.get(digest)
        if identity is None:
            row = await self.db.read(lambda c: c.execute("SELECT * FROM workers WHERE token_hash = ?",
                                                          (digest,)).fetchone(), inline=True)
            if row is None or row["is_revoked"]:
                raise UnauthenticatedError("invalid worker token")
            identity = WorkerIdentity(row["id"], row["name"], tuple(json.loads(row["queues"])),
                                      tuple(json.loads(row["capabilities"])), row["tenant_id"])
            if len(self._by_hash) > 10_000:
                self._by_hash.clear()
            self._by_hash[digest] = identity
        self.seen[identity.id] = iso(utcnow())
        return identity

    def reset(self) -> None:
        """The database was restored: worker tokens made since are gone, and pending ``lastSeenAt`` values
        belong to the state before."""
        self._by_hash.clear()
        self.seen.clear()

    def forget(self, worker_id: str) -> None:
        """Drop a revoked worker from the cache."""
        for digest, identity in list(self._by_hash.items()):
            if identity.id == worker_id:
                del self._by_hash[digest]

    def flush_unit(self) -> Any:
        """A write unit storing the pending ``lastSeenAt`` values (None when there are none)."""
        if not self.seen:
            return None
        pending, self.seen = self.seen, {}

        def unit(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE workers SET last_seen_at = ? WHERE id = ? AND (last_seen_at IS NULL"
                             " OR last_seen_at < ?)", [(t, w, t) for w, t in pending.items()])
        return unit
