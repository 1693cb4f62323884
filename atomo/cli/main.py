"""The `atomo` command: global options, one-line errors with documented exit codes."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from atomo._version import __version__
from atomo.config import Settings, load_settings
from atomo.errors import AtomoError


@dataclass
class CliContext:
    project: str | None
    env_file: str | None
    data_file: str | None
    no_progress: bool
    debug: bool

    def settings(self, **overrides: Any) -> Settings:
        project = Path(self.project or ".")
        env_file = Path(self.env_file) if self.env_file else project / ".env"
        settings = load_settings(env_file=env_file, data_file=self.data_file, **overrides)
        settings = settings.with_(project_dir=str(project.resolve()))
        if self.no_progress:
            settings = settings.with_(no_progress=True)
        return settings


class AtomoGroup(click.Group):
    """Turns Atomo errors into one line and the documented exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AtomoError as exc:
            if "--debug" in sys.argv:
                traceback.print_exc()
            click.echo(f"atomo: {exc.message}", err=True)
            for diagnostic in getattr(exc, "diagnostics", []):
                click.echo(str(diagnostic), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("atomo: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=AtomoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--project", type=click.Path(file_okay=False), help="The project folder (default: current folder).")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Env file loaded first (default: <project>/.env).")
@click.option("--data-file", type=click.Path(dir_okay=False), help="The SQLite data file.")
@click.option("--no-progress", is_flag=True, help="Plain lines instead of progress bars.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="atomo", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, project: str | None, env_file: str | None, data_file: str | None,
        no_progress: bool, debug: bool) -> None:
    """Atomo: an event-sourced backend in one SQLite file."""
    ctx.obj = CliContext(project, env_file, data_file, no_progress, debug)


def _register() -> None:
    from atomo.cli import projections_cmd, schema_cmd, users_cmd
    cli.add_command(schema_cmd.schema)
    cli.add_command(projections_cmd.projections)
    cli.add_command(users_cmd.users)
    cli.add_command(__import__("atomo.cli.serve_cmd", fromlist=["serve"]).serve)


_register()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="atomo")
