"""`atomo events tail`: the text format of cli.md §11, JSON lines, filters, and --follow."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import atomo
from tests.e2e.conftest import server_env

LINE = re.compile(r"#(\d+)  (\S+)  (\S+) v(\d+)  (\w+)  actor=(\S+)(.*)")


def seeded(project: Path) -> Path:
    assert atomo("--project", str(project), "seed", cwd=project).exit_code == 0
    return project


def update_deal(project: Path) -> None:
    """An Updated event written like the write path would (the CLI only reads)."""
    import asyncio

    from atomo.auth.principal import SYSTEM_CALLER
    from atomo.config import load_settings
    from atomo.project import resolve_project
    from atomo.runtime import Runtime

    async def run() -> None:
        settings = load_settings({}, project_dir=str(project))
        runtime = await Runtime(settings, resolve_project(settings, project_dir=project)).start()
        try:
            await runtime.data.update("Deal", id="d-4", data={"stage": "won", "value": 13000}, caller=SYSTEM_CALLER)
        finally:
            await runtime.close()
    asyncio.run(run())


def test_tail_text_last_events_oldest_first(crm: Path) -> None:
    project = seeded(crm)
    result = atomo("--project", str(project), "events", "tail", "-n", "3", cwd=project)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [LINE.match(x).group(1) for x in lines] == ["11", "12", "13"]  # type: ignore[union-attr]
    assert re.fullmatch(r"#13  \S+\+00:00  Deal/d-4 v1  Created  actor=-  origin=seed", lines[-1]), lines[-1]


def test_tail_updated_lists_changed_keys(crm: Path) -> None:
    project = seeded(crm)
    update_deal(project)
    result = atomo("--project", str(project), "events", "tail", "-n", "1", cwd=project)
    line = result.stdout.strip()
    match = LINE.match(line)
    assert match is not None, line
    assert match.group(3, 4, 5) == ("Deal/d-4", "2", "Updated")
    assert line.endswith("changed=value,stage,updatedAt,_version"), line


def test_filters_after_and_json(crm: Path) -> None:
    project = seeded(crm)
    by_model = atomo("--project", str(project), "events", "tail", "--model", "Company", cwd=project).stdout.splitlines()
    assert [LINE.match(x).group(3) for x in by_model] == ["Company/c-1", "Company/c-2", "Company/c-3"]  # type: ignore
    by_stream = atomo("--project", str(project), "events", "tail", "--stream", "Contact/p-2", cwd=project).stdout
    assert by_stream.count("\n") == 1 and "Contact/p-2 v1  Created" in by_stream
    after = atomo("--project", str(project), "events", "tail", "--after", "10", "-n", "2", cwd=project).stdout
    assert [LINE.match(x).group(1) for x in after.splitlines()] == ["11", "12"]  # type: ignore[union-attr]
    out = atomo("--project", str(project), "events", "tail", "--format", "json", "-n", "2", cwd=project).stdout
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["position"] for e in events] == [12, 13]
    assert list(events[0]) == ["position", "eventId", "stream", "streamVersion", "type", "model", "recordId", "data",
                               "previousData", "actor", "tenantId", "origin", "recordedAt", "metadata"]
    assert events[1]["data"]["title"] == "Support plan" and events[1]["origin"] == "seed"
    assert events[1]["metadata"] is None


def test_no_data_file_and_usage(tmp_path: Path, crm: Path) -> None:
    missing = atomo("--project", str(crm), "events", "tail", cwd=crm)
    assert missing.exit_code == 1 and missing.stderr.startswith("atomo: no data file at ")
    assert atomo("--project", str(crm), "events", "tail", "--format", "xml", cwd=crm).exit_code == 2
    assert atomo("--project", str(crm), "events", "tail", "-n", "0", cwd=crm).exit_code == 2


def test_follow_prints_new_events_until_interrupted(crm: Path) -> None:
    project = seeded(crm)
    # Ctrl+C as in a terminal: a child of a background job would inherit SIGINT ignored
    with subprocess.Popen([sys.executable, "-m", "atomo", "--project", str(project), "events", "tail", "-f", "-n",
                           "1"], cwd=project, env=server_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("#13  ")
            update_deal(project)
            second = proc.stdout.readline()
            assert second.startswith("#14  ") and "Deal/d-4 v2  Updated" in second
            time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    conn = sqlite3.connect(project / ".atomo" / "atomo.db")
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 14
    conn.close()


def test_json_lines_carry_event_metadata(crm: Path) -> None:
    import asyncio

    from atomo import Atomo, NewEvent
    from atomo.config import load_settings

    async def append() -> None:
        async with Atomo(crm, settings=load_settings({})) as app:
            await app.events.append("order-7", [NewEvent("OrderPlaced", {"total": 3}, metadata={"corr": "c-9"})])
    asyncio.run(append())
    out = atomo("--project", str(crm), "events", "tail", "--stream", "order-7", "--format", "json", cwd=crm).stdout
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert event["type"] == "OrderPlaced" and event["metadata"] == {"corr": "c-9"}


def test_tail_reads_the_log_on_postgres(crm: Path, postgres_url: str) -> None:
    """DATABASE_URL=postgresql://… (issue 21): seed there, then the same lines from the server's schema; users."""
    env = {"DATABASE_URL": postgres_url}
    assert atomo("--project", str(crm), "seed", cwd=crm, env=env).exit_code == 0
    result = atomo("--project", str(crm), "events", "tail", "-n", "3", "--format", "json", cwd=crm, env=env)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events) and len(events) == 3
    assert events[-1]["type"] == "Created" and not (crm / ".atomo" / "atomo.db").exists()
    after = atomo("--project", str(crm), "events", "tail", "--after", str(events[0]["position"]), cwd=crm, env=env)
    assert [int(LINE.match(line).group(1)) for line in after.stdout.splitlines()] == \
        [e["position"] for e in events[1:]]
    made = atomo("--project", str(crm), "users", "create", "--email", "pg@example.com", "--generate-password",
                 cwd=crm, env=env)                          # the accounts commands work there too
    assert made.exit_code == 0, made.output
    listed = atomo("--project", str(crm), "users", "list", cwd=crm, env=env)
    assert listed.exit_code == 0 and "pg@example.com" in listed.stdout
