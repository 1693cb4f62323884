"""The JWT secret: required and strong in production, generated once per data folder in development."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from atomo.auth.secret import check_production_secret, resolve_jwt_secret
from atomo.config import load_settings
from atomo.errors import ConfigError


def test_production_requires_jwt_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_jwt_secret(load_settings({"ATOMO_ENV": "production"}), tmp_path)
    assert "JWT_SECRET" in info.value.message
    assert info.value.exit_code == 3
    assert not (tmp_path / "jwt_secret").exists()


def test_production_refuses_short_secret(tmp_path: Path) -> None:
    settings = load_settings({"ATOMO_ENV": "production", "JWT_SECRET": "x" * 31})
    with pytest.raises(ConfigError) as info:
        check_production_secret(settings)
    assert "JWT_SECRET" in info.value.message and "32" in info.value.message
    value = "0123456789abcdefghijklmnopqrstuv"                 # 32 characters, all distinct
    strong = load_settings({"ATOMO_ENV": "production", "JWT_SECRET": value})
    assert resolve_jwt_secret(strong, tmp_path) == value
    assert not (tmp_path / "jwt_secret").exists()


def test_development_generates_once_and_reuses(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings({})
    first = resolve_jwt_secret(settings, data_dir)
    path = data_dir / "jwt_secret"
    assert len(first) == 64 and int(first, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_jwt_secret(settings, data_dir) == first
    assert resolve_jwt_secret(settings, tmp_path / "other") != first


def test_development_prefers_jwt_secret(tmp_path: Path) -> None:
    assert resolve_jwt_secret(load_settings({"JWT_SECRET": "dev-secret"}), tmp_path) == "dev-secret"
    assert not (tmp_path / "jwt_secret").exists()


def test_empty_leftover_file_is_regenerated(tmp_path: Path) -> None:
    (tmp_path / "jwt_secret").write_text("")
    secret = resolve_jwt_secret(load_settings({}), tmp_path)
    assert len(secret) == 64
    assert (tmp_path / "jwt_secret").read_text().strip() == secret
