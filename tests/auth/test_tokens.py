"""Access tokens: HS256 only, six required claims, no leeway, every failure the same 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from atomo.auth.tokens import CLAIMS, INVALID_TOKEN, TokenService
from atomo.errors import UnauthenticatedError

SECRET = "s" * 40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, payload: dict, key: str = SECRET, digest: str = "sha256") -> str:
    signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(key.encode(), signing.encode(), getattr(hashlib, digest)).digest()
    return f"{signing}.{b64(signature)}"


def claims(**changes: object) -> dict:
    now = int(time.time())
    base = {"sub": "01USER", "email": "ada@example.com", "role": "sales", "iat": now, "exp": now + 600,
            "jti": "01SESSION"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def rejected(service: TokenService, token: str) -> None:
    with pytest.raises(UnauthenticatedError) as info:
        service.verify(token)
    assert info.value.message == INVALID_TOKEN
    assert info.value.status == 401


def test_issue_and_verify_round_trip() -> None:
    service = TokenService(SECRET, ttl_secs=3600)
    token, exp = service.issue(user_id="01USER", email="ada@example.com", role="Sales", session_id="01SESSION",
                               now=int(time.time()))
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    decoded = service.verify(token)
    assert (decoded.sub, decoded.email, decoded.role) == ("01USER", "ada@example.com", "sales")
    assert decoded.jti == "01SESSION"
    assert decoded.exp == exp == decoded.iat + 3600


def test_interoperates_with_pyjwt() -> None:
    service = TokenService(SECRET)
    token, _ = service.issue(user_id="u", email="e@x.io", role="admin", session_id="s")
    payload = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert set(payload) == set(CLAIMS)
    assert service.verify(jwt.encode(claims(), SECRET, algorithm="HS256")).sub == "01USER"


def test_wrong_key_and_tampering_are_rejected() -> None:
    service = TokenService(SECRET)
    rejected(service, jwt.encode(claims(), "another-secret-of-enough-length!!", algorithm="HS256"))
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    header, payload, signature = token.split(".")
    evil = b64(json.dumps(claims(role="admin")).encode())
    rejected(service, f"{header}.{evil}.{signature}")
    rejected(service, f"{header}.{payload}.{signature[:-2]}")


@pytest.mark.parametrize("header", [
    {"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "HS512", "typ": "JWT"}, {"alg": "RS256", "typ": "JWT"},
    {"typ": "JWT"}, {"alg": "HS256", "typ": "JWT", "crit": ["exp"]},
])
def test_only_hs256_is_accepted(header: dict) -> None:
    service = TokenService(SECRET)
    rejected(service, forge(header, claims()))


def test_unsigned_token_is_rejected() -> None:
    service = TokenService(SECRET)
    unsigned = jwt.encode(claims(), None, algorithm="none")  # "header.payload." with an empty signature
    rejected(service, unsigned)
    rejected(service, unsigned.rstrip(".") + ".")


def test_hs512_signed_by_pyjwt_is_rejected() -> None:
    key = "k" * 64
    rejected(TokenService(key), jwt.encode(claims(), key, algorithm="HS512"))


@pytest.mark.parametrize("missing", CLAIMS)
def test_every_claim_is_required(missing: str) -> None:
    rejected(TokenService(SECRET), forge({"alg": "HS256", "typ": "JWT"}, claims(**{missing: None})))


@pytest.mark.parametrize("changes", [{"sub": 7}, {"email": ""}, {"role": None, "jti": 3}, {"exp": "soon"},
                                     {"iat": 1.5}, {"exp": True}])
def test_claim_types_are_checked(changes: dict) -> None:
    payload = claims()
    payload.update(changes)
    rejected(TokenService(SECRET), forge({"alg": "HS256", "typ": "JWT"}, payload))


def test_expiry_has_no_leeway() -> None:
    service = TokenService(SECRET)
    now = int(time.time())
    token = forge({"alg": "HS256", "typ": "JWT"}, claims(iat=now - 100, exp=now))
    with pytest.raises(UnauthenticatedError):
        service.verify(token, now=now)
    assert service.verify(token, now=now - 0.5).exp == now
    rejected(service, forge({"alg": "HS256", "typ": "JWT"}, claims(iat=now - 100, exp=now - 1)))


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "a b.c.d", "....", "é.é.é", "x" * 9000,
                                   "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_malformed_tokens_are_rejected(token: str) -> None:
    rejected(TokenService(SECRET), token)


def test_payload_that_is_not_an_object_is_rejected() -> None:
    header = b64(json.dumps({"alg": "HS256"}).encode())
    payload = b64(b"[1, 2]")
    signature = b64(hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    rejected(TokenService(SECRET), f"{header}.{payload}.{signature}")
