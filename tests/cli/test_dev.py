"""`atomo dev` as a subprocess: init -> dev -> edit schema.ts -> the new field is served; a schema error keeps
the previous schema serving; migrations files are applied on change; an env-file change restarts."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import new_project
from tests.e2e.conftest import free_port, gql_post, login, server_env

DEAL_FIELD = "  probability?: number; closeDate?: Date"


class Dev:
    def __init__(self, project: Path, *args: str) -> None:
        self.project = project
        self.port = free_port()
        self.out = open(project.parent / "dev.out", "w+b")  # closed in stop()
        self.err = open(project.parent / "dev.err", "w+b")
        self.proc = subprocess.Popen([sys.executable, "-m", "atomo", "dev", "--port", str(self.port), *args],
                                     cwd=project, env=server_env(), stdout=self.out, stderr=self.err)
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def stdout(self) -> str:
        return (self.project.parent / "dev.out").read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return (self.project.parent / "dev.err").read_text(errors="replace")

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"atomo dev exited {self.proc.returncode}:\n{self.stdout}\n{self.stderr}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.stdout}\n{self.stderr}")

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        self.err.close()
        return self.proc.returncode


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    process = Dev(new_project(tmp_path))
    try:
        process.wait_for(process.healthy, "/health")
        yield process
    finally:
        process.stop()


def create_deal(dev: Dev, token: str, extra: str = "", title: str = "Hot lead") -> httpx.Response:
    return gql_post(dev.url, f'mutation {{ create(model: "Deal", data: {{title: "{title}", companyId: "c-1"'
                             f'{extra}}}) }}', token=token)


def test_edit_schema_reloads_in_process(dev: Dev) -> None:
    assert dev.stdout.splitlines()[:4] == [
        f"Atomo 0.1.0 - project {dev.project}", f"  GraphQL   http://127.0.0.1:{dev.port}/graphql",
        f"  GraphiQL  http://127.0.0.1:{dev.port}/graphql   (open in a browser)",
        "  Data      .atomo/atomo.db (created; seeded 3 companies, 6 contacts, 4 deals)"]
    assert (dev.project / "generated" / "atomo.ts").is_file()
    token = login(dev.url, password=server_env()["ADMIN_PASSWORD"])
    before = create_deal(dev, token, ", priority: 3").json()
    assert before["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"

    schema = dev.project / "schema.ts"
    schema.write_text(schema.read_text().replace(DEAL_FIELD, DEAL_FIELD + "\n  priority?: number", 1))
    dev.wait_for(lambda: "reloaded in" in dev.stdout, "the reload")
    assert re.search(r"^reloaded in \d+ ms: Deal \+1 field \(priority\)$", dev.stdout, re.M), dev.stdout
    after = create_deal(dev, token, ", priority: 3").json()
    assert "errors" not in after, after
    assert after["data"]["create"]["priority"] == 3
    old = gql_post(dev.url, '{ record(model: "Deal", id: "d-1") }', token=token).json()
    assert old["data"]["record"]["title"] == "Pilot" and old["data"]["record"]["priority"] is None   # no data lost
    assert "priority: number | null" in (dev.project / "generated" / "atomo.ts").read_text()

    good = schema.read_text()
    schema.write_text(good.replace("  priority?: number", "  priority?: number\n  broken: ???", 1))
    dev.wait_for(lambda: "still serving the previous schema" in dev.stderr, "the schema error")
    error_lines = [line for line in dev.stderr.splitlines() if "error[" in line]
    assert re.fullmatch(r"schema\.ts:\d+:\d+: error\[syntax\]: .+", error_lines[0]), error_lines
    again = create_deal(dev, token, ", priority: 4", title="Another").json()
    assert again["data"]["create"]["priority"] == 4, again
    assert dev.stop() == 0


def test_refused_boot_migration_keeps_the_previous_schema(dev: Dev) -> None:
    schema = dev.project / "schema.ts"
    schema.write_text(schema.read_text().replace(DEAL_FIELD, DEAL_FIELD + "\n  region: string", 1))
    dev.wait_for(lambda: "still serving the previous schema" in dev.stderr, "the refusal")
    assert 'atomo: cannot add required field Deal.region: table "deals" has 4 rows' in dev.stderr
    assert dev.healthy()


def test_migration_file_and_env_changes(dev: Dev) -> None:
    (dev.project / "migrations" / "001_tags.sql").write_text("CREATE TABLE extra_tags (id TEXT PRIMARY KEY);\n")
    dev.wait_for(lambda: "applied 001_tags.sql" in dev.stdout, "the migration reload")
    assert re.search(r"^reloaded in \d+ ms: applied 001_tags\.sql$", dev.stdout, re.M), dev.stdout
    with open(dev.project / ".env", "a") as env:
        env.write("GRAPHQL_MAX_DEPTH=7\n")
    dev.wait_for(lambda: "env file changed: restarting" in dev.stdout, "the restart")
    dev.wait_for(lambda: dev.stdout.count("Press Ctrl+C to stop.") == 2 and dev.healthy(), "the restarted server")
    assert "(created" not in dev.stdout.split("env file changed")[1]
    assert dev.stop() == 0


def test_unknown_type_is_refused_at_boot_and_on_reload(dev: Dev, tmp_path: Path) -> None:
    schema = dev.project / "schema.ts"
    good = schema.read_text()
    schema.write_text(good.replace(DEAL_FIELD, DEAL_FIELD + "\n  priority?: Strin", 1))
    dev.wait_for(lambda: "still serving the previous schema" in dev.stderr, "the refusal")
    assert re.search(r"^schema\.ts:\d+:\d+: error\[unknown-type\]: unknown type 'Strin'\. Did you mean 'string'\?$",
                     dev.stderr, re.M), dev.stderr
    token = login(dev.url, password=server_env()["ADMIN_PASSWORD"])
    refused = create_deal(dev, token, ", priority: 3").json()      # the previous schema: no priority field
    assert refused["errors"][0]["extensions"]["details"][0]["code"] == "unknown_field", refused
    # a harmless warning does not stop the reload; it is printed
    schema.write_text(good + "\nlet unused = 1\n")
    dev.wait_for(lambda: "reloaded in" in dev.stdout, "the reload")
    assert "warning[ignored-syntax]: 'let' is read as 'const'" in dev.stderr
    assert dev.stop() == 0
    # the same typo at boot: `atomo dev` does not start (exit 4) and prints the diagnostic
    schema.write_text(good.replace(DEAL_FIELD, DEAL_FIELD + "\n  priority?: Strin", 1))
    boot = subprocess.run([sys.executable, "-m", "atomo", "dev", "--no-watch", "--port", str(free_port())],
                          cwd=dev.project, env=server_env(), capture_output=True, text=True, timeout=60)
    assert boot.returncode == 4, (boot.stdout, boot.stderr)
    assert "error[unknown-type]: unknown type 'Strin'. Did you mean 'string'?" in boot.stderr
    # warnings do not stop the boot; they are printed
    schema.write_text(good + "\nlet unused = 1\n")
    again = Dev(dev.project, "--no-watch")
    try:
        again.wait_for(again.healthy, "/health")
        assert "schema.ts:" in again.stderr and "warning[ignored-syntax]: 'let' is read as 'const'" in again.stderr
    finally:
        assert again.stop() == 0
