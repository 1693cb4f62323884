"""A `websockets` sans-I/O client on an asyncio protocol, for benchmarks that hold many sockets."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

COMPRESSION = None if os.environ.get("BENCH_NO_DEFLATE") else "deflate"


class Client(asyncio.Protocol):
    """A `websockets` sans-I/O client driven by an asyncio protocol: frames are handled in
    ``data_received`` callbacks, without a task or future per message, so a few processes can keep up
    with a thousand sockets on a small machine. ``on_text`` gets each text message (bytes)."""

    def __init__(self, url: str, subprotocols: list[str] | None = None) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        from websockets.uri import parse_uri
        self.uri = parse_uri(url)
        extensions = [ClientPerMessageDeflateFactory()] if COMPRESSION else None
        self.ws = ClientProtocol(self.uri, subprotocols=subprotocols, extensions=extensions,  # type: ignore[arg-type]
                                 max_size=None)
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.on_text = self.inbox.put_nowait
        self.transport: Any = None

    @classmethod
    async def connect(cls, url: str, subprotocols: list[str] | None = None) -> Client:
        client = cls(url, subprotocols)
        await asyncio.get_running_loop().create_connection(lambda: client, client.uri.host, client.uri.port)
        await client.opened
        return client

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.on_text(event.data)
            elif not self.opened.done():
                self.opened.set_result(None)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))

    def _flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send_text(json.dumps(message).encode())
        self._flush()

    async def recv(self) -> dict[str, Any]:
        return json.loads(await self.inbox.get())  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
