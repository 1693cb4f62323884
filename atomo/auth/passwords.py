"""Password hashing (argon2id with the reference's parameters) and the password policy."""

from __future__ import annotations

import functools
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from atomo.errors import ValidationError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)
MAX_PASSWORD_LENGTH = 256


@functools.cache
def _dummy_hash() -> str:
    """What an unknown user's password is checked against; made on first use (30 ms), not at import."""
    return _HASHER.hash("atomo-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-work verification: an unknown user still costs one argon2 verification."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def check_policy(password: object, *, min_length: int = 8, require_complexity: bool = True,
                 field: str = "password") -> None:
    if not isinstance(password, str):
        raise ValidationError.single(field, f"{field} must be a string", "type")
    problems = []
    if len(password) < min_length:
        problems.append({"field": field, "code": "min_length",
                         "message": f"{field} must be at least {min_length} characters"})
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append({"field": field, "code": "max_length",
                         "message": f"{field} must be at most {MAX_PASSWORD_LENGTH} characters"})
    if require_complexity:
        if not any(c.isalpha() for c in password):
            problems.append({"field": field, "code": "complexity", "message": f"{field} must contain a letter"})
        if not any(c.isdigit() for c in password):
            problems.append({"field": field, "code": "complexity", "message": f"{field} must contain a digit"})
    if problems:
        raise ValidationError(details=problems)


def generate_password(length: int = 20) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isalpha() for c in pw) and any(c.isdigit() for c in pw):
            return pw
