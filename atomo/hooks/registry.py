"""What the decorators of ``atomo.hooks`` record, and the ``HookSet`` a load collects.

A decorator attaches its registrations to the function (``__atomo_hooks__``) and returns the function
unchanged; nothing is recorded in a global. The loader (``atomo.hooks.loader``) imports the project's hook
modules and collects the decorated functions it finds in them into a new ``HookSet``, so two servers in
one process (or two loads by ``atomo dev``) never share hooks.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from atomo.errors import ConfigError

if TYPE_CHECKING:
    from atomo.auth.principal import Caller
    from atomo.storage.events import StoredEvent

F = TypeVar("F", bound=Callable[..., Any])

MODEL_OPERATIONS = ("create", "update", "delete", "restore", "hardDelete")
GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*\Z")
ATTRIBUTE = "__atomo_hooks__"

# The id of the request being served (set by the GraphQL engine): read by hook contexts and by the log
# line of a failing after-hook, which runs in a task that inherits it.
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("atomo_request_id", default=None)


@dataclass
class HookContext:
    """The second argument of every hook.

    ``data``: the data service acting as ``caller`` (``await ctx.data.records("Deal", limit=10)``; its
    ``system`` is the same without access rules). ``events.append(stream, type, data)`` appends a custom
    event. Before/after hooks get ``model`` and ``operation`` (create, update, delete, restore, hardDelete),
    ``id``/``where`` of an update or delete; after-hooks get the stored ``event``. A block mutation runs the
    ``update`` hooks (before: with ``{}`` and ``field``, the Blocks field; after: with the record after each
    block event). Custom fields get ``operation`` "query" or "mutation" and ``field``, their name.
    """

    operation: str
    caller: Caller
    data: Any
    events: Any
    model: str | None = None
    request_id: str | None = None
    id: str | None = None
    where: Any = None
    event: StoredEvent | None = None
    field: str | None = None


def source_of(fn: Any) -> str:
    """``file:line`` of a function (the first decorator's line), relative to the current folder when inside it."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return repr(fn)
    return f"{display_path(Path(code.co_filename))}:{code.co_firstlineno}"


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def hook_name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


@dataclass(frozen=True, eq=False)
class ModelHook:
    """``@before`` / ``@after``: ``fn(input_or_record, ctx)`` around one operation on one model."""

    kind: str              # "before" | "after"
    model: str
    operation: str
    fn: Callable[..., Any]

    @property
    def source(self) -> str:
        return source_of(self.fn)

    def describe(self) -> str:
        return f"{self.kind}-{self.operation} hook {hook_name(self.fn)} on {self.model} ({self.source})"


@dataclass(frozen=True, eq=False)
class FieldHook:
    """``@query`` / ``@mutation``: a root field ``name(args): returns`` resolved by ``fn(args, ctx)``."""

    kind: str              # "query" | "mutation"
    name: str
    args: str
    returns: str
    fn: Callable[..., Any]
    description: str | None = None

    @property
    def source(self) -> str:
        return source_of(self.fn)

    @property
    def type_name(self) -> str:
        return "Query" if self.kind == "query" else "Mutation"

    def describe(self) -> str:
        return f"@{self.kind}({self.name!r}) at {self.source}"


Registration = ModelHook | FieldHook


def _attach(fn: Any, registrations: list[Registration]) -> None:
    if not callable(fn):
        raise TypeError(f"a hook must be a function, not {type(fn).__name__}")
    try:
        setattr(fn, ATTRIBUTE, [*getattr(fn, ATTRIBUTE, ()), *registrations])
    except AttributeError:
        raise TypeError(f"cannot register {fn!r} as a hook: use a plain (async) function") from None


def _model_hook(kind: str, model: str, operations: tuple[str, ...]) -> Callable[[F], F]:
    if not isinstance(model, str) or not model:
        raise ValueError(f"@{kind} needs a model name, e.g. @{kind}(\"Deal\", \"create\")")
    if not operations:
        raise ValueError(f"@{kind}({model!r}) needs an operation: {', '.join(MODEL_OPERATIONS)}")
    for op in operations:
        if op not in MODEL_OPERATIONS:
            raise ValueError(f"@{kind}({model!r}, {op!r}): the operation must be one of {', '.join(MODEL_OPERATIONS)}")

    def register(fn: F) -> F:
        _attach(fn, [ModelHook(kind, model, op, fn) for op in dict.fromkeys(operations)])
        return fn
    return register


def before(model: str, *operations: str) -> Callable[[F], F]:
    """``@before("Deal", "create")``: ``async def fn(input, ctx)`` runs before the write is queued.

    ``input`` is a copy of the data of a create or update (one call per item of ``updateMany``), or
    ``{"id": ..., "where": ...}`` for delete, restore and hardDelete. Return a dict to replace the data
    (None keeps it, with any change made to it in place); raise ``ValidationError`` or ``PermissionDenied``
    to refuse: nothing is written and the client gets that error."""
    return _model_hook("before", model, operations)


def after(model: str, *operations: str) -> Callable[[F], F]:
    """``@after("Deal", "create")``: ``async def fn(record, ctx)`` runs after the commit, once per stored
    event (``ctx.event``), in a task of its own: it never delays or undoes the write, and a failure is
    logged (logger ``atomo.hooks``), never shown to the client. ``record`` is the record after the
    operation (before it, for hardDelete)."""
    return _model_hook("after", model, operations)


def _field_hook(kind: str, name: str, args: str, returns: str, description: str | None) -> Callable[[F], F]:
    if not isinstance(name, str) or not GRAPHQL_NAME.match(name) or name.startswith("__"):
        raise ValueError(f"@{kind}({name!r}): not a GraphQL field name (letters, digits and _, not starting with __)")
    if not isinstance(args, str):
        raise ValueError(f"@{kind}({name!r}): args must be GraphQL text, e.g. args=\"stage: String\"")
    if not isinstance(returns, str) or not returns.strip():
        raise ValueError(f"@{kind}({name!r}): returns must be a GraphQL type, e.g. returns=\"JSON\"")

    def register(fn: F) -> F:
        text = description if description is not None else inspect.getdoc(fn)
        _attach(fn, [FieldHook(kind, name, args.strip(), returns.strip(), fn, text)])
        return fn
    return register


def query(name: str, *, args: str = "", returns: str = "JSON", description: str | None = None) -> Callable[[F], F]:
    """``@query("pipelineTotals", args="stage: String", returns="JSON")``: a root Query field resolved by
    ``async def fn(args: dict, ctx)``. ``args`` and ``returns`` are GraphQL text; the docstring (or
    ``description``) describes the field."""
    return _field_hook("query", name, args, returns, description)


def mutation(name: str, *, args: str = "", returns: str = "JSON", description: str | None = None) -> Callable[[F], F]:
    """``@mutation("closeDeal", args="id: String!", returns="JSON")``: a root Mutation field, as ``@query``."""
    return _field_hook("mutation", name, args, returns, description)


class HookSet:
    """The hooks of one load: before/after hooks per (model, operation), custom Query and Mutation fields."""

    def __init__(self, objects: Iterable[Any] = ()) -> None:
        self.before: dict[tuple[str, str], tuple[ModelHook, ...]] = {}
        self.after: dict[tuple[str, str], tuple[ModelHook, ...]] = {}
        self.queries: dict[str, FieldHook] = {}
        self.mutations: dict[str, FieldHook] = {}
        self.modules: list[str] = []      # names of the modules this set was collected from
        self._seen: set[int] = set()
        self.extend(objects)

    def __bool__(self) -> bool:
        return bool(self.before or self.after or self.queries or self.mutations)

    def __len__(self) -> int:
        return (sum(map(len, self.before.values())) + sum(map(len, self.after.values())) + len(self.queries)
                + len(self.mutations))

    def __repr__(self) -> str:
        return (f"HookSet(before={sum(map(len, self.before.values()))}, after={sum(map(len, self.after.values()))}, "
                f"queries={sorted(self.queries)}, mutations={sorted(self.mutations)})")

    @property
    def fields(self) -> list[FieldHook]:
        return [*self.queries.values(), *self.mutations.values()]

    # -- collecting ----------------------------------------------------------------------------
    def add(self, registration: Registration) -> None:
        if id(registration) in self._seen:      # one function reached twice (imported by two modules)
            return
        self._seen.add(id(registration))
        if isinstance(registration, ModelHook):
            table = self.before if registration.kind == "before" else self.after
            key = (registration.model, registration.operation)
            table[key] = (*table.get(key, ()), registration)
            return
        fields = self.queries if registration.kind == "query" else self.mutations
        existing = fields.get(registration.name)
        if existing is not None:
            raise ConfigError(f"{registration.source}: {registration.type_name}.{registration.name} is already "
                              f"defined by {existing.describe()}")
        fields[registration.name] = registration

    def add_function(self, fn: Any) -> int:
        """Add the registrations of one decorated function; the number added."""
        registrations = getattr(fn, ATTRIBUTE, None)
        if not isinstance(registrations, list):
            return 0
        for registration in registrations:
            self.add(registration)
        return len(registrations)

    def add_module(self, module: ModuleType) -> None:
        """Every decorated function among the module's globals, in definition order."""
        self.modules.append(module.__name__)
        for value in list(vars(module).values()):
            if callable(value) and not isinstance(value, type):
                self.add_function(value)

    def merge(self, other: HookSet) -> None:
        for table in (other.before, other.after):
            for hooks in table.values():
                for hook in hooks:
                    self.add(hook)
        for field in other.fields:
            self.add(field)
        self.modules += other.modules

    def extend(self, objects: Iterable[Any]) -> None:
        """Add modules, decorated functions and other ``HookSet``s."""
        for obj in objects:
            if isinstance(obj, HookSet):
                self.merge(obj)
            elif isinstance(obj, ModuleType):
                self.add_module(obj)
            elif not self.add_function(obj):
                raise TypeError(f"hooks: {obj!r} is neither a module, a HookSet nor a function decorated with "
                                "@before, @after, @query or @mutation")

    # -- reading ---------------------------------------------------------------------------------
    def before_hooks(self, model: str, operation: str) -> tuple[ModelHook, ...]:
        return self.before.get((model, operation), ())

    def after_hooks(self, model: str, operation: str) -> tuple[ModelHook, ...]:
        return self.after.get((model, operation), ())

    def check_models(self, model_names: Iterable[str]) -> None:
        """Refuse hooks on a model the schema does not have (a typo would otherwise never run)."""
        known = set(model_names)
        for table in (self.before, self.after):
            for (model, _), hooks in table.items():
                if model not in known:
                    hook = hooks[0]
                    raise ConfigError(f"{hook.source}: @{hook.kind}({model!r}, {hook.operation!r}): the schema has no "
                                      f"model {model!r} (models: {', '.join(sorted(known)) or 'none'})")
