"""`atomo dev` (cli chapter §5): serve, watch, and swap the application in-process on change.

Watched (unless ``--no-watch``, and never for the bundled sample): the schema file, ``migrations/*.sql``,
``hooks/**/*.py`` when a ``hooks/`` folder exists, and the env file; changes are debounced for 300 ms.
A schema, migration or hook change re-parses the schema and re-imports the hook modules (``hooks/*.py``,
fresh); with schema errors the diagnostics are printed and the previous schema keeps serving; a hook
module that does not import prints ``file:line: message`` and the previous hooks keep serving. Otherwise
pending file migrations and the boot migration run on the open data file, codegen runs, and a new data
service (with the hooks) and GraphQL engine (with their custom fields) replace the old ones
(``CurrentSchema.swap``): no restart, no lost data. An env-file change restarts the server in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import webbrowser
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from atomo.codegen import generate_files, write_files
from atomo.config import Settings
from atomo.data.service import DataService
from atomo.errors import AtomoError
from atomo.hooks.loader import load_project_hooks
from atomo.hooks.registry import HookSet
from atomo.http.services import Services, build_engine, start_services
from atomo.project import Project
from atomo.schema import Schema, load_schema
from atomo.schema.model import Diagnostic
from atomo.server import AtomoServer, banner, uvicorn_config
from atomo.sockets import bind_socket
from atomo.storage.file_migrations import apply_project_files, migrations_dir
from atomo.storage.migrate import apply_boot_migration

log = logging.getLogger("atomo.dev")
DEBOUNCE_MS = 300
STILL_SERVING = "still serving the previous schema"
KEEPING_HOOKS = "keeping the previous hooks"


@dataclass
class DevOptions:
    watch: bool = True
    codegen: bool = True
    open_browser: bool = False


def relative(path: Path, base: Path) -> str:
    for root in (Path.cwd(), base):
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            continue
    return str(path)


def diagnostic_line(d: Diagnostic, project: Project) -> str:
    return f"{relative(Path(d.file), project.dir)}:{d.line}:{d.col}: {d.severity}[{d.code}]: {d.message}"


class DevServer:
    def __init__(self, make_settings: Callable[[], Settings], make_project: Callable[[Settings], Project],
                 env_file: Path, options: DevOptions) -> None:
        self.make_settings = make_settings
        self.make_project = make_project
        self.env_file = env_file.resolve()
        self.options = options
        self.restart = False
        self._opened = False

    # -- output ------------------------------------------------------------------------------
    @staticmethod
    def say(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    @staticmethod
    def warn(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self) -> int:
        while True:
            settings = self.make_settings()
            project = self.make_project(settings)
            self.restart = False
            await self.serve_once(settings, project)
            if not self.restart:
                return 0
            self.say("env file changed: restarting")

    async def serve_once(self, settings: Settings, project: Project) -> None:
        sock = bind_socket(settings.host, settings.port)    # a busy port is refused before anything is created
        try:
            services = await start_services(settings, project)
        except BaseException:
            sock.close()
            raise
        try:
            runtime, current = services.runtime, services.current
            for d in current.schema.warnings:  # errors stopped the boot above (SchemaError, exit 4)
                self.warn(diagnostic_line(d, project))
            if runtime.data_file_created and not project.is_sample and project.seed_file is not None:
                runtime.seeded = await runtime.seed_file(project.seed_file)
            if self.options.codegen and not project.is_sample:
                self.codegen(current.schema, runtime.hooks, project, quiet=True)
            port = sock.getsockname()[1]
            server = AtomoServer(uvicorn_config(services), services.state,
                                 lambda: self.listening(services, project, settings.host, port))
            watcher = None
            if self.options.watch and not project.is_sample:
                watcher = asyncio.create_task(self.watch(server, services, project), name="atomo-dev-watch")
            try:
                await server.serve(sockets=[sock])
            finally:
                sock.close()
                if watcher is not None:
                    watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watcher
        finally:
            await services.close()

    def listening(self, services: Services, project: Project, host: str, port: int) -> None:
        self.say(banner(services, project, host, port))
        if self.options.watch and not project.is_sample:
            self.warn("watching " + ", ".join(relative(p, project.dir) for p in self.watched_paths(project)))
        if self.options.open_browser and not self._opened:
            self._opened = True
            shown = f"[{host}]" if ":" in host else host
            webbrowser.open(f"http://{shown}:{port}/graphql")

    # -- codegen -----------------------------------------------------------------------------
    def codegen(self, schema: Schema, hooks: HookSet, project: Project, *, quiet: bool = False) -> None:
        """The files of `atomo codegen` (the same function), for the schema and hooks being served."""
        try:
            statuses = write_files(project.dir / "generated", generate_files(schema, hooks))
        except (OSError, AtomoError) as exc:
            self.warn(f"atomo: codegen failed: {exc}")
            return
        for status in statuses:
            if status.changed and not quiet:
                self.warn(f"codegen: updated {relative(status.path, project.dir)}")

    # -- watching ----------------------------------------------------------------------------
    def watched_paths(self, project: Project) -> list[Path]:
        paths = [project.schema_path]
        folder = migrations_dir(project)
        if folder is not None and folder.is_dir():
            paths.append(folder / "*.sql")
        if (project.dir / "hooks").is_dir():
            paths.append(project.dir / "hooks" / "**" / "*.py")
        paths.append(self.env_file)
        return paths

    def classify(self, path: Path, project: Project) -> str | None:
        path = path.resolve() if path.exists() else path
        if path == self.env_file:
            return "env"
        if path == project.schema_path.resolve():
            return "schema"
        folder = migrations_dir(project)
        if folder is not None and path.parent == folder.resolve() and path.suffix == ".sql":
            return "migrations"
        hooks = (project.dir / "hooks").resolve()
        if path.suffix == ".py" and hooks in path.parents:
            return "hooks"
        return None

    async def changes(self, project: Project) -> AsyncIterator[set[str]]:
        import watchfiles
        flat = {project.schema_path.parent.resolve(), self.env_file.parent}
        folder = migrations_dir(project)
        if folder is not None and folder.is_dir():
            flat.add(folder.resolve())
        queue: asyncio.Queue[set[tuple[watchfiles.Change, str]]] = asyncio.Queue()

        async def pump(paths: list[Path], recursive: bool) -> None:
            async for batch in watchfiles.awatch(*paths, recursive=recursive, step=DEBOUNCE_MS, debounce=5000):
                await queue.put(batch)

        tasks = [asyncio.create_task(pump(sorted(p for p in flat if p.is_dir()), False))]
        hooks = project.dir / "hooks"
        if hooks.is_dir():
            tasks.append(asyncio.create_task(pump([hooks], True)))
        try:
            while True:
                batch = await queue.get()
                kinds = {k for _, path in batch if (k := self.classify(Path(path), project)) is not None}
                if kinds:
                    yield kinds
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def watch(self, server: AtomoServer, services: Services, project: Project) -> None:
        try:
            async for kinds in self.changes(project):
                if "env" in kinds:
                    self.restart = True
                    server.should_exit = True
                    return
                await self.reload(services, project, kinds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the watcher never takes the server down
            log.exception("watching failed")
            self.warn(f"atomo: watching stopped: {exc}")

    # -- reload ------------------------------------------------------------------------------
    async def reload(self, services: Services, project: Project, kinds: set[str]) -> bool:
        start = time.perf_counter()
        settings, runtime, db = services.settings, services.runtime, services.db
        try:
            schema = load_schema(project.schema_path)
        except OSError as exc:
            self.warn(f"atomo: cannot read {relative(project.schema_path, project.dir)}: {exc.strerror}")
            self.warn(STILL_SERVING)
            return False
        failing = schema.diagnostics if settings.strict_schema else schema.errors
        for d in schema.diagnostics:
            self.warn(diagnostic_line(d, project))
        if failing:
            self.warn(STILL_SERVING)
            return False
        hooks, hooks_note = services.current.data.hooks.hookset, []
        try:
            hooks = load_project_hooks(project)
            if "hooks" in kinds:
                hooks_note = [f"hooks reloaded ({len(hooks)})"]
        except AtomoError as exc:       # an import or syntax error: file:line: message
            self.warn(exc.message)
            self.warn(KEEPING_HOOKS)
        try:
            hooks.check_models(m.name for m in schema.models)
            applied = await apply_project_files(db, project, schema)
            plan = await db.write(lambda c: apply_boot_migration(c, schema), exclusive=True)
            data = DataService(schema, db, appender=runtime.appender, default_access=settings.default_access,
                               max_page_size=settings.max_page_size, max_filter_terms=settings.max_filter_terms,
                               hooks=hooks)
            engine = await build_engine(settings, schema, runtime.jobs, hooks)
        except AtomoError as exc:
            self.warn(f"atomo: {exc.message}")
            self.warn(STILL_SERVING)
            return False
        services.current.swap(schema, data, engine)
        runtime.hooks = hooks
        for warning in plan.warnings:
            self.warn(f"warning: {warning}")
        if self.options.codegen:
            self.codegen(schema, hooks, project)
        changes = [f"applied {a.name}" for a in applied] + plan.notes + hooks_note
        ms = round((time.perf_counter() - start) * 1000)
        self.say(f"reloaded in {ms} ms: {'; '.join(changes) if changes else 'no table changes'}")
        return True
