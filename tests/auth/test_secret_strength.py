"""Production refuses degenerate JWT secrets (too few distinct bytes), in process and through the CLI."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from atomo.auth.secret import check_production_secret, secret_weakness
from atomo.config import load_settings
from atomo.errors import ConfigError
from tests.e2e.conftest import ROOT, atomo_command, server_env


@pytest.mark.parametrize("secret", [
    "x" * 32, "a" * 64, "ab" * 16, "abcdefghijklmno" * 3,       # 1, 1, 2 and 15 distinct bytes
    "012345678" * 4,                                              # only hex digits: 9 of them
])
def test_degenerate_secrets_are_refused_in_production(secret: str) -> None:
    assert secret_weakness(secret) is not None
    with pytest.raises(ConfigError) as info:
        check_production_secret(load_settings({"ATOMO_ENV": "production", "JWT_SECRET": secret}))
    assert info.value.exit_code == 3
    assert "JWT_SECRET is too weak" in info.value.message and "distinct" in info.value.message


@pytest.mark.parametrize("secret", ["0123456789" * 4, "abcdefghijklmnop" * 2, "correct horse battery staple, my jwt key!"])
def test_enough_distinct_bytes_are_accepted(secret: str) -> None:
    assert secret_weakness(secret) is None
    check_production_secret(load_settings({"ATOMO_ENV": "production", "JWT_SECRET": secret}))


def test_random_secrets_are_accepted() -> None:
    for _ in range(2000):                                          # what the docs and `atomo deploy` suggest
        assert secret_weakness(secrets.token_hex(32)) is None
        assert secret_weakness(secrets.token_hex(32).upper()) is None
        assert secret_weakness(secrets.token_urlsafe(32)) is None
    assert secret_weakness("é" * 32) is not None                     # bytes, not characters: 2 distinct


def test_development_still_accepts_a_weak_secret() -> None:
    check_production_secret(load_settings({"JWT_SECRET": "x" * 32}))


def test_serve_refuses_a_weak_production_secret(tmp_path: Path) -> None:
    project = tmp_path / "prod"
    project.mkdir()
    shutil.copy(ROOT / "sample-data" / "schema.ts", project / "schema.ts")      # production needs a schema
    env = server_env(ATOMO_ENV="production", JWT_SECRET="x" * 32)
    result = subprocess.run(atomo_command(project, "serve", "--check"), cwd=project, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == ("atomo: JWT_SECRET is too weak for production: it has 1 distinct bytes, "
                                     "at least 16 are needed (use e.g. openssl rand -hex 32)")
    env["JWT_SECRET"] = secrets.token_hex(32)
    ok = subprocess.run(atomo_command(project, "serve", "--check"), cwd=project, env=env, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
