"""A login JWT -> the principal of its live session (auth chapter §3), for every surface.

The HTTP layer (``atomo.http.request_context.Authenticator``: bearer headers, ``X-Tenant-ID``), the
realtime handshake and the library's ``app.as_user(token)`` verify a token the same way:

1. at most every ``EPOCH_CHECK_SECS`` of real time (the library: on every call), the auth epoch of the
   file (``storage/platform.py``) is read; a change (deactivation, revocation, by any process) clears the
   cache;
2. a token in the ``PrincipalCache`` is answered from it;
3. otherwise ``TokenService.verify`` (signature, claims, ``exp`` against the process clock), then one
   indexed query: the session (``jti``) live and not revoked, the user active; role, email and tenant
   binding come from the user row. The principal is cached until the token's ``exp`` (or the TTL).

Every failure is ``UnauthenticatedError("invalid or expired token")``. Expiry (the token's ``exp``, the
session's ``expires_at``, the cache's TTL) reads the process clock (``atomo/clock.py``), so a frozen clock
decides it in tests; the epoch check is a throttle and keeps the real monotonic time.
"""

from __future__ import annotations

import time

from atomo import clock
from atomo.auth.principal import Principal
from atomo.auth.principal_cache import PrincipalCache
from atomo.auth.sessions import principal_for_session
from atomo.auth.tokens import INVALID_TOKEN, TokenService
from atomo.errors import UnauthenticatedError
from atomo.storage.database import Database
from atomo.storage.platform import auth_epoch

EPOCH_CHECK_SECS = 0.1


class TokenAuthenticator:
    """Verifies login JWTs against one file's sessions and users, with a principal cache."""

    def __init__(self, db: Database, tokens: TokenService, cache: PrincipalCache | None = None, *,
                 epoch_check_secs: float = EPOCH_CHECK_SECS) -> None:
        self.db = db
        self.tokens = tokens
        self.cache = cache or PrincipalCache()
        self.epoch_check_secs = epoch_check_secs   # 0: on every call (the library: a revocation counts at once)
        self._epoch = -1               # the auth epoch the cache was filled under (see storage/platform.py)
        self._epoch_checked = float("-inf")

    async def principal_for_token(self, token: str) -> Principal:
        """The principal of a valid token of a live session; UNAUTHENTICATED otherwise."""
        now = time.monotonic()    # real time: a throttle, not a rule (a frozen clock must not hide revocations)
        if now - self._epoch_checked >= self.epoch_check_secs:   # another process may have revoked or changed users
            self._epoch_checked = now
            epoch = await self.db.read(auth_epoch, inline=True)
            if epoch != self._epoch:
                self.cache.clear()
                self._epoch = epoch
        principal = self.cache.get(token)
        if principal is not None:
            return principal
        claims = self.tokens.verify(token)
        moment = clock.now_iso()
        jti, sub = claims.jti, claims.sub
        principal = await self.db.read(lambda conn: principal_for_session(conn, jti, sub, moment), inline=True)
        if principal is None:
            raise UnauthenticatedError(INVALID_TOKEN)
        self.cache.put(token, principal, claims.exp)
        return principal
