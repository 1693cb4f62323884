"""The process clock (atomo/clock.py): real by default, frozen and advanced by tests; rate-limit windows
and the principal cache follow it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from atomo import clock
from atomo.auth.principal import Principal
from atomo.auth.principal_cache import PrincipalCache
from atomo.auth.tokens import TokenService
from atomo.clock import CLOCK
from atomo.config import load_settings
from atomo.errors import RateLimitedError, UnauthenticatedError
from atomo.http.ratelimit import LoginLimiter, TokenBuckets
from atomo.jobs.store import utcnow
from atomo.storage.records import now_iso


def test_real_by_default() -> None:
    assert not CLOCK.is_frozen
    assert abs(clock.time() - time.time()) < 1 and abs(clock.monotonic() - time.monotonic()) < 1
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 1 and clock.now().tzinfo is UTC
    assert len(now_iso()) == 32 and now_iso().endswith("+00:00")


@pytest.mark.parametrize("at", ["2030-01-01T00:00:00Z", "2030-01-01T01:00:00+01:00", datetime(2030, 1, 1),
                                datetime(2030, 1, 1, tzinfo=UTC), 1893456000, 1893456000.0])
def test_frozen_at_any_form(at: object) -> None:
    with CLOCK.frozen(at=at) as frozen:                              # type: ignore[arg-type]
        assert CLOCK.is_frozen
        assert clock.now() == datetime(2030, 1, 1, tzinfo=UTC) == frozen.now() == utcnow()
        assert clock.time() == 1893456000.0 == frozen.time()
        assert now_iso() == "2030-01-01T00:00:00.000000+00:00"
    assert not CLOCK.is_frozen and abs(clock.time() - time.time()) < 1


def test_only_advance_moves_it_exactly_and_never_back() -> None:
    with CLOCK.frozen(at="2030-01-01T00:00:00Z") as frozen:
        mono = clock.monotonic()
        time.sleep(0.01)
        assert clock.time() == 1893456000.0 and clock.monotonic() == mono
        for _ in range(10):
            frozen.advance(0.1)
        assert now_iso() == "2030-01-01T00:00:01.000000+00:00"          # microseconds: no float drift
        assert frozen.advance(timedelta(minutes=1)) == datetime(2030, 1, 1, 0, 1, 1, tzinfo=UTC)
        assert clock.monotonic() == pytest.approx(mono + 61)
        with pytest.raises(ValueError):
            frozen.advance(-1)


def test_frozen_blocks_nest_and_restore() -> None:
    with CLOCK.frozen(at="2030-01-01T00:00:00Z") as outer:
        with CLOCK.frozen() as inner:                               # default: the current (frozen) time
            inner.advance(5)
            assert clock.time() == 1893456005.0
        assert clock.time() == 1893456000.0
        outer.advance(1)
        assert clock.time() == 1893456001.0
    with pytest.raises(ZeroDivisionError):
        with CLOCK.frozen(at=0):
            1 / 0                                                   # noqa: B018
    assert not CLOCK.is_frozen


def test_tokens_expire_on_the_clock_not_on_pyjwts() -> None:
    service = TokenService("s" * 40, ttl_secs=60)
    with CLOCK.frozen(at="2001-01-01T00:00:00Z") as frozen:         # long past for PyJWT's own clock
        token, exp = service.issue(user_id="u", email="u@x.io", role="viewer", session_id="s")
        assert exp == 978307200 + 60 and service.verify(token).exp == exp
        frozen.advance(59.999)
        assert service.verify(token).sub == "u"
        frozen.advance(0.001)
        with pytest.raises(UnauthenticatedError):
            service.verify(token)


def test_principal_cache_defaults_to_the_clock() -> None:
    cache = PrincipalCache(ttl_secs=10)
    principal = Principal(user_id="u", email="u@x.io", role="viewer", session_id="s")
    with CLOCK.frozen() as frozen:
        cache.put("t", principal, exp=clock.time() + 3600)
        frozen.advance(9.5)
        assert cache.get("t") == principal
        frozen.advance(0.5)
        assert cache.get("t") is None


def test_rate_limit_window_resets_by_advancing() -> None:
    with CLOCK.frozen() as frozen:
        buckets = TokenBuckets(3, 60.0)                             # 3 per minute, the process clock
        assert [buckets.take("ip") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert buckets.take("ip") == pytest.approx(20.0)            # a token every 20 s
        frozen.advance(19.9)
        assert buckets.take("ip") > 0
        frozen.advance(60)                                          # a whole window: full again
        assert [buckets.take("ip") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert buckets.take("ip") > 0


def test_login_limiter_window_resets_by_advancing() -> None:
    settings = load_settings({}, login_rate_limit_attempts=2, login_rate_limit_window_secs=300)
    with CLOCK.frozen() as frozen:
        limiter = LoginLimiter.from_settings(settings)
        limiter.acquire("1.2.3.4", "a@x.io")
        limiter.acquire("1.2.3.4", "a@x.io")
        with pytest.raises(RateLimitedError) as info:
            limiter.acquire("1.2.3.4", "a@x.io")
        assert info.value.details == {"retryAfter": 150}
        frozen.advance(300)
        limiter.acquire("1.2.3.4", "a@x.io")


def test_realtime_tokens_expire_on_the_clock() -> None:
    from atomo.realtime.tokens import RealtimeTokens
    tokens = RealtimeTokens("s" * 40)
    principal = Principal(user_id="u", email="u@x.io", role="viewer", session_id="s")
    with CLOCK.frozen(at="2001-01-01T00:00:00Z") as frozen:
        issued = tokens.issue(principal, 60)
        assert issued["expires_at"] == "2001-01-01T00:01:00+00:00"
        assert tokens.claims(issued["token"]) == ("u", "s")
        frozen.advance(60)
        assert tokens.claims(issued["token"]) is None
