"""`atomo codegen [-o generated] [--check]` (cli chapter §12)."""

from __future__ import annotations

from pathlib import Path

import click

from atomo.cli.context import CliContext
from atomo.codegen import generate_files, write_files
from atomo.errors import AtomoError, ConfigError
from atomo.hooks.loader import load_project_hooks
from atomo.project import resolve_project
from atomo.schema import load_schema, require_valid


@click.command("codegen")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Output folder (default: generated/ in the "
              "project).")
@click.option("--schema", "schema_path", type=click.Path(dir_okay=False), help="The schema file (default: discovered).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file would change.")
@click.pass_obj
def codegen(obj: CliContext, output: str | None, schema_path: str | None, check: bool) -> None:
    """Write the GraphQL SDL and TypeScript types.

    generated/schema.graphql (the SDL the server serves: the generic and typed API, enqueueJob and the custom
    fields of hooks/*.py) and generated/atomo.ts; unchanged files are not rewritten."""
    settings = obj.settings(schema_path=schema_path)
    try:
        project = resolve_project(settings, project_dir=obj.project, allow_sample=False)
    except ConfigError as exc:
        raise AtomoError(f"codegen needs a project: {exc.message}") from None
    schema = require_valid(load_schema(project.schema_path), strict=settings.strict_schema)
    hooks = load_project_hooks(project)          # their custom fields are part of the served SDL
    hooks.check_models(m.name for m in schema.models)   # what the server would refuse, codegen refuses too
    folder = Path(output) if output else project.dir / "generated"
    statuses = write_files(folder, generate_files(schema, hooks), check=check)
    stale = False
    for status in statuses:
        shown = _display(status.path)
        if check:
            click.echo(f"{'would update' if status.changed else 'unchanged'} {shown}")
        else:
            click.echo(f"{status.word} {shown}")
        stale = stale or status.changed
    if check and stale:
        raise SystemExit(1)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
