"""``atomo serve --ephemeral`` as a child process of a test session.

The server prints one JSON line ``{"url", "adminToken"}`` when it is ready and exits when its stdin
closes, so a crashed test run never leaves it behind. Between tests ``POST /__test__/reset`` brings
it back to the state right after boot + seed (admin session included).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

_SETTING_PREFIXES = ("ATOMO_", "ADMIN_", "JWT_", "DATABASE_", "GRAPHQL_", "RATE_LIMIT", "LOGIN_RATE", "PASSWORD_")


@dataclass(frozen=True)
class TestUser:
    """A user made on an ephemeral server for a test."""

    __test__ = False            # not a test class for pytest

    id: str
    email: str
    role: str
    tenant: str | None
    token: str


class EphemeralServer:
    """One ``atomo serve --ephemeral`` process; ``start()`` waits for its ready line."""

    def __init__(self, project: Path | None, *, env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.project = project
        self.timeout = timeout
        base = {k: v for k, v in os.environ.items() if not k.startswith(_SETTING_PREFIXES)}
        base.update({"RATE_LIMIT_RPS": "0", "LOGIN_RATE_LIMIT_ATTEMPTS": "1000000"})
        self.env = {**base, **(env or {})}
        self.url = ""
        self.admin_token = ""
        self.proc: subprocess.Popen[str] | None = None
        self._log = tempfile.TemporaryFile(mode="w+b")   # stderr (a pipe nobody reads could fill and stall it)
        self.client: httpx.Client | None = None

    def start(self) -> EphemeralServer:
        command = [sys.executable, "-m", "atomo"]
        if self.project is not None:
            command += ["--project", str(self.project)]
        command += ["serve", "--ephemeral", "--host", "127.0.0.1", "--port", "0"]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, env=self.env, cwd=str(self.project) if self.project else None)
        ready = self._ready_line()
        self.url, self.admin_token = ready["url"], ready["adminToken"]
        self.client = httpx.Client(base_url=self.url, timeout=30.0)
        return self

    def _ready_line(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"atomo serve --ephemeral exited {self.proc.returncode}:\n{self.log()}")
            readable, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if readable:
                line = self.proc.stdout.readline()
                if line.strip().startswith("{"):
                    return dict(json.loads(line))
        self.stop()
        raise RuntimeError(f"atomo serve --ephemeral was not ready in {self.timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    def reset(self) -> dict[str, Any]:
        assert self.client is not None
        reply = self.client.post("/__test__/reset", headers={"authorization": f"Bearer {self.admin_token}"})
        reply.raise_for_status()
        return dict(reply.json())

    def user(self, role: str = "viewer", tenant: str | None = None, email: str | None = None) -> TestUser:
        """A new user with ``role`` (and ``tenant``) and an access token for it."""
        assert self.client is not None
        body: dict[str, Any] = {"role": role}
        if tenant is not None:
            body["tenant"] = tenant
        if email is not None:
            body["email"] = email
        reply = self.client.post("/__test__/users", json=body, headers={"authorization": f"Bearer {self.admin_token}"})
        reply.raise_for_status()
        made = reply.json()
        return TestUser(made["id"], made["email"], made["role"], made.get("tenant"), made["token"])

    def stop(self) -> int | None:
        if self.client is not None:
            self.client.close()
            self.client = None
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        try:
            if proc.stdin is not None:
                proc.stdin.close()            # the server exits when its stdin closes
            return proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            self._log.close()
