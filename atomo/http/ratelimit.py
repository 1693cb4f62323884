"""Rate limiting (auth chapter §9): in-memory token buckets per client IP, and the login limiter.

- ``TokenBuckets``: buckets start full with ``capacity`` tokens and refill continuously at
  ``capacity / window`` tokens per second. Each check is O(1): a dict look-up and a move to the end
  of an ordered dict. Buckets are kept in least-recently-used order, so the ones idle longer than
  the window (which are full again, so forgetting them changes nothing) sit at the front and are
  dropped when new keys arrive; memory is bounded by the clients seen within one window (and by
  ``max_keys``).
- ``ClientAddress``: built once from the settings; the socket peer, or, when the peer is a trusted
  proxy, the right-most ``X-Forwarded-For`` entry that is not one (bounded work, bounded cache).
  The one instance lives on ``Services.client_address`` and every per-IP limit uses it.
- ``RateLimitMiddleware``: the general limiter as an ASGI wrapper; ``/health`` and ``/ready`` are not
  counted (CORS preflights are answered by the security wrapper before this one).
- ``LoginLimiter``: per (IP, email), per account and per IP; only failed attempts keep their token.

Every key is short (a normalised address, an email of at most 254 characters) and every table is
capped, so attacker-chosen header or body values cannot grow memory. Buckets read the monotonic time
of the process clock (``atomo/clock.py``), so a test freezes a window and advances past it.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol

import msgspec

from atomo import clock as process_clock
from atomo.config import Settings
from atomo.errors import RateLimitedError
from atomo.http.errors import graphql_body, is_graphql_path, rest_body
from atomo.http.request_context import request_id

CLIENT_IP_KEY = "atomo.client_ip"
EXEMPT_PATHS = frozenset({"/health", "/ready"})
MAX_KEYS = 200_000
RATE_LIMITED_MESSAGE = "too many requests"
_encode = msgspec.json.Encoder().encode


class Buckets(Protocol):
    """What the limiters use of ``TokenBuckets``; the shared buckets of a worker group have it too."""

    capacity: float
    clock: Callable[[], float]

    def take(self, key: Hashable, now: float | None = None) -> float: ...
    def wait(self, key: Hashable, now: float | None = None) -> float: ...
    def give_back(self, key: Hashable) -> None: ...
    def reset(self, key: Hashable) -> None: ...
    def clear(self) -> None: ...


# (kind, capacity, window seconds) -> the buckets of that kind
BucketFactory = Callable[[str, int, float], Buckets]


def retry_after(wait: float) -> int:
    """Whole seconds until a token is available: rounded up, at least 1."""
    return max(1, math.ceil(wait))


class TokenBuckets:
    """Token buckets by key; ``take`` answers 0.0 (allowed) or the seconds to wait for a token."""

    __slots__ = ("capacity", "rate", "window", "max_keys", "clock", "_buckets")

    def __init__(self, capacity: int, window_secs: float, *, max_keys: int = MAX_KEYS,
                 clock: Callable[[], float] = process_clock.monotonic) -> None:
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

    def clear(self) -> None:
        """Refill every bucket (``POST /__test__/reset``)."""
        self._buckets.clear()

    def _evict(self, now: float) -> None:
        buckets = self._buckets
        horizon = now - self.window
        while buckets:
            key, bucket = next(iter(buckets.items()))
            if bucket[1] > horizon and len(buckets) < self.max_keys:
                return
            del buckets[key]


# -- client address --------------------------------------------------------------------------
MAX_FORWARDED_BYTES = 1024      # only the right-most 1 KB of X-Forwarded-For is read ...
MAX_FORWARDED_HOPS = 32         # ... and at most its last 32 entries
MAX_HOP_LENGTH = 64             # longer entries are not addresses (not parsed, not cached)


def parse_hop(hop: str) -> str | None:
    """One ``X-Forwarded-For`` entry as a normalised address (``:port`` / ``[v6]:port`` removed, an
    IPv4-mapped IPv6 address as IPv4), or None when it is not one."""
    hop = hop.strip()
    if not hop or len(hop) > MAX_HOP_LENGTH:
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
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


class ClientAddress:
    """The client address of a request (auth chapter §9.1), built once from the settings.

    ``X-Forwarded-For`` is read only when ``RATE_LIMIT_TRUST_FORWARDED`` is on and the socket peer is
    in ``ATOMO_TRUSTED_PROXIES``. Several such headers are one list, joined in order. The list is read
    from the right (a proxy appends the address it saw; the client controls the left): the client is
    the right-most entry that is not a trusted proxy; when every entry is trusted, the left-most one.
    An entry that does not parse as an address ends the list there: the entries to its right are all
    trusted (else one of them was the answer), so the left-most of those is the client, or the peer
    when the unparsable entry is the right-most one. The work is bounded: only the last
    ``MAX_FORWARDED_BYTES`` of the header and its last ``MAX_FORWARDED_HOPS`` entries are looked at
    (a cut left-most entry is dropped, not parsed). Entries are parsed and classified through an LRU
    cache of ``HOP_CACHE_SIZE`` keys of at most ``MAX_HOP_LENGTH`` characters. The answer is cached
    in the scope.
    """

    HOP_CACHE_SIZE = 4096

    def __init__(self, settings: Settings) -> None:
        self.trust_forwarded = settings.rate_limit_trust_forwarded
        networks = [ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies]
        self._v4 = tuple(n for n in networks if n.version == 4)
        self._v6 = tuple(n for n in networks if n.version == 6)
        self.classify = functools.lru_cache(maxsize=self.HOP_CACHE_SIZE)(self._classify)

    def _classify(self, hop: str) -> tuple[str, bool] | None:
        """(normalised address, is a trusted proxy), or None when ``hop`` is not an address."""
        address = parse_hop(hop)
        if address is None:
            return None
        parsed = ipaddress.ip_address(address)
        return address, any(parsed in n for n in (self._v4 if parsed.version == 4 else self._v6))

    def hop(self, hop: str) -> tuple[str, bool] | None:
        hop = hop.strip()
        return self.classify(hop) if len(hop) <= MAX_HOP_LENGTH else None

    def __call__(self, scope: Any) -> str:
        cached = scope.get(CLIENT_IP_KEY)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        known = self.hop(peer)
        ip = peer if known is None else known[0]
        if self.trust_forwarded and known is not None and known[1]:
            values = [value for key, value in scope.get("headers", ()) if key == b"x-forwarded-for"]
            if values:
                ip = self.from_forwarded(values) or ip
        scope[CLIENT_IP_KEY] = ip
        return ip

    def from_forwarded(self, values: list[bytes]) -> str | None:
        """The client from the ``X-Forwarded-For`` values of a request (see the class docstring)."""
        tail: list[bytes] = []
        size = 0
        for value in reversed(values):
            tail.append(value[-MAX_FORWARDED_BYTES - 1:])        # never copy more than the tail
            size += len(value) + 1
            if size > MAX_FORWARDED_BYTES:
                break
        raw = b",".join(reversed(tail))
        if len(raw) > MAX_FORWARDED_BYTES:
            raw = raw[-MAX_FORWARDED_BYTES:]
            raw = raw[raw.find(b",") + 1:] if b"," in raw else b""     # the cut entry is not an address
        client = None
        for entry in reversed(raw.rsplit(b",", MAX_FORWARDED_HOPS)[-MAX_FORWARDED_HOPS:]):
            known = self.hop(entry.decode("latin-1"))
            if known is None:
                break
            client = known[0]
            if not known[1]:
                break
        return client


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

    def __init__(self, app: Any, buckets: Buckets, client_address: Callable[[Any], str], *,
                 exempt: Callable[[Any], Awaitable[bool]] | None = None) -> None:
        self.app = app
        self.buckets = buckets
        self.client_address = client_address
        self.exempt = exempt   # e.g. requests carrying a valid worker token (workers poll often)
        self.limited = 0       # requests refused (/metrics)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        # HTTP requests count once each (but not /health and /ready); a WebSocket handshake counts
        # once, its frames not at all.
        if ((kind == "http" and scope["path"] not in EXEMPT_PATHS) or kind == "websocket") and not (
                self.exempt is not None and await self.exempt(scope)):
            wait = self.buckets.take(self.client_address(scope))
            if wait:
                self.limited += 1
                await send_rate_limited(scope, send, wait)
                return
        await self.app(scope, receive, send)


# -- the login limiter -------------------------------------------------------------------------
class LoginLimiter:
    """Password-guessing guard for ``POST /auth/login`` (auth chapter §9.2).

    Three buckets: per (IP, email), per account (email, from any IP) and per IP. ``acquire`` takes a
    token from each before the password is checked (so concurrent guesses cannot overrun the budget)
    and raises RATE_LIMITED when any is empty; ``succeeded`` refills the (IP, email) bucket and gives
    the account and IP tokens back; ``not_counted`` gives all three back (the attempt ended without
    a password verdict). A failed attempt keeps its tokens. Emails arrive lower-cased and at most
    254 characters long (``parse_credentials``), so keys are short and their number is capped by
    ``MAX_KEYS`` per bucket kind. The workers of ``atomo serve --workers N`` pass ``buckets``, a factory
    of shared buckets (``atomo.cluster.shared_table.SharedTokenBuckets``) with the same methods.
    """

    def __init__(self, attempts: int, ip_attempts: int, window_secs: float, *, account_attempts: int,
                 clock: Callable[[], float] = process_clock.monotonic,
                 buckets: BucketFactory | None = None) -> None:
        # ``buckets(kind, capacity, window_secs)``: the shared buckets of a worker group; else in memory
        make = buckets or (lambda _kind, capacity, window: TokenBuckets(capacity, window, clock=clock))
        self.pairs = make("login.pairs", attempts, window_secs)
        self.ips = make("login.ips", ip_attempts, window_secs)
        self.accounts = make("login.accounts", account_attempts, window_secs)
        # /metrics: login attempts by outcome (success, failure, limited: refused by these buckets)
        self.outcomes = {"success": 0, "failure": 0, "limited": 0}

    @classmethod
    def from_settings(cls, settings: Settings, buckets: BucketFactory | None = None) -> LoginLimiter:
        return cls(settings.login_rate_limit_attempts, settings.login_rate_limit_ip_attempts,
                   settings.login_rate_limit_window_secs,
                   account_attempts=settings.login_rate_limit_account_attempts, buckets=buckets)

    def acquire(self, ip: str, email: str) -> None:
        pair = (ip, email)
        now = self.pairs.clock()
        wait = max(self.pairs.wait(pair, now), self.accounts.wait(email, now), self.ips.wait(ip, now))
        if wait:
            self.outcomes["limited"] += 1
            seconds = retry_after(wait)
            raise RateLimitedError("too many login attempts", {"retryAfter": seconds})
        taken = (self.pairs.take(pair, now), self.accounts.take(email, now), self.ips.take(ip, now))
        if any(taken):          # shared buckets: another worker took the last token since the check
            for buckets, key, wait in ((self.pairs, pair, taken[0]), (self.accounts, email, taken[1]),
                                       (self.ips, ip, taken[2])):
                if not wait:
                    buckets.give_back(key)
            self.outcomes["limited"] += 1
            raise RateLimitedError("too many login attempts", {"retryAfter": retry_after(max(taken))})

    def succeeded(self, ip: str, email: str) -> None:
        self.outcomes["success"] += 1
        self.pairs.reset((ip, email))
        self.accounts.give_back(email)
        self.ips.give_back(ip)

    def clear(self) -> None:
        """Refill every bucket (``POST /__test__/reset``)."""
        for buckets in (self.pairs, self.ips, self.accounts):
            buckets.clear()

    def failed(self) -> None:
        """A wrong password (or unknown or inactive account): the attempt keeps its tokens."""
        self.outcomes["failure"] += 1

    def not_counted(self, ip: str, email: str) -> None:
        self.pairs.give_back((ip, email))
        self.accounts.give_back(email)
        self.ips.give_back(ip)
