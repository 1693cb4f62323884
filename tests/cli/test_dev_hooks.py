"""`atomo dev` and hooks: the crm template's hooks/deals.py serves at once; editing a hook file reloads the hooks
in-process (fresh modules); a hook file that does not import prints `file:line: message` and the previous
hooks keep serving."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import new_project
from tests.cli.test_dev import Dev
from tests.e2e.conftest import gql_post, login, server_env

GREETING = '''from atomo.hooks import before, query


@query("greeting", returns="String!")
async def greeting(args, ctx):
    return "{text}"


@before("Contact", "create")
async def shout(data, ctx):
    data["lastName"] = data["lastName"].{case}()
'''


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    project = new_project(tmp_path)
    (project / "hooks" / "greeting.py").write_text(GREETING.format(text="v1", case="upper"))
    process = Dev(project)
    try:
        process.wait_for(process.healthy, "/health")
        yield process
    finally:
        process.stop()


def ask(dev: Dev, token: str, query: str) -> dict:  # type: ignore[type-arg]
    return gql_post(dev.url, query, token=token).json()  # type: ignore[no-any-return]


def contact(dev: Dev, token: str, last: str) -> str:
    created = ask(dev, token, f'mutation {{ create(model: "Contact", data: {{firstName: "Ada", lastName: "{last}"}}) }}')
    return str(created["data"]["create"]["lastName"])


def test_hooks_reload_on_change_and_survive_a_broken_file(dev: Dev) -> None:
    token = login(dev.url, password=server_env()["ADMIN_PASSWORD"])
    # the template's hook (hooks/deals.py) and the test's own serve from the start
    deal = ask(dev, token, 'mutation { create(model: "Deal", data: {title: "  Big   deal ", companyId: "c-1"}) }')
    assert deal["data"]["create"]["title"] == "Big deal", deal
    assert ask(dev, token, "{ greeting }") == {"data": {"greeting": "v1"}}
    assert contact(dev, token, "Lovelace") == "LOVELACE"
    totals = ask(dev, token, '{ pipelineTotals(stage: "won") }')["data"]["pipelineTotals"]
    assert totals == {"totals": {"won": 12000}, "deals": 1, "complete": True}

    hook = dev.project / "hooks" / "greeting.py"
    hook.write_text(GREETING.format(text="v2", case="lower"))
    dev.wait_for(lambda: "hooks reloaded" in dev.stdout, "the hooks reload")
    assert re.search(r"^reloaded in \d+ ms: hooks reloaded \(5\)$", dev.stdout, re.M), dev.stdout
    assert ask(dev, token, "{ greeting }") == {"data": {"greeting": "v2"}}
    assert contact(dev, token, "Hopper") == "hopper"

    hook.write_text(GREETING.format(text="v3", case="lower").replace("async def greeting(args, ctx):",
                                                                      "async def greeting(args, ctx)"))
    dev.wait_for(lambda: "keeping the previous hooks" in dev.stderr, "the refused hooks")
    lines = dev.stderr.splitlines()
    at = lines.index("keeping the previous hooks")
    assert lines[at - 1] == "hooks/greeting.py:5: SyntaxError: expected ':'", lines
    assert ask(dev, token, "{ greeting }") == {"data": {"greeting": "v2"}}     # the previous hooks
    assert contact(dev, token, "Curie") == "curie"

    hook.write_text(GREETING.format(text="v4", case="upper").replace("return \"v4\"", "return missing_name"))
    dev.wait_for(lambda: dev.stdout.count("hooks reloaded") == 2, "the next reload")
    broken = ask(dev, token, "{ greeting }")
    assert broken["errors"][0]["extensions"]["code"] == "INTERNAL_ERROR"      # a NameError when it runs
    assert "NameError: name 'missing_name' is not defined" in dev.stderr
    assert contact(dev, token, "Noether") == "NOETHER"
    (dev.project / "hooks" / "greeting.py").unlink()
    dev.wait_for(lambda: dev.stdout.count("hooks reloaded") == 3, "the reload without greeting.py")
    assert ask(dev, token, "{ greeting }")["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"   # gone
    assert dev.stop() == 0
