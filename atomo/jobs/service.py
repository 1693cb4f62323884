"""The jobs subsystem of a runtime: dispatcher, queue, worker registry and the rules shared by every surface.

``Runtime.start`` builds one ``Jobs`` after the data service, attaches the dispatcher to its record
writer (``attach`` again after a schema swap) and starts the reclaim sweep.
"""

from __future__ import annotations

from typing import Any

from atomo.auth.principal import Caller, Principal
from atomo.cluster.bus import Bus
from atomo.data.writes import RecordWriter, WriteResult
from atomo.errors import PermissionDeniedError, UnauthenticatedError, ValidationError
from atomo.storage.database import Database

from .actions import ACTIONS_QUEUE, Dispatcher
from .queue import JobQueue
from .store import NewJob
from .workers import WorkerRegistry

MAX_NAME = 100
MAX_IDEMPOTENCY_KEY = 200


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def is_admin(principal: Principal) -> bool:
    return principal.authenticated and (principal.role or "") == "admin"


def can_read(job: Any, caller: Caller) -> bool:
    """Admins and the creator, never outside the caller's tenant scope (§4)."""
    if not caller.sees_tenant(job["tenant_id"]):
        return False
    principal = caller.principal
    return is_admin(principal) or (principal.user_id is not None and job["created_by"] == principal.user_id)


def require_user(caller: Caller) -> str:
    if not caller.principal.authenticated or caller.principal.user_id is None:
        raise UnauthenticatedError("authentication required")
    return caller.principal.user_id


def _int_arg(args: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = args.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValidationError.single(key, f"{key} must be a number", "type")
    return clamp(int(value), low, high)


def new_app_job(args: Any, caller: Caller) -> NewJob:
    """``POST /jobs`` and GraphQL ``enqueueJob``: validation, clamping, the reserved queue, tenant and creator."""
    user_id = require_user(caller)
    if not isinstance(args, dict):
        raise ValidationError.single(None, "body must be a JSON object", "type")
    for key in ("queue", "kind"):
        value = args.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            raise ValidationError.single(key, f"{key} must be a non-blank string of at most {MAX_NAME} characters",
                                         "invalid_name")
    idempotency_key = args.get("idempotencyKey")
    if idempotency_key is not None and (not isinstance(idempotency_key, str)
                                        or not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY):
        raise ValidationError.single("idempotencyKey", f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
                                     "invalid_key")
    if args["queue"] == ACTIONS_QUEUE and not is_admin(caller.principal):
        raise PermissionDeniedError(f"queue '{ACTIONS_QUEUE}' is reserved for actions")
    payload = args.get("payload")
    # keys are per creator (the unique index adds queue and tenant): another user's key never matches
    return NewJob(args["queue"], args["kind"], {} if payload is None else payload, tenant_id=caller.tenant,
                  created_by=user_id, idempotency_key=None if idempotency_key is None else f"app:{user_id}:{idempotency_key}",
                  max_attempts=_int_arg(args, "maxAttempts", 5, 1, 1000),
                  priority=_int_arg(args, "priority", 0, -1000, 1000))


class Jobs:
    def __init__(self, db: Database, *, reclaim_interval: float = 30, bus: Bus | None = None,
                 reclaims: bool = True) -> None:
        self.db = db
        self.dispatcher = Dispatcher()
        self.workers = WorkerRegistry(db)
        self.queue = JobQueue(db, self.workers, reclaim_interval=reclaim_interval, bus=bus, reclaims=reclaims)

    @property
    def dispatch_seed(self) -> bool:
        return self.dispatcher.dispatch_seed

    @dispatch_seed.setter
    def dispatch_seed(self, value: bool) -> None:
        self.dispatcher.dispatch_seed = value

    def attach(self, writer: RecordWriter) -> None:
        """Dispatch the actions of ``writer.schema`` inside its write transactions (idempotent)."""
        if not any(getattr(h, "atomo_dispatcher", False) for h in writer.event_hooks):
            writer.event_hooks.append(self.dispatcher.hook(writer.schema))

    def start(self) -> None:
        self.db.after_commit.append(self._after_commit)
        self.queue.start()

    async def close(self) -> None:
        if self._after_commit in self.db.after_commit:
            self.db.after_commit.remove(self._after_commit)
        await self.queue.close()

    def reset(self) -> None:
        """After a database restore (``Runtime.reset``): the worker cache and waits follow the restored tables.
        Leases, attempts and timers are rows of the jobs table, so they are restored with it."""
        self.workers.reset()
        self.queue.reset()

    def _after_commit(self, committed: list[Any]) -> None:
        """A commit with events of a bound model may have enqueued jobs: wake long-polling leases."""
        bound = self.dispatcher.bound_models
        for value in committed:
            if isinstance(value, WriteResult) and any(e.model in bound for e in value.events):
                self.queue.notify_arrival()
                return

    async def enqueue(self, job: NewJob) -> tuple[str, bool]:
        return await self.queue.enqueue(job)
