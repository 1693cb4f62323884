"""`atomo worker run MODULE:HANDLERS` (jobs chapter §11): run a Python worker until SIGINT/SIGTERM.

``HANDLERS`` names a ``Worker`` (run as configured) or a mapping of job kind -> handler (a worker is
built from the options). The current folder is importable, like ``python -m``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

import click

from atomo.errors import AtomoError, UsageError


def load_target(spec: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"expected MODULE:HANDLERS, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise AtomoError(f"cannot import {module_name}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise AtomoError(f"{module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    return target


@click.group("worker")
def worker() -> None:
    """Run job workers (Python worker SDK)."""


@worker.command("run")
@click.argument("target")
@click.option("--url", envvar="ATOMO_URL", default="http://localhost:3000", show_default=True,
              help="Server URL (or ATOMO_URL).")
@click.option("--token", envvar="ATOMO_WORKER_TOKEN", default=None, help="Worker token (or ATOMO_WORKER_TOKEN).")
@click.option("--queue", "queues", multiple=True, help="Queue to lease from (repeatable; default: actions).")
@click.option("--concurrency", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--visibility-secs", type=click.IntRange(1, 86400), default=30, show_default=True)
@click.option("--heartbeat-secs", type=click.FloatRange(0.1, 86400), default=None,
              help="Heartbeat period (default: visibility / 3).")
@click.option("--poll-interval", type=click.FloatRange(0.01, 3600), default=1.0, show_default=True)
@click.option("--wait-secs", type=click.IntRange(0, 30), default=0, show_default=True, help="Long-poll seconds.")
def run(target: str, url: str, token: str | None, queues: tuple[str, ...], concurrency: int, visibility_secs: int,
        heartbeat_secs: float | None, poll_interval: float, wait_secs: int) -> None:
    """Run the worker or handler mapping TARGET (MODULE:HANDLERS) until interrupted."""
    from atomo.worker import Worker, create_worker
    loaded = load_target(target)
    if isinstance(loaded, Worker):
        runner = loaded
    elif isinstance(loaded, Mapping):
        if not token:
            raise UsageError("a worker token is required: --token or ATOMO_WORKER_TOKEN")
        runner = create_worker(url, token, list(queues) or ["actions"], concurrency=concurrency,
                               visibility_secs=visibility_secs, heartbeat_secs=heartbeat_secs,
                               poll_interval=poll_interval, wait_secs=wait_secs, handlers=dict(loaded))
    else:
        raise UsageError(f"{target} must be a Worker or a mapping of job kind -> handler")
    click.echo(f"atomo worker: {len(runner.handlers)} handler(s) on {', '.join(runner.queues)} at {runner.url}",
               err=True)
    runner.run()
