"""Running the HTTP server (cli chapter §6): boot, bind, serve with uvicorn, shut down gracefully.

Boot order: settings -> port -> services (``start_services``: schema, migrations, admin seeding, secret,
engine) -> app (``create_app``) -> serve. The socket is bound and listening before the boot, so a port in
use is a one-line ``ConfigError`` (exit 3) before the data file, the admin or the JWT secret is created;
connections made during the boot wait in the backlog until uvicorn serves them. ``--check`` binds nothing.
SIGINT/SIGTERM stop accepting, let in-flight requests finish for up to
``ATOMO_SHUTDOWN_GRACE_SECS``, then the writer is drained, the WAL checkpointed, and ``run``
returns 0 (uvicorn would otherwise re-raise the signal after its shutdown).

``--ephemeral`` (test suites): the data is in memory (``:memory:``), the project's seed is applied, the
admin gets a login session, and that state is the snapshot ``POST /__test__/reset`` goes back to
(``atomo.http.ephemeral``). When listening, stdout gets exactly one JSON line, ``{"url": ..., "adminToken":
...}`` (the banner goes to stderr), and the server stops like on SIGTERM when its stdin reaches EOF, so a
test runner that dies never leaves it behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from atomo._version import __version__
from atomo.app import create_app
from atomo.cluster.frames import SUPERVISOR
from atomo.cluster.member import Member
from atomo.cluster.member import member as cluster_member
from atomo.config import Settings, is_memory
from atomo.group import BOOT_ENV
from atomo.http.logs import JsonFormatter, configure_logging
from atomo.http.services import ServerState, Services, start_services
from atomo.process_memory import configure_heap, release_free_heap
from atomo.project import Project
from atomo.sockets import bind_socket, loop_factory

log = logging.getLogger("atomo.server")
GC_THRESHOLD = (10_000, 50, 1_000)   # gen0 allocations; gen1 and gen2 collection ratios
CHECK_OK = "ok: schema, migrations and settings are valid"


def http_implementation() -> type[asyncio.Protocol] | str:
    """httptools with the request-head cap (431 over ``ATOMO_MAX_HEADER_BYTES``) when it is installed (a
    dependency), else h11, whose ``h11_max_incomplete_event_size`` bounds only a head still incomplete
    (400): one arriving whole in a single read is not refused there."""
    if importlib.util.find_spec("httptools") is None:
        return "h11"
    from atomo.http.protocol import HttpProtocol
    return HttpProtocol


def _plural(word: str, count: int) -> str:
    word = word.lower()
    if count == 1:
        return word
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def postgres_display(url: str, schema: str) -> str:
    """``PostgreSQL host:port/database, schema s``: where the data is, without the URL's user and password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    where = f"{host}:{parts.port}" if parts.port else host
    return f"PostgreSQL {where}{parts.path or '/'}, schema {schema or '?'}"


def banner(services: Services, project: Project, host: str, port: int) -> str:
    version = services.settings.version or __version__
    where = (f"no schema.ts in {project.dir}, serving the bundled sample project (CRM)" if project.is_sample
             else f"project {project.dir}")
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/graphql"
    memory = is_memory(project.data_file)
    data = "in memory, removed when the server stops" if memory else _display_path(project.data_file)
    runtime = services.runtime
    postgres = services.settings.postgres_url
    if postgres:
        data = postgres_display(postgres, getattr(runtime.db, "schema_name", ""))
    if runtime.data_file_created:
        seeded = runtime.seeded
        if seeded is not None and seeded.created:
            counts = ", ".join(f"{n} {_plural(model, n)}" for model, n in seeded.created.items())
            data += f" (seeded {counts})" if memory else f" (created; seeded {counts})"
        elif not memory:
            data += " (created)"
    lines = [f"Atomo {version} - {where}", f"  GraphQL   {url}", f"  GraphiQL  {url}   (open in a browser)",
             f"  Data      {data}"]
    admin = services.admin
    if admin.generated_password:
        lines.append(f"  Admin     {admin.email} / {admin.generated_password}   "
                     "(shown once; set ADMIN_PASSWORD to choose it)")
    lines.append("Press Ctrl+C to stop.")
    return "\n".join(lines)


