"""Access tokens: HS256 JWTs with the claims sub, email, role, iat, exp, jti (auth chapter §3).

Issued and verified with PyJWT. Verification is paid once per token: the ``Authenticator`` keeps
verified tokens in a ``PrincipalCache``, so a repeated token skips the signature check and the session
lookup alike. The header must declare ``alg: HS256`` (``none`` and every other algorithm are refused,
as is a ``crit`` header), the signature must match, all six claims must be present with the right
types and ``exp`` must be in the future (no leeway) of the process clock (``atomo/clock.py``: PyJWT's own
``exp`` check is off, so a frozen clock decides). Every failure raises
``UnauthenticatedError("invalid or expired token")``; the reason is only logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import jwt

from atomo import clock
from atomo.errors import UnauthenticatedError

log = logging.getLogger("atomo.auth")

INVALID_TOKEN = "invalid or expired token"
CLAIMS = ("sub", "email", "role", "iat", "exp", "jti")
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class TokenClaims:
    sub: str
    email: str
    role: str
    iat: int
    exp: int
    jti: str


class InvalidToken(UnauthenticatedError):
    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_TOKEN)
        self.reason = reason


class TokenService:
    """Issues and verifies the access tokens of one signing key."""

    def __init__(self, secret: str, *, ttl_secs: int = 86400) -> None:
        self._key = secret.encode("utf-8")
        self.ttl_secs = ttl_secs

    def issue(self, *, user_id: str, email: str, role: str, session_id: str, now: int | None = None) -> tuple[str, int]:
        """Return (token, exp)."""
        iat = int(clock.time()) if now is None else now
        exp = iat + self.ttl_secs
        claims = {"sub": user_id, "email": email, "role": role.lower(), "iat": iat, "exp": exp, "jti": session_id}
        return jwt.encode(claims, self._key, algorithm="HS256", headers={"typ": "JWT"}), exp

    def verify(self, token: str, *, now: float | None = None) -> TokenClaims:
        try:
            return self._verify(token, clock.time() if now is None else now)
        except InvalidToken as exc:
            log.info("token rejected: %s", exc.reason)
            raise

    def _verify(self, token: str, now: float) -> TokenClaims:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("malformed token")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "HS256" or "crit" in header or header.get("typ", "JWT") not in ("JWT", "jwt"):
                raise InvalidToken(f"header not accepted: alg={header.get('alg')!r}")
            # exp is checked below against ``now`` (no leeway); PyJWT checks the signature and the claim set
            payload = jwt.decode(token, self._key, algorithms=["HS256"],
                                 options={"require": list(CLAIMS), "verify_exp": False, "verify_iat": False,
                                          "verify_nbf": False, "verify_aud": False, "verify_iss": False})
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
        except (ValueError, TypeError, RecursionError):
            raise InvalidToken("malformed token") from None
        sub, email, role, iat, exp, jti = (payload[name] for name in CLAIMS)
        if not all(isinstance(v, str) and v for v in (sub, email, role, jti)):
            raise InvalidToken("malformed string claim")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
            raise InvalidToken("malformed time claim")
        if exp <= now:
            raise InvalidToken("expired")
        return TokenClaims(sub, email, role, iat, exp, jti)
