"""The pytest plugin (`atomo.testing`, registered by `pip install atomo` through the `pytest11` entry
point) run the way its users run it: pytest in a subprocess on a sample test project (`pytester`),
with sync and async tests, the library fixture and the real ephemeral server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

USER_TESTS = '''
import pytest

CREATE = 'mutation($d: ContactCreateInput!) { createContact(data: $d) { id firstName } }'


def test_library_sync(atomo_app):
    assert atomo_app.count("Contact") == 6                 # boot + seed, whatever the other tests did
    atomo_app.create("Contact", {"firstName": "Sync", "lastName": "Test"})
    assert atomo_app.count("Contact") == 7


async def test_library_async(atomo_app):
    assert await atomo_app.count("Contact") == 6
    await atomo_app.create("Contact", {"firstName": "Async", "lastName": "Test"})
    assert await atomo_app.count("Contact") == 7
    sales = await atomo_app.users.create("lib-sales@example.com", "Lib-pass-1234", role="sales")
    assert sales[0].role == "sales"


def test_library_reset_removes_users_too(atomo_app):
    assert all(u.email != "lib-sales@example.com" for u in atomo_app.users.list())


def test_frozen_clock(atomo_app, atomo_clock):
    from datetime import datetime
    early = atomo_app.create("Company", {"name": "Early"})
    atomo_clock.advance(3600)
    late = atomo_app.create("Company", {"name": "Late"})
    delta = datetime.fromisoformat(late["createdAt"]) - datetime.fromisoformat(early["createdAt"])
    assert delta.total_seconds() == 3600


@pytest.mark.parametrize("n", range(3))
def test_server_sync(atomo_server, n):
    body = atomo_server.gql(CREATE, {"d": {"firstName": f"S{n}", "lastName": "X"}})
    assert body["data"]["createContact"]["firstName"] == f"S{n}"
    assert atomo_server.gql("{ contactsCount }")["data"]["contactsCount"] == 7


async def test_server_async(atomo_server):
    body = await atomo_server.agql("{ contactsCount }")
    assert body["data"]["contactsCount"] == 6


def test_roles_and_users(atomo_server, atomo_user):
    viewer = atomo_server.gql(CREATE, {"d": {"firstName": "V", "lastName": "X"}}, as_="viewer")
    assert viewer["errors"][0]["extensions"]["code"] in ("FORBIDDEN", "PERMISSION_DENIED")
    sales = atomo_user(role="sales")
    made = atomo_server.gql(CREATE, {"d": {"firstName": "Sales", "lastName": "X"}}, as_=sales)
    assert made["data"]["createContact"]["firstName"] == "Sales"
    assert atomo_server.gql("{ contactsCount }", as_="anonymous")["errors"][0]["extensions"]["code"] == \\
        "UNAUTHENTICATED"
    assert atomo_server.url.startswith("http://127.0.0.1:")
'''


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_app=USER_TESTS)
    return pytester


def test_fixtures_in_a_user_test_suite(user_project: pytest.Pytester) -> None:
    """The bundled sample (no schema.ts in the rootdir): every test starts from boot + seed."""
    result = user_project.runpytest_subprocess("-p", "asyncio", "-q")
    result.assert_outcomes(passed=9)


def test_project_option_and_rootdir_discovery(user_project: pytest.Pytester) -> None:
    project = user_project.path / "crm"
    project.mkdir()
    shutil.copy(ROOT / "sample-data" / "schema.ts", project / "schema.ts")
    shutil.copy(ROOT / "sample-data" / "seed.json", project / "seed.json")
    result = user_project.runpytest_subprocess("-p", "asyncio", "-q", "--atomo-project", "crm")
    result.assert_outcomes(passed=9)
    (project / "seed.json").write_text('{"Contact": []}')          # another seed: the counts differ
    result = user_project.runpytest_subprocess("-p", "asyncio", "-q", "--atomo-project", "crm", "-k", "server_async")
    result.assert_outcomes(failed=1)


def test_a_missing_project_is_a_usage_error(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest_subprocess("-q", "--atomo-project", "nowhere", "-k", "server_async")
    assert result.ret != 0
    assert "no schema.ts" in result.stderr.str() + result.stdout.str()
