"""Rate limiting through the real server (auth chapter §9): N requests per IP, then 429 with Retry-After
and the error body; other IPs unaffected; refill over the window; exempt routes; the login limiter."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess, server_env

CAPACITY, WINDOW = 10, 600      # refills one token per minute: exhausting a bucket is never racy


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = server_env(RATE_LIMIT_RPS=str(CAPACITY), RATE_LIMIT_WINDOW_SECS=str(WINDOW), LOGIN_RATE_LIMIT_ATTEMPTS="2",
                     LOGIN_RATE_LIMIT_IP_ATTEMPTS="100", CORS_ORIGINS="https://app.example")
    server = ServerProcess(tmp_path_factory.mktemp("ratelimit"), env=env).start()
    try:
        yield server
    finally:
        server.stop()


def new_ip() -> str:
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def get(server: ServerProcess, path: str = "/version", ip: str | None = None, **kwargs: object) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return httpx.get(server.base_url + path, headers=headers, **kwargs)  # type: ignore[arg-type]


def exhaust(server: ServerProcess, ip: str) -> httpx.Response:
    statuses = [get(server, ip=ip).status_code for _ in range(CAPACITY)]
    assert statuses == [200] * CAPACITY
    refused = get(server, ip=ip)
    assert refused.status_code == 429
    return refused


def test_n_allowed_then_429_with_retry_after(limited: ServerProcess) -> None:
    refused = exhaust(limited, new_ip())
    retry = int(refused.headers["retry-after"])
    assert WINDOW / CAPACITY - 5 <= retry <= WINDOW / CAPACITY
    assert refused.json() == {"error": {"code": "RATE_LIMITED", "message": "too many requests",
                                        "details": {"retryAfter": retry}}}
    assert refused.headers["content-type"].startswith("application/json")
    assert refused.headers["x-request-id"] and refused.headers["x-content-type-options"] == "nosniff"


def test_graphql_gets_the_graphql_shaped_body(limited: ServerProcess) -> None:
    ip = new_ip()
    exhaust(limited, ip)
    response = httpx.post(limited.base_url + "/graphql", json={"query": "{ __typename }"},
                          headers={"X-Forwarded-For": ip})
    assert response.status_code == 429 and response.headers["retry-after"]
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["details"]["retryAfter"] >= 1


def test_another_ip_is_unaffected(limited: ServerProcess) -> None:
    exhaust(limited, new_ip())
    assert get(limited, ip=new_ip()).status_code == 200
    v6 = f"2001:db8::{uuid.uuid4().int % 9999:x}"
    exhaust(limited, v6)
    assert get(limited, ip=f"[{v6}]:443").status_code == 429      # same address with a port: same bucket
    assert get(limited, ip=f"[{v6}1]:443").status_code == 200


def test_forwarded_for_forms(limited: ServerProcess) -> None:
    ip = new_ip()
    exhaust(limited, f"{ip}:5555, 10.0.0.1")                       # right-most untrusted hop, port removed
    assert get(limited, ip=ip).status_code == 429
    assert get(limited, ip=f"192.0.2.1 ,{ip}").status_code == 429   # the client controls the left


def test_refill_after_the_window(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    """Capacity 3 over 2 s: a token every 0.67 s (timing-tolerant: a slow machine refills during a burst)."""
    server = start_server(tmp_path / "p", env=server_env(RATE_LIMIT_RPS="3", RATE_LIMIT_WINDOW_SECS="2"))
    ip = new_ip()

    def burst() -> list[int]:
        codes: list[int] = []
        while 429 not in codes and len(codes) < 10:
            codes.append(get(server, ip=ip).status_code)
        return codes
    codes = burst()
    assert codes[-1] == 429 and len(codes) - 1 >= 3
    refused = get(server, ip=ip)
    retry = int(refused.headers.get("retry-after", "1"))
    assert retry == 1
    time.sleep(retry + 0.05)
    assert get(server, ip=ip).status_code == 200                    # one token back after Retry-After
    time.sleep(2.1)                                                  # a full window: full again
    again = burst()
    assert again[-1] == 429 and len(again) - 1 >= 3


def test_health_ready_and_preflights_are_not_counted(limited: ServerProcess) -> None:
    ip = new_ip()
    exhaust(limited, ip)
    for _ in range(5):
        assert get(limited, "/health", ip).status_code == 200
        assert get(limited, "/ready", ip).status_code == 200
        preflight = httpx.options(limited.base_url + "/graphql", headers={
            "X-Forwarded-For": ip, "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204
    codes = [get(limited, "/auth/me", ip).status_code for _ in range(CAPACITY + 1)]
    assert codes[-1] == 429 and set(codes) <= {401, 429}             # /auth/* is counted


def test_unknown_routes_are_counted(limited: ServerProcess) -> None:
    ip = new_ip()
    assert [get(limited, "/nope", ip).status_code for _ in range(CAPACITY + 1)] == [404] * CAPACITY + [429]


def test_login_limiter(limited: ServerProcess) -> None:
    """LOGIN_RATE_LIMIT_ATTEMPTS=2: failures take tokens, a success refills the (IP, email) bucket."""
    url = limited.base_url + "/auth/login"

    def attempt(password: str, ip: str) -> int:
        return httpx.post(url, json={"email": ADMIN_EMAIL, "password": password},
                          headers={"X-Forwarded-For": ip}).status_code
    ip = new_ip()
    assert attempt("wrong-1", ip) == 401
    assert attempt(ADMIN_PASSWORD, ip) == 200                        # refills the (IP, email) bucket
    assert [attempt(f"wrong-{i}", ip) for i in range(2)] == [401, 401]
    assert attempt(ADMIN_PASSWORD, ip) == 429                        # refused before the password check
    assert attempt(ADMIN_PASSWORD, new_ip()) == 200
    missing = httpx.post(url, json={"email": ADMIN_EMAIL}, headers={"X-Forwarded-For": new_ip()})
    assert missing.status_code == 400                                # validation errors are not attempts


def test_forwarded_header_ignored_when_not_trusted(start_server: Callable[..., ServerProcess],
                                                   tmp_path: Path) -> None:
    server = start_server(tmp_path / "p", env=server_env(RATE_LIMIT_RPS="2", RATE_LIMIT_WINDOW_SECS="60",
                                                         RATE_LIMIT_TRUST_FORWARDED="false"))
    codes = [get(server, ip=new_ip()).status_code for _ in range(3)]
    assert codes == [200, 200, 429]                                   # every request is the socket peer's


async def test_websocket_handshakes_are_counted(limited: ServerProcess) -> None:
    ip = new_ip()
    exhaust(limited, ip)
    url = limited.base_url.replace("http://", "ws://", 1) + "/graphql/ws"
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                 additional_headers={"X-Forwarded-For": ip}, open_timeout=5)
    response = info.value.response
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert response.body is not None and b'"code":"RATE_LIMITED"' in response.body
