"""The import graph of atomo/ (docs/architecture.md, "Layers"): packages in layers, no cycles.

The graph is read from the source (``ast``), so it holds every ``import`` and ``from ... import`` of
a file: at module level, inside functions (lazy imports) and under ``if TYPE_CHECKING:``. Type-only
imports count: a module cannot be read or type-checked without the modules it names, and the cycle
this test was written against (every route importing ``AppContext`` from ``app.py``) was made of them.
A unit is a package of atomo/ (``http``) or a top-level module (``runtime``); ``atomo/__init__.py``
(the public API) is the unit ``__init__``. Importing ``atomo.x.y`` runs ``atomo/__init__.py`` too,
but only an explicit ``import atomo`` / ``from atomo import Atomo`` is a dependency on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "atomo"

# Bottom first. A unit may import only units of the layers before its own; units of one layer are
# siblings that never import each other.
LAYERS: list[set[str]] = [
    # packaging: the spec's paths; worker: the client SDK; process_memory: serve's glibc heap settings;
    # clock: the process clock every time-dependent rule reads (frozen by tests)
    {"errors", "_version", "packaging", "worker", "process_memory", "clock"},
    {"config", "sockets"},         # sockets: the listening socket and event loop of every kind of server
    {"cluster"},                   # serving one file from several processes: bus, relay, writer lock, supervisor
    {"schema"},
    {"project"},
    {"content"},                   # blocks: validation, block operations, renderers (pure; storage replays them)
    {"storage"},
    {"auth"},
    {"hooks"},                     # atomo.hooks: the decorators of a project's hooks/*.py, HookSet, the loader
    {"data"},
    {"jobs"},                      # the jobs subsystem; its routes are in http/jobs, enqueueJob in graphql/jobs
    {"runtime"},                   # one project booted: schema -> file -> migrations -> feed -> services
    {"library", "graphql"},        # the embedded API; the GraphQL engine
    {"__init__", "codegen"},       # the public API (atomo.Atomo); codegen (needs the SDL)
    {"http"},                      # the HTTP layer: Services, request plumbing, the HTTP routes
    {"realtime"},                  # channels tier, and the WebSocket registry both tiers share
    {"subscriptions"},             # /graphql/ws
    {"app"},                       # create_app: mounts every surface on Services
    {"group"},                     # atomo serve --workers N: the supervisor's process (no HTTP stack)
    {"server"},                    # atomo serve
    {"devserver"},                 # atomo dev
    {"cli", "testing"},
]
# Scripts run as __main__ (python -m atomo, the frozen executable): they may import anything, and
# nothing imports them.
ENTRY_POINTS = {"__main__.py", "packaging/atomo_server.py"}
# Packages whose modules import each other in a cycle, and why that is left as is.
MODULE_CYCLES = {
    # atomo/graphql/__init__.py provides import_tartiflette() to the modules that need tartiflette and
    # re-exports the engine lazily (__getattr__)
    "graphql",
    # a GraphQLSocket owns its Operations, which call back into the socket (a type-only import)
    "subscriptions",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["atomo", *parts])


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")
            if str(path.relative_to(PACKAGE)) not in ENTRY_POINTS}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(module of atomo imported, line) for every import in the file."""
    known = modules()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "atomo" or alias.name.startswith("atomo."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base != "atomo" and not base.startswith("atomo."):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in known else base), node.lineno


@cache
def module_graph() -> dict[str, dict[str, str]]:
    """module -> {imported module: "file:line"}"""
    graph: dict[str, dict[str, str]] = {}
    for module, path in modules().items():
        edges = graph.setdefault(module, {})
        for target, line in imported(module, path):
            if target != module:
                edges.setdefault(target, f"{path.relative_to(PACKAGE.parent)}:{line}")
    return graph


def unit_graph() -> dict[str, dict[str, str]]:
    """unit -> {imported unit: one "file:line" where it happens}"""
    graph: dict[str, dict[str, str]] = {}
    for module, edges in module_graph().items():
        mine = graph.setdefault(unit_of(module), {})
        for target, where in edges.items():
            if unit_of(target) != unit_of(module):
                mine.setdefault(unit_of(target), where)
    return graph


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(component: list[str], graph: dict[str, dict[str, str]]) -> str:
    inside = set(component)
    edges = [f"{a} -> {b} ({where})" for a in component for b, where in graph.get(a, {}).items() if b in inside]
    return "; ".join(edges)


def layer_of(unit: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if unit in names)


def test_every_unit_of_atomo_has_a_layer() -> None:
    placed = set().union(*LAYERS)
    units = {unit_of(module) for module in modules()}
    assert units - placed == set(), "put new packages and top-level modules into LAYERS (and docs/architecture.md)"
    assert placed - units == set(), "LAYERS names units that no longer exist"
    assert sum(len(names) for names in LAYERS) == len(placed), "a unit is in two layers"


def test_units_import_only_the_layers_below_theirs() -> None:
    problems = [f"{unit} (layer {layer_of(unit)}) imports {target} (layer {layer_of(target)}) at {where}"
                for unit, edges in unit_graph().items() for target, where in edges.items()
                if layer_of(target) >= layer_of(unit)]
    assert problems == []


def test_no_import_cycles_between_packages() -> None:
    graph = unit_graph()
    assert [describe(c, graph) for c in cycles(graph)] == []


def test_no_import_cycles_between_modules_of_one_package() -> None:
    graph = module_graph()
    found = [c for c in cycles(graph) if unit_of(c[0]) not in MODULE_CYCLES]
    assert [describe(c, graph) for c in found] == []
    # the exceptions are still needed (else the entry goes)
    assert {unit_of(c[0]) for c in cycles(graph)} >= MODULE_CYCLES


def test_entry_points_are_never_imported() -> None:
    scripts = {"atomo." + name.removesuffix(".py").replace("/", ".") for name in ENTRY_POINTS}
    problems = [f"{module} imports {target}" for module, edges in module_graph().items()
                for target in edges if target in scripts]
    assert problems == []
    assert all((PACKAGE / name).is_file() for name in ENTRY_POINTS)


def test_the_graph_sees_lazy_and_type_only_imports() -> None:
    graph = module_graph()
    assert "atomo.graphql.engine" in graph["atomo.http.services"]      # inside a function (and TYPE_CHECKING)
    assert "atomo.http.services" in graph["atomo.http.health"]         # under TYPE_CHECKING only
    assert "atomo.jobs.store" in graph["atomo.http.jobs.routes"]       # `from atomo.jobs import store`
