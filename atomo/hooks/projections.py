"""Custom projections: tables a project maintains from events with ``@projection`` (Atomo-Python extension).

```python
from atomo.hooks import projection

@projection("order-*", table="order_totals",
            schema="CREATE TABLE order_totals (order_id TEXT PRIMARY KEY, total REAL NOT NULL DEFAULT 0)")
def order_totals(event, db):
    if event.type == "OrderPlaced":
        db.execute("INSERT INTO order_totals (order_id, total) VALUES (?, ?)", (event.stream, event.data["total"]))
```

**Which events.** ``pattern`` has the syntax of the schema's stream rules (``atomo.schema.patterns``): literal
text, ``{id}`` (one segment without ``:``) and an optional trailing ``*``. Unlike rules (where the best match
wins) every projection whose pattern matches a stream sees its events: custom streams (``order-17``) and record
streams too (``Deal/*`` sees every ``Created``, ``Updated``, ..., block and custom event of every Deal), each
event once, in position order.

**When.** Live: right after the event is inserted, in the same write transaction, on every append path (model
writes, seeds, ``app.events.append``/``ctx.events.append``, GraphQL ``appendEvents``, worker writes): the
runtime puts its ``Projector`` in ``EventAppender.after_append``. The table therefore always matches the
committed log: rows and events commit together or not at all. ``atomo projections rebuild`` (library
``app.projections.rebuild()``) replays the same function over every event of the matching streams into a
TEMP shadow of the table (read snapshot, then a catch-up with the writer taken), then in the swap's
transaction drops the live table, recreates it from ``schema`` and copies the shadow's rows; ``--check``
compares the shadow with the live table instead (rows as sorted tuples; ``--model <table>`` picks one
projection table as it picks a model). Since live and rebuild run the same function on the same events in the
same order, rebuild == live holds as long as the function depends only on the event and its table (no clock,
no randomness, no other table: see ``db``).

**The function** ``fn(event, db)`` is synchronous (``def``): ``event`` is the ``StoredEvent`` (``type``,
``stream``, ``stream_version``, ``data`` (do not modify it), ``metadata``, ``position``, ``recorded_at_text``,
``actor``, ``tenant_id``, ...). ``db`` is a thin wrapper of the write connection with ``execute`` and
``executemany`` only (no commit, no script); while the function runs an SQLite authorizer lets it read and
write its own table and nothing else (other tables, DDL, PRAGMA, ATTACH and transaction control fail with
``not authorized``). The function may run more than once for one event when the writer retries a batch after
another unit of it failed; only the run that commits counts, so it must have no effect besides ``db``.

**Failures.** A function that raises fails the write unit of the append: the model write, ``appendEvents`` or
``events.append`` writes nothing and its caller gets ``INTERNAL_ERROR``; the writer logs the error (logger
``atomo.storage.database``) with the projection, its file:line, the event and the traceback. A failing
projection during a rebuild stops the rebuild (nothing is swapped).

**The table.** ``table`` is a plain identifier that is not a model's table nor a platform table (``events``,
``users``, ``sessions``, ``jobs``, ``workers``, ``_atomo_*``, ``sqlite_*``); two projections cannot share a
table. ``schema`` holds one ``CREATE TABLE <table> (...)`` and optional ``CREATE [UNIQUE] INDEX ... ON <table>``
statements separated by ``;``; it is checked on an empty database when the hooks load (a bad pattern, table or
schema is a ``ConfigError`` naming the hook's file and line) and run at start when the table does not exist.
The table is not migrated: after changing ``schema`` (or the function), run ``atomo projections rebuild
--model <table>``, which recreates it from the new ``schema``. A table whose projection was removed stays in
the file, untouched.

**Reloads.** ``atomo dev`` sets ``Runtime.hooks`` after a reload: the new projections take over in an
exclusive write unit that first creates their missing tables, so each event is projected by exactly one
generation of the hooks.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

from atomo.errors import ConfigError
from atomo.hooks.registry import HookSet, ProjectionHook
from atomo.storage.database import is_driver_error
from atomo.storage.events import StoredEvent
from atomo.storage.tables import dialect_of, portable_ddl, table_exists

log = logging.getLogger("atomo.hooks")


class Projector:
    """The ``EventAppender.after_append`` callback of a runtime: runs the projections of its hooks."""

    def __init__(self, hooks: HookSet) -> None:
        self.projections: tuple[ProjectionHook, ...] = tuple(hooks.projections.values())

    def __call__(self, conn: sqlite3.Connection, event: StoredEvent) -> None:
        for custom in self.projections:
            if custom.matches(event.stream):
                custom.apply(conn, event)

    def create_tables(self, conn: sqlite3.Connection) -> list[str]:
        """Run the ``schema`` of every projection whose table does not exist; the tables created."""
        return create_tables(conn, self.projections)

    def reload_unit(self, hooks: HookSet) -> object:
        """The exclusive write unit switching to the projections of ``hooks`` (after creating their tables)."""
        new = tuple(hooks.projections.values())

        def unit(conn: sqlite3.Connection) -> list[str]:
            created = create_tables(conn, new)
            self.projections = new
            return created
        return unit


def create_tables(conn: sqlite3.Connection, projections: Iterable[ProjectionHook]) -> list[str]:
    created = []
    for custom in projections:
        if table_exists(conn, custom.table):
            continue
        try:
            for statement in custom.statements:
                conn.execute(portable_ddl(statement, dialect_of(conn)))
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            raise ConfigError(f"{custom.source}: cannot create the table of the {custom.describe()}: {exc}") from None
        created.append(custom.table)
    return created
