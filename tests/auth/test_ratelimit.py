"""Token buckets, client addresses and the login limiter (in-process, with a fake clock)."""

from __future__ import annotations

import pytest

from atomo.config import load_settings
from atomo.errors import RateLimitedError
from atomo.http.ratelimit import ClientAddress, LoginLimiter, TokenBuckets, parse_hop, retry_after


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


@pytest.mark.parametrize("hop, expected", [
    ("203.0.113.5", "203.0.113.5"), ("203.0.113.5:8080", "203.0.113.5"), (" 203.0.113.5 ", "203.0.113.5"),
    ("2001:db8::1", "2001:db8::1"), ("[2001:db8::1]:443", "2001:db8::1"), ("[2001:DB8:0::1]", "2001:db8::1"),
    ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"), ("::ffff:198.51.100.7", "198.51.100.7"),
    ("unknown", None), ("", None), ("1.2.3.4:x", None), ("[::1", None), ("[::1]x", None), ("999.1.1.1", None),
    ("_hidden", None), ("a" * 100, None),
])
def test_parse_hop(hop: str, expected: str | None) -> None:
    assert parse_hop(hop) == expected


def addresses(**env: str) -> ClientAddress:
    return ClientAddress(load_settings(env))


def ip_of(address: ClientAddress, *forwarded: bytes, peer: str = "127.0.0.1") -> str:
    return address({"headers": [(b"x-forwarded-for", v) for v in forwarded], "client": (peer, 5000)})


def test_forwarded_for_is_read_from_the_right_and_only_from_trusted_proxies() -> None:
    default = addresses()                                      # loopback and private ranges are proxies
    assert ip_of(default, b"198.51.100.7") == "198.51.100.7"
    assert ip_of(default, b"1.1.1.1, 198.51.100.7") == "198.51.100.7"           # the client controls the left
    assert ip_of(default, b"1.1.1.1, 198.51.100.7:99, 10.0.0.2, 192.168.1.1") == "198.51.100.7"
    assert ip_of(default, b"1.1.1.1", b"198.51.100.7, 10.0.0.2") == "198.51.100.7"   # several headers: one list
    assert ip_of(default, b"10.0.0.9, 172.16.0.1") == "10.0.0.9"                # all trusted: the left-most
    assert ip_of(default, b"1.1.1.1, garbage, 10.0.0.9, 10.0.0.8") == "10.0.0.9"  # stop at garbage
    assert ip_of(default, b"1.1.1.1, garbage") == "127.0.0.1"                   # nothing usable: the peer
    assert ip_of(default, b"198.51.100.7", peer="203.0.113.1") == "203.0.113.1"  # peer is no proxy
    assert ip_of(default, b"198.51.100.7", peer="::ffff:10.1.1.1") == "198.51.100.7"
    assert ip_of(default, peer="::ffff:203.0.113.1") == "203.0.113.1"
    assert ip_of(addresses(ATOMO_TRUSTED_PROXIES="10.0.0.0/8"), b"198.51.100.7") == "127.0.0.1"
    assert ip_of(addresses(RATE_LIMIT_TRUST_FORWARDED="false"), b"198.51.100.7") == "127.0.0.1"
    assert ip_of(addresses(ATOMO_TRUSTED_PROXIES="127.0.0.1,2001:db8::/32"), b"2001:db8::5, 10.0.0.1") == "10.0.0.1"
    assert default({"headers": []}) == "unknown"
    scope = {"headers": [(b"x-forwarded-for", b"198.51.100.7")], "client": ("127.0.0.1", 1)}
    assert default(scope) == "198.51.100.7" and scope["atomo.client_ip"] == "198.51.100.7"   # cached in the scope


def test_forwarded_for_work_and_cache_are_bounded() -> None:
    default = addresses()
    hops = b", ".join(b"10.0.%d.%d" % (i // 250, i % 250) for i in range(40))
    assert ip_of(default, b"198.51.100.7, " + hops) == "10.0.0.8"             # only the last 32 entries are read
    padded = b"198.51.100.7, " + b"10.0.0.1, " * 200 + b"10.0.0.2"
    assert ip_of(default, padded) == "10.0.0.1"                                 # only the last 1 KB is read
    cut = b"11.22.33.44" + b" " * 1004 + b", 10.0.0.2"       # the 1 KB tail starts inside it: "1.22.33.44"
    assert ip_of(default, cut) == "10.0.0.2"                                    # a cut entry is not parsed
    for i in range(10_000):
        ip_of(default, b"%d.%d.%d.1, " % (i % 200, i // 200, i % 7) + b"x" * 5000)
    info = default.classify.cache_info()
    assert info.currsize <= ClientAddress.HOP_CACHE_SIZE and info.maxsize == ClientAddress.HOP_CACHE_SIZE


def test_login_limiter() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=2, ip_attempts=3, window_secs=300, account_attempts=100, clock=clock)
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
    limiter = LoginLimiter(attempts=1, ip_attempts=1, window_secs=60, account_attempts=1, clock=Clock())
    for _ in range(3):
        limiter.acquire("ip", "a@x")
        limiter.not_counted("ip", "a@x")


def test_account_bucket_counts_failures_from_every_ip() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=5, ip_attempts=50, window_secs=300, account_attempts=3, clock=clock)
    for i in range(3):
        limiter.acquire(f"ip-{i}", "a@x")                  # three failures from three addresses
    with pytest.raises(RateLimitedError) as refused:
        limiter.acquire("ip-9", "a@x")
    assert refused.value.details == {"retryAfter": 100}
    limiter.acquire("ip-9", "b@x")                         # other accounts are unaffected
    limiter.succeeded("ip-9", "b@x")
    clock.now += 100
    limiter.acquire("ip-9", "a@x")                         # one token back after 300 s / 3
    limiter.succeeded("ip-9", "a@x")                       # a success gives the account token back
    limiter.acquire("ip-8", "a@x")
