"""The README, run as written: its shell blocks go to `bash -e` unchanged, its Python example to the real
interpreter, in a fresh folder with an environment holding no Atomo setting (what a newcomer has).

The Quick Reference talks to port 3000 as the README says: these tests wait for that port to be free and
skip when it stays taken. Anything a block leaves running (its `atomo serve &`) is in the process group of
its shell and is stopped by the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROOT

README = (ROOT / "README.md").read_text()
README_PORT = 3000
BASE_URL = f"http://127.0.0.1:{README_PORT}"
SETTING_PREFIXES = ("ATOMO_", "ADMIN_", "JWT_", "DATABASE_", "GRAPHQL_", "RATE_LIMIT", "LOGIN_RATE", "PASSWORD_")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def section(title: str) -> str:
    """The README text from the heading `## <title>` to the next `## ` heading."""
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:] if end < 0 else README[start:end]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def first_block() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block, "README must start with a bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def quick_reference() -> str:
    (block,) = blocks(section("Quick reference"), "bash")
    return block


def clean_env() -> dict[str, str]:
    """This process's environment without any Atomo setting; `atomo` and `python3` from this interpreter."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(SETTING_PREFIXES) and k not in ("HOST", "PORT", "LOG_LEVEL", "LOG_FORMAT")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def stop_group(pgid: int, timeout: float = 20.0) -> bool:
    """SIGTERM what is left in a process group (SIGKILL after ``timeout``); True if anything was left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    return True


class Shell:
    """`bash -ec <script>` in a session of its own, stdout and stderr in files under ``logs``."""

    def __init__(self, script: str, cwd: Path, logs: Path) -> None:
        logs.mkdir(exist_ok=True)
        number = len(list(logs.glob("*.out")))
        self.out_path, self.err_path = logs / f"{number}.out", logs / f"{number}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(["bash", "-ec", script], cwd=cwd, env=clean_env(), stdout=out, stderr=err,
                                         start_new_session=True)

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = 180.0) -> tuple[int, bool]:
        """The script's exit code, and whether it left a process running (then stopped here)."""
        try:
            code = self.proc.wait(timeout)
        finally:
            left = stop_group(self.proc.pid)
        return code, left


def run_shell(script: str, cwd: Path, logs: Path) -> Shell:
    shell = Shell(script, cwd, logs)
    code, left = shell.wait()
    assert code == 0, f"exit {code}\n--- stdout\n{shell.stdout}\n--- stderr\n{shell.stderr}"
    assert not left, "the script left a process running"
    return shell


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


@pytest.fixture
def readme_port() -> Iterator[int]:
    deadline = time.monotonic() + 30
    while not port_free(README_PORT):
        if time.monotonic() > deadline:
            pytest.skip(f"port {README_PORT}, where the README's commands go, is in use")
        time.sleep(0.5)
    yield README_PORT
    deadline = time.monotonic() + 10
    while not port_free(README_PORT) and time.monotonic() < deadline:
        time.sleep(0.1)


def json_documents(text: str) -> list[Any]:
    """The JSON objects in a script's output (curl's answers), skipping the server's banner lines."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        try:
            doc, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at += 1
            continue
        docs.append(doc)
    return docs


def check_quick_reference_output(stdout: str) -> None:
    created, queried = json_documents(stdout)
    assert created["data"]["create"]["email"] == "john@example.com"
    emails = [r["email"] for r in queried["data"]["records"]]
    assert emails[0] == "john@example.com" and "barbara@example.com" in emails


def wait_for_health(shell: Shell, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert shell.proc.poll() is None, f"atomo serve exited with {shell.proc.returncode}:\n{shell.stderr}"
        try:
            if httpx.get(BASE_URL + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"atomo serve did not answer /health within {timeout} s:\n{shell.stderr}")


# ------------------------------------------------------------------------------------------- first screen

def test_first_screen_holds_the_two_commands_and_ci_runs_the_test_one() -> None:
    run, test = first_block()
    assert README.index(run) < 1500 and README.index(test) < 1500, "both commands are on the first screen"
    assert run.endswith("atomo serve") and "pip install -e ." in run
    install, _, test_cmd = test.partition(" && ")
    assert test_cmd == "python3 -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]'" in ci and "python3 -m pytest" in ci


def test_every_shell_block_is_run_here() -> None:
    """The first screen, the Quick Reference, the embedding, the typed API and the hooks run: add a test with
    any new block."""
    assert len(blocks(README, "bash")) == 7
    assert len(blocks(section("Event store"), "bash")) == 1
    assert len(blocks(section("Rich content"), "bash")) == 1
    assert len(blocks(section("Quick reference"), "bash")) == 1
    assert len(blocks(section("Typed API"), "bash")) == 1
    assert len(blocks(section("Embedding Atomo in Python"), "bash")) == 1
    assert len(blocks(section("Hooks"), "bash")) == 1
    assert len(blocks(README, "python")) == 3
    assert len(blocks(section("Testing your app with Atomo"), "python")) == 1
    assert len(blocks(README, "javascript")) == 1
    assert len(blocks(section("Hooks"), "python")) == 1


# ---------------------------------------------------------------------------------------- quick reference

@needs_curl
def test_quick_reference_runs_as_written_in_a_new_folder(tmp_path: Path, readme_port: int) -> None:
    folder = tmp_path / "newcomer"
    folder.mkdir()
    shell = run_shell(quick_reference(), folder, tmp_path / "logs")
    banner = shell.stdout
    assert f"no schema.ts in {folder}, serving the bundled sample project (CRM)" in banner
    assert "seeded 3 companies, 6 contacts, 4 deals" in banner
    assert "  Admin " not in banner  # ADMIN_PASSWORD chosen: nothing generated
    check_quick_reference_output(banner)
    assert "Traceback" not in shell.stderr


class FirstScreenServer:
    """The first screen's `atomo serve` (after its install step), in the foreground of a shell of its own."""

    def __init__(self, folder: Path, logs: Path) -> None:
        run, _ = first_block()
        command = run.partition(" && ")[2]
        assert command == "atomo serve"
        folder.mkdir()
        self.shell = Shell(command, folder, logs)
        try:
            wait_for_health(self.shell)
        except BaseException:
            stop_group(self.shell.proc.pid)
            raise

    @property
    def generated_password(self) -> str:
        admin = [line for line in self.shell.stdout.splitlines() if line.startswith("  Admin ")]
        assert len(admin) == 1, self.shell.stdout
        return admin[0].split(" / ")[1].split()[0]

    def stop(self) -> None:  # Ctrl+C
        os.killpg(self.shell.proc.pid, signal.SIGINT)
        code, _ = self.shell.wait(30)
        assert code == 0, self.shell.stderr


