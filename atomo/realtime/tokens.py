"""Realtime tokens (realtime chapter §8) and the handshake credential of ``/realtime/ws`` (§1).

A realtime token is an HS256 JWT signed with the login key, with claims ``sub``, ``jti`` (the
caller's login session), ``aud`` = ``atomo-realtime``, ``iat`` and ``exp``. It lacks the login
claims (``email``, ``role``), so every other route refuses it; ``/realtime/ws`` accepts it, and
like a login JWT it needs a live session of an active user (so logout revokes it too).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import jwt

from atomo import clock
from atomo.auth.principal import Principal
from atomo.auth.sessions import principal_for_session
from atomo.auth.tokens import INVALID_TOKEN
from atomo.errors import UnauthenticatedError, ValidationError
from atomo.http.request_context import Authenticator
from atomo.storage.database import Database

log = logging.getLogger("atomo.realtime")
AUDIENCE = "atomo-realtime"
DEFAULT_TTL = 3600
MAX_TTL = 86400
_REQUIRED = ["sub", "jti", "aud", "iat", "exp"]


def requested_ttl(body: Any) -> int:
    """``{"ttl_seconds"?: int}``: default 3600, clamped to 1...86400; other keys are ignored."""
    if body is None:
        return DEFAULT_TTL
    if not isinstance(body, dict):
        raise ValidationError.single(None, "body must be a JSON object", "type")
    ttl = body.get("ttl_seconds")
    if ttl is None:
        return DEFAULT_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise ValidationError.single("ttl_seconds", "ttl_seconds must be an integer", "type")
    return max(1, min(MAX_TTL, ttl))


class RealtimeTokens:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode("utf-8")

    def issue(self, principal: Principal, ttl: int) -> dict[str, str]:
        now = int(clock.time())
        claims = {"sub": principal.user_id, "jti": principal.session_id, "aud": AUDIENCE, "iat": now,
                  "exp": now + ttl}
        token = jwt.encode(claims, self._key, algorithm="HS256")
        expires = datetime.fromtimestamp(now + ttl, UTC).isoformat()
        return {"token": token, "expires_at": expires}

    def claims(self, token: str) -> tuple[str, str] | None:
        """(sub, jti) of a valid realtime token; None when the token is not one (or not valid)."""
        try:
            # exp is checked against the process clock below (atomo/clock.py), not PyJWT's
            claims = jwt.decode(token, self._key, algorithms=["HS256"], audience=AUDIENCE,
                                options={"require": _REQUIRED, "verify_exp": False})
        except jwt.PyJWTError as exc:
            log.info("realtime token rejected: %s", exc)
            return None
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float) or exp <= clock.time():
            log.info("realtime token rejected: expired or malformed exp")
            return None
        sub, jti = claims.get("sub"), claims.get("jti")
        if not (isinstance(sub, str) and sub and isinstance(jti, str) and jti):
            return None
        return sub, jti


def is_realtime_token(token: str) -> bool:
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("aud") == AUDIENCE
    except jwt.PyJWTError:
        return False


async def principal_for_token(token: str, auth: Authenticator, tokens: RealtimeTokens, db: Database) -> Principal:
    """The principal of a login JWT or a realtime token; UNAUTHENTICATED when neither is valid."""
    if not is_realtime_token(token):
        principal = await auth.principal("Bearer " + token)
        if not principal.authenticated:
            raise UnauthenticatedError(INVALID_TOKEN)
        return principal
    pair = tokens.claims(token)
    if pair is None:
        raise UnauthenticatedError(INVALID_TOKEN)
    sub, jti = pair
    now = clock.now_iso()

    def read(conn: Any) -> Principal | None:
        return principal_for_session(conn, jti, sub, now)
    found: Principal | None = await db.read(read, inline=True)
    if found is None:
        raise UnauthenticatedError(INVALID_TOKEN)
    return found
