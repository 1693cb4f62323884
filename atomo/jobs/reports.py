"""Admin reports on the jobs table (jobs chapter §7): ``GET /jobs/stats`` and ``GET /jobs/recent``."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from .store import STATUSES

Scope = tuple[bool, str | None]     # (narrowed to one tenant scope, that tenant; None = untenanted)


def recent_view(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "queue": row["queue"], "kind": row["kind"], "status": row["status"],
            "attempts": row["attempts"], "maxAttempts": row["max_attempts"], "error": row["error"],
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def tenant_filter(scope: Scope) -> tuple[str, list[Any]]:
    """SQL narrowing jobs (or workers) to a caller's tenant scope: ``(scoped, tenant)``."""
    scoped, tenant = scope
    if not scoped:
        return "TRUE", []
    return "tenant_id IS ?", [tenant]


def stats(conn: sqlite3.Connection, now: datetime, scope: Scope = (False, None)) -> dict[str, Any]:
    by_status = dict.fromkeys(STATUSES, 0)
    by_queue = []
    where, params = tenant_filter(scope)
    for queue, status, count in conn.execute(
            f"SELECT queue, status, count(*) FROM jobs WHERE {where} GROUP BY queue, status ORDER BY queue, status",
            params):
        by_status[status] = by_status.get(status, 0) + count
        by_queue.append({"queue": queue, "status": status, "count": count})
    oldest = conn.execute(f"SELECT min(created_at) FROM jobs WHERE status = 'queued' AND {where}", params).fetchone()[0]
    age = None if oldest is None else round((now - datetime.fromisoformat(oldest)).total_seconds(), 3)
    return {"byStatus": by_status, "byQueue": by_queue, "oldestQueuedSeconds": age}


def recent(conn: sqlite3.Connection, *, queue: str | None, status: str | None, limit: int,
           offset: int, scope: Scope = (False, None)) -> list[dict[str, Any]]:
    where, params = tenant_filter(scope)
    sql = f"SELECT * FROM jobs WHERE {where}"
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    if queue is not None:
        sql += " AND queue = ?"
        params.append(queue)
    sql += " ORDER BY seq DESC LIMIT ? OFFSET ?"
    return [recent_view(r) for r in conn.execute(sql, [*params, limit, offset])]
