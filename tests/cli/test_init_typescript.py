"""A new project's schema.ts type-checks with the tools a TypeScript user runs: `npm install`, `npx tsc --noEmit`.

The editor types (`@atomo-cc/schema`) ship inside the project (types/atomo-schema/, a `file:` dependency), so
`npm install` fetches only TypeScript. Needs node and npm: skipped without them locally, a failure in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.conftest import atomo_process
from tests.e2e.conftest import server_env
from tests.schema.helpers import BUILDER_CRM

pytestmark = pytest.mark.slow

# The builder syntax beyond the CRM of schema chapter §3: channels, the `@atomo/schema` alias, varargs forms,
# object inputs and results, string triggers, defaults of every kind.
BUILDER_EXTRA = """
import { channel, boolean, file } from '@atomo/schema'

export const quote = action('quote').input({ dealId: 'string', note: 'string?' }).returns({ url: 'string' })
export const Room = model('rooms', {
  fields: {
    id: text().id(), title: text().required().trim(), logo: file(), open: boolean().default(false),
    kind: select('public', 'private').default('public'), meta: json().default({}), body: blocks().default([]),
  },
  access: { read: 'authenticated', create: allow.any(allow.role('admin'), 'manager'), delete: allow.sameTenant() },
  on: { created: 'quote', updated: [quote.whenChanged(['title']).when('open', true)] },
  ui: { listView: ['title'], displayField: 'title' },
})
export const dealRoom = channel('deal:{id}', { record: 'Deal', subscribe: allow.authenticated(),
                                               publish: allow.role(['sales', 'admin']) })
export const lobby = channel('lobby')
"""


def _tools() -> None:
    missing = [tool for tool in ("node", "npm", "npx") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} required in CI for the TypeScript checks of new projects")
        pytest.skip(f"{', '.join(missing)} not installed")


def run(*command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout)


def init_and_install(tmp_path: Path, template: str) -> Path:
    """`atomo init app -t TEMPLATE` then `npm install`, as a user would; prints the time npm took."""
    made = atomo_process("init", "app", "-t", template, cwd=tmp_path, env=server_env())
    assert made.returncode == 0, made.stderr
    project = tmp_path / "app"
    start = time.perf_counter()
    installed = run("npm", "install", "--no-audit", "--no-fund", cwd=project)
    print(f"npm install ({template}): {time.perf_counter() - start:.1f} s")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (project / "node_modules" / "@atomo-cc" / "schema" / "index.d.ts").is_file()
    return project


def tsc(project: Path) -> subprocess.CompletedProcess[str]:
    start = time.perf_counter()
    result = run("npx", "--no-install", "tsc", "--noEmit", cwd=project, timeout=180)
    print(f"tsc --noEmit: {time.perf_counter() - start:.1f} s")
    return result


@pytest.mark.parametrize("template", ["default", "crm", "blog"])
def test_new_project_type_checks(tmp_path: Path, template: str) -> None:
    _tools()
    project = init_and_install(tmp_path, template)
    checked = tsc(project)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == ""

    # a type error in schema.ts is reported: the types are real, not `any`
    schema = project / "schema.ts"
    schema.write_text(schema.read_text() + "\nexport const broken: Block = { id: 42 }\n")
    failed = tsc(project)
    assert failed.returncode != 0
    assert "schema.ts(" in failed.stdout and "error TS" in failed.stdout, failed.stdout


def test_builder_syntax_type_checks(tmp_path: Path) -> None:
    _tools()
    project = init_and_install(tmp_path, "default")
    schema = project / "schema.ts"
    schema.write_text(BUILDER_CRM + BUILDER_EXTRA)
    assert atomo_process("--project", str(project), "schema", "check", cwd=project, env=server_env()).returncode == 0
    checked = tsc(project)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # what the schema chapter refuses, the types refuse too
    mistakes = {
        "value: number().required().min(0).default(0)": "value: number().required().min(0).default('0')",
        "select(['EUR', 'USD']).default('EUR')": "select(['EUR', 'USD']).default('GBP')",
        "ownerId: text().index(), tags": "ownerId: text().defaultNow(), tags",
        "delete: allow.role('admin') },\n})": "delete: allow.nobody() },\n})",
        "on: { created: [sendWelcomeEmail] }": "on: { create: [sendWelcomeEmail] }",
        "quote = action('quote').input({ dealId: 'string'": "quote = action('quote').input({ dealId: 'text'",
    }
    text = schema.read_text()
    for good, bad in mistakes.items():
        assert text.count(good) == 1, good
        text = text.replace(good, bad)
    schema.write_text(text)
    failed = tsc(project)
    assert failed.returncode != 0
    assert len([line for line in failed.stdout.splitlines() if line.startswith("schema.ts(")]) == len(mistakes), \
        failed.stdout
