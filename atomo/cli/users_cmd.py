"""`atomo users create|list|deactivate`: manage users directly in the data file."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from atomo.cli.context import CliContext
from atomo.errors import ConflictError, UsageError
from atomo.project import resolve_project
from atomo.runtime import Runtime


def _run(obj: CliContext, work: Any) -> Any:
    settings = obj.settings()
    project = resolve_project(settings, project_dir=obj.project)

    async def main() -> Any:
        runtime = await Runtime(settings, project).start()
        try:
            return await work(runtime)
        finally:
            await runtime.close()
    return asyncio.run(main())


@click.group()
def users() -> None:
    """Manage users in the data file (safe while the server runs)."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--password", help="The password (visible in the process list; prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it once.")
@click.option("--role", default=None, help="Role (default viewer).")
@click.option("--tenant", default=None, help="Bind the user to this tenant.")
@click.option("--first-name", default=None)
@click.option("--last-name", default=None)
@click.option("--update", is_flag=True, help="Update an existing user's given attributes.")
@click.pass_obj
def create(obj: CliContext, email: str, password: str | None, password_stdin: bool, generate_password: bool,
           role: str | None, tenant: str | None, first_name: str | None, last_name: str | None, update: bool) -> None:
    """Create (or with --update, change) a user."""
    if sum(bool(x) for x in (password is not None, password_stdin, generate_password)) > 1:
        raise UsageError("give only one of --password, --password-stdin and --generate-password")
    if password is not None:
        click.echo("warning: --password is visible in the process list; prefer --password-stdin", err=True)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")

    async def work(rt: Runtime) -> None:
        from atomo.auth.passwords import generate_password as generate
        from atomo.auth.users import check_role, normalize_email
        address = normalize_email(email)
        checked_role = check_role(role) if role is not None else None
        existing = await rt.users.get(address)
        if existing is not None and not update:
            raise ConflictError(f"user {existing.email} already exists (use --update)")
        new_password = generate() if generate_password else password
        if new_password is None and existing is None:   # with --update, no password option keeps the password
            new_password = _prompt_password()
        if existing is not None:
            changes = {k: v for k, v in {"role": checked_role, "tenant_id": tenant, "first_name": first_name,
                                         "last_name": last_name}.items() if v is not None}
            await rt.users.update(existing.id, password=new_password, **changes)
            user = await rt.users.get(existing.id)
            assert user is not None
            click.echo(f"updated user {user.id} {user.email} (role {user.role})")
        else:
            assert new_password is not None
            user, _ = await rt.users.create(address, new_password, role=checked_role or "viewer", tenant_id=tenant,
                                            first_name=first_name or "", last_name=last_name or "")
            click.echo(f"created user {user.id} {user.email} (role {user.role})")
        if generate_password:
            click.echo(f"password: {new_password}")
    _run(obj, work)


def _prompt_password() -> str:
    """Ask twice with hidden input on a terminal; without one, exit 1."""
    if not sys.stdin.isatty():
        click.echo("atomo: no password given (use --password-stdin, --password or --generate-password)", err=True)
        raise SystemExit(1)
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("list")
@click.pass_obj
def list_users(obj: CliContext) -> None:
    """List users."""
    async def work(rt: Runtime) -> None:
        for u in await rt.users.list():
            state = "active" if u.is_active else "inactive"
            click.echo(f"{u.id}  {u.email:<32} {u.role:<10} tenant={u.tenant_id or '-'}  {state}")
    _run(obj, work)


@users.command("deactivate")
@click.option("--email", required=True)
@click.pass_obj
def deactivate(obj: CliContext, email: str) -> None:
    """Deactivate a user and revoke all of their sessions."""
    async def work(rt: Runtime) -> None:
        await rt.users.deactivate(email)
        click.echo(f"deactivated {email.strip().lower()}")
    _run(obj, work)
