"""Import a project's ``hooks/*.py`` from disk and collect their hooks into a new ``HookSet``.

Each load imports the modules afresh (``atomo dev`` reloads them on change) as submodules of a package
of its own (``atomo_project_hooks_<n>``, whose ``__path__`` is the hooks folder), so relative imports of
helper modules work (``from ._common import money``); files whose name starts with ``_`` are helpers,
not hook modules. Source is always compiled from the file: no stale bytecode after a quick edit. Works
the same in the standalone executable (``importlib.util.spec_from_file_location``, no Python install).

A module that fails to import is a ``ConfigError`` whose message is the last frame of the traceback in
the hooks folder: ``hooks/deals.py:3: SyntaxError: invalid syntax``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import itertools
import logging
import sys
import traceback
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from atomo.errors import ConfigError
from atomo.hooks.registry import HookSet, display_path
from atomo.project import Project

_LOADS = itertools.count(1)


def project_hooks_dir(project: Project) -> Path:
    """``hooks/`` of the project folder (of the bundled sample's folder for the sample)."""
    return (project.schema_path.parent if project.is_sample else project.dir) / "hooks"


def hook_files(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.py") if p.is_file() and not p.name.startswith(("_", ".")))


class _SourceLoader(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname: str) -> Any:
        return self.source_to_code(self.get_data(self.path), self.path)


def failure_line(exc: BaseException, folder: Path) -> str:
    """``file:line: Type: message`` of the last traceback frame in ``folder`` (else the last frame)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{display_path(Path(exc.filename))}:{exc.lineno}: {type(exc).__name__}: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    root = folder.resolve()
    inside = [f for f in frames if _within(Path(f.filename), root)]
    candidates = inside or list(frames)
    if not candidates:
        return f"{display_path(folder)}: {text}"
    frame = candidates[-1]
    return f"{display_path(Path(frame.filename))}:{frame.lineno}: {text}"


def _within(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except OSError:
        return False


def load_hooks(folder: Path | None, extra: Iterable[Any] = ()) -> HookSet:
    """The hooks of ``folder/*.py`` (none without such a folder), then those of ``extra`` (modules,
    decorated functions, ``HookSet``s). Raises ``ConfigError`` naming the file on any failure."""
    hooks = HookSet()
    files = hook_files(folder)
    if files:
        assert folder is not None
        package = f"atomo_project_hooks_{next(_LOADS)}"
        importlib.invalidate_caches()
        root = types.ModuleType(package, f"the hooks of {folder}")
        root.__path__ = [str(folder)]
        root.__spec__ = importlib.machinery.ModuleSpec(package, None, is_package=True)
        root.__spec__.submodule_search_locations = [str(folder)]
        sys.modules[package] = root
        try:
            for path in files:
                hooks.add_module(_import(f"{package}.{path.stem}", path, folder))
        except BaseException:
            _forget(package)
            raise
    try:
        hooks.extend(extra)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    return hooks


def load_project_hooks(project: Project, extra: Iterable[Any] = ()) -> HookSet:
    return load_hooks(project_hooks_dir(project), extra)


def _import(name: str, path: Path, folder: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path, loader=_SourceLoader(name, str(path)))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(failure_line(exc, folder)) from None
    return module


def _forget(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def show_hook_logs(level: str) -> None:
    """Log lines of hooks (logger ``atomo.hooks`` and its children) on stderr at ``LOG_LEVEL``, unless the
    process configured logging itself (a server does not)."""
    logger = logging.getLogger("atomo.hooks")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
