"""Abuse of client addresses and of server memory, through the real server (auth chapter §9, §10).

- X-Forwarded-For is honoured only from a trusted proxy and read from the right, so rotating it does not
  give a client fresh buckets (general limiter, login limiter, realtime connection cap);
- a per-account login bucket stops password guessing spread over many addresses, before argon2;
- emails over 254 characters are refused before any work;
- the request line + headers are capped (431 before the app, WebSocket handshakes included), and the
  server's memory stays bounded under unique, large header and email values (VmRSS of the process).
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess, server_env
from tests.e2e.wskit import ws_url

UNTRUSTED_LOOPBACK = "10.0.0.0/8"      # ATOMO_TRUSTED_PROXIES without loopback: the test client is no proxy
MAX_GROWTH_MB = 30
_numbers = itertools.count(1)


def rotating_ip() -> str:
    n = next(_numbers)
    return f"198.18.{n // 250 % 250}.{n % 250 + 1}"


def login(http: httpx.Client, email: str, password: str, ip: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return http.post("/auth/login", json={"email": email, "password": password}, headers=headers)


# -- item 2: client addresses -----------------------------------------------------------------------
def test_rotating_forwarded_for_from_an_untrusted_peer_gets_one_bucket(
        start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(tmp_path / "p", env=server_env(
        ATOMO_TRUSTED_PROXIES=UNTRUSTED_LOOPBACK, RATE_LIMIT_RPS="8", RATE_LIMIT_WINDOW_SECS="600",
        LOGIN_RATE_LIMIT_ATTEMPTS="3", LOGIN_RATE_LIMIT_IP_ATTEMPTS="1000"))
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        codes = [login(http, ADMIN_EMAIL, f"wrong-{i}", rotating_ip()).status_code for i in range(3)]
        refused = login(http, ADMIN_EMAIL, ADMIN_PASSWORD, rotating_ip())
        assert (codes, refused.status_code) == ([401, 401, 401], 429)
        assert refused.json()["error"]["message"] == "too many login attempts"
        assert int(refused.headers["retry-after"]) >= 1
        # the general limiter (8 per 600 s) has counted those 4 requests: 4 more, then 429 whatever the header says
        codes = [http.get("/version", headers={"X-Forwarded-For": rotating_ip()}).status_code for _ in range(5)]
        assert codes == [200] * 4 + [429]


def test_the_client_is_the_rightmost_untrusted_address(start_server: Callable[..., ServerProcess],
                                                        tmp_path: Path) -> None:
    """Default ATOMO_TRUSTED_PROXIES (loopback and private ranges): the peer 127.0.0.1 is a trusted proxy."""
    server = start_server(tmp_path / "p", env=server_env(RATE_LIMIT_RPS="4", RATE_LIMIT_WINDOW_SECS="600"))
    client = "203.0.113.9"
    spoofed = [
        [("X-Forwarded-For", f"{rotating_ip()}, {client}")],
        [("X-Forwarded-For", rotating_ip()), ("X-Forwarded-For", client)],             # two headers: one list
        [("X-Forwarded-For", f"{rotating_ip()}, {client}:4711, 10.1.2.3, 192.168.0.7")],  # trusted hops skipped
        [("X-Forwarded-For", f"{rotating_ip()}, not-an-ip, {client}")],
    ]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert [http.get("/version", headers=h).status_code for h in spoofed] == [200] * 4
        assert http.get("/version", headers={"X-Forwarded-For": f"{rotating_ip()}, {client}"}).status_code == 429
        assert http.get("/version", headers={"X-Forwarded-For": client}).status_code == 429
        assert http.get("/version", headers={"X-Forwarded-For": "203.0.113.10"}).status_code == 200
        # every entry trusted: the left-most one is the client
        inner = {"X-Forwarded-For": "10.7.7.7, 10.8.8.8"}
        assert [http.get("/version", headers=inner).status_code for _ in range(5)] == [200] * 4 + [429]
        assert http.get("/version", headers={"X-Forwarded-For": "10.7.7.7"}).status_code == 429
        assert http.get("/version", headers={"X-Forwarded-For": "10.8.8.8"}).status_code == 200


@pytest.fixture
def login_server(start_server: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[ServerProcess]:
    yield start_server(tmp_path / "p", env=server_env(
        LOGIN_RATE_LIMIT_ATTEMPTS="5", LOGIN_RATE_LIMIT_IP_ATTEMPTS="50", LOGIN_RATE_LIMIT_ACCOUNT_ATTEMPTS="20",
        ATOMO_ENABLE_SELF_REGISTRATION="true"))


def test_the_account_bucket_refuses_guesses_spread_over_many_addresses(login_server: ServerProcess) -> None:
    with httpx.Client(base_url=login_server.base_url, timeout=30) as http:
        failed: list[float] = []
        for i in range(20):                                   # 20 addresses, 20 failures, mixed-case email
            email = ADMIN_EMAIL.upper() if i % 2 else ADMIN_EMAIL
            started = time.perf_counter()
            assert login(http, email, f"wrong-{i}", rotating_ip()).status_code == 401
            failed.append(time.perf_counter() - started)
        refused: list[float] = []
        for _ in range(5):                                    # the right password, from yet another address
            started = time.perf_counter()
            response = login(http, ADMIN_EMAIL, ADMIN_PASSWORD, rotating_ip())
            refused.append(time.perf_counter() - started)
            assert response.status_code == 429, response.text
            retry = int(response.headers["retry-after"])
            assert 1 <= retry <= 15 and response.json()["error"]["details"] == {"retryAfter": retry}
        # refused before the password check: no argon2 verification (tens of ms) behind a refusal
        assert min(refused) < min(failed) / 2, (refused, failed)
        assert login(http, "someone-else@example.com", "wrong", rotating_ip()).status_code == 401


def test_overlong_emails_are_refused_before_any_work(login_server: ServerProcess) -> None:
    too_long = "a" * 243 + "@example.com"                     # 255 characters
    with httpx.Client(base_url=login_server.base_url, timeout=30) as http:
        for path in ("/auth/login", "/auth/register"):
            response = http.post(path, json={"email": too_long, "password": "Some-pass-42"})
            assert response.status_code == 400, (path, response.text)
            error = response.json()["error"]
            assert error["code"] == "VALIDATION_ERROR" and error["details"][0]["field"] == "email", error
        assert login(http, too_long[1:], "wrong").status_code == 401                       # 254: an attempt


async def test_realtime_connection_cap_ignores_forwarded_for_from_an_untrusted_peer(
        start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(tmp_path / "p", env=server_env(
        ATOMO_TRUSTED_PROXIES=UNTRUSTED_LOOPBACK, ATOMO_REALTIME_MAX_CONN_PER_IP="2", ATOMO_REALTIME_ALLOW_ANON="true"))
    url = ws_url(server.base_url, "/realtime/ws")
    socks = [await websockets.connect(url, additional_headers={"X-Forwarded-For": rotating_ip()}, open_timeout=5)
             for _ in range(2)]
    try:
        with pytest.raises(websockets.InvalidStatus) as info:
            await websockets.connect(url, additional_headers={"X-Forwarded-For": rotating_ip()}, open_timeout=5)
        assert info.value.response.status_code == 429
    finally:
        for sock in socks:
            await sock.close()


# -- item 6: header size and memory -------------------------------------------------------------------
def vm_rss_mb(server: ServerProcess) -> float:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def exchange(server: ServerProcess, request: bytes) -> int | None:
    """Send one raw request (Connection: close) and return the response status, None when the server
    closed without answering."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass                                              # closed while we were still sending
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError:
            pass
    return int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None


