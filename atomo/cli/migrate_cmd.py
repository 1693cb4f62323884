"""`atomo migrate [--dry-run] [--database-url URL]` and `atomo migrate --generate [--name X] [--schema PATH]`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from atomo.cli.context import CliContext
from atomo.cli.progress import Progress
from atomo.config import Settings
from atomo.data.query import register_functions
from atomo.errors import AtomoError
from atomo.project import Project, resolve_project
from atomo.runtime import open_database
from atomo.schema import Schema, load_schema, require_valid
from atomo.storage.file_migrations import (
    Applied,
    FilePlan,
    apply_file,
    apply_pending,
    list_files,
    migrations_dir,
    plan_files,
)
from atomo.storage.migrate import Plan, apply_boot_migration, plan_boot_migration
from atomo.storage.migration_gen import generate
from atomo.storage.platform import create_platform_tables


def display(path: Path, base: Path | None = None) -> str:
    for root in (base, Path.cwd()):
        if root is None:
            continue
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


@click.command("migrate")
@click.option("--dry-run", is_flag=True, help="List the files and statements that would run; change nothing.")
@click.option("--database-url", metavar="URL",
              help="The data file as a sqlite:///path URL, or a postgresql:// server (its schema: search_path).")
@click.option("--generate", "do_generate", is_flag=True, help="Write a migration file from the schema changes.")
@click.option("--name", help="Name of the generated file (with --generate; default auto_generated).")
@click.option("--schema", "schema_path", type=click.Path(dir_okay=False), help="The schema file (default: discovered).")
@click.pass_obj
def migrate(obj: CliContext, dry_run: bool, database_url: str | None, do_generate: bool, name: str | None,
            schema_path: str | None) -> None:
    """Apply or generate migrations.

    Applies pending migrations/*.sql (each in its own transaction) and the boot migration; with
    --generate, writes a migration file from the schema changes instead."""
    if not do_generate and name is not None:
        raise click.UsageError("--name needs --generate")
    if do_generate and dry_run:
        raise click.UsageError("--dry-run cannot be combined with --generate")
    settings = obj.settings(database_url=database_url, schema_path=schema_path)
    project = resolve_project(settings, project_dir=obj.project)
    schema = require_valid(load_schema(project.schema_path), strict=settings.strict_schema)
    if do_generate:
        _generate(project, schema, name)
    elif dry_run:
        _dry_run(settings, project, schema)
    else:
        asyncio.run(_apply(settings, project, schema))


def _generate(project: Project, schema: Schema, name: str | None) -> None:
    if project.is_sample:
        raise AtomoError(f"migrate --generate needs a project: no schema.ts found in {project.dir}")
    result = generate(project.dir / "migrations", schema, name, project.data_file)
    if result.path is None:
        click.echo("No schema changes detected")
        return
    plural = "" if result.statements == 1 else "s"
    click.echo(f"wrote {display(result.path, project.dir)} ({result.statements} statement{plural})")
    if result.edit_required:
        click.echo("edit the commented steps marked '-- atomo:edit-required' before running atomo migrate")
    if result.recorded:
        click.echo(f"recorded as applied in {display(project.data_file, project.dir)}")


def _boot_summary(plan: Plan) -> list[str]:
    lines = list(plan.notes)
    if plan.statements:
        plural = "" if len(plan.statements) == 1 else "s"
        lines.append(f"boot migration: {len(plan.statements)} statement{plural} applied")
    return lines


async def _apply(settings: Settings, project: Project, schema: Schema) -> None:
    s = settings.with_(read_connections=1)
    db = open_database(s, project, tuple(m.table for m in schema.models), None)
    await db.start()
    bar: Progress | None = None
    try:
        def on_start(plan: FilePlan) -> None:
            nonlocal bar
            for warning in plan.warnings:
                click.echo(f"warning: {warning}", err=True)
            if len(plan.pending) > 1:
                bar = Progress("migrations", len(plan.pending), plain=s.no_progress)

        def on_applied(done: Applied) -> None:
            if bar is not None:
                bar.update(bar.done + 1)
            click.echo(f"applied {done.name} in {done.ms} ms")

        try:
            applied = await apply_pending(db, migrations_dir(project), schema, on_start=on_start, on_applied=on_applied,
                                          event_encoding=s.event_encoding)
        finally:
            if bar is not None:
                bar.finish()
        plan: Plan = await db.write(lambda c: apply_boot_migration(c, schema, event_encoding=s.event_encoding),
                                    exclusive=True)
    finally:
        await db.close()
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    lines = _boot_summary(plan)
    if not applied and not lines:
        click.echo("Nothing to apply")
    for line in lines:
        click.echo(line)


def _dry_run(settings: Settings, project: Project, schema: Schema) -> None:
    """Run everything inside a transaction that is rolled back, and print what ran."""
    conn: Any
    begin: Callable[[Any], None]
    if settings.postgres_url:
        from atomo.storage.pg_database import connect
        from atomo.storage.pg_log import begin_write
        conn = connect(settings.postgres_url)
        begin = begin_write
    else:
        exists = project.data_file.is_file()
        conn = sqlite3.connect(project.data_file if exists else ":memory:", isolation_level=None)
        register_functions(conn)

        begin = lambda c: c.execute("BEGIN IMMEDIATE")  # noqa: E731
    try:
        begin(conn)
        create_platform_tables(conn, {k: v.upper() for k, v in schema.user_columns.items()},
                               event_encoding=settings.event_encoding)
        plan = plan_files(conn, list_files(migrations_dir(project)), [m.table for m in schema.models])
        for warning in plan.warnings:
            click.echo(f"warning: {warning}", err=True)
        for file in plan.pending:
            click.echo(f"would apply {file.name} ({len(file.statements)} statements)")
            for statement in file.statements:
                click.echo("  " + " ".join(statement.split()))
            apply_file(conn, file)
        boot = plan_boot_migration(conn, schema)
        if boot.statements:
            click.echo(f"would run the boot migration ({len(boot.statements)} statements)")
            for statement in boot.statements:
                click.echo("  " + " ".join(statement.split()))
        if not plan.pending and not boot.statements:
            click.echo("Nothing to apply")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