@needs_curl
def test_quick_reference_against_the_first_screen_server(tmp_path: Path, readme_port: int) -> None:
    # the README: against a server already running, export the password from its banner and run the lines
    # from `# Log in` up to `# Stop the server`
    first = FirstScreenServer(tmp_path / "repo", tmp_path / "logs")
    try:
        block = quick_reference()
        lines = block[block.index("# Log in"):block.index("# Stop the server")]
        shell = run_shell(f"export ADMIN_PASSWORD='{first.generated_password}'\n" + lines, tmp_path / "repo",
                          tmp_path / "logs")
        check_quick_reference_output(shell.stdout)
    finally:
        first.stop()


@needs_curl
def test_quick_reference_runs_as_written_after_the_first_screen_server(tmp_path: Path, readme_port: int) -> None:
    # the data file exists and its admin has a generated password: ADMIN_RESET_PASSWORD=true replaces it
    first = FirstScreenServer(tmp_path / "repo", tmp_path / "logs")
    assert first.generated_password
    first.stop()
    shell = run_shell(quick_reference(), tmp_path / "repo", tmp_path / "logs")
    assert "  Data      .atomo/atomo.db\n" in shell.stdout and "  Admin " not in shell.stdout
    check_quick_reference_output(shell.stdout)
    assert "Traceback" not in shell.stderr


# -------------------------------------------------------------------------------------- embedding example

def embedding_example(folder: Path) -> Path:
    """The README's Python block saved as ``folder/example.py``, as the README asks."""
    (script,) = blocks(section("Embedding Atomo in Python"), "python")
    path = folder / "example.py"
    path.write_text(script)
    return path


def check_example_output(stdout: str, *, seeded: bool) -> None:
    lines = stdout.splitlines()
    assert "updated: Robot arms won version 2" in lines
    won = ["Robot arms", "Pilot"] if seeded else ["Robot arms"]  # the seed's won deal is worth 12000
    assert f"won deals: {won!r}" in lines
    assert "history: ['Created', 'Updated']" in lines
    events = [line.split() for line in lines if line.startswith("event: ")]
    assert [e[2] for e in events] == ["Created", "Updated"] and events[0][3] == events[1][3]
    assert events[0][3].startswith("Deal/")


