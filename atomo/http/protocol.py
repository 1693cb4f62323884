"""uvicorn's httptools protocol with three changes: a request head size cap, a graceful idle close, and
one write per small response.

**Head size cap** (auth chapter §10): over ``ATOMO_MAX_HEADER_BYTES`` -> 431, before the app.

uvicorn's httptools protocol keeps no limit of its own: httptools gathers a header value in memory
until its line ends, so one 8 MB header would be read whole and handed to the app. This subclass
counts the request line and every header as the parser reports them (``on_url``, ``on_header``) and
also the raw bytes received while a request head is still incomplete (that bounds a header whose
line has not ended yet). Past the limit it answers ``431 Request Header Fields Too Large`` with the
REST error body, half-closes the connection and discards what the client still sends for up to
``LINGER_SECS`` (so the client reads the answer instead of a reset), then closes. A WebSocket
handshake is an HTTP request parsed here first, so the cap applies to it before the upgrade.

The limit is read from the uvicorn config's ``h11_max_incomplete_event_size`` (``atomo/server.py`` sets
it from the setting), the same value the h11 fallback uses for its incomplete-head buffer.

**Graceful idle close** on shutdown: uvicorn closes an idle keep-alive connection at once, so a request
the client has already sent on it (still on the wire) is lost as "server disconnected without a
response". Here an idle connection is given ``IDLE_CLOSE_SECS``: a request arriving meanwhile is
answered with ``Connection: close``; without one the connection closes when the time is up. uvicorn's
shutdown waits for these connections within ``ATOMO_SHUTDOWN_GRACE_SECS``.

**One write per response**: uvicorn writes the status line and headers, then the body, as two system
calls and two TCP segments. Each response's transport here holds the head back and writes it together
with the first body bytes (or when the response completes without a body, e.g. HEAD). On the GraphQL
create path this was about 8% of the event loop's time.
"""

from __future__ import annotations

import uuid
from typing import Any

import httptools
import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from atomo.http.errors import rest_body

DEFAULT_LIMIT = 16384
LINGER_SECS = 2.0
IDLE_CLOSE_SECS = 0.5
LINE_OVERHEAD = 4               # ": " and CRLF of a header line; the request line: method, version, CRLF
_encode = msgspec.json.Encoder().encode


class HeadersTooLarge(Exception):
    """Raised from a parser callback: the request head is over the limit."""


class HttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with a cap on the request line + headers of each request (431) and a
    graceful close of idle connections on shutdown."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.parser = _Parser(self.parser)   # type: ignore[assignment]
        self.max_head = config.h11_max_incomplete_event_size or DEFAULT_LIMIT
        self.head_bytes = 0          # request line + headers reported by the parser for this request
        self.unparsed = 0            # bytes received while this request's head is incomplete
        self.reading_head = True
        self.refused = False
        self.draining = False        # shutdown began: the next request is the last on this connection

    # -- parser callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_bytes = 16         # method, spaces, "HTTP/1.1", CRLF
        self.reading_head = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + LINE_OVERHEAD)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.unparsed = 0
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:   # not an upgrade
            corked = _CorkedTransport(self.transport, cycle)
            cycle.transport = corked
            cycle.on_response = corked.completed
            if self.draining:
                cycle.keep_alive = False

    # -- shutdown --------------------------------------------------------------------------------
    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False          # answer the request in progress, then close
            return
        self.draining = True
        self.loop.call_later(IDLE_CLOSE_SECS, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_head = True

    def _count(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > self.max_head:
            raise HeadersTooLarge

    # -- transport -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.refused:
            return                   # lingering after a 431: discard
        if self.reading_head:
            self.unparsed += len(data)
        try:
            super().data_received(data)      # uvicorn's own handling: 400 on parser errors, upgrades
        except HeadersTooLarge:
            self.refuse()
            return
        if self.reading_head and self.unparsed > self.max_head + LINE_OVERHEAD and not self.transport.is_closing():
            self.refuse()            # one header line still growing past the limit

    def eof_received(self) -> None:
        if self.refused:
            self.transport.close()

    def refuse(self) -> None:
        """Answer 431 and close; a response in progress on this connection is cut instead."""
        self.refused = True
        self.parser = _Parser(httptools.HttpRequestParser(_Ignore()))  # type: ignore[assignment]  # drops its buffer
        self.pipeline.clear()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.transport.close()
            return
        message = f"request headers are larger than {self.max_head} bytes"
        body = _encode(rest_body("HEADERS_TOO_LARGE", message))
        head = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n", b"content-length: ", str(len(body)).encode("ascii"),
                 b"\r\nx-request-id: ", str(uuid.uuid4()).encode("ascii"), b"\r\nx-content-type-options: nosniff\r\n",
                 b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECS, self.transport.close)
        else:
            self.transport.close()


class _CorkedTransport:
    """The transport as one response's cycle sees it: the head (the first write after the response
    started) is held and sent with the next write, on close, or when the response completes."""

    __slots__ = ("transport", "cycle", "held", "head_seen", "done")

    def __init__(self, transport: Any, cycle: Any) -> None:
        self.transport = transport
        self.cycle = cycle
        self.held: bytes | None = None
        self.head_seen = False
        self.done = cycle.on_response

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.transport.write(held + data)
        elif not self.head_seen and self.cycle.response_started:     # the status line and headers
            self.head_seen = True
            if self.cycle.scope.get("method") == "HEAD":
                self.transport.write(data)
            else:
                self.held = data
        else:                                                          # e.g. "100 Continue"
            self.transport.write(data)

    def flush(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            self.transport.write(held)

    def completed(self) -> None:
        self.flush()
        self.done()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _Parser:
    """The httptools parser, with ``HeadersTooLarge`` raised as itself rather than wrapped in an
    ``HttpParserError`` (which uvicorn answers with 400): uvicorn's ``data_received`` is reused as is."""

    __slots__ = ("parser",)

    def __init__(self, parser: httptools.HttpRequestParser) -> None:
        self.parser = parser

    def feed_data(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadersTooLarge):
                raise HeadersTooLarge from None
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)


class _Ignore:
    """Parser protocol with no callbacks (the connection is closing)."""
