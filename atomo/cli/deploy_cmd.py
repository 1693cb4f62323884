"""`atomo deploy [-e production] [--output deploy] [--no-build] [--with-seed]` (cli chapter §12): an offline bundle."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
from pathlib import Path

import click

import atomo
from atomo.cli import deploy_files
from atomo.cli.build_cmd import NAME, build_executable, display, smoke_test
from atomo.cli.context import CliContext
from atomo.cli.progress import Progress
from atomo.errors import AtomoError, ConfigError
from atomo.project import Project, resolve_project
from atomo.schema import load_schema, require_valid


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "atomo"


def package_mtime() -> float:
    root = Path(atomo.__file__).resolve().parent
    return max(p.stat().st_mtime for p in root.rglob("*.py"))


def executable(project: Project, *, no_build: bool, plain: bool) -> Path:
    """The running binary when frozen; else dist/atomo-server, built when missing or older than the package."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable)
    exe = project.dir / "dist" / NAME
    if exe.is_file() and exe.stat().st_mtime >= package_mtime():
        return exe
    why = "is missing" if not exe.is_file() else "is older than the installed atomo package"
    if no_build:
        raise AtomoError(f"{display(exe)} {why}; run atomo build (or deploy without --no-build)")
    click.echo(f"{display(exe)} {why}: building it", err=True)
    result = build_executable(project.dir / "dist", plain=plain, log_dir=project.dir / "build")
    smoke_test(result.executable)
    return result.executable


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, target)


@click.command("deploy")
@click.option("-e", "--env", "env_name", default="production", show_default=True, help="Environment name.")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Folder for the bundle and its archive (default: deploy/ in the project).")
@click.option("--no-build", is_flag=True, help="Fail instead of building a missing or outdated executable.")
@click.option("--with-seed", is_flag=True, help="Include seed.json.")
@click.pass_obj
def deploy(obj: CliContext, env_name: str, output: str | None, no_build: bool, with_seed: bool) -> None:
    """Assemble an offline deployment bundle.

    deploy/<project>-<env>/ and its .tar.gz: the executable, schema, migrations, an env template, a systemd
    unit, a Dockerfile and INSTALL.md. Contacts no server."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", env_name):
        raise click.BadParameter("must match [A-Za-z0-9][A-Za-z0-9_-]*", param_hint="--env")
    settings = obj.settings()
    try:
        project = resolve_project(settings, project_dir=obj.project, allow_sample=False)
    except ConfigError as exc:
        raise AtomoError(f"deploy needs a project: {exc.message}") from None
    require_valid(load_schema(project.schema_path), strict=settings.strict_schema)
    plain = settings.no_progress or os.environ.get("CI") == "true"
    exe = executable(project, no_build=no_build, plain=plain)
    name = slug(project.dir.name)
    out = Path(output) if output else project.dir / "deploy"
    bundle = out / f"{name}-{env_name}"
    archive = out / f"{name}-{env_name}.tar.gz"
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir(parents=True)
    copies: list[tuple[Path, str]] = [(exe, NAME), (project.schema_path, "schema.ts")]
    for folder in ("migrations", "hooks"):
        if (project.dir / folder).is_dir():
            copies.append((project.dir / folder, folder))
    if with_seed:
        if project.seed_file is None:
            raise AtomoError(f"--with-seed: there is no seed.json in {project.dir}")
        copies.append((project.seed_file, "seed.json"))
    generated = {"atomo.env.example": deploy_files.env_file(name, env_name),
                 f"{name}.service": deploy_files.systemd_unit(name), "Dockerfile": deploy_files.dockerfile(name)}
    listing = sorted([target for _, target in copies] + list(generated) + ["INSTALL.md"])
    generated["INSTALL.md"] = deploy_files.install_md(name, env_name, listing)
    bar = Progress("deploy", len(copies) + len(generated) + 1, plain=plain)
    for source, target in copies:
        _copy(source, bundle / target)
        bar.update(bar.done + 1)
    for filename, content in generated.items():
        (bundle / filename).write_text(content, encoding="utf-8")
        bar.update(bar.done + 1)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(bundle, arcname=bundle.name)
    bar.update(bar.done + 1)
    bar.finish()
    click.echo(f"wrote {display(bundle)}/")
    click.echo(f"wrote {display(archive)}")
    click.echo(f"Next: copy {archive.name} to the server, unpack it and follow {bundle.name}/INSTALL.md")
