"""`atomo serve`: the production-style server (cli chapter §6)."""

from __future__ import annotations

import click

from atomo.auth.secret import check_production_secret
from atomo.cli.context import CliContext
from atomo.project import resolve_project


@click.command("serve")
@click.option("-p", "--port", type=click.IntRange(1, 65535), default=None, help="TCP port (default PORT or 3000).")
@click.option("--host", default=None, help="Bind address (default HOST or 127.0.0.1).")
@click.option("--schema", "schema_path", default=None, help="The schema file (default: discovered).")
@click.option("--strict-schema", is_flag=True, default=None, help="Schema warnings stop boot.")
@click.option("--check", is_flag=True, help="Boot up to listening, report, and exit.")
@click.pass_obj
def serve(obj: CliContext, port: int | None, host: str | None, schema_path: str | None, strict_schema: bool | None,
          check: bool) -> None:
    """Serve the GraphQL API and the platform routes (no watching, no codegen)."""
    from atomo.server import run
    settings = obj.settings(port=port, host=host, schema_path=schema_path, strict_schema=strict_schema or None)
    check_production_secret(settings)
    project = resolve_project(settings, project_dir=obj.project)
    code = run(settings, project, check=check)
    if code:
        raise SystemExit(code)