def json_banner(services: Services, project: Project, host: str, port: int) -> str:
    """The banner as one JSON log line (``LOG_FORMAT=json``): every line of the output parses. A generated
    admin password is not in it (logs never carry passwords): set ``ADMIN_PASSWORD``."""
    lines = banner(services, project, host, port).splitlines()
    record = logging.LogRecord("atomo.server", logging.INFO, __file__, 0, lines[0], None, None)
    text = JsonFormatter().format(record)
    shown_host = f"[{host}]" if ":" in host else host
    fields: dict[str, str | None] = {"url": f"http://{shown_host}:{port}/graphql"}
    if services.admin.generated_password:
        fields["adminEmail"] = services.admin.email
        fields["note"] = "an admin password was generated; it is shown with LOG_FORMAT=pretty only"
    return text[:-1] + "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in fields.items()) + "}"


class AtomoServer(uvicorn.Server):
    """uvicorn, with our signal handling (no re-raise: exit 0) and a hook once listening."""

    def __init__(self, config: uvicorn.Config, state: ServerState, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self.state = state
        self.on_listening = on_listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(sig: int, frame: FrameType | None) -> None:
            self.state.shutting_down = True
            self.handle_exit(sig, frame)

        originals = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            settle_gc()
            self.on_listening()


def settle_gc() -> None:
    """Once booted: the objects made so far (the engine's schema, modules, caches) live as long as the
    process, so they leave the collector's generations (``gc.freeze``), and full collections become rare.
    A full collection walks every tracked object: 20-60 ms with tartiflette's schema in the heap, which
    was the create path's p99 (67 ms at c8; 11 ms with this). Young garbage is collected as before.
    ``atomo dev`` boots again on every reload: what an earlier boot froze is unfrozen first, so the old
    engine's cycles are collected rather than kept for the life of the process."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD[0], GC_THRESHOLD[1], GC_THRESHOLD[2])
    release_free_heap()


def uvicorn_config(services: Services) -> uvicorn.Config:
    """The uvicorn settings of ``atomo serve`` and ``atomo dev``: the app of ``services``."""
    settings = services.settings
    return uvicorn.Config(create_app(services), http=http_implementation(), lifespan="on",
                          access_log=False, log_level="warning", proxy_headers=False, server_header=False,
                          log_config=None,    # uvicorn's lines go through the root handler (LOG_FORMAT)
                          # request line + headers: the httptools protocol above reads this limit too
                          h11_max_incomplete_event_size=settings.max_header_bytes,
                          timeout_graceful_shutdown=settings.shutdown_grace_secs, ws="auto",
                          # per-message deflate costs ~20% of fan-out CPU (each subscriber's copy is
                          # compressed separately); off, 1,000-subscriber p99 stays under 100 ms
                          ws_per_message_deflate=False, ws_ping_interval=settings.realtime_ping_secs,
                          ws_ping_timeout=2 * settings.realtime_ping_secs,
                          ws_max_size=max(settings.realtime_max_frame_bytes, 1 << 20) + 1024)


async def serve(settings: Settings, project: Project, *, check: bool = False,
                out: Callable[[str], Any] | None = None, member: Member | None = None) -> int:
    """Serve alone, or as worker ``member`` of a group (the socket inherited, no banner: the supervisor's)."""
    def say(text: str) -> None:
        (out or _stdout)(text)

    if settings.asgi_server != "uvicorn":
        log.warning("ATOMO_ASGI_SERVER=%s is not available in this build; serving with uvicorn", settings.asgi_server)
    # the port first: a busy one is refused before anything is created (data file, admin, JWT secret)
    if member is not None:
        sock: socket.socket | None = bind_socket(settings.host, member.port, reuse_port=True)
    else:
        sock = None if check else bind_socket(settings.host, settings.port)
    try:
        services = await start_services(settings, project, member)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    try:
        if sock is None:
            say(CHECK_OK)
            return 0
        port = sock.getsockname()[1]
        if member is not None:
            bus = services.runtime.bus

            def listening() -> None:
                bus.send("ready", member.index, to=SUPERVISOR)
        elif settings.ephemeral:
            from atomo.http.ephemeral import prepare
            token = await prepare(services)
            ready = json.dumps({"url": f"http://{_client_host(settings.host)}:{port}", "adminToken": token})

            def listening() -> None:
                sys.stderr.write(banner(services, project, settings.host, port) + "\n")
                say(ready)
        elif settings.log_format == "json":
            def listening() -> None:
                say(json_banner(services, project, settings.host, port))
        else:
            def listening() -> None:
                say(banner(services, project, settings.host, port))
        server = AtomoServer(uvicorn_config(services), services.state, listening)
        if settings.ephemeral:
            stop_at_stdin_eof(server)
        if member is not None:
            services.runtime.bus.lost.append(lambda: stop_orphan(server))
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()
        return 0
    finally:
        await services.close()


def _client_host(host: str) -> str:
    """The address a client on this machine connects to (a wildcard bind answers on loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def stop_orphan(server: AtomoServer) -> None:
    """The supervisor is gone (its relay closed): a worker stops like on SIGTERM."""
    log.error("the supervisor is gone: this worker stops")
    server.state.shutting_down = True
    server.should_exit = True


async def boot_once(settings: Settings, project: Project, boot: str) -> int:
    """The boot of a group, in a child of its supervisor (``atomo.group``): schema, migrations, admin,
    secret once, before any worker starts; the banner and the data file go back on the pipe ``boot`` names
    (``<fd>:<port>``)."""
    fd, port = (int(part) for part in boot.split(":"))
    services = await start_services(settings, project)
    try:
        text = (json_banner if settings.log_format == "json" else banner)(services, project, settings.host, port)
        if settings.log_format != "json":
            lines = text.splitlines()
            text = "\n".join([*lines[:4], f"  Workers   {settings.workers} processes on one data file", *lines[4:]])
        report = json.dumps({"banner": text, "dataFile": None if services.db.memory else str(services.db.path)})
    finally:
        await services.close()
    with os.fdopen(fd, "w") as pipe:
        pipe.write(report)
    return 0


def stop_at_stdin_eof(server: AtomoServer) -> None:
    """Stop ``server`` (as SIGTERM does) once stdin reaches EOF: a thread reads and discards it until then.
    Without a readable stdin (closed descriptor) nothing is watched."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("stdin closed: stopping")
        server.state.shutting_down = True
        server.should_exit = True

    def watch() -> None:
        try:
            while os.read(0, 65536):
                pass
        except OSError as exc:
            log.warning("stdin is not readable (%s): the server stops on SIGTERM/SIGINT only", exc.strerror)
            return
        try:
            loop.call_soon_threadsafe(stop)
        except RuntimeError:        # the loop is already closed: the server stopped for another reason
            pass

    threading.Thread(target=watch, name="atomo-stdin", daemon=True).start()


def _stdout(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def run(settings: Settings, project: Project, *, check: bool = False) -> int:
    """Run the server to completion on a fresh event loop (uvloop when installed); the exit code."""
    configure_heap(settings.malloc_arenas)   # before the writer and reader threads exist
    if not check:
        configure_logging(settings)
    member = cluster_member()
    boot = os.environ.pop(BOOT_ENV, None)         # a group's supervisor runs this process to boot once
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        if boot is not None and member is None:
            return runner.run(boot_once(settings, project, boot))
        return runner.run(serve(settings, project, check=check, member=member))
