"""The JWT signing secret (auth chapter §3).

Production: ``JWT_SECRET`` is required, must be at least 32 characters and must not be degenerate
(fewer than 16 distinct bytes, e.g. 32 identical characters; a secret made only of hex digits, as
``openssl rand -hex 32`` prints, needs 10 of the 16 digits), else boot fails naming it.
Development without ``JWT_SECRET``: 32 random bytes are generated once, stored hex-encoded in
``jwt_secret`` inside the data folder (mode 0600) and reused on later boots.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from atomo.config import Settings
from atomo.errors import ConfigError

log = logging.getLogger("atomo.auth")

MIN_SECRET_LENGTH = 32
MIN_DISTINCT_BYTES = 16
# A hex secret can hold only 16 distinct digits; a random 64-digit one misses at least one of them 23% of the
# time, but fewer than 10 distinct practically never (a random 32-digit one: 1 in 10,000).
MIN_DISTINCT_HEX_DIGITS = 10
SECRET_FILE = "jwt_secret"
_HEX_DIGITS = frozenset(b"0123456789abcdef")


def check_production_secret(settings: Settings) -> None:
    """Fail early (exit 3) when production runs without a strong JWT_SECRET."""
    if not settings.production:
        return
    if not settings.jwt_secret:
        raise ConfigError(f"JWT_SECRET is required in production (at least {MIN_SECRET_LENGTH} characters)")
    if len(settings.jwt_secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters in production")
    weakness = secret_weakness(settings.jwt_secret)
    if weakness:
        raise ConfigError(f"JWT_SECRET is too weak for production: {weakness} (use e.g. openssl rand -hex 32)")


def secret_weakness(secret: str) -> str | None:
    """Why ``secret`` is degenerate (too few distinct bytes), or None."""
    data = secret.encode("utf-8")
    lowered = data.lower()
    if _HEX_DIGITS.issuperset(lowered):
        distinct, needed, kind = len(set(lowered)), MIN_DISTINCT_HEX_DIGITS, "hex digits"
    else:
        distinct, needed, kind = len(set(data)), MIN_DISTINCT_BYTES, "bytes"
    if distinct < needed:
        return f"it has {distinct} distinct {kind}, at least {needed} are needed"
    return None


def resolve_jwt_secret(settings: Settings, data_dir: Path) -> str:
    """The signing key: JWT_SECRET, or (development only) the generated one of the data folder."""
    check_production_secret(settings)
    if settings.jwt_secret:
        if len(settings.jwt_secret) < MIN_SECRET_LENGTH:
            log.warning("JWT_SECRET is shorter than %d characters; production would refuse it", MIN_SECRET_LENGTH)
        elif secret_weakness(settings.jwt_secret):
            log.warning("JWT_SECRET is weak (%s); production would refuse it", secret_weakness(settings.jwt_secret))
        return settings.jwt_secret
    return load_or_create_secret(data_dir / SECRET_FILE)


def load_or_create_secret(path: Path) -> str:
    existing = _read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32).hex()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile (or an empty leftover)
        existing = _read(path)
        if existing:
            return existing
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (value + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.chmod(path, 0o600)
    except OSError:  # pragma: no cover - file systems without permissions
        pass
    log.info("generated a JWT secret in %s", path)
    return value


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return text or None
