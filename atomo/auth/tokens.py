"""Access tokens: HS256 JWTs with the claims sub, email, role, iat, exp, jti (auth chapter §3).

Issuing and verifying are small hand-written HS256 code (verification runs on every request and is
several times cheaper than ``jwt.decode``; tests check interoperability with PyJWT). The header must
declare ``alg: HS256`` (``none`` and every other algorithm are refused), the signature must match,
all six claims must be present with the right types and ``exp`` must be in the future (no leeway). Every failure raises
``UnauthenticatedError("invalid or expired token")``; the reason is only logged.
"""

from __future__ import annotations

import binascii
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass

import msgspec

from atomo.errors import UnauthenticatedError

log = logging.getLogger("atomo.auth")

INVALID_TOKEN = "invalid or expired token"
CLAIMS = ("sub", "email", "role", "iat", "exp", "jti")
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


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


_URLSAFE = bytes.maketrans(b"-_", b"+/")
_URLSAFE_OUT = bytes.maketrans(b"+/", b"-_")
_PAD = ("", "", "==", "=")
_decode_json = msgspec.json.decode


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE_OUT).rstrip(b"=").decode("ascii")


_HEADER = _b64encode(b'{"alg":"HS256","typ":"JWT"}')


def _b64(segment: str) -> bytes:
    """base64url without padding (the segment's alphabet was already checked)."""
    if len(segment) % 4 == 1:
        raise ValueError("impossible base64 length")
    return binascii.a2b_base64((segment + _PAD[len(segment) % 4]).encode("ascii").translate(_URLSAFE))


class TokenService:
    """Issues and verifies the access tokens of one signing key."""

    def __init__(self, secret: str, *, ttl_secs: int = 86400) -> None:
        self._key = secret.encode("utf-8")
        self.ttl_secs = ttl_secs
        self._good_headers: set[str] = set()

    def issue(self, *, user_id: str, email: str, role: str, session_id: str, now: int | None = None) -> tuple[str, int]:
        """Return (token, exp)."""
        iat = int(time.time()) if now is None else now
        exp = iat + self.ttl_secs
        claims = {"sub": user_id, "email": email, "role": role.lower(), "iat": iat, "exp": exp, "jti": session_id}
        payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        signing = f"{_HEADER}.{payload}"
        signature = _b64encode(hmac.digest(self._key, signing.encode("ascii"), "sha256"))
        return f"{signing}.{signature}", exp

    def verify(self, token: str, *, now: float | None = None) -> TokenClaims:
        try:
            return self._verify(token, time.time() if now is None else now)
        except InvalidToken as exc:
            log.info("token rejected: %s", exc.reason)
            raise

    def _verify(self, token: str, now: float) -> TokenClaims:
        if not isinstance(token, str) or len(token) > 8192 or not _SHAPE.fullmatch(token):
            raise InvalidToken("malformed token")
        header_seg, payload_seg, signature_seg = token.split(".")
        if header_seg not in self._good_headers:
            self._check_header(header_seg)
        try:
            signature = _b64(signature_seg)
        except (binascii.Error, ValueError):
            raise InvalidToken("malformed signature") from None
        expected = hmac.digest(self._key, f"{header_seg}.{payload_seg}".encode("ascii"), "sha256")
        if not hmac.compare_digest(signature, expected):
            raise InvalidToken("bad signature")
        try:
            payload = _decode_json(_b64(payload_seg))
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise InvalidToken("malformed payload") from None
        if not isinstance(payload, dict):
            raise InvalidToken("payload is not an object")
        for name in CLAIMS:
            if name not in payload:
                raise InvalidToken(f"missing claim {name}")
        sub, email, role, iat, exp, jti = (payload[name] for name in CLAIMS)
        if not all(isinstance(v, str) and v for v in (sub, email, role, jti)):
            raise InvalidToken("malformed string claim")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
            raise InvalidToken("malformed time claim")
        if exp <= now:
            raise InvalidToken("expired")
        return TokenClaims(sub, email, role, iat, exp, jti)

    def _check_header(self, header_seg: str) -> None:
        try:
            header = json.loads(_b64(header_seg))
        except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidToken("malformed header") from None
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            alg = header.get("alg") if isinstance(header, dict) else None
            raise InvalidToken(f"algorithm {alg!r} is not accepted")
        if "crit" in header or header.get("typ", "JWT") not in ("JWT", "jwt"):
            raise InvalidToken("unsupported header")
        if len(self._good_headers) < 64:
            self._good_headers.add(header_seg)
