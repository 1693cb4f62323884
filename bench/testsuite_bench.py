"""A user's test suite on the pytest plugin: N tests that each create a record and query it through
``atomo_server`` (reset to boot + seed before every test), timed by pytest in a subprocess.

Prints the wall time of the whole ``pytest`` run and where a test's time goes: the session start
(the server boot inside the first test's setup), the per-test setup (``POST /__test__/reset``), the
call (one typed create + one query over HTTP) and teardown, as medians and totals. The project is the
bundled sample (no schema.ts in the generated folder). Reports numbers; asserts nothing.

Usage: python bench/testsuite_bench.py [--tests 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = '''
import pytest

CREATE = "mutation($d: ContactCreateInput!) {{ createContact(data: $d) {{ id }} }}"


@pytest.mark.parametrize("n", range({count}))
def test_create_query_reset(atomo_server, n):
    made = atomo_server.gql(CREATE, {{"d": {{"firstName": f"T{{n}}", "lastName": "Bench"}}}})
    assert made["data"]["createContact"]["id"]
    assert atomo_server.gql("{{ contactsCount }}")["data"]["contactsCount"] == 7
'''

CONFTEST = '''
import json
import time

import pytest

PHASES = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    start = time.perf_counter()
    yield
    PHASES.append(("setup", time.perf_counter() - start))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    start = time.perf_counter()
    yield
    PHASES.append(("call", time.perf_counter() - start))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    start = time.perf_counter()
    yield
    PHASES.append(("teardown", time.perf_counter() - start))


def pytest_sessionfinish(session):
    with open("phases.json", "w") as out:
        json.dump(PHASES, out)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="atomo-suite-bench-") as tmp:
        folder = Path(tmp)
        (folder / "test_suite.py").write_text(TESTS.format(count=args.tests))
        (folder / "conftest.py").write_text(CONFTEST)
        (folder / "pytest.ini").write_text("[pytest]\n")
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder,
                                capture_output=True, text=True)
        wall = time.perf_counter() - started
        summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
        phases = json.loads((folder / "phases.json").read_text()) if (folder / "phases.json").exists() else []
    by_phase: dict[str, list[float]] = {}
    for name, seconds in phases:
        by_phase.setdefault(name, []).append(seconds)
    print(f"{args.tests} tests (create + query + reset each against atomo_server): pytest wall {wall:.2f} s  "
          f"[{summary}]")
    setups = by_phase.get("setup", [0.0])
    print(f"  session start (server boot, in the first setup): {setups[0] * 1000:8.1f} ms")
    for name in ("setup", "call", "teardown"):
        values = by_phase.get(name, [])[1:] if name == "setup" else by_phase.get(name, [])
        if values:
            print(f"  per-test {name:9s} median {statistics.median(values) * 1000:6.2f} ms  "
                  f"p95 {sorted(values)[int(len(values) * 0.95) - 1] * 1000:6.2f} ms  total {sum(values):6.2f} s")
    accounted = sum(sum(v) for v in by_phase.values())
    print(f"  pytest itself (collection, start-up, reporting): {wall - accounted:6.2f} s")


if __name__ == "__main__":
    main()
