"""The listening socket and the event loop of a server, shared by one process (``atomo.server``), the dev
server and the supervisor of a group (``atomo.group``, which must stay small: nothing here imports
the HTTP stack)."""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import socket
from collections.abc import Callable

from atomo.errors import ConfigError

BACKLOG = 2048  # uvicorn's default; its create_server listens again with config.backlog


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed (optional), else the default asyncio loop."""
    if importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop
    return uvloop.new_event_loop  # type: ignore[no-any-return]



def bind_socket(host: str, port: int, *, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """The server's socket. A group (``--workers``) binds one per worker with ``reuse_port`` and listens on each,
    and the supervisor keeps one that is bound and not listening (``atomo.cluster.supervisor``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        # listening is what keeps the port: a socket that is only bound does not stop another SO_REUSEADDR bind
        # (a group's supervisor: its SO_REUSEPORT socket, bound, does stop any bind without SO_REUSEPORT)
        if listen:
            sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is already in use on {host} (set PORT or use --port)") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def someone_listens(sock: socket.socket) -> bool:
    """Whether a socket already listens on ``sock``'s address (a connection to it is accepted)."""
    host, port = sock.getsockname()[:2]
    target = "::1" if host == "::" else "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


