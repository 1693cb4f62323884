"""WebSocket helpers for the realtime and subscription e2e tests: thin wrappers around the real
`websockets` client that decode frames, wait with timeouts and assert silence."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection

TIMEOUT = 5.0


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


class Socket:
    """A realtime or GraphQL socket speaking JSON (or MessagePack when ``binary``)."""

    def __init__(self, ws: ClientConnection, binary: bool = False) -> None:
        self.ws = ws
        self.binary = binary

    @classmethod
    async def open(cls, url: str, *, binary: bool = False, **kwargs: Any) -> Socket:
        return cls(await websockets.connect(url, open_timeout=TIMEOUT, **kwargs), binary)

    async def send(self, frame: Any) -> None:
        if self.binary:
            await self.ws.send(msgpack.packb(frame, use_bin_type=True))
        else:
            await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if isinstance(raw, bytes):
            return msgpack.unpackb(raw, raw=False, timestamp=0)  # type: ignore[no-any-return]
        return json.loads(raw)  # type: ignore[no-any-return]

    async def expect(self, type_: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        frame = await self.recv(timeout)
        assert frame.get("type") == type_, frame
        return frame

    async def silent(self, wait: float = 0.3) -> None:
        """Assert that nothing arrives for ``wait`` seconds."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {frame!r}")

    async def closed_with(self, timeout: float = 15.0) -> int | None:
        """Read until the server closes; the close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else None

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> Socket:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def realtime(base_url: str, token: str | None = None, *, binary: bool = False, **kwargs: Any) -> Socket:
    """A ``/realtime/ws`` socket after its ``welcome`` frame (read and checked here)."""
    query = []
    if token is not None:
        query.append(f"token={token}")
    if binary:
        query.append("encoding=msgpack")
    url = ws_url(base_url, "/realtime/ws" + ("?" + "&".join(query) if query else ""))
    sock = await Socket.open(url, binary=binary, **kwargs)
    welcome = await sock.expect("welcome")
    assert welcome["encoding"] == ("msgpack" if binary else "json")
    return sock


async def graphql_ws(base_url: str, payload: dict[str, Any] | None = None, *,
                     protocol: str = "graphql-transport-ws") -> Socket:
    """A ``/graphql/ws`` socket after ``connection_init``/``connection_ack``."""
    sock = await Socket.open(ws_url(base_url, "/graphql/ws"), subprotocols=[protocol])  # type: ignore[list-item]
    await sock.send({"type": "connection_init", "payload": payload or {}})
    await sock.expect("connection_ack")
    return sock


class SlowClient:
    """A `websockets` sans-I/O client on a blocking socket with a tiny receive buffer: it reads only when
    told to, so the server sees a consumer that has stopped reading (the asyncio client keeps reading
    into its own buffer whatever ``max_queue`` says)."""

    def __init__(self, url: str, *, rcvbuf: int = 4096, timeout: float = TIMEOUT) -> None:
        import socket

        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri
        uri = parse_uri(url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)   # before connect: no autotuning
        self.sock.settimeout(timeout)
        self.sock.connect((uri.host, uri.port))
        self.protocol = ClientProtocol(uri, max_size=None)
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        self.pending: list[Any] = []
        while self.protocol.handshake_exc is None and not self._opened():
            self._read()
        if self.protocol.handshake_exc is not None:
            raise self.protocol.handshake_exc

    def _opened(self) -> bool:
        from websockets.protocol import State
        return self.protocol.state is State.OPEN

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if hasattr(event, "opcode") and event.opcode.name in ("TEXT", "BINARY"):
                self.pending.append(json.loads(event.data))
        self._flush()

    def send(self, frame: Any) -> None:
        self.protocol.send_text(json.dumps(frame).encode())
        self._flush()

    def recv(self) -> dict[str, Any]:
        while not self.pending:
            self._read()
        return self.pending.pop(0)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sock.close()
