"""Rate limiting (auth chapter §9): in-memory token buckets per client IP, and the login limiter.

- ``TokenBuckets``: buckets start full with ``capacity`` tokens and refill continuously at
  ``capacity / window`` tokens per second. Each check is O(1): a dict look-up and a move to the end
  of an ordered dict. Buckets are kept in least-recently-used order, so the ones idle longer than
  the window (which are full again, so forgetting them changes nothing) sit at the front and are
  dropped when new keys arrive; memory is bounded by the clients seen within one window (and by
  ``max_keys``).
- ``client_ip``: the first ``X-Forwarded-For`` hop when it parses as an IPv4/IPv6 address (an
  optional ``:port`` or ``[v6]:port`` removed) and forwarding is trusted, else the socket peer.
- ``RateLimitMiddleware``: the general limiter as an ASGI wrapper; ``/health`` and ``/ready`` are not
  counted (CORS preflights are answered by the security wrapper before this one).
- ``LoginLimiter``: per (IP, email) and per IP; only failed attempts keep their token.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import msgspec

from atomo.errors import RateLimitedError
from atomo.http.errors import graphql_body, rest_body
from atomo.http.request_context import request_id
from atomo.http.security import is_graphql_path

CLIENT_IP_KEY = "atomo.client_ip"
EXEMPT_PATHS = frozenset({"/health", "/ready"})
MAX_KEYS = 200_000
RATE_LIMITED_MESSAGE = "too many requests"
_encode = msgspec.json.Encoder().encode


def retry_after(wait: float) -> int:
    """Whole seconds until a token is available: rounded up, at least 1."""
    return max(1, math.ceil(wait))


class TokenBuckets:
    """Token buckets by key; ``take`` answers 0.0 (allowed) or the seconds to wait for a token."""

    __slots__ = ("capacity", "rate", "window", "max_keys", "clock", "_buckets")

    def __init__(self, capacity: int, window_secs: float, *, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(capacity)
        self.window = float(window_secs)
        self.rate = self.capacity / self.window
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[Hashable, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def tokens(self, key: Hashable, now: float | None = None) -> float:
        """Tokens available now (without taking one)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return self.capacity
        elapsed = (self.clock() if now is None else now) - bucket[1]
        return min(self.capacity, bucket[0] + elapsed * self.rate)

    def take(self, key: Hashable, now: float | None = None) -> float:
        if now is None:
            now = self.clock()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            self._evict(now)
            buckets[key] = [self.capacity - 1.0, now]
            return 0.0
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        bucket[1] = now
        buckets.move_to_end(key)
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def wait(self, key: Hashable, now: float | None = None) -> float:
        """Seconds until ``key`` has a token (0.0 when it has one), without taking it."""
        tokens = self.tokens(key, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def give_back(self, key: Hashable) -> None:
        """Return one token taken by ``take`` (capped at the capacity)."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket[0] = min(self.capacity, bucket[0] + 1.0)

    def reset(self, key: Hashable) -> None:
        """Refill ``key`` completely (a forgotten bucket is a full one)."""
        self._buckets.pop(key, None)

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        horizon = now - self.window
        while buckets:
            key, bucket = next(iter(buckets.items()))
            if bucket[1] > horizon and len(buckets) < self.max_keys:
                return
            del buckets[key]


# -- client address --------------------------------------------------------------------------
_PARSED: dict[str, str | None] = {}


def parse_forwarded_for(value: str) -> str | None:
    """The first hop of ``X-Forwarded-For`` as a normalised address, or None when it is not one."""
    try:
        return _PARSED[value]
    except KeyError:
        pass
    result = _parse_hop(value.split(",", 1)[0].strip())
    if len(_PARSED) >= 4096:
        _PARSED.clear()
    _PARSED[value] = result
    return result


def _parse_hop(hop: str) -> str | None:
    if not hop or len(hop) > 64:
        return None
    if hop.startswith("["):                      # [v6] or [v6]:port
        end = hop.find("]")
        rest = hop[end + 1:] if end > 0 else "?"
        if rest and not (rest[0] == ":" and rest[1:].isdigit()):
            return None
        host = hop[1:end]
    elif hop.count(":") == 1:                     # v4:port
        host, _, port = hop.partition(":")
        if not port.isdigit():
            return None
    else:
        host = hop
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def client_ip(scope: Any, trust_forwarded: bool) -> str:
    """The request's client address (cached in the scope)."""
    cached = scope.get(CLIENT_IP_KEY)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    ip = None
    if trust_forwarded:
        for key, value in scope.get("headers", ()):
            if key == b"x-forwarded-for":
                ip = parse_forwarded_for(value.decode("latin-1"))
                break
    if ip is None:
        client = scope.get("client")
        ip = client[0] if client else "unknown"
    scope[CLIENT_IP_KEY] = ip
    return ip


# -- the general limiter -----------------------------------------------------------------------
async def send_rate_limited(scope: Any, send: Any, wait: float) -> None:
    """429 with ``Retry-After`` and the error body (GraphQL-shaped on /graphql); a refused WebSocket
    handshake gets the same answer when the server supports denial responses, else close 1013."""
    websocket = scope["type"] == "websocket"
    if websocket and "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1013})
        return
    seconds = retry_after(wait)
    details = {"retryAfter": seconds}
    if is_graphql_path(scope.get("path", "")) and not websocket:
        body = _encode(graphql_body("RATE_LIMITED", RATE_LIMITED_MESSAGE, details))
    else:
        body = _encode(rest_body("RATE_LIMITED", RATE_LIMITED_MESSAGE, details))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii")),
               (b"retry-after", str(seconds).encode("ascii")),
               (b"x-request-id", request_id(scope).encode("latin-1"))]
    prefix = "websocket.http" if websocket else "http"
    await send({"type": f"{prefix}.response.start", "status": 429, "headers": headers})
    await send({"type": f"{prefix}.response.body", "body": body})


