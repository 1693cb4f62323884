"""`atomo serve`: the production-style server (cli chapter §6)."""

from __future__ import annotations

import os

import click

from atomo.auth.secret import check_production_secret
from atomo.cli.context import CliContext
from atomo.cluster.member import member as cluster_member
from atomo.config import MEMORY, is_memory, parse_workers
from atomo.errors import UsageError
from atomo.group import BOOT_ENV, run_group, serves_as_group
from atomo.project import resolve_project


def _workers(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_workers(value)
    except ValueError as exc:
        raise UsageError(f"--workers {value!r} is invalid: {exc}") from None


@click.command("serve")
@click.option("-p", "--port", type=click.IntRange(0, 65535), default=None,
              help="TCP port (default PORT or 3000; 0: a free port).")
@click.option("--host", default=None, help="Bind address (default HOST or 127.0.0.1).")
@click.option("--schema", "schema_path", default=None, help="The schema file (default: discovered).")
@click.option("--strict-schema", is_flag=True, default=None, help="Schema warnings stop boot.")
@click.option("--workers", "workers", default=None, metavar="N|auto",
              help="Serve processes on the one data file (default ATOMO_WORKERS or 1; auto: the usable cores, "
                   "at most 8).")
@click.option("--check", is_flag=True, help="Boot up to listening, report, and exit.")
@click.option("--ephemeral", is_flag=True,
              help="For test suites: data in memory, seeded; prints one JSON line {url, adminToken} when ready, "
                   "serves POST /__test__/reset, stops when stdin closes.")
@click.pass_obj
def serve(obj: CliContext, port: int | None, host: str | None, schema_path: str | None, strict_schema: bool | None,
          workers: str | None, check: bool, ephemeral: bool) -> None:
    """Serve the GraphQL API and the platform routes (no watching, no codegen)."""
    settings = obj.settings(port=port, host=host, schema_path=schema_path, strict_schema=strict_schema or None,
                            workers=_workers(workers))
    if ephemeral:
        if obj.data_file is not None and not is_memory(obj.data_file):
            raise UsageError("--ephemeral keeps the data in memory: it takes no --data-file")
        settings = settings.with_(data_file=MEMORY, database_url=None, ephemeral=True)
    check_production_secret(settings)
    project = resolve_project(settings, project_dir=obj.project)
    if serves_as_group(settings, project.data_file, check=check, member=cluster_member() is not None) and \
            BOOT_ENV not in os.environ:
        code = run_group(settings)       # the supervisor: without the HTTP stack (atomo.cluster.group)
    else:
        from atomo.server import run
        code = run(settings, project, check=check)
    if code:
        raise SystemExit(code)
