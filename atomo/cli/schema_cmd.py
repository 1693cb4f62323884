"""`atomo schema check`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from atomo.cli.context import CliContext
from atomo.schema import check_report, check_report_json, discover_schema, load_schema


@click.group()
def schema() -> None:
    """Inspect the project's schema.ts."""


@schema.command("check")
@click.option("--schema", "schema_path", type=click.Path(dir_okay=False), help="Schema file to check.")
@click.option("--strict", is_flag=True, help="Any warning is an error.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def check(obj: CliContext, schema_path: str | None, strict: bool, fmt: str) -> None:
    """Parse and validate schema.ts without touching the database (exit 4 on errors)."""
    settings = obj.settings()
    base = Path(obj.project or ".").resolve()
    path = discover_schema(base, schema_path, settings.schema_path)
    if path is None or not path.is_file():
        click.echo(f"atomo: no schema.ts found in {base}", err=True)
        raise SystemExit(4)
    parsed = load_schema(path)
    text, code = check_report(parsed, strict)
    if fmt == "json":
        click.echo(json.dumps(check_report_json(parsed)))
    else:
        click.echo(text)
    raise SystemExit(code)
