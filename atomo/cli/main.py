"""The `atomo` command: global options, one-line errors with documented exit codes, and its commands.

The command modules are registered here by name and imported when their command runs (or ``--help``
lists them): ``atomo serve`` does not load codegen, build, deploy, init, the worker or the file watcher,
which is most of the CLI's import time (issue 13). They take ``CliContext`` (``atomo.cli.context``), so
none of them imports this module.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from atomo._version import __version__
from atomo.cli.context import CliContext
from atomo.errors import AtomoError

# command name -> the module of atomo.cli that defines it (as a function of the same name, or "module:function"
# where the name is a Python keyword)
COMMANDS = {"init": "init_cmd", "dev": "dev_cmd", "serve": "serve_cmd", "migrate": "migrate_cmd", "seed": "seed_cmd",
            "codegen": "codegen_cmd", "schema": "schema_cmd", "users": "users_cmd", "projections": "projections_cmd",
            "events": "events_cmd", "build": "build_cmd", "deploy": "deploy_cmd", "worker": "worker_cmd",
            "export": "transfer_cmd", "import": "transfer_cmd:import_"}


class AtomoGroup(click.Group):
    """Turns Atomo errors into one line and the documented exit code (traceback with --debug); loads the
    command modules of ``COMMANDS`` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module_name, _, function = COMMANDS[cmd_name].partition(":")
            module = importlib.import_module(f"atomo.cli.{module_name}")
            self.add_command(getattr(module, function or cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

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


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="atomo")
