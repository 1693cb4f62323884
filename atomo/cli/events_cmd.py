"""`atomo events tail` (cli chapter §11): read the event log, optionally following it. Only reads."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import click

from atomo.cli.context import CliContext
from atomo.config import Settings, is_memory
from atomo.errors import AtomoError, ConfigError
from atomo.project import Project, resolve_project
from atomo.storage.database import is_driver_error
from atomo.storage.events import EVENT_COLUMNS, StoredEvent, row_to_event
from atomo.storage.tables import table_columns

POLL_SECS = 0.5


def changed_keys(event: StoredEvent) -> list[str]:
    after, before = event.data, event.previous_data
    if not isinstance(after, dict) or not isinstance(before, dict):
        return []
    return [k for k in after if k not in before or before[k] != after[k]] + [k for k in before if k not in after]


def text_line(event: StoredEvent) -> str:
    parts = [f"#{event.position}", event.recorded_at_text, f"{event.stream} v{event.stream_version}", event.type,
             f"actor={event.actor or '-'}"]
    if event.origin:
        parts.append(f"origin={event.origin}")
    if event.type == "Updated":
        parts.append("changed=" + ",".join(changed_keys(event)))
    return "  ".join(parts)


def json_line(event: StoredEvent) -> str:
    return json.dumps(event.to_graphql(), ensure_ascii=False, separators=(",", ":"))


def query(conn: sqlite3.Connection, *, model: str | None, stream: str | None, after: int | None,
          limit: int) -> list[StoredEvent]:
    where: list[str] = []
    params: list[Any] = []
    if model is not None:
        where.append("model = ?")
        params.append(model)
    if stream is not None:
        where.append("stream = ?")
        params.append(stream)
    if after is not None:
        where.append("position > ?")
        params.append(after)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    order = "ASC" if after is not None else "DESC"
    has_metadata = any(c.name == "metadata" for c in table_columns(conn, "events"))
    columns = EVENT_COLUMNS if has_metadata else EVENT_COLUMNS.removesuffix(", metadata")   # an older file has none
    rows = conn.execute(f"SELECT {columns} FROM events{clause} ORDER BY position {order} LIMIT ?", (*params, limit))
    events = [row_to_event(r) for r in rows]
    return events if after is not None else events[::-1]


def open_log(settings: Settings, project: Project) -> Any:
    """A read-only connection to the project's event log: the data file, or the schema of a postgresql://
    DATABASE_URL (the commands that read the log: ``events tail``, ``export``)."""
    if settings.postgres_url:
        from atomo.storage.pg_database import connect
        conn = connect(settings.postgres_url, read_only=True)
        if conn.execute("SELECT to_regclass('events') IS NULL").fetchone()[0]:
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            conn.close()
            raise ConfigError(f"PostgreSQL schema {schema} has no event log: start the server or run atomo migrate "
                              "first")
        return conn
    if is_memory(project.data_file):
        raise ConfigError("the data file is :memory: (data of one process): there is no event log to read")
    return open_read_only(project.data_file)


def open_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise AtomoError(f"no data file at {path}: start the server or run atomo migrate first")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT 1 FROM events LIMIT 1")
    except sqlite3.Error as exc:
        raise AtomoError(f"cannot read events from {path}: {exc}") from None
    return conn


@click.group()
def events() -> None:
    """Read the event log."""


@events.command("tail")
@click.option("--model", help="Only events of this model.")
@click.option("--stream", help="Only events of this stream (e.g. Deal/d-17).")
@click.option("--after", type=click.IntRange(min=0), help="Events with a position greater than this.")
@click.option("-n", "--limit", type=click.IntRange(1, 100000), default=20, show_default=True, help="Most events.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events until Ctrl+C.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def tail(obj: CliContext, model: str | None, stream: str | None, after: int | None, limit: int, follow: bool,
         fmt: str) -> None:
    """Print events of the log.

    The last events (oldest first), or those after a position; -f follows new ones until Ctrl+C."""
    settings = obj.settings()
    project = resolve_project(settings, project_dir=obj.project)
    conn = open_log(settings, project)
    render = json_line if fmt == "json" else text_line
    try:
        found = query(conn, model=model, stream=stream, after=after, limit=limit)
        last = found[-1].position if found else (after if after is not None else _tail_position(conn))
        for event in found:
            click.echo(render(event))
        while follow:
            time.sleep(POLL_SECS)
            for event in query(conn, model=model, stream=stream, after=last, limit=1000):
                click.echo(render(event))
                last = event.position
    except KeyboardInterrupt:
        return
    except Exception as exc:
        if not is_driver_error(exc):
            raise
        raise AtomoError(f"cannot read events from {settings.database_url or project.data_file}: {exc}") from None
    finally:
        conn.close()


def _tail_position(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0])
