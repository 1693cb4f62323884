"""Token buckets, client addresses and the login limiter (in-process, with a fake clock)."""

from __future__ import annotations

import pytest

from atomo.errors import RateLimitedError
from atomo.http.ratelimit import LoginLimiter, TokenBuckets, client_ip, parse_forwarded_for, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_and_refills_continuously() -> None:
    clock = Clock()
    buckets = TokenBuckets(4, 2.0, clock=clock)        # 2 tokens per second
    assert [buckets.take("a") for _ in range(4)] == [0.0] * 4
    wait = buckets.take("a")
    assert wait == pytest.approx(0.5) and retry_after(wait) == 1
    clock.now += 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    clock.now += 10                                     # never more than the capacity
    assert [buckets.take("a") == 0.0 for _ in range(5)] == [True] * 4 + [False]
    assert buckets.take("b") == 0.0                     # keys are independent


def test_refused_checks_do_not_push_the_refill_back() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, 10.0, clock=clock)
    buckets.take("a")
    for _ in range(5):
        clock.now += 1
        assert buckets.take("a") > 0
    clock.now += 5
    assert buckets.take("a") == 0.0


def test_idle_full_buckets_are_evicted() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, 5.0, clock=clock)
    for i in range(1000):
        buckets.take(f"ip-{i}")
    assert len(buckets) == 1000
    clock.now += 5.1
    buckets.take("new")
    assert len(buckets) == 1                            # all idle longer than the window: full, forgotten


def test_memory_is_capped() -> None:
    buckets = TokenBuckets(10, 60.0, max_keys=100, clock=Clock())
    for i in range(1000):
        buckets.take(i)
    assert len(buckets) == 100


def test_recently_used_buckets_are_kept() -> None:
    clock = Clock()
    buckets = TokenBuckets(2, 5.0, clock=clock)
    buckets.take("old")
    buckets.take("busy")
    clock.now += 4
    buckets.take("busy")
    buckets.take("busy")
    clock.now += 2
    buckets.take("new")                                 # "old" is idle 6 s and goes; "busy" stays empty
    assert len(buckets) == 2 and buckets.take("busy") > 0


@pytest.mark.parametrize("header, expected", [
    ("203.0.113.5", "203.0.113.5"), ("203.0.113.5:8080", "203.0.113.5"), (" 203.0.113.5 , 10.0.0.1", "203.0.113.5"),
    ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]:443", "2001:db8::1"), ("[2001:DB8:0::1]", "2001:db8::1"),
    ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ("unknown", None), ("", None), ("1.2.3.4:x", None), ("[::1", None), ("[::1]x", None), ("999.1.1.1", None),
    ("_hidden, 1.2.3.4", None), ("a" * 100, None),
])
def test_forwarded_for(header: str, expected: str | None) -> None:
    assert parse_forwarded_for(header) == expected


def test_client_ip_prefers_a_valid_forwarded_hop() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict:
        return {"headers": list(headers), "client": ("127.0.0.1", 5000)}
    assert client_ip(scope((b"x-forwarded-for", b"198.51.100.7")), True) == "198.51.100.7"
    assert client_ip(scope((b"x-forwarded-for", b"198.51.100.7")), False) == "127.0.0.1"
    assert client_ip(scope((b"x-forwarded-for", b"garbage")), True) == "127.0.0.1"
    assert client_ip(scope(), True) == "127.0.0.1"
    assert client_ip({"headers": []}, True) == "unknown"


def test_login_limiter() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=2, ip_attempts=3, window_secs=300, clock=clock)
    limiter.acquire("ip", "a@x")                        # failed attempt 1 keeps its tokens
    limiter.acquire("ip", "a@x")
    limiter.succeeded("ip", "a@x")                      # success: pair bucket refilled, ip token back
    limiter.acquire("ip", "a@x")
    limiter.acquire("ip", "a@x")
    with pytest.raises(RateLimitedError) as refused:    # pair bucket empty
        limiter.acquire("ip", "a@x")
    assert refused.value.details == {"retryAfter": 150}
    with pytest.raises(RateLimitedError):               # ip bucket (3) empty too, for any email
        limiter.acquire("ip", "b@x")
    limiter.acquire("other-ip", "a@x")
    clock.now += 150
    limiter.acquire("ip", "a@x")                        # one token back in both after 150 s


def test_not_counted_gives_the_tokens_back() -> None:
    limiter = LoginLimiter(attempts=1, ip_attempts=1, window_secs=60, clock=Clock())
    for _ in range(3):
        limiter.acquire("ip", "a@x")
        limiter.not_counted("ip", "a@x")