def atomo(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["atomo", *args], cwd=folder, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_embedding_example_runs_as_written_then_seed(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    embedding_example(folder)
    (block,) = blocks(section("Embedding Atomo in Python"), "bash")
    shell = run_shell(block, folder, tmp_path / "logs")
    check_example_output(shell.stdout, seeded=False)
    assert "Traceback" not in shell.stderr
    seeded = atomo(folder / "shop", "seed")
    assert seeded.stdout.startswith("Seeded 13 records (Company 3, Contact 6, Deal 4), 0 skipped")


def test_embedding_example_runs_after_seed(tmp_path: Path) -> None:
    atomo(tmp_path, "init", "shop", "-t", "crm")
    project = tmp_path / "shop"
    atomo(project, "seed")
    script = embedding_example(project)
    result = subprocess.run([sys.executable, script.name], cwd=project, env=clean_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    check_example_output(result.stdout, seeded=True)


# ------------------------------------------------------------------------------------------------ hooks example

@needs_curl
def test_hooks_example_runs_as_written(tmp_path: Path, readme_port: int) -> None:
    """The Hooks section: its Python block saved as `close_deal.py`, then its shell block in that folder."""
    folder = tmp_path / "work"
    folder.mkdir()
    (script,) = blocks(section("Hooks"), "python")
    (folder / "close_deal.py").write_text(script)
    (block,) = blocks(section("Hooks"), "bash")
    shell = run_shell(block, folder, tmp_path / "logs")
    won, lost, totals = json_documents(shell.stdout)[-3:]
    assert won["data"]["closeDeal"]["stage"] == "won" and won["data"]["closeDeal"]["id"] == "d-2"
    (error,) = lost["errors"]
    assert error["extensions"]["code"] == "VALIDATION_ERROR" and error["message"] == "the deal is already won"
    assert error["extensions"]["details"] == [{"field": "stage", "message": "the deal is already won", "code": "closed"}]
    assert totals["data"]["pipelineTotals"] == {"totals": {"won": 94000.5}, "deals": 2, "complete": True}
    history = totals["data"]["history"]
    assert [e["type"] for e in history] == ["Created", "Updated", "DealWon"], history
    assert history[1]["data"]["stage"] == "won" and history[2]["data"] == {"value": 82000.5}
    assert (folder / "shop" / "hooks" / "deals.py").is_file() and (folder / "shop" / "hooks" / "close_deal.py").is_file()
    assert "Traceback" not in shell.stderr


def test_typed_api_example_runs_as_written(tmp_path: Path, readme_port: int) -> None:
    """The Typed API section's shell block in a fresh folder: the bundled sample, typed create and read."""
    folder = tmp_path / "work"
    folder.mkdir()
    (block,) = blocks(section("Typed API"), "bash")
    shell = run_shell(block, folder, tmp_path / "logs")
    created, listed = json_documents(shell.stdout)[-2:]
    deal = created["data"]["createDeal"]
    assert deal["title"] == "Typed pilot" and deal["stage"] == "qualified" and deal["company"]["name"]
    deals = listed["data"]["deals"]
    assert deals and "Typed pilot" in [d["title"] for d in deals]
    values = [d["value"] for d in deals]
    assert values == sorted(values, reverse=True) and all(v > 1000 for v in values)
    assert all(d["company"]["name"] for d in deals)
    assert "Traceback" not in shell.stderr


def test_rich_content_example_runs_as_written(tmp_path: Path, readme_port: int) -> None:
    """The Rich content section's shell block in a fresh folder: a block inserted into a seeded deal, then rendered."""
    folder = tmp_path / "work"
    folder.mkdir()
    (block,) = blocks(section("Rich content"), "bash")
    shell = run_shell(block, folder, tmp_path / "logs")
    inserted, rendered = json_documents(shell.stdout)[-2:]
    change = inserted["data"]["insertBlock"]
    assert change["index"] == 1 and change["version"] == 2
    assert change["block"]["type"] == "task" and change["block"]["rev"] == 1 and len(change["block"]["id"]) == 36
    assert rendered["data"]["renderBlocks"] == ("Signed after a **two-week** trial.\n\n"
                                                "- [ ] Book the kick-off (due 2026-02-01)\n\n"
                                                "- [x] Send onboarding pack\n")
    assert "Traceback" not in shell.stderr


def test_event_store_example_runs_as_written(tmp_path: Path, readme_port: int) -> None:
    """The Event store section's shell block in a fresh folder: a new stream appended, then read back."""
    folder = tmp_path / "work"
    folder.mkdir()
    (block,) = blocks(section("Event store"), "bash")
    shell = run_shell(block, folder, tmp_path / "logs")
    appended, read = json_documents(shell.stdout)[-2:]
    assert appended == {"data": {"appendEvents": {"version": 2}}}
    assert read["data"]["stream"] == [
        {"streamVersion": 1, "type": "OrderPlaced", "data": {"total": 120}, "metadata": None},
        {"streamVersion": 2, "type": "OrderPaid", "data": {"via": "card"}, "metadata": {"correlationId": "c-7"}}]
    assert "Traceback" not in shell.stderr


def test_testing_section_examples_run_as_written(tmp_path: Path) -> None:
    """The pytest example (pytest in a fresh folder: the bundled sample) and the Node example."""
    (pytest_example,) = blocks(section("Testing your app with Atomo"), "python")
    (node_example,) = blocks(section("Testing your app with Atomo"), "javascript")
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "test_contacts.py").write_text(pytest_example)
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    env = clean_env()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    (folder / "contacts.test.mjs").write_text(node_example)
    result = subprocess.run(["node", "--test", "contacts.test.mjs"], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 2" in result.stdout and "# fail 0" in result.stdout
