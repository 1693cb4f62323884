"""The principal cache: entries expire with the token or the TTL, stay bounded, and are forgotten by user
or session."""

from __future__ import annotations

from atomo.auth.principal import Principal
from atomo.auth.principal_cache import PrincipalCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(user: str, session: str) -> Principal:
    return Principal(user_id=user, email=f"{user}@x.test", role="viewer", session_id=session)


def test_entries_expire_with_the_ttl_or_the_token() -> None:
    clock = Clock()
    cache = PrincipalCache(ttl_secs=10, clock=clock)
    cache.put("t1", principal("u1", "s1"), exp=clock.now + 3600)
    cache.put("t2", principal("u2", "s2"), exp=clock.now + 2)
    assert cache.get("t1").user_id == "u1" and cache.get("t2").user_id == "u2"
    clock.now += 2
    assert cache.get("t2") is None and cache.get("t1") is not None      # the token's exp
    clock.now += 8
    assert cache.get("t1") is None and len(cache) == 0                  # the TTL backstop


def test_forget_by_user_or_session_and_clear() -> None:
    cache = PrincipalCache()
    cache.put("a", principal("u1", "s1"), exp=2e9)
    cache.put("b", principal("u1", "s2"), exp=2e9)
    cache.put("c", principal("u2", "s3"), exp=2e9)
    cache.forget(session_id="s1")
    assert cache.get("a") is None and cache.get("b") is not None
    cache.forget(user_id="u1")
    assert cache.get("b") is None and cache.get("c") is not None
    cache.clear()
    assert len(cache) == 0


def test_bounded_oldest_first() -> None:
    cache = PrincipalCache(max_entries=3)
    for i in range(5):
        cache.put(f"t{i}", principal(f"u{i}", f"s{i}"), exp=2e9)
    assert len(cache) == 3 and cache.get("t0") is None and cache.get("t4") is not None
