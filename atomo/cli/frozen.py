"""The `atomo-server` entry point: the same commands, `serve` by default, build info baked in."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from atomo._version import __version__

GLOBAL_WITH_VALUE = ("--project", "--env-file", "--data-file")
GLOBAL_FLAGS = ("--no-progress", "--debug")
STOP = ("--help", "-h", "--version")


def build_info() -> dict[str, Any]:
    base = getattr(sys, "_MEIPASS", None)
    path = Path(base) / "atomo" / "build_info.json" if base else Path(__file__).resolve().parent.parent / \
        "build_info.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def with_default_command(argv: list[str]) -> list[str]:
    """Insert `serve` where the command would be when none is given (`atomo-server -p 8080` too)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in STOP:
            return argv
        if arg in GLOBAL_WITH_VALUE:
            i += 2
        elif arg.startswith(tuple(o + "=" for o in GLOBAL_WITH_VALUE)) or arg in GLOBAL_FLAGS:
            i += 1
        elif arg.startswith("-"):
            return argv[:i] + ["serve"] + argv[i:]
        else:
            return argv
    return argv + ["serve"]


def version_line(info: dict[str, Any]) -> str:
    return (f"atomo-server {info.get('version', __version__)} (commit {info.get('commit', 'unknown')}, "
            f"built {info.get('buildTime', 'unknown')})")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    info = build_info()
    if info.get("commit"):
        os.environ.setdefault("ATOMO_GIT_SHA", str(info["commit"]))
    if info.get("buildTime"):
        os.environ.setdefault("ATOMO_BUILD_TIME", str(info["buildTime"]))
    args = with_default_command(args)
    if "--version" in args and "serve" not in args[: args.index("--version")]:
        print(version_line(info))
        raise SystemExit(0)
    from atomo.cli.main import cli
    cli.main(args=args, prog_name="atomo-server")