def head(target: str, *headers: tuple[str, str]) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.fixture(scope="module")
def memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The general limiter on (it reads X-Forwarded-For); login buckets large enough for every attempt."""
    server = ServerProcess(tmp_path_factory.mktemp("abuse-memory"),
                           env=server_env(RATE_LIMIT_RPS="100000", RATE_LIMIT_WINDOW_SECS="60")).start()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:    # warm up every path used below
        http.get("/version", headers={"X-Forwarded-For": "203.0.113.1"})
        http.get("/graphql", params={"query": "{ __typename }"}, headers={"Accept": "application/json"})
        login(http, "warm@example.com", "wrong")
    try:
        yield server
    finally:
        server.stop()


def test_headers_are_capped_before_the_app(memory_server: ServerProcess) -> None:
    server = memory_server
    assert exchange(server, head("/version", ("X-Pad", "p" * 8000))) == 200                # under 16 KB: fine
    assert exchange(server, head("/version", ("X-Pad", "p" * 17000))) == 431
    assert exchange(server, head("/version", *[(f"X-Pad-{i}", "p" * 100) for i in range(200)])) == 431
    assert exchange(server, head("/version?" + "q" * 17000)) == 431                           # the request line
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:           # the answer itself
        sock.sendall(head("/version", ("X-Pad", "p" * 17000)))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"connection: close" in rest and b'"code":"HEADERS_TOO_LARGE"' in rest
    upgrade = ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"), \
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("X-Pad", "p" * 65536)
    assert exchange(server, head("/realtime/ws", *upgrade)) == 431                            # WebSocket handshakes
    assert exchange(server, head("/graphql/ws", *upgrade, ("Sec-WebSocket-Protocol", "graphql-transport-ws"))) == 431
    with httpx.Client(base_url=server.base_url, timeout=30) as http:                            # keep-alive still fine
        assert [http.get("/version").status_code for _ in range(3)] == [200] * 3


def test_unique_large_forwarded_for_values_do_not_grow_memory(memory_server: ServerProcess) -> None:
    before = vm_rss_mb(memory_server)
    statuses = set()
    for i in range(200):
        value = (f"203.0.{i // 250}.{i % 250}, " * 6000)[: 64 * 1024]
        statuses.add(exchange(memory_server, head("/version", ("X-Forwarded-For", value))))
    growth = vm_rss_mb(memory_server) - before
    assert statuses == {431}
    assert growth < MAX_GROWTH_MB, growth


def test_large_accept_headers_do_not_grow_memory(memory_server: ServerProcess) -> None:
    before = vm_rss_mb(memory_server)
    statuses = set()
    for i in range(60):
        value = (f"application/json;q=0.{i}, " + "text/x-pad, " * 400_000)[: 4 << 20]
        statuses.add(exchange(memory_server, head("/graphql?query=%7B__typename%7D", ("Accept", value))))
    growth = vm_rss_mb(memory_server) - before
    assert statuses <= {431, None} and 431 in statuses
    assert growth < MAX_GROWTH_MB, growth


def test_failed_logins_with_huge_emails_do_not_grow_memory(memory_server: ServerProcess) -> None:
    before = vm_rss_mb(memory_server)
    statuses = set()
    with httpx.Client(base_url=memory_server.base_url, timeout=60) as http:
        for i in range(150):
            email = f"{i}-" + "a" * ((1 << 20) - 100) + "@example.com"               # the body fits in 1 MB
            statuses.add(login(http, email, "wrong", rotating_ip()).status_code)
    growth = vm_rss_mb(memory_server) - before
    assert statuses <= {400, 413} and statuses, statuses
    assert growth < MAX_GROWTH_MB, growth
