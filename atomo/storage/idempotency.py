"""Idempotency keys of GraphQL mutations (Atomo-Python extension; the client SDK's offline queue uses them).

A mutation request sent with ``Idempotency-Key`` carries an :class:`IdempotencyClaim` on its caller. The
first event any of its write units appends inserts the claim's row *inside that unit's transaction*
(:func:`claim_in_transaction`, called by the record writer), so "the mutation was applied" and "the key is
taken" commit or roll back together: a crash can never leave a write without its key or a key without its
write. The response body is stored by a second, small write once the request has been answered; a retry
finds it and gets the same answer. A request that wrote nothing (an error, a no-op) leaves no row, so its
retry runs again, which is safe because it changed nothing.

Rows live ``ttl_seconds`` (default 24 h); older rows are ignored, and removed by a write that stores an answer
(at most once a minute).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from atomo import clock

if TYPE_CHECKING:
    from atomo.storage.database import Database

IDEMPOTENCY_DDL = """
CREATE TABLE IF NOT EXISTS _atomo_idempotency (
  scope          TEXT NOT NULL,
  key            TEXT NOT NULL,
  fingerprint    TEXT NOT NULL,
  first_position INTEGER NOT NULL,
  status         INTEGER,
  response       BLOB,
  created_at     TEXT NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_idempotency_created ON _atomo_idempotency (created_at);
"""

# a stored answer larger than this is not kept: a retry is then told the mutation was applied (ALREADY_APPLIED)
MAX_STORED_RESPONSE = 1 << 20
# expired rows are removed by the first stored answer after this many seconds (and never read: find checks the age)
PRUNE_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class IdempotencyClaim:
    """One mutation request's key: ``scope`` is the user and tenant, ``fingerprint`` hashes the request."""

    scope: str
    key: str
    fingerprint: str
    stale_before: str       # a row of this key older than this has expired: this request takes it over


@dataclass(frozen=True)
class KeyRow:
    fingerprint: str
    first_position: int
    status: int | None
    response: bytes | None


def claim_in_transaction(conn: sqlite3.Connection, claim: IdempotencyClaim, position: int) -> None:
    """Inside a write unit, for each event it appends: the first one takes the key (later ones of the same
    request find it taken by themselves); an expired row of the key, not yet pruned, is taken over."""
    conn.execute("INSERT INTO _atomo_idempotency (scope, key, fingerprint, first_position, created_at)"
                 " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint,"
                 " first_position = excluded.first_position, status = NULL, response = NULL,"
                 " created_at = excluded.created_at WHERE _atomo_idempotency.created_at < ?",
                 (claim.scope, claim.key, claim.fingerprint, position, clock.now_iso(), claim.stale_before))


class IdempotencyStore:
    """Reads and completes the rows of one data file."""

    def __init__(self, db: Database, ttl_seconds: int) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self._pruned_at = float("-inf")      # monotonic time of the last removal of expired rows

    async def find(self, claim: IdempotencyClaim) -> KeyRow | None:
        def read(conn: sqlite3.Connection) -> KeyRow | None:
            row = conn.execute("SELECT fingerprint, first_position, status, response, created_at"
                               " FROM _atomo_idempotency WHERE scope = ? AND key = ?",
                               (claim.scope, claim.key)).fetchone()
            if row is None or row[4] < claim.stale_before:
                return None
            return KeyRow(row[0], int(row[1]), row[2], None if row[3] is None else bytes(row[3]))
        return await self.db.read(read, inline=True)      # one primary-key lookup

    async def complete(self, claim: IdempotencyClaim, status: int, body: bytes) -> None:
        """Keep the answer of a request that wrote (its row exists); drop expired rows on the way."""
        stored = body if len(body) <= MAX_STORED_RESPONSE else None
        horizon = None
        if clock.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at, horizon = clock.monotonic(), self.horizon()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE _atomo_idempotency SET status = ?, response = ? WHERE scope = ? AND key = ?"
                         " AND response IS NULL", (status, stored, claim.scope, claim.key))
            if horizon is not None:
                conn.execute("DELETE FROM _atomo_idempotency WHERE created_at < ?", (horizon,))
        await self.db.write(write)

    def horizon(self) -> str:
        """Rows created before this instant have expired."""
        return (clock.now() - timedelta(seconds=self.ttl_seconds)).isoformat(timespec="microseconds")
