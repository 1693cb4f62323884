"""Verified access tokens and their principals, kept in memory (auth chapter §3).

Every request with a bearer token would otherwise verify the signature and look the session and user
up. A verified token is kept with its principal for at most ``ttl_secs`` (and never past the token's
``exp``), so repeated requests with one token skip both. The entry is keyed by the whole token text
(only tokens that verified are stored, so an attacker cannot fill the cache without logging in).

Invalidation: logout and a detected refresh-token theft forget the session's (or the user's) entries;
user changes made through this process's ``Users`` (deactivation, role, tenant) forget the user's. A
change made by another process (``atomo users deactivate`` on the same file) raises the auth epoch
(triggers, ``storage/platform.py``), which the ``Authenticator`` compares at most every 100 ms before
a lookup and clears the cache on a change; ``ttl_secs`` is the backstop (e.g. a session reaching its
``expires_at``).
Bounded: at most ``max_entries`` tokens, the oldest dropped first.
"""

from __future__ import annotations

from collections.abc import Callable

from atomo import clock as process_clock
from atomo.auth.principal import Principal

DEFAULT_TTL_SECS = 10.0
DEFAULT_MAX_ENTRIES = 10_000


class PrincipalCache:
    __slots__ = ("ttl", "max_entries", "clock", "_entries")

    def __init__(self, *, ttl_secs: float = DEFAULT_TTL_SECS, max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = process_clock.time) -> None:
        self.ttl = ttl_secs
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}     # token -> (principal, valid until)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._entries[token]
            return None
        return entry[0]

    def put(self, token: str, principal: Principal, exp: float) -> None:
        entries = self._entries
        if len(entries) >= self.max_entries:
            del entries[next(iter(entries))]            # the oldest (dicts keep insertion order)
        entries[token] = (principal, min(exp, self.clock() + self.ttl))

    def clear(self) -> None:
        self._entries.clear()

    def forget(self, *, user_id: str | None = None, session_id: str | None = None) -> None:
        """Drop the entries of a user, or of one login session."""
        for token, (principal, _) in list(self._entries.items()):
            if (user_id is not None and principal.user_id == user_id) or (
                    session_id is not None and principal.session_id == session_id):
                del self._entries[token]
