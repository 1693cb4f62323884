"""The jobs and workers tables, and the job state machine as write units (jobs chapter §4, §6, §7).

Every function taking ``conn`` is a pure function of the connection: the single writer runs it
inside its transaction (and may run it again after a rollback), so leases are claimed atomically and
concurrent workers never share a job. ``now`` is passed in, which keeps the state machine testable
with a fixed clock. Timestamps use the canonical UTC text form, so comparing text compares times.

    queued --lease--> leased --complete--> succeeded
      ^                 |  \\--fail (retryable, attempts < max) / lease expired--> queued (later / at once)
      |                 \\--fail (final) / lease expired past maxAttempts--> dead
      \\-- retry (admin) -- dead, cancelled <--cancel-- queued, leased
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from atomo import clock
from atomo.errors import ConflictError, NotFoundError
from atomo.storage.events import uuid4, uuid7
from atomo.storage.pg_log import on_postgres  # PgConnection maps ?, IS ? and ifnull already

STATUSES = ("queued", "leased", "succeeded", "dead", "cancelled")
TERMINAL = frozenset({"succeeded", "dead", "cancelled"})
MAX_ERROR_CHARS = 10_000
BACKOFF_BASE_SECS = 5
BACKOFF_CAP_SECS = 3600

JOBS_DDL = """
CREATE TABLE IF NOT EXISTS jobs (
  seq             INTEGER PRIMARY KEY,
  id              TEXT    NOT NULL UNIQUE,
  queue           TEXT    NOT NULL,
  kind            TEXT    NOT NULL,
  status          TEXT    NOT NULL,
  payload         TEXT    NOT NULL,
  result          TEXT,
  error           TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  max_attempts    INTEGER NOT NULL DEFAULT 5,
  priority        INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT,
  lease_id        TEXT,
  worker_id       TEXT,
  visible_at      TEXT    NOT NULL,
  tenant_id       TEXT,
  created_by      TEXT,
  progress        TEXT,
  created_at      TEXT    NOT NULL,
  updated_at      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_jobs_ready ON jobs (queue, priority DESC, visible_at, seq) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS idx_jobs_leased ON jobs (visible_at) WHERE status = 'leased';
CREATE INDEX IF NOT EXISTS idx_jobs_status_seq ON jobs (status, seq);
CREATE UNIQUE INDEX IF NOT EXISTS uq_jobs_idempotency ON jobs (queue, ifnull(tenant_id, ''), idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS workers (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  token_hash    TEXT NOT NULL UNIQUE,
  queues        TEXT NOT NULL,
  capabilities  TEXT NOT NULL,
  is_revoked    INTEGER NOT NULL DEFAULT 0,
  created_at    TEXT NOT NULL,
  last_seen_at  TEXT,
  tenant_id     TEXT
)
"""


def create_job_tables(conn: sqlite3.Connection) -> None:
    """Idempotent; runs in the boot migration unit."""
    ddl = JOBS_DDL
    if on_postgres(conn):                  # no rowid: an identity column gives the enqueue order
        ddl = ddl.replace("seq             INTEGER PRIMARY KEY", "seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
    for statement in ddl.split(";\n"):
        if statement.strip():
            conn.execute(statement)
    if on_postgres(conn):
        conn.execute("ALTER TABLE workers ADD COLUMN IF NOT EXISTS tenant_id TEXT")
    elif "tenant_id" not in {row[1] for row in conn.execute("PRAGMA table_info(workers)")}:
        conn.execute("ALTER TABLE workers ADD COLUMN tenant_id TEXT")   # files from before workers had tenants


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


utcnow = clock.now        # the process clock (atomo/clock.py): frozen in tests


def backoff_secs(attempts: int) -> int:
    """``min(5 × 2^(attempts−1), 3600)``: 5, 10, 20, 40 … 3600."""
    return min(BACKOFF_BASE_SECS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECS) if attempts < 20 else BACKOFF_CAP_SECS


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class NewJob:
    queue: str
    kind: str
    payload: Any
    tenant_id: str | None = None
    created_by: str | None = None
    idempotency_key: str | None = None
    max_attempts: int = 5
    priority: int = 0


# -- views -------------------------------------------------------------------------------------------
def job_view(row: sqlite3.Row) -> dict[str, Any]:
    """``GET /jobs/{id}``: never the lease bookkeeping."""
    return {"id": row["id"], "queue": row["queue"], "kind": row["kind"], "status": row["status"],
            "attempts": row["attempts"], "maxAttempts": row["max_attempts"], "result": _loads(row["result"]),
            "error": row["error"], "priority": row["priority"], "tenantId": row["tenant_id"],
            "createdBy": row["created_by"], "progress": _loads(row["progress"]),
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def leased_view(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "queue": row["queue"], "kind": row["kind"], "payload": _loads(row["payload"]),
            "attempts": row["attempts"], "maxAttempts": row["max_attempts"], "leaseId": row["lease_id"]}


def status_frame(row: sqlite3.Row) -> dict[str, Any]:
    """The realtime ``status`` payload of a job after a transition (§9)."""
    return {"event": "status", "jobId": row["id"], "status": row["status"], "attempts": row["attempts"],
            "result": _loads(row["result"]), "error": row["error"]}


# -- enqueue -----------------------------------------------------------------------------------------
def enqueue(conn: sqlite3.Connection, job: NewJob, now: datetime) -> tuple[str, bool]:
    """Insert a queued job; with an idempotency key already used in (queue, tenant): the existing id.

    One statement in the common case: the insert is skipped by the unique index on a duplicate key."""
    job_id, stamp = uuid7(), iso(now)
    inserted = conn.execute(
        "INSERT INTO jobs (id, queue, kind, status, payload, attempts, max_attempts, priority, idempotency_key,"
        " visible_at, tenant_id, created_by, created_at, updated_at) VALUES (?,?,?,'queued',?,0,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (queue, ifnull(tenant_id, ''), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING",
        (job_id, job.queue, job.kind, _dumps(job.payload), job.max_attempts, job.priority, job.idempotency_key, stamp,
         job.tenant_id, job.created_by, stamp, stamp)).rowcount
    if inserted:
        return job_id, False
    row = conn.execute("SELECT id FROM jobs WHERE queue = ? AND ifnull(tenant_id, '') = ? AND idempotency_key = ?",
                       (job.queue, job.tenant_id or "", job.idempotency_key)).fetchone()
    return str(row[0]), True


# -- worker plane ------------------------------------------------------------------------------------
def lease(conn: sqlite3.Connection, *, queues: list[str], capacity: int, visibility_secs: int, worker_id: str,
          kinds: tuple[str, ...] | None, now: datetime, tenant_id: str | None = None) -> list[sqlite3.Row]:
    """Claim up to ``capacity`` visible queued jobs: priority (high first), then visibleAt, then age.

    ``kinds``: when not None, jobs of queue ``actions`` must have one of these kinds. ``tenant_id``: a
    tenant-bound worker only ever leases that tenant's jobs."""
    stamp, until = iso(now), iso(now + timedelta(seconds=visibility_secs))
    marks = ",".join("?" * len(queues))
    sql = f"SELECT seq FROM jobs WHERE status = 'queued' AND queue IN ({marks}) AND visible_at <= ?"
    params: list[Any] = [*queues, stamp]
    if tenant_id is not None:
        sql += " AND tenant_id = ?"
        params.append(tenant_id)
    if kinds is not None:
        sql += f" AND (queue != 'actions' OR kind IN ({','.join('?' * len(kinds))}))"
        params += kinds
    sql += " ORDER BY priority DESC, visible_at, seq LIMIT ?"
    params.append(capacity)
    if on_postgres(conn):                  # a lease that runs beside another instance's skips the jobs it holds
        sql += " FOR UPDATE SKIP LOCKED"
    claimed = []
    for (seq,) in conn.execute(sql, params).fetchall():
        claimed.append(conn.execute(
            "UPDATE jobs SET status = 'leased', attempts = attempts + 1, lease_id = ?, worker_id = ?, visible_at = ?,"
            " updated_at = ? WHERE seq = ? RETURNING *", (uuid4(), worker_id, until, stamp, seq)).fetchone())
    return claimed


def unlease(conn: sqlite3.Connection, leases: list[tuple[str, str]], now: datetime) -> None:
    """Give back leases that never reached their worker (it went away during a long poll): the attempt is undone."""
    stamp = iso(now)
    conn.executemany("UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_id = NULL, worker_id = NULL,"
                     " visible_at = ?, updated_at = ? WHERE id = ? AND lease_id = ? AND status = 'leased'",
                     [(stamp, stamp, job_id, lease_id) for job_id, lease_id in leases])


_HELD = "id = ? AND lease_id = ? AND worker_id = ? AND status = 'leased'"


def extend(conn: sqlite3.Connection, job_id: str, lease_id: str, worker_id: str, visibility_secs: int,
           now: datetime, progress: dict[str, Any] | None = None) -> bool:
    """Heartbeat (and progress): ``visibleAt = now + visibility``; False when the lease is not held."""
    until = iso(now + timedelta(seconds=visibility_secs))
    if progress is None:
        cur = conn.execute(f"UPDATE jobs SET visible_at = ? WHERE {_HELD}", (until, job_id, lease_id, worker_id))
    else:
        cur = conn.execute(f"UPDATE jobs SET visible_at = ?, progress = ?, updated_at = ? WHERE {_HELD}",
                           (until, _dumps(progress), iso(now), job_id, lease_id, worker_id))
    return cur.rowcount == 1


def complete(conn: sqlite3.Connection, job_id: str, lease_id: str, worker_id: str, result: Any,
             now: datetime) -> sqlite3.Row | None:
    return conn.execute(  # type: ignore[no-any-return]
        f"UPDATE jobs SET status = 'succeeded', result = ?, error = NULL, lease_id = NULL, updated_at = ?"
        f" WHERE {_HELD} RETURNING *", (_dumps(result), iso(now), job_id, lease_id, worker_id)).fetchone()


def fail(conn: sqlite3.Connection, job_id: str, lease_id: str, worker_id: str, *, error: str, retryable: bool,
         delay_secs: int | None, now: datetime) -> tuple[sqlite3.Row, int | None] | None:
    """``(job, delay)`` with delay None when the job is dead; None when the lease is not held."""
    row = conn.execute(f"SELECT attempts, max_attempts FROM jobs WHERE {_HELD}",
                       (job_id, lease_id, worker_id)).fetchone()
    if row is None:
        return None
    error = error[:MAX_ERROR_CHARS]
    if retryable and row["attempts"] < row["max_attempts"]:
        delay = backoff_secs(row["attempts"]) if delay_secs is None else delay_secs
        job = conn.execute("UPDATE jobs SET status = 'queued', error = ?, lease_id = NULL, worker_id = NULL,"
                           " visible_at = ?, updated_at = ? WHERE id = ? RETURNING *",
                           (error, iso(now + timedelta(seconds=delay)), iso(now), job_id)).fetchone()
        return job, delay
    job = conn.execute("UPDATE jobs SET status = 'dead', error = ?, lease_id = NULL, updated_at = ? WHERE id = ?"
                       " RETURNING *", (error, iso(now), job_id)).fetchone()
    return job, None


def reclaim(conn: sqlite3.Connection, now: datetime) -> list[sqlite3.Row]:
    """The sweep: expired leases return to the queue at once, or die past maxAttempts."""
    stamp = iso(now)
    expired = conn.execute("SELECT seq, attempts, max_attempts FROM jobs WHERE status = 'leased' AND visible_at < ?",
                           (stamp,)).fetchall()
    changed = []
    for seq, attempts, max_attempts in expired:
        if attempts < max_attempts:
            sql = ("UPDATE jobs SET status = 'queued', lease_id = NULL, worker_id = NULL, visible_at = ?,"
                   " updated_at = ? WHERE seq = ? RETURNING *")
            changed.append(conn.execute(sql, (stamp, stamp, seq)).fetchone())
        else:
            sql = ("UPDATE jobs SET status = 'dead', error = 'lease expired', lease_id = NULL, updated_at = ?"
                   " WHERE seq = ? RETURNING *")
            changed.append(conn.execute(sql, (stamp, seq)).fetchone())
    return changed


def release_worker(conn: sqlite3.Connection, worker_id: str, now: datetime, *, scoped: bool = False,
                   tenant_id: str | None = None) -> list[sqlite3.Row]:
    """Revoke a worker token; its leased jobs return to ``queued`` at once. NOT_FOUND if unknown, revoked,
    or (``scoped``) bound to another tenant than ``tenant_id``."""
    sql, params = "UPDATE workers SET is_revoked = 1 WHERE id = ? AND is_revoked = 0", [worker_id]
    if scoped:
        sql += " AND tenant_id IS ?"
        params.append(tenant_id)
    if conn.execute(sql, params).rowcount != 1:
        raise NotFoundError(f"worker '{worker_id}' not found")
    stamp = iso(now)
    return conn.execute("UPDATE jobs SET status = 'queued', lease_id = NULL, worker_id = NULL, visible_at = ?,"
                        " updated_at = ? WHERE worker_id = ? AND status = 'leased' RETURNING *",
                        (stamp, stamp, worker_id)).fetchall()


# -- app and admin plane -------------------------------------------------------------------------------
def cancel(conn: sqlite3.Connection, job_id: str, now: datetime) -> sqlite3.Row:
    row = conn.execute("UPDATE jobs SET status = 'cancelled', lease_id = NULL, updated_at = ?"
                       " WHERE id = ? AND status IN ('queued', 'leased') RETURNING *", (iso(now), job_id)).fetchone()
    if row is None:
        raise ConflictError(f"job '{job_id}' is already finished")
    return row  # type: ignore[no-any-return]


def retry(conn: sqlite3.Connection, job_id: str, now: datetime) -> sqlite3.Row:
    stamp = iso(now)
    row = conn.execute("UPDATE jobs SET status = 'queued', attempts = 0, lease_id = NULL, worker_id = NULL,"
                       " visible_at = ?, updated_at = ? WHERE id = ? AND status IN ('dead', 'cancelled') RETURNING *",
                       (stamp, stamp, job_id)).fetchone()
    if row is None:
        raise ConflictError(f"job '{job_id}' is not dead or cancelled")
    return row  # type: ignore[no-any-return]


def find(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()  # type: ignore[no-any-return]
