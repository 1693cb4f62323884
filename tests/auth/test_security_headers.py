"""SecurityMiddleware in-process: HSTS only over HTTPS (the ASGI scheme, or X-Forwarded-Proto from a trusted
proxy), the other security headers always. Through the real server: tests/e2e/test_hardening.py."""

from __future__ import annotations

from typing import Any

import pytest

from atomo.config import load_settings
from atomo.http.ratelimit import ClientAddress
from atomo.http.security import DEFAULT_CSP, HSTS, SecurityMiddleware


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def response_headers(middleware: SecurityMiddleware, scheme: str = "http", peer: str = "127.0.0.1",
                           headers: list[tuple[bytes, bytes]] | None = None) -> dict[bytes, bytes]:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/health", "scheme": scheme, "headers": headers or [],
             "client": (peer, 1234)}
    await middleware(scope, receive, send)
    return dict(sent[0]["headers"])


@pytest.mark.parametrize("scheme, hsts", [("http", False), ("https", True)])
async def test_hsts_follows_the_scheme(scheme: str, hsts: bool) -> None:
    middleware = SecurityMiddleware(app, load_settings({}))
    headers = await response_headers(middleware, scheme, peer="203.0.113.7")
    assert headers.get(b"strict-transport-security") == (HSTS.encode() if hsts else None)
    assert headers[b"content-security-policy"] == DEFAULT_CSP.encode()
    assert headers[b"x-content-type-options"] == b"nosniff" and headers[b"referrer-policy"] == b"no-referrer"


@pytest.mark.parametrize("peer, trusted", [("127.0.0.1", True), ("10.1.2.3", True), ("::1", True),
                                           ("203.0.113.7", False), ("2001:db8::1", False), ("not-an-ip", False)])
async def test_forwarded_proto_counts_from_trusted_proxies_only(peer: str, trusted: bool) -> None:
    middleware = SecurityMiddleware(app, load_settings({}))
    headers = await response_headers(middleware, peer=peer, headers=[(b"x-forwarded-proto", b"https")])
    assert (b"strict-transport-security" in headers) is trusted


async def test_trusted_proxies_setting_and_shared_client_address() -> None:
    settings = load_settings({"ATOMO_TRUSTED_PROXIES": "192.0.2.0/24"})
    middleware = SecurityMiddleware(app, settings, ClientAddress(settings))
    proto = [(b"x-forwarded-proto", b"https")]
    assert b"strict-transport-security" in await response_headers(middleware, peer="192.0.2.9", headers=proto)
    assert b"strict-transport-security" not in await response_headers(middleware, peer="127.0.0.1", headers=proto)


async def test_a_handler_hsts_is_kept_and_disabled_means_none() -> None:
    async def own(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"Strict-Transport-Security", b"max-age=1")]})
        await send({"type": "http.response.body", "body": b""})
    sent = await response_headers(SecurityMiddleware(own, load_settings({})), "https")
    assert sent == {b"Strict-Transport-Security": b"max-age=1", b"x-request-id": sent[b"x-request-id"],
                    b"x-content-type-options": b"nosniff", b"referrer-policy": b"no-referrer",
                    b"content-security-policy": DEFAULT_CSP.encode(), b"vary": b"Origin"}
    disabled = SecurityMiddleware(app, load_settings({"DISABLE_SECURITY_HEADERS": "true"}))
    headers = await response_headers(disabled, "https", headers=[(b"x-forwarded-proto", b"https")])
    assert set(headers) == {b"content-type", b"x-request-id", b"vary"}
