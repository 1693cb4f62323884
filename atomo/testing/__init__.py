"""Atomo under a test suite: the pytest plugin (entry point ``pytest11``: ``atomo = atomo.testing``).

Fixtures (usable from plain sync tests and from ``async def`` tests alike):

- ``atomo_app``: the library API (``Atomo``) on an in-memory data file, booted and seeded once per
  session, reset to that state before each test (``Atomo.reset``). It runs on an event loop of its
  own (a background thread), so it does not depend on the test's loop: in a sync test its methods
  return results, in an ``async def`` test they return awaitables (``await atomo_app.create(...)``).
- ``atomo_server``: a real server (``atomo serve --ephemeral``: HTTP and WebSockets on a free port,
  in-memory data) started once per session and reset before each test (``POST /__test__/reset``),
  with ``.url``, ``.admin_token``, ``.token_for(role=..., tenant=...)``, ``.gql(query, variables,
  as_=...)`` (sync) and ``.agql(...)`` (async).
- ``atomo_clock``: the process clock frozen for the test (``.advance(seconds)``): expiry, leases,
  backoff and rate-limit windows of ``atomo_app`` without sleeping.
- ``atomo_user``: a factory of users on that server: ``atomo_user(role="sales", tenant=None)``
  returns a ``TestUser`` (``id``, ``email``, ``role``, ``tenant``, ``token``).

``--atomo-project PATH`` (or the ini option ``atomo_project``) names the project; by default the
project found from pytest's rootdir (a ``schema.ts`` there), else the bundled sample. Its
``seed.json`` is applied at boot, so every test starts from boot + seed.
"""

from __future__ import annotations

from atomo.testing.fixtures import (
    AtomoServer,
    EphemeralServer,
    TestUser,
    atomo_app,
    atomo_clock,
    atomo_project,
    atomo_server,
    atomo_server_process,
    atomo_session_app,
    atomo_user,
    pytest_addoption,
)

__all__ = ["AtomoServer", "EphemeralServer", "TestUser", "atomo_app", "atomo_clock", "atomo_project", "atomo_server",
           "atomo_server_process", "atomo_session_app", "atomo_user", "pytest_addoption"]
