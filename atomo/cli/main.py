"""The `atomo` command: global options, one-line errors with documented exit codes, and its commands.

The command modules are registered here; they take ``CliContext`` (``atomo.cli.context``), so none of
them imports this module.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from atomo._version import __version__
from atomo.cli.context import CliContext
from atomo.errors import AtomoError


class AtomoGroup(click.Group):
    """Turns Atomo errors into one line and the documented exit code (traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AtomoError as exc:
            if _debug(ctx):
                traceback.print_exc()
            click.echo(f"atomo: {exc.message}", err=True)
            for diagnostic in getattr(exc, "diagnostics", []):
                click.echo(str(diagnostic), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("atomo: interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # never a traceback without --debug
            if _debug(ctx):
                traceback.print_exc()
            detail = str(exc) or type(exc).__name__
            click.echo(f"atomo: {detail} (run with --debug for the traceback)", err=True)
            ctx.exit(1)


def _debug(ctx: click.Context) -> bool:
    return bool(getattr(ctx.obj, "debug", False)) or "--debug" in sys.argv


@click.group(cls=AtomoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--project", type=click.Path(file_okay=False), help="The project folder (default: current folder).")
@click.option("--env-file", type=click.Path(dir_okay=False), help="Env file loaded first (default: <project>/.env).")
@click.option("--data-file", type=click.Path(dir_okay=False), help="The SQLite data file.")
@click.option("--no-progress", is_flag=True, help="Plain lines instead of progress bars.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("--adopt-existing", is_flag=True,
              help="Use a SQLite file made by another application (Atomo's tables are added to it).")
@click.option("--no-integrity-check", is_flag=True, help="Skip PRAGMA quick_check of the data file at boot.")
@click.version_option(__version__, prog_name="atomo", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, project: str | None, env_file: str | None, data_file: str | None,
        no_progress: bool, debug: bool, adopt_existing: bool, no_integrity_check: bool) -> None:
    """Atomo: an event-sourced backend in one SQLite file."""
    ctx.obj = CliContext(project, env_file, data_file, no_progress, debug, adopt_existing, no_integrity_check)


def _register() -> None:
    from atomo.cli import (
        build_cmd,
        codegen_cmd,
        deploy_cmd,
        dev_cmd,
        events_cmd,
        init_cmd,
        migrate_cmd,
        projections_cmd,
        schema_cmd,
        seed_cmd,
        serve_cmd,
        users_cmd,
        worker_cmd,
    )
    for command in (init_cmd.init, dev_cmd.dev, serve_cmd.serve, migrate_cmd.migrate, seed_cmd.seed,
                    codegen_cmd.codegen, schema_cmd.schema, users_cmd.users, projections_cmd.projections,
                    events_cmd.events, build_cmd.build, deploy_cmd.deploy, worker_cmd.worker):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="atomo")
