"""The HTTP protocol (atomo/http/protocol.py) on the wire, around its one-write responses (the head is
held until the body): responses are whole, HEAD answers carry only the head, ``Expect: 100-continue`` is
answered at once (never held), keep-alive and pipelined requests are answered in order."""

from __future__ import annotations

import socket

from tests.e2e.conftest import ServerProcess


def exchange(server: ServerProcess, raw: bytes, *, until: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        while until not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_a_response_is_head_and_body(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\nOK"), first


def test_head_request_gets_the_head_only(server: ServerProcess) -> None:
    data = exchange(server, b"HEAD /graphql/static/graphiql.min.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    until=b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\n"), data[:200]


def test_expect_continue_is_answered_before_the_body(server: ServerProcess) -> None:
    body = b'{"query": "{ __typename }"}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        data = b""
        while b"__typename" not in data:
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK") and b'"__typename":"Query"' in data


def test_pipelined_requests_are_answered_in_order(server: ServerProcess) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    data = exchange(server, request * 3 + b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    until=b"atomo-server")
    assert data.count(b"HTTP/1.1 200 OK") == 4 and data.index(b"atomo-server") > data.rindex(b"\r\n\r\nOK")
