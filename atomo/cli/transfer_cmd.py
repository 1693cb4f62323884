"""`atomo export FILE` and `atomo import FILE`: a project's whole event log and accounts between databases.

The file format and what it holds are in ``atomo.storage.transfer``. Export reads one snapshot of the project's
database (the data file, or ``--database-url``) without booting it; import boots the target like every command
(platform and model tables, the project's migration files), but never seeds it, refuses one that already has
events or users, inserts everything in one transaction, then rebuilds the model tables (and the custom
projections of ``hooks/*.py``) from the imported log.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click

from atomo.cli.context import CliContext
from atomo.cli.events_cmd import open_log
from atomo.cli.progress import Progress
from atomo.config import Settings
from atomo.errors import AtomoError
from atomo.hooks.loader import load_project_hooks
from atomo.project import Project, resolve_project
from atomo.runtime import Runtime
from atomo.storage.database import is_driver_error
from atomo.storage.projections import RebuildReport, rebuild
from atomo.storage.transfer import Header, LineReader, TransferSummary, export_log, import_unit, read_header

DATABASE_URL_HELP = "The database: a sqlite:///path URL, or a postgresql:// server (its schema: search_path)."


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--database-url", metavar="URL", help=DATABASE_URL_HELP)
@click.pass_obj
def export(obj: CliContext, file: str, database_url: str | None) -> None:
    """Write the event log and the users to FILE (NDJSON; - for stdout).

    One consistent snapshot of the database, read in pages: it can run while the server serves."""
    settings = obj.settings(database_url=database_url)
    project = resolve_project(settings, project_dir=obj.project)
    conn = open_log(settings, project)
    exported_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    bar: Progress | None = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress("events", total, plain=settings.no_progress)
        bar.update(done)

    try:
        _begin_snapshot(conn)
        if file == "-":
            summary = _export(conn, sys.stdout.buffer, exported_at, progress)
        else:
            summary = _export_to_file(conn, Path(file), exported_at, progress)
    except Exception as exc:
        if isinstance(exc, OSError) or is_driver_error(exc):
            raise AtomoError(f"export failed: {exc}") from None
        raise
    finally:
        conn.close()
    if bar is not None:
        bar.finish()
    where = "stdout" if file == "-" else file
    click.echo(f"exported {summary.events} events, {summary.users} users to {where}", err=file == "-")


def _begin_snapshot(conn: Any) -> None:
    """One read transaction: every page of the export sees the same snapshot."""
    from atomo.storage.pg_database import PgDatabase
    conn.execute("BEGIN" if isinstance(conn, sqlite3.Connection) else PgDatabase.READ_BEGIN)


def _export(conn: Any, out: IO[bytes], exported_at: str, progress: Any) -> TransferSummary:
    summary = export_log(conn, out, exported_at=exported_at, progress=progress)
    out.flush()
    return summary


def _export_to_file(conn: Any, path: Path, exported_at: str, progress: Any) -> TransferSummary:
    """Written next to ``path`` first and renamed when complete: a failed export leaves no partial file."""
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            summary = _export(conn, out, exported_at, progress)
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--database-url", metavar="URL", help=DATABASE_URL_HELP)
@click.pass_obj
def import_(obj: CliContext, file: str, database_url: str | None) -> None:
    """Load FILE (from atomo export; - for stdin) into an empty database, then rebuild the model tables.

    Refuses a database that has events or users. Every line is checked; a problem names its line and nothing
    is imported."""
    settings = obj.settings(database_url=database_url)
    # never the sample's seed records: they would be events before the imported ones
    project = replace(resolve_project(settings, project_dir=obj.project), seed_file=None)
    try:
        stream = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        raise AtomoError(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        reader = LineReader(stream)
        header = read_header(reader)      # before the target is opened: a wrong file creates nothing
        summary, report = asyncio.run(_import(settings, project, reader, header))
    finally:
        if file != "-":
            stream.close()
    click.echo(f"imported {summary.events} events, {summary.users} users; rebuilt {len(report.models)} tables in "
               f"{report.seconds:.2f} s")


async def _import(settings: Settings, project: Project, reader: LineReader,
                  header: Header) -> tuple[TransferSummary, RebuildReport]:
    runtime = await Runtime(settings, project, hooks=load_project_hooks(project)).start()
    try:
        assert runtime.db is not None and runtime.schema is not None
        bar: Progress | None = None

        def progress(done: int) -> None:       # on the writer thread, from the first inserted batch on
            nonlocal bar
            if bar is None:
                bar = Progress("import", header.events, plain=settings.no_progress)
            bar.update(done)

        started = time.perf_counter()
        summary: TransferSummary = await runtime.db.write(import_unit(reader, header, progress=progress),
                                                          exclusive=True)
        if bar is not None:
            bar.finish()
        elapsed = time.perf_counter() - started
        custom = runtime.projector.projections if runtime.projector is not None else ()
        conn = runtime.db.connect(query_only=False)
        try:
            report = await asyncio.to_thread(rebuild, conn, runtime.schema, None, custom=custom)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise AtomoError(f"imported {summary.events} events, {summary.users} users in {elapsed:.2f} s, but the "
                             f"projection rebuild failed: {message}; run atomo projections rebuild") from None
        finally:
            conn.close()
        return summary, report
    finally:
        await runtime.close()
