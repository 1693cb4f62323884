"""`atomo dev` (cli chapter §5): serve with watching, reload and codegen."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from atomo.cli.context import CliContext
from atomo.config import Settings
from atomo.project import Project, resolve_project


@click.command("dev")
@click.option("-p", "--port", type=click.IntRange(1, 65535), default=None, help="TCP port (default PORT or 3000).")
@click.option("--host", default=None, help="Bind address (default HOST or 127.0.0.1).")
@click.option("--schema", "schema_path", default=None, help="The schema file (default: discovered).")
@click.option("--strict-schema", is_flag=True, default=None, help="Schema warnings stop boot and reloads.")
@click.option("--no-watch", is_flag=True, help="Do not watch files for changes.")
@click.option("--no-codegen", is_flag=True, help="Do not write generated/ at start and on reload.")
@click.option("--open", "open_browser", is_flag=True, help="Open GraphiQL in the browser.")
@click.pass_obj
def dev(obj: CliContext, port: int | None, host: str | None, schema_path: str | None, strict_schema: bool | None,
        no_watch: bool, no_codegen: bool, open_browser: bool) -> None:
    """Serve for development, reloading on changes.

    Watches schema.ts, migrations/*.sql, hooks/**/*.py and the env file; runs codegen on reload."""
    from atomo.devserver import DevOptions, DevServer
    from atomo.process_memory import configure_heap
    from atomo.sockets import loop_factory

    def make_settings() -> Settings:
        return obj.settings(port=port, host=host, schema_path=schema_path, strict_schema=strict_schema or None)

    def make_project(settings: Settings) -> Project:
        return resolve_project(settings, project_dir=obj.project)

    env_file = Path(obj.env_file) if obj.env_file else Path(obj.project or ".") / ".env"
    server = DevServer(make_settings, make_project, env_file,
                       DevOptions(watch=not no_watch, codegen=not no_codegen, open_browser=open_browser))
    configure_heap(make_settings().malloc_arenas)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        code = runner.run(server.run())
    if code:
        raise SystemExit(code)
