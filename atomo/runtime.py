"""The running core of one project: schema, storage, event feed, data service, users.

Both the embedded library (``atomo.Atomo``) and the HTTP server build one ``Runtime`` and share
its boot order: schema -> open the file -> platform tables + boot migration -> feed -> services.

``snapshot()`` / ``reset()`` (test suites): a copy of the database in memory, and going back to it: the
database is restored on the writer thread, then everything this process derived from it starts over
(the feed's tail and ring, open feed iterations end; the jobs' worker cache and waits), then the
``reset_listeners`` run (the HTTP layer clears its principal cache and closes open WebSockets with 1012).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atomo.auth.principal import Caller
from atomo.auth.rbac import UNRESTRICTED
from atomo.auth.users import Users
from atomo.cluster.bus import Bus
from atomo.cluster.member import Member
from atomo.cluster.writelock import WriterLock
from atomo.config import Settings
from atomo.data.query import register_functions
from atomo.data.service import DataService
from atomo.data.validation import normalize_input
from atomo.data.writes import RecordWriter, WriteResult
from atomo.errors import ConfigError, StorageError, UsageError, ValidationError
from atomo.hooks.projections import Projector
from atomo.hooks.registry import HookSet
from atomo.jobs import Jobs, create_job_tables
from atomo.project import Project
from atomo.schema import Schema, load_schema, require_valid
from atomo.storage.database import Database, is_driver_error
from atomo.storage.events import EventAppender, StoredEvent, last_position
from atomo.storage.feed import EventFeed
from atomo.storage.file_migrations import apply_project_files
from atomo.storage.migrate import Plan, apply_boot_migration
from atomo.storage.pg_log import on_postgres
from atomo.storage.records import now_iso
from atomo.storage.tables import q

SEED_CALLER = Caller(origin="seed")
log = logging.getLogger("atomo.runtime")


def boot_migration(conn: sqlite3.Connection, schema: Schema | None, event_encoding: str = "json") -> Plan:
    """Platform tables, jobs tables and the schema's additive plan: one exclusive unit. A database error
    here is a boot error naming the file (or PostgreSQL's schema) and the cause (exit 3), never an internal
    error."""
    assert schema is not None
    try:
        create_job_tables(conn)
        return apply_boot_migration(conn, schema, event_encoding=event_encoding)
    except Exception as exc:
        if not is_driver_error(exc):
            raise
        if on_postgres(conn):
            conn.execute("ROLLBACK")           # an aborted PostgreSQL transaction answers nothing else
            raise ConfigError(f"cannot prepare the PostgreSQL schema: {exc}") from None
        file = conn.execute("PRAGMA database_list").fetchone()[2]
        raise ConfigError(f"cannot prepare data file {file}: {exc}") from None


def open_database(settings: Settings, project: Project, model_tables: tuple[str, ...],
                  member: Member | None) -> Database:
    """The project's ``Database``: the SQLite file, or the PostgreSQL server of a ``postgresql://`` DATABASE_URL."""
    s = settings
    if s.postgres_url:
        from atomo.storage.pg_database import PgDatabase
        return PgDatabase(s.postgres_url, read_connections=s.read_connections, write_batch_max=s.write_batch_max,
                          write_queue_max=s.write_queue_max, folder=project.data_file.parent)
    return Database(project.data_file, synchronous=s.synchronous, busy_timeout_ms=s.busy_timeout_ms,
                    read_connections=s.read_connections, write_batch_max=s.write_batch_max,
                    write_queue_max=s.write_queue_max, wal_checkpoint_bytes=s.wal_checkpoint_bytes,
                    adopt_existing=s.adopt_existing, integrity_check=s.integrity_check,
                    model_tables=model_tables, on_connect=register_functions,
                    writer_lock=WriterLock(member.lock_path) if member is not None else None)


def pg_channel(schema_name: str) -> str:
    """The notification channel of the instances serving one PostgreSQL schema."""
    return "atomo_" + hashlib.sha256(schema_name.encode()).hexdigest()[:24]


@dataclass
class SeedReport:
    created: Counter[str]
    skipped: int

    def summary(self) -> str:
        total = sum(self.created.values())
        parts = ", ".join(f"{m} {n}" for m, n in self.created.items())
        return f"Seeded {total} records ({parts}), {self.skipped} skipped"


def seed_unit(schema: Schema, writer: RecordWriter, data: Any, source: str = "seed.json") -> Any:
    """A write unit applying a seed object (model -> list of records) in one transaction."""
    if not isinstance(data, dict):
        raise ValidationError.single(None, f"{source}: expected an object mapping model names to lists", "type")

    def unit(conn: sqlite3.Connection) -> WriteResult:
        report = SeedReport(Counter(), 0)
        events: list[StoredEvent] = []
        for model_name, records in data.items():
            model = schema.model(model_name)
            if model is None or not isinstance(records, list):
                raise ValidationError.single(None, f"{source}: {model_name} is not a model with a list of records",
                                             "unknown_model")
            for i, record in enumerate(records):
                rid = record.get("id") if isinstance(record, dict) else None
                if rid and conn.execute(f"SELECT 1 FROM {q(model.table)} WHERE id = ?", (rid,)).fetchone():
                    report.skipped += 1
                    continue
                now = now_iso()
                try:
                    values = normalize_input(model, record, mode="create", now=now)
                    done = writer.create(conn, model, values, SEED_CALLER, now, UNRESTRICTED)
                except ValidationError as exc:
                    raise ValidationError(f"{source}: {model_name}[{i}]: {exc.message}", exc.details) from None
                events += done.events
                report.created[model_name] += 1
        return WriteResult(report, events)
    return unit


class Runtime:
    def __init__(self, settings: Settings, project: Project, *, schema: Schema | None = None,
                 hooks: HookSet | None = None, member: Member | None = None) -> None:
        self.settings = settings
        # one of the worker processes of `atomo serve --workers N` (None: this process serves alone), and the
        # notifications between them (a no-op bus when alone)
        self.member = member
        self.bus = Bus(member.index, member.size) if member is not None else Bus()
        self.project = project
        self.schema = schema
        self._hooks = hooks if hooks is not None else HookSet()   # loaded by the caller (atomo.hooks.loader)
        self.projector: Projector | None = None      # the hooks' custom projections, run after every append
        self.data_file_created = False
        self.migration: Plan | None = None
        self.seeded: SeedReport | None = None
        self.db: Database | None = None
        self.snapshot_conn: sqlite3.Connection | None = None   # the state reset() goes back to
        # run (on the loop, synchronously) after every reset, once the process state follows the restored file
        self.reset_listeners: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def hooks(self) -> HookSet:
        return self._hooks

    @hooks.setter
    def hooks(self, hooks: HookSet) -> None:
        """New hooks for a started runtime (``atomo dev`` after a reload): their custom projections take over in
        an exclusive write unit that first creates their tables (a bad one is logged, the old ones stay)."""
        self._hooks = hooks
        projector, db = self.projector, self.db
        if projector is None or db is None:
            return
        if tuple(hooks.projections.values()) == projector.projections:
            return
        try:
            if self.schema is not None:
                hooks.check_tables(m.table for m in self.schema.models)
        except ConfigError as exc:
            log.error("custom projections not reloaded: %s", exc.message)
            return

        async def switch() -> None:
            try:
                await db.write(projector.reload_unit(hooks), exclusive=True)  # type: ignore[arg-type]
            except Exception as exc:
                log.error("custom projections not reloaded: %s", getattr(exc, "message", exc))
        task = asyncio.get_running_loop().create_task(switch(), name="atomo-projections-reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> Runtime:
        s = self.settings
        schema = self.schema or load_schema(self.project.schema_path)
        self.schema = require_valid(schema, strict=s.strict_schema)
        self.hooks.check_models(m.name for m in self.schema.models)
        self.hooks.check_tables(m.table for m in self.schema.models)
        if s.postgres_url and self.member is not None:
            raise ConfigError("--workers with a postgresql:// DATABASE_URL: run one process per instance (several "
                              "instances share the database and follow each other through it)")
        self.db = open_database(s, self.project, tuple(m.table for m in self.schema.models), self.member)
        await self.db.start()
        self.data_file_created = self.db.created
        try:
            self.applied_files = await apply_project_files(self.db, self.project, self.schema,
                                                           event_encoding=s.event_encoding)
            self.migration = await self.db.write(lambda c: boot_migration(c, self.schema, s.event_encoding),
                                                 exclusive=True)
            if self.member is not None:          # before the feed: a commit of another worker wakes it from now on
                await self.bus.connect(self.member.relay_path)
            elif s.postgres_url:                 # the other instances on this database, through LISTEN/NOTIFY
                from atomo.cluster.pg_bus import PgBus
                self.bus = PgBus(s.postgres_url, pg_channel(self.db.schema_name))  # type: ignore[attr-defined]
                await self.bus.start()
            self.feed = EventFeed(self.db, poll_ms=s.event_poll_ms, bus=self.bus)
            await self.feed.start()
            self.appender = EventAppender(s.event_encoding)
            self.projector = Projector(self.hooks)
            if self.projector.projections:
                await self.db.write(self.projector.create_tables, exclusive=True)
            self.appender.after_append.append(self.projector)
            self.data = DataService(self.schema, self.db, appender=self.appender, default_access=s.default_access,
                                    max_page_size=s.max_page_size, max_filter_terms=s.max_filter_terms,
                                    hooks=self.hooks)
            self.jobs = Jobs(self.db, reclaim_interval=s.job_reclaim_interval, bus=self.bus,
                             reclaims=self.member is None or self.member.leader)
            self.jobs.attach(self.data.writer)
            self.users = Users(self.db, min_length=s.password_min_length,
                               require_complexity=s.password_require_complexity, bus=self.bus)
            if self.data_file_created and self.project.is_sample and self.project.seed_file:
                self.seeded = await self.seed_file(self.project.seed_file)
            self.jobs.start()
        except BaseException:
            await self.bus.close()
            await self.db.close()
            raise
        return self

    async def seed(self, data: Any, source: str = "seed.json") -> SeedReport:
        assert self.db is not None and self.schema is not None
        result: WriteResult = await self.db.write(seed_unit(self.schema, self.data.writer, data, source))
        return result.value  # type: ignore[no-any-return]

    async def seed_file(self, path: Path) -> SeedReport:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError.single(None, f"{path.name}: invalid JSON: {exc}", "json") from None
        return await self.seed(data, path.name)

    async def snapshot(self) -> None:
        """Remember the database as it is now (committed writes only); ``reset()`` goes back to it. A later
        snapshot replaces this one. Costs a copy of the file in memory."""
        assert self.db is not None
        copy = await self.db.snapshot()
        previous, self.snapshot_conn = self.snapshot_conn, copy
        if previous is not None:
            previous.close()

    async def reset(self) -> int:
        """Go back to the last ``snapshot()``; returns the event log's last position after the reset.

        After-hooks still running finish first (their writes would land after the restore). The restore runs
        on the writer thread with no batch in flight; then, on the loop and before any later commit is handed
        out: the feed continues from the restored tail (open iterations end), the jobs subsystem drops its
        worker cache and wakes its waits, and the ``reset_listeners`` run. A write queued meanwhile lands
        after the restore."""
        if self.db is None:
            raise StorageError("the runtime is not started")
        if self.snapshot_conn is None:
            raise UsageError("reset() needs a snapshot: call snapshot() first")
        await self.data.hooks.drain()
        position = await self.db.restore(self.snapshot_conn, then=last_position, on_restored=self._restored)
        assert position is not None
        return position

    def _restored(self, position: int | None) -> None:
        self.feed.reset(position or 0)
        self.jobs.reset()
        for listener in list(self.reset_listeners):
            try:
                listener()
            except Exception:
                log.exception("reset listener failed")

    async def close(self) -> None:
        if self.snapshot_conn is not None:
            self.snapshot_conn.close()
            self.snapshot_conn = None
        if self.db is None:
            return
        if self._tasks:                          # a reload of the custom projections still queued
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if hasattr(self, "data"):
            await self.data.hooks.drain()       # after-hooks still running write through this runtime
        if hasattr(self, "jobs"):
            await self.jobs.close()
        if hasattr(self, "feed"):
            await self.feed.close()
        await self.bus.close()
        await self.db.close()
        self.db = None
