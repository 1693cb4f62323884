"""`atomo build [--output dist] [--onedir]` (cli chapter §12, §14): the `atomo-server` executable."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click

from atomo.cli.context import CliContext
from atomo.cli.spinner import Spinner
from atomo.errors import AtomoError, ConfigError

NAME = "atomo-server.exe" if sys.platform == "win32" else "atomo-server"
PHASES = (("Building PYZ", "collection"), ("Building PKG", "packaging"), ("Building EXE", "packaging"),
          ("Building COLLECT", "packaging"))
_CLEAN_PREFIXES = ("ATOMO_", "ADMIN_", "JWT_", "DATABASE_")


@dataclass
class BuildResult:
    executable: Path
    size: int
    seconds: float


def executable_path(output: Path, onedir: bool) -> Path:
    return output / NAME / NAME if onedir else output / NAME


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _follow(log: Path, spinner: Spinner, done: threading.Event) -> None:
    seen = 0
    while not done.wait(0.25):
        try:
            text = log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for marker, phase in PHASES:
            if marker in text[seen:]:
                spinner.set_phase(phase)
        seen = max(0, len(text) - 200)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAN_PREFIXES)}
    env.update(extra)
    return env


def smoke_test(exe: Path) -> None:
    """`<exe> --version` and `<exe> serve --check` in an empty temporary folder."""
    with tempfile.TemporaryDirectory(prefix="atomo-smoke-") as folder:
        for args in (["--version"], ["serve", "--check"]):
            try:
                run = subprocess.run([str(exe.resolve()), *args], cwd=folder, env=clean_env(ATOMO_ENV="development"),
                                     capture_output=True, text=True, timeout=180)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise AtomoError(f"smoke test failed: {exe} {' '.join(args)}: {exc}") from None
            if run.returncode != 0:
                detail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
                raise AtomoError(f"smoke test failed: {exe.name} {' '.join(args)} exited {run.returncode}: "
                                 f"{detail[0]}")


def build_executable(output: Path, *, onedir: bool = False, plain: bool = False, log_dir: Path | None = None
                     ) -> BuildResult:
    if importlib.util.find_spec("PyInstaller") is None:
        raise ConfigError('PyInstaller is not installed: pip install "atomo[build]"')
    from atomo.packaging import SPEC
    log_dir = log_dir or Path("build")
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "atomo-build.log"
    target = output / NAME
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    env = dict(os.environ, ATOMO_BUILD_ONEDIR="1" if onedir else "0")
    start = time.perf_counter()
    done = threading.Event()
    # PyInstaller's work folder (about 30 MB of intermediate files) lives in a temporary folder removed
    # afterwards, so a build leaves only the log in build/ and the executable in the output folder.
    with (tempfile.TemporaryDirectory(prefix="atomo-build-", ignore_cleanup_errors=True) as work,
          Spinner("build", plain=plain) as spinner, open(log, "w", encoding="utf-8") as sink):
        command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--distpath", str(output),
                   "--workpath", work, "--log-level", "INFO"]
        spinner.set_phase("analysis")
        follower = threading.Thread(target=_follow, args=(log, spinner, done), daemon=True)
        follower.start()
        try:
            code = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, env=env).returncode
        finally:
            done.set()
            follower.join()
    seconds = time.perf_counter() - start
    exe = executable_path(output, onedir)
    if code != 0 or not exe.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        for line in tail:
            click.echo(line, err=True)
        raise AtomoError(f"PyInstaller failed (exit {code}); full log in {log}")
    return BuildResult(exe, tree_size(output / NAME), seconds)


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@click.command("build")
@click.option("-o", "--output", default="dist", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the executable.")
@click.option("--onedir", is_flag=True, help="A folder with the executable and its libraries instead of one file.")
@click.option("--no-smoke-test", is_flag=True, hidden=True)
@click.pass_obj
def build(obj: CliContext, output: str, onedir: bool, no_smoke_test: bool) -> None:
    """Build the atomo-server executable.

    A standalone program made with PyInstaller (pip install "atomo[build]"); smoke-tested after building."""
    plain = obj.no_progress or os.environ.get("ATOMO_NO_PROGRESS") == "1" or os.environ.get("CI") == "true"
    result = build_executable(Path(output), onedir=onedir, plain=plain)
    if not no_smoke_test:
        smoke_test(result.executable)
    shown = display(result.executable.parent if onedir else result.executable)
    suffix = "" if no_smoke_test else "; smoke test passed"
    click.echo(f"built {shown} ({result.size / 1e6:.1f} MB) in {result.seconds:.0f} s{suffix}")