class RateLimitMiddleware:
    """ASGI wrapper: one token per counted request and client IP; 429 when the bucket is empty."""

    def __init__(self, app: Any, buckets: TokenBuckets, *, trust_forwarded: bool = True,
                 exempt: Callable[[Any], Awaitable[bool]] | None = None) -> None:
        self.app = app
        self.buckets = buckets
        self.trust_forwarded = trust_forwarded
        self.exempt = exempt   # e.g. requests carrying a valid worker token (workers poll often)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        # HTTP requests count once each (but not /health and /ready); a WebSocket handshake counts
        # once, its frames not at all.
        if ((kind == "http" and scope["path"] not in EXEMPT_PATHS) or kind == "websocket") and not (
                self.exempt is not None and await self.exempt(scope)):
            wait = self.buckets.take(client_ip(scope, self.trust_forwarded))
            if wait:
                await send_rate_limited(scope, send, wait)
                return
        await self.app(scope, receive, send)


# -- the login limiter -------------------------------------------------------------------------
class LoginLimiter:
    """Password-guessing guard for ``POST /auth/login`` (auth chapter §9.2).

    ``acquire`` takes a token from both buckets before the password is checked (so concurrent
    guesses cannot overrun the budget) and raises RATE_LIMITED when either is empty; ``succeeded``
    gives the per-IP token back and refills the (IP, email) bucket; ``not_counted`` gives both back
    (the attempt ended without a password verdict). A failed attempt keeps its tokens.
    """

    def __init__(self, attempts: int, ip_attempts: int, window_secs: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pairs = TokenBuckets(attempts, window_secs, clock=clock)
        self.ips = TokenBuckets(ip_attempts, window_secs, clock=clock)

    def acquire(self, ip: str, email: str) -> None:
        pair = (ip, email)
        now = self.pairs.clock()
        wait = max(self.pairs.wait(pair, now), self.ips.wait(ip, now))
        if wait:
            seconds = retry_after(wait)
            raise RateLimitedError("too many login attempts", {"retryAfter": seconds})
        self.pairs.take(pair, now)
        self.ips.take(ip, now)

    def succeeded(self, ip: str, email: str) -> None:
        self.pairs.reset((ip, email))
        self.ips.give_back(ip)

    def not_counted(self, ip: str, email: str) -> None:
        self.pairs.give_back((ip, email))
        self.ips.give_back(ip)
