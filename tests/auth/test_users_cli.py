"""`atomo users create|list|deactivate` through the real CLI (click's CliRunner), cli chapter §9."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from atomo import Atomo
from atomo.auth.passwords import verify_password
from atomo.auth.sessions import create_session
from atomo.auth.users import User, find_by_email
from atomo.cli.main import cli
from tests.conftest import make_project, settings

ULID = r"[0-9A-HJKMNP-TV-Z]{26}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def run(project: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--project", str(project), "users", *args], input=stdin,
                              env={"ATOMO_ENV": "development", "ATOMO_DATA_FILE": None, "DATABASE_URL": None,
                                   "PASSWORD_MIN_LENGTH": None, "PASSWORD_REQUIRE_COMPLEXITY": None})


def user(project: Path, email: str) -> User | None:
    async def main() -> Any:
        async with Atomo(project, settings=settings()) as app:
            assert app.runtime.db is not None
            return await app.runtime.db.read(lambda conn: find_by_email(conn, email))
    return asyncio.run(main())  # type: ignore[no-any-return]


def test_create(project: Path) -> None:
    result = run(project, "create", "--email", " Ada@Example.com ", "--password-stdin", "--role", "Sales",
                 "--tenant", "acme", "--first-name", "Ada", "--last-name", "Lovelace", stdin="lovelace-42\n")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"created user {ULID} ada@example\.com \(role sales\)\n", result.stdout)
    ada = user(project, "ada@example.com")
    assert ada is not None and (ada.role, ada.tenant_id, ada.first_name, ada.last_name) == \
        ("sales", "acme", "Ada", "Lovelace")
    assert verify_password(ada.password_hash, "lovelace-42")


def test_default_role_and_password_option_warning(project: Path) -> None:
    result = run(project, "create", "--email", "v@example.com", "--password", "viewer-pass-1")
    assert result.exit_code == 0 and "(role viewer)" in result.stdout
    assert "warning: --password is visible in the process list" in result.stderr


def test_generated_password_is_printed_once(project: Path) -> None:
    result = run(project, "create", "--email", "g@example.com", "--generate-password")
    assert result.exit_code == 0
    password = re.search(r"^password: (\S+)$", result.stdout, re.M)
    assert password and len(password.group(1)) == 20
    created = user(project, "g@example.com")
    assert created is not None and verify_password(created.password_hash, password.group(1))


def test_existing_email_needs_update(project: Path) -> None:
    first = run(project, "create", "--email", "ada@example.com", "--password-stdin", stdin="lovelace-42\n")
    assert first.exit_code == 0
    again = run(project, "create", "--email", "ADA@example.com", "--password-stdin", stdin="other-pass-1\n")
    assert again.exit_code == 1
    assert again.stderr.strip() == "atomo: user ada@example.com already exists (use --update)"


def test_update_changes_only_the_given_attributes(project: Path) -> None:
    run(project, "create", "--email", "ada@example.com", "--password-stdin", "--role", "sales", "--tenant", "acme",
        "--first-name", "Ada", stdin="lovelace-42\n")
    before = user(project, "ada@example.com")
    result = run(project, "create", "--email", "ada@example.com", "--update", "--role", "manager")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"updated user {ULID} ada@example\.com \(role manager\)\n", result.stdout)
    after = user(project, "ada@example.com")
    assert before is not None and after is not None
    assert after.role == "manager" and after.id == before.id
    assert (after.tenant_id, after.first_name, after.password_hash) == ("acme", "Ada", before.password_hash)
    names = run(project, "create", "--email", "ada@example.com", "--update", "--last-name", "Byron")
    assert names.exit_code == 0
    renamed = user(project, "ada@example.com")
    assert renamed is not None and (renamed.role, renamed.last_name, renamed.first_name) == ("manager", "Byron", "Ada")
    password = run(project, "create", "--email", "ada@example.com", "--update", "--password-stdin",
                   stdin="new-password-7\n")
    assert password.exit_code == 0
    changed = user(project, "ada@example.com")
    assert changed is not None and verify_password(changed.password_hash, "new-password-7")
    assert changed.role == "manager"


def test_update_of_a_missing_user_creates_it(project: Path) -> None:
    result = run(project, "create", "--email", "new@example.com", "--update", "--password-stdin",
                 stdin="brand-new-1\n")
    assert result.exit_code == 0 and result.stdout.startswith("created user")


def test_without_a_password_and_no_terminal(project: Path) -> None:
    result = run(project, "create", "--email", "np@example.com")
    assert result.exit_code == 1 and "no password given" in result.stderr
    assert user(project, "np@example.com") is None


@pytest.mark.parametrize("password, message", [
    ("short1", "password must be at least 8 characters"),
    ("onlyletters", "password must contain a digit"),
    ("123456789", "password must contain a letter"),
])
def test_password_policy(project: Path, password: str, message: str) -> None:
    result = run(project, "create", "--email", "p@example.com", "--password-stdin", stdin=password + "\n")
    assert result.exit_code == 1 and message in result.stderr
    assert user(project, "p@example.com") is None


@pytest.mark.parametrize("role", ["public", "Bad Role", "x" * 40, "9lives"])
def test_invalid_roles(project: Path, role: str) -> None:
    result = run(project, "create", "--email", "r@example.com", "--password-stdin", "--role", role,
                 stdin="role-pass-12\n")
    assert result.exit_code == 1 and "invalid role" in result.stderr


def test_bad_email_and_option_conflicts(project: Path) -> None:
    assert run(project, "create", "--email", "nope", "--generate-password").exit_code == 1
    both = run(project, "create", "--email", "a@example.com", "--generate-password", "--password", "x1234567")
    assert both.exit_code == 2


def test_list(project: Path) -> None:
    run(project, "create", "--email", "a@example.com", "--password-stdin", "--role", "admin", stdin="admin-pass-1\n")
    run(project, "create", "--email", "b@example.com", "--password-stdin", "--tenant", "t1", stdin="viewer-pass-1\n")
    result = run(project, "list")
    assert result.exit_code == 0
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert "admin" in lines["a@example.com"] and "tenant=-" in lines["a@example.com"]
    assert "viewer" in lines["b@example.com"] and "tenant=t1" in lines["b@example.com"]


def test_deactivate_revokes_sessions(project: Path) -> None:
    run(project, "create", "--email", "d@example.com", "--password-stdin", stdin="deact-pass-1\n")
    target = user(project, "d@example.com")
    assert target is not None

    async def sessions(open_two: bool) -> list[Any]:
        async with Atomo(project, settings=settings()) as app:
            db = app.runtime.db
            assert db is not None
            if open_two:
                for _ in range(2):
                    await db.write(lambda conn: create_session(conn, user_id=target.id, ttl_secs=3600))
            return await db.read(lambda conn: conn.execute("SELECT revoked_at FROM sessions WHERE user_id = ?",
                                                           (target.id,)).fetchall())
    assert [r[0] for r in asyncio.run(sessions(True))] == [None, None]
    result = run(project, "deactivate", "--email", "D@example.com")
    assert result.exit_code == 0 and result.stdout.strip() == "deactivated d@example.com"
    assert all(r[0] is not None for r in asyncio.run(sessions(False)))
    deactivated = user(project, "d@example.com")
    assert deactivated is not None and not deactivated.is_active
    missing = run(project, "deactivate", "--email", "ghost@example.com")
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_sqlite_file_is_the_project_one(project: Path) -> None:
    run(project, "create", "--email", "f@example.com", "--generate-password")
    with sqlite3.connect(project / ".atomo" / "atomo.db") as conn:
        assert conn.execute("SELECT role FROM users WHERE email = 'f@example.com'").fetchone() == ("viewer",)
