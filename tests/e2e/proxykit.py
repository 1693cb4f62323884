"""A tiny TCP load balancer for the multi-instance tests: each accepted connection goes to the next upstream in
turn (round robin), and to the one after it when that one refuses (a dead instance), as a load balancer with
connect-failure retry does. ``choices`` records which upstream every connection went to."""

from __future__ import annotations

import contextlib
import socket
import threading


class RoundRobinProxy:
    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self.choices: list[int] = []          # upstream port per accepted connection, in order
        self._next = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closing = False
        self._threads: list[threading.Thread] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RoundRobinProxy:
        thread = threading.Thread(target=self._accept, daemon=True, name="proxy-accept")
        thread.start()
        self._threads.append(thread)
        return self

    def close(self) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.close()

    def _connect(self) -> tuple[socket.socket, int] | None:
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self.upstreams)
        for step in range(len(self.upstreams)):
            port = self.upstreams[(start + step) % len(self.upstreams)]
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=2.0), port
            except OSError:
                continue
        return None

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            chosen = self._connect()
            if chosen is None:
                client.close()
                continue
            upstream, port = chosen
            upstream.settimeout(None)
            with self._lock:
                self.choices.append(port)
            threading.Thread(target=_relay, args=(client, upstream), daemon=True, name="proxy-relay").start()


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Both directions of one connection; both sockets closed once both are done."""
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True, name="proxy-pump")
    back.start()
    _pump(client, upstream)
    back.join()
    for sock in (client, upstream):
        with contextlib.suppress(OSError):
            sock.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
