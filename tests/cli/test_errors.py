"""`--help` on every command, one-line errors (a traceback only with --debug) and the exit codes of cli.md §2."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from atomo.cli.frozen import with_default_command
from atomo.cli.main import cli
from tests.cli.conftest import atomo


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
    return found


COMMANDS = all_commands()


def test_every_issue_command_is_registered() -> None:
    for command in [("init",), ("dev",), ("serve",), ("migrate",), ("seed",), ("codegen",), ("build",), ("deploy",),
                    ("events", "tail"), ("projections", "rebuild"), ("schema", "check"), ("users", "create")]:
        assert command in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help(command: tuple[str, ...], tmp_path: Path) -> None:
    result = atomo(*command, "--help", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: atomo {' '.join(command)}")
    assert atomo(*command, "-h", cwd=tmp_path).exit_code == 0
    assert not any(tmp_path.iterdir())   # --help touches nothing


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert atomo("frobnicate", cwd=tmp_path).exit_code == 2
    assert atomo("migrate", "--bogus", cwd=tmp_path).exit_code == 2
    assert atomo("serve", "--port", "70000", cwd=tmp_path).exit_code == 2
    bad_setting = atomo("migrate", cwd=tmp_path, env={"PORT": "abc"})
    assert bad_setting.exit_code == 2 and bad_setting.stderr.startswith("atomo: PORT='abc' is invalid")


def test_errors_are_one_line_and_debug_adds_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text("export interface A { id: string }\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "001.sql").write_text("VACUUM;\n")
    plain = atomo("migrate", cwd=tmp_path)
    assert plain.exit_code == 5
    assert len(plain.stderr.splitlines()) == 1 and plain.stderr.startswith("atomo: migration 001.sql contains")
    debug = atomo("--debug", "migrate", cwd=tmp_path)
    assert debug.exit_code == 5 and "Traceback (most recent call last)" in debug.stderr


def test_unexpected_errors_have_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "schema.ts").write_text("export interface A { id: string }\n")
    (tmp_path / "seed.json").mkdir()   # a folder where a file is expected
    result = atomo("seed", "--file", str(tmp_path / "missing" / "x.json"), cwd=tmp_path)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    (tmp_path / "taken").write_text("a file where codegen wants a folder")
    oserror = atomo("codegen", "-o", str(tmp_path / "taken" / "sub"), cwd=tmp_path)
    assert oserror.exit_code == 1 and "Traceback" not in oserror.stderr
    assert len(oserror.stderr.splitlines()) == 1 and "(run with --debug for the traceback)" in oserror.stderr
    (tmp_path / "data.db").write_text("not a database")
    broken = atomo("--data-file", str(tmp_path / "data.db"), "events", "tail", cwd=tmp_path)
    assert broken.exit_code == 1
    assert len(broken.stderr.splitlines()) == 1 and broken.stderr.startswith("atomo: ")


def test_frozen_default_command() -> None:
    assert with_default_command([]) == ["serve"]
    assert with_default_command(["-p", "8080"]) == ["serve", "-p", "8080"]
    assert with_default_command(["--project", "/opt/x"]) == ["--project", "/opt/x", "serve"]
    assert with_default_command(["--project=/opt/x", "--debug", "--port", "1"]) == \
        ["--project=/opt/x", "--debug", "serve", "--port", "1"]
    assert with_default_command(["--project", "/opt/x", "migrate"]) == ["--project", "/opt/x", "migrate"]
    assert with_default_command(["--help"]) == ["--help"]
    assert with_default_command(["--version"]) == ["--version"]
