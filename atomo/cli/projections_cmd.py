"""`atomo projections rebuild [--model NAME]... [--check]`.

The project's ``hooks/*.py`` are loaded, so the tables of their custom projections (``@projection``) are rebuilt
(or checked) with the model tables; ``--model`` takes a model name or a projection table name.
"""

from __future__ import annotations

import asyncio

import click

from atomo.cli.context import CliContext
from atomo.cli.progress import Progress
from atomo.hooks.loader import load_project_hooks
from atomo.project import resolve_project
from atomo.runtime import Runtime
from atomo.storage.projections import RebuildReport, rebuild


@click.group()
def projections() -> None:
    """Projection tables (the model tables, custom projections of hooks/*.py) and the event log."""


@projections.command("rebuild")
@click.option("--model", "models", multiple=True,
              help="Rebuild only this model or custom projection table (repeatable).")
@click.option("--check", is_flag=True, help="Compare with the live tables instead of replacing them.")
@click.pass_obj
def rebuild_cmd(obj: CliContext, models: tuple[str, ...], check: bool) -> None:
    """Rebuild the model tables and the custom projection tables from the event log."""
    settings = obj.settings()
    project = resolve_project(settings, project_dir=obj.project)
    bar: Progress | None = None

    def progress(done: int, total: int) -> None:   # one bar over the events of every chosen model
        nonlocal bar
        if bar is None:
            bar = Progress("events", total, plain=settings.no_progress)
        bar.total = total
        bar.update(done)

    async def run() -> RebuildReport:
        runtime = await Runtime(settings, project, hooks=load_project_hooks(project)).start()
        try:
            assert runtime.schema is not None
            custom = runtime.projector.projections if runtime.projector is not None else ()
            tables = {p.table.lower() for p in custom}
            for name in models:
                if runtime.schema.model(name) is None and name.lower() not in tables:
                    raise click.BadParameter(f"model '{name}' does not exist (nor a custom projection table)",
                                             param_hint="--model")
            conn = runtime.db.connect(query_only=False)  # type: ignore[union-attr]
            try:
                return await asyncio.to_thread(rebuild, conn, runtime.schema, list(models) or None, check=check,
                                               progress=progress, custom=custom)
            finally:
                conn.close()
        finally:
            await runtime.close()

    report = asyncio.run(run())
    if bar is not None:
        bar.finish()
    for m in report.models:
        live = "" if m.live_rows is None or m.live_rows == m.rows else f" (live table: {m.live_rows} rows)"
        kind = " (projection)" if m.projection else ""
        click.echo(f"{m.model:<9} {m.rows:>4} rows {m.events:>6} events{live}{kind}")
    if report.skipped_events:
        click.echo(f"skipped {report.skipped_events} events of models no longer in the schema")
    if check:
        for line in report.differences:
            click.echo(line)
        if report.differences:
            raise SystemExit(1)
        click.echo("no differences")
    else:
        click.echo(f"rebuilt {len(report.models)} tables from {report.events} events in {report.seconds:.2f} s")
