"""`atomo seed [--file PATH] [--dispatch-actions]` (cli chapter §8)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from atomo.cli.context import CliContext
from atomo.cli.progress import Progress
from atomo.errors import AtomoError, ValidationError
from atomo.hooks.loader import load_project_hooks
from atomo.project import resolve_project
from atomo.runtime import Runtime, SeedReport
from atomo.storage.file_migrations import split_statements

SQL_WARNING = ("warning: {name}: rows written by SQL bypass the event log and will not survive "
               "`atomo projections rebuild`")


class _Counted(list):  # type: ignore[type-arg]
    """A list of records that reports each record taken by the seed unit (drives the progress bar)."""

    def __init__(self, items: list[Any], tick: Callable[[], None]) -> None:
        super().__init__(items)
        self._tick = tick

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            yield item
            self._tick()


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError.single(None, f"{path.name}: invalid JSON: {exc}", "json") from None


def _with_progress(data: Any, bar: Progress) -> Any:
    if not isinstance(data, dict):
        return data

    def tick() -> None:
        bar.update(bar.done + 1)
    return {model: _Counted(records, tick) if isinstance(records, list) else records for model, records in data.items()}


def _total(data: Any) -> int:
    return sum(len(v) for v in data.values() if isinstance(v, list)) if isinstance(data, dict) else 0


def _run_sql(conn: sqlite3.Connection, text: str, name: str) -> tuple[int, int]:
    statements = split_statements(text)
    changed = 0
    for index, statement in enumerate(statements, 1):
        try:
            changed += max(conn.execute(statement).rowcount, 0)
        except sqlite3.Error as exc:
            raise AtomoError(f"{name}: statement {index} failed: {exc}; nothing was applied") from None
    return len(statements), changed


def _summary(report: SeedReport) -> str:
    if report.created:
        return report.summary()
    return f"Seeded 0 records, {report.skipped} skipped"


@click.command("seed")
@click.option("--file", "file_path", type=click.Path(dir_okay=False), help="Seed file (.json or .sql; default "
              "seed.json in the project).")
@click.option("--dispatch-actions", is_flag=True, help="Dispatch action bindings for the seeded records.")
@click.pass_obj
def seed(obj: CliContext, file_path: str | None, dispatch_actions: bool) -> None:
    """Apply seed data (seed.json).

    JSON records go through the write path (validation, events) in one transaction; ids that exist are
    skipped. A .sql file is executed in one transaction."""
    settings = obj.settings()
    project = resolve_project(settings, project_dir=obj.project)
    path = Path(file_path) if file_path else project.seed_file or project.dir / "seed.json"
    if not path.is_file():
        raise AtomoError(f"seed file {path} does not exist")
    is_sql = path.suffix.lower() == ".sql"
    data = None if is_sql else _load_json(path)

    async def run() -> SeedReport | tuple[int, int]:
        # hooks/*.py: their custom projections (@projection) see the seeded events, as every other append's
        runtime = await Runtime(settings, project, hooks=load_project_hooks(project)).start()
        runtime.jobs.dispatch_seed = dispatch_actions
        try:
            assert runtime.db is not None
            if is_sql:
                text = path.read_text(encoding="utf-8")
                result: tuple[int, int] = await runtime.db.write(lambda c: _run_sql(c, text, path.name))
                return result
            bar = Progress(path.name, _total(data), plain=settings.no_progress)
            try:
                return await runtime.seed(_with_progress(data, bar), path.name)
            finally:
                bar.finish()
        finally:
            await runtime.close()

    start = time.perf_counter()
    if is_sql:
        click.echo(SQL_WARNING.format(name=path.name), err=True)
    outcome = asyncio.run(run())
    seconds = time.perf_counter() - start
    if isinstance(outcome, SeedReport):
        click.echo(f"{_summary(outcome)} in {seconds:.2f} s")
    else:
        statements, rows = outcome
        click.echo(f"Executed {path.name}: {statements} statements, {rows} rows changed in {seconds:.2f} s")
