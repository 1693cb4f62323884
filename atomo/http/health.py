"""Operational endpoints (configuration chapter §3): ``/health``, ``/ready``, ``/version``."""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import TYPE_CHECKING, Any

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from atomo._version import __version__
from atomo.http.errors import rest_error

if TYPE_CHECKING:
    from atomo.http.services import Services

log = logging.getLogger("atomo.http")


def _trivial(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT 1").fetchone()[0])


async def readiness(services: Services) -> tuple[bool, str, dict[str, str]]:
    db = services.db
    checks = {"database": "error", "schema": "ok"}   # services exist only with a valid schema
    if services.state.shutting_down:
        return False, "shutting down", checks
    try:
        await db.read(_trivial, inline=True)
        await db.write(_trivial)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", never a 500
        log.warning("readiness check failed: %r", exc)
        return False, "database unavailable", checks
    if db.write_failure is not None:     # e.g. a full disk: reads work, writes do not
        checks["database"] = "writes failing"
        return False, f"writes are failing ({db.write_failure})", checks
    ok = all(v == "ok" for v in checks.values())
    return ok, "ready" if ok else "not ready", checks


def health_handlers(services: Services) -> list[HTTPRouteHandler]:
    @get("/health", media_type="text/plain", sync_to_thread=False, name="health")
    def health() -> str:
        return "OK"

    @get("/ready", name="ready")
    async def ready() -> Response[Any]:
        ok, message, checks = await readiness(services)
        if ok:
            body: dict[str, Any] = {"status": "ready", "checks": checks}
            member = services.runtime.member
            if member is not None:        # `atomo serve --workers N`: which process answered
                body["worker"] = {"index": member.index, "of": member.size, "pid": os.getpid()}
            return Response(body, media_type="application/json")
        return rest_error(503, "SERVICE_UNAVAILABLE", message, {"checks": checks})

    @get("/version", sync_to_thread=False, name="version")
    def version() -> dict[str, str]:
        s = services.settings
        return {"name": "atomo-server", "version": s.version or __version__, "commit": s.git_sha,
                "buildTime": s.build_time}

    return [health, ready, version]
