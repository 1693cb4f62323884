"""Password hashing: argon2id with the reference parameters, constant work for unknown users."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from atomo.auth.passwords import check_policy, generate_password, hash_password, needs_rehash, verify_password
from atomo.errors import ValidationError


def test_hash_uses_argon2id_reference_parameters() -> None:
    hashed = hash_password("correct horse 1")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(hashed, "correct horse 1")
    assert not verify_password(hashed, "correct horse 2")
    assert not needs_rehash(hashed)


def test_unknown_user_costs_a_verification_and_fails() -> None:
    assert verify_password(None, "whatever1") is False


def test_other_parameters_need_a_rehash() -> None:
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw-12345")
    assert verify_password(weaker, "pw-12345")
    assert needs_rehash(weaker)


@pytest.mark.parametrize("stored", ["$2b$12$abcdefghijklmnopqrstuuQ3zTz7c6zvQqkqJ6hJ5y1eWm3v1vZ2", "plain", ""])
def test_foreign_hash_formats_never_verify(stored: str) -> None:
    assert verify_password(stored, "plain") is False


def test_policy() -> None:
    check_policy("abcdefg1")
    check_policy("äöüßéèêë1")  # counted in characters, not bytes
    with pytest.raises(ValidationError) as info:
        check_policy("äöü1")
    assert [d["code"] for d in info.value.details] == ["min_length"]
    with pytest.raises(ValidationError) as info:
        check_policy("abcdefgh")
    assert [d["code"] for d in info.value.details] == ["complexity"]
    with pytest.raises(ValidationError) as info:
        check_policy("a1" * 129)
    assert [d["code"] for d in info.value.details] == ["max_length"]
    check_policy("abcdefgh", require_complexity=False)


def test_generated_passwords() -> None:
    for _ in range(50):
        pw = generate_password()
        assert len(pw) == 20 and pw.isalnum() and pw.isascii()
        assert any(c.isalpha() for c in pw) and any(c.isdigit() for c in pw)
