"""The README's first screen and Quick Reference, run as written against the embedded default."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, ROOT, ServerProcess, free_port, server_env

README = (ROOT / "README.md").read_text()


def first_block() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block, "README must start with a bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_first_screen_holds_the_two_commands_and_ci_runs_the_test_one() -> None:
    run, test = first_block()
    assert README.index(run) < 1500 and README.index(test) < 1500, "both commands are on the first screen"
    assert run.endswith("atomo serve") and "pip install -e ." in run
    install, _, test_cmd = test.partition(" && ")
    assert test_cmd == "python3 -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]'" in ci and "python3 -m pytest" in ci


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_quick_reference_curl_commands_work_against_the_embedded_default(tmp_path: Path) -> None:
    # `atomo serve` (the README's run command, after its install step) in a folder without schema.ts
    port = free_port()
    server = ServerProcess(tmp_path, port=port, env=server_env())
    server.start()
    try:
        banner = server.stdout
        assert "no schema.ts in" in banner and "serving the bundled sample project (CRM)" in banner
        assert "seeded 3 companies, 6 contacts, 4 deals" in banner
        quick = README.split("## Quick reference", 1)[1]
        script = re.search(r"```bash\n(.*?)```", quick, re.S).group(1).replace("3000", str(port))
        lines = script.replace("\\\n", " ").splitlines()
        commands = [line for line in lines if line.strip() and not line.startswith("#")]
        assert len(commands) == 3
        env = {**server_env(), "ADMIN_PASSWORD": ADMIN_PASSWORD}
        outputs = subprocess.run(["bash", "-ec", script + "\n"], capture_output=True, text=True, env=env,
                                 cwd=tmp_path, timeout=60)
        assert outputs.returncode == 0, outputs.stderr
        decoder, text, docs = json.JSONDecoder(), outputs.stdout.strip(), []
        while text:
            doc, end = decoder.raw_decode(text)
            docs.append(doc)
            text = text[end:].strip()
        created, queried = docs
        assert created["data"]["create"]["email"] == "john@example.com"
        emails = [r["email"] for r in queried["data"]["records"]]
        assert emails[0] == "john@example.com" and "barbara@example.com" in emails
    finally:
        server.stop()
