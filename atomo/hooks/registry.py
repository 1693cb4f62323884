"""What the decorators of ``atomo.hooks`` record, and the ``HookSet`` a load collects.

``@projection`` (custom projections: a table maintained from events) is declared here too; what runs it
(after every append, and in ``atomo projections rebuild``) is described in ``atomo.hooks.projections``.

A decorator attaches its registrations to the function (``__atomo_hooks__``) and returns the function
unchanged; nothing is recorded in a global. The loader (``atomo.hooks.loader``) imports the project's hook
modules and collects the decorated functions it finds in them into a new ``HookSet``, so two servers in
one process (or two loads by ``atomo dev``) never share hooks.
"""

from __future__ import annotations

import inspect
import re
import sqlite3
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from atomo.errors import ConfigError
from atomo.schema.patterns import literal_prefix, pattern_regex, valid_pattern
from atomo.storage.platform import PLATFORM_TABLES

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


# -- custom projections ------------------------------------------------------------------------
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# platform tables (storage), the jobs subsystem's, and the prefixes SQLite and Atomo keep for themselves
RESERVED_TABLES = frozenset(t.lower() for t in (*PLATFORM_TABLES, "jobs", "workers"))
RESERVED_PREFIXES = ("_atomo_", "sqlite_")
_CREATE_TABLE = re.compile(r"\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([\"`\[]?)([A-Za-z0-9_]+)[\"`\]]?\s*\(",
                           re.IGNORECASE)
_CREATE_INDEX = re.compile(r"\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?[\"`\[]?[A-Za-z0-9_]+[\"`\]]?"
                           r"\s+ON\s+[\"`\[]?([A-Za-z0-9_]+)[\"`\]]?\s*\(", re.IGNORECASE)
# what a projection function may do through ``db``: read and write its own table, nothing else
_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)})
_TABLE_ACTIONS = frozenset({sqlite3.SQLITE_READ, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE})
_TABLE_FUNCTIONS = frozenset({"json_each", "json_tree"})


def split_sql(text: str) -> list[str]:
    """The statements of ``text`` (``;``-separated; a ``;`` inside a string literal does not split)."""
    statements, buffer = [], ""
    for piece in text.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip().rstrip(";").strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        statements.append(buffer.strip().rstrip(";").strip())
    return statements


def check_projection_schema(table: str, schema: str) -> tuple[str, ...]:
    """The statements of a projection's ``schema``: one ``CREATE TABLE <table> (...)`` and ``CREATE [UNIQUE]
    INDEX ... ON <table> (...)`` statements, unqualified; tried on an empty in-memory database. ValueError."""
    if not isinstance(schema, str) or not schema.strip():
        raise ValueError("schema must be the CREATE TABLE statement of the table")
    statements = tuple(split_sql(schema))
    tables = [m.group(2) for m in map(_CREATE_TABLE.match, statements) if m]
    if [t.lower() for t in tables] != [table.lower()]:
        raise ValueError(f"schema must hold one CREATE TABLE {table} (...) statement (found: "
                         f"{', '.join(tables) or 'none'})")
    for statement in statements:
        if _CREATE_TABLE.match(statement):
            continue
        index = _CREATE_INDEX.match(statement)
        if index is None or index.group(1).lower() != table.lower():
            raise ValueError(f"schema may hold only CREATE TABLE {table} and CREATE INDEX ... ON {table} statements, "
                             f"not {statement.split(chr(10))[0][:80]!r}")
    conn = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            conn.execute(statement)
    except sqlite3.Error as exc:
        raise ValueError(f"schema: {exc}") from None
    finally:
        conn.close()
    return statements


@dataclass(frozen=True, eq=False)
class ProjectionHook:
    """``@projection``: ``fn(event, db)`` keeps ``table`` up to date from the events of the streams ``pattern``
    matches. ``statements``: the table's DDL (``schema`` split at ``;``)."""

    pattern: str
    table: str
    statements: tuple[str, ...]
    fn: Callable[..., Any]
    kind = "projection"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", pattern_regex(self.pattern))
        object.__setattr__(self, "prefix", literal_prefix(self.pattern))
        # statements PgProjectionDB found to reach this table only (at most CHECKED_MAX kept)
        object.__setattr__(self, "_checked", {})

    prefix: str = ""     # the pattern's literal start: events of other streams are never looked at

    @property
    def name(self) -> str:
        return hook_name(self.fn)

    @property
    def source(self) -> str:
        return source_of(self.fn)

    def describe(self) -> str:
        return f"projection {self.name} ({self.pattern!r} -> table {self.table}) at {self.source}"

    def matches(self, stream: str) -> bool:
        """Every stream the pattern matches (``{id}``: one segment without ``:``; a trailing ``*``: any rest)."""
        return stream.startswith(self.prefix) and self._regex.match(stream) is not None  # type: ignore[attr-defined]

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, database: str | None,
                   trigger: str | None) -> int:
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action in _TABLE_ACTIONS and arg1 is not None:
            if arg1.lower() == self.table.lower() and database in ("main", "temp", None):
                return sqlite3.SQLITE_OK
            if action == sqlite3.SQLITE_READ and arg1.lower() in _TABLE_FUNCTIONS:
                return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def apply(self, conn: sqlite3.Connection, event: StoredEvent) -> None:
        """Run ``fn(event, db)`` on ``conn`` with only this table reachable; any failure is a ``ProjectionFailed``
        naming the projection and the event (the write unit fails, INTERNAL_ERROR). On SQLite an authorizer keeps
        the function to its table; on PostgreSQL ``PgProjectionDB`` checks each statement's plan."""
        sqlite = isinstance(conn, sqlite3.Connection)
        if sqlite:
            conn.set_authorizer(self._authorize)
        try:
            checked = self._checked  # type: ignore[attr-defined]
            self.fn(event, ProjectionDB(conn, self.table) if sqlite else PgProjectionDB(conn, self.table, checked))
        except Exception as exc:
            hint = (f" (a projection may read and write only its table {self.table})"
                    if "not authorized" in str(exc) or "prohibited" in str(exc) else "")
            raise ProjectionFailed(f"the {self.describe()} failed on event {event.position} ({event.type} on "
                                   f"{event.stream}): {type(exc).__name__}: {exc}{hint}") from exc
        finally:
            if sqlite:
                conn.set_authorizer(None)


class ProjectionFailed(RuntimeError):
    """A projection function raised: the write unit fails (logged by the writer, INTERNAL_ERROR to the caller)."""


class ProjectionDB:
    """The ``db`` of a projection function: ``execute`` and ``executemany`` of the write connection, on the
    projection's own table only (an SQLite authorizer refuses any other table, DDL, PRAGMA and transaction
    control: ``sqlite3.DatabaseError: not authorized``)."""

    __slots__ = ("_conn", "table")

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self._conn = conn
        self.table = table

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any]) -> sqlite3.Cursor:
        return self._conn.executemany(sql, parameters)


CHECKED_MAX = 256


class ProjectionRefused(Exception):
    """A statement of a projection function that reaches beyond its table (PostgreSQL's check)."""


def _relations(plan: Any) -> set[str]:
    """Every "Relation Name" in an ``EXPLAIN (FORMAT JSON)`` plan."""
    found: set[str] = set()
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("Relation Name")
            if isinstance(name, str):
                found.add(name.lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class PgProjectionDB(ProjectionDB):
    """``ProjectionDB`` on PostgreSQL, which has no authorizer: each distinct statement is planned first (``EXPLAIN``,
    nothing runs) and refused unless it is one statement whose plan touches no table but the projection's;
    DDL, transaction control and anything else ``EXPLAIN`` cannot plan are refused with it. The plan does not
    see inside functions a statement calls: this keeps projections rebuildable, it is not a sandbox (hooks are
    the project's own code)."""

    __slots__ = ("_checked",)

    def __init__(self, conn: sqlite3.Connection, table: str, checked: dict[str, bool]) -> None:
        super().__init__(conn, table)
        self._checked = checked

    def _check(self, sql: str, parameters: Any) -> None:
        if sql in self._checked:
            return
        if len(split_sql(sql)) != 1:
            raise ProjectionRefused("not authorized: one statement at a time")
        head = sql.lstrip()[:8].upper()
        if not head.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES")):
            raise ProjectionRefused(f"not authorized: {sql.split(maxsplit=1)[0] if sql.strip() else 'empty'} statement")
        plan = self._conn.execute("EXPLAIN (FORMAT JSON) " + sql, parameters).fetchone()[0]
        others = _relations(plan) - {self.table.lower()}
        if others:
            raise ProjectionRefused(f"not authorized: the statement uses {', '.join(sorted(others))}")
        if len(self._checked) >= CHECKED_MAX:
            self._checked.clear()
        self._checked[sql] = True

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        self._check(sql, parameters)
        return self._conn.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any]) -> sqlite3.Cursor:
        rows = list(parameters)
        if rows:
            self._check(sql, rows[0])
        return self._conn.executemany(sql, rows)


def check_projection_table(table: Any) -> str:
    if not isinstance(table, str) or not IDENTIFIER.match(table):
        raise ValueError(f"table must be a plain identifier (letters, digits and _), not {table!r}")
    low = table.lower()
    if low in RESERVED_TABLES or low.startswith(RESERVED_PREFIXES):
        raise ValueError(f"table {table!r} is reserved for the platform")
    return table


def projection(pattern: str, *, table: str, schema: str) -> Callable[[F], F]:
    """``@projection("order-*", table="order_totals", schema="CREATE TABLE order_totals (...)")``: a custom
    projection. ``def fn(event, db)`` (synchronous) runs for every event appended to a stream ``pattern``
    matches, inside the write transaction of the append, and again for each of them, in position order, when
    ``atomo projections rebuild`` rebuilds ``table``. See ``atomo.hooks.projections``."""
    if not isinstance(pattern, str) or not pattern or not valid_pattern(pattern):
        raise ValueError(f"@projection({pattern!r}): the pattern is literal text, {{id}} segments and an optional "
                         "trailing *, e.g. \"order-*\" or \"Deal/{id}\"")
    try:
        check_projection_table(table)
        statements = check_projection_schema(table, schema)
    except ValueError as exc:
        raise ValueError(f"@projection({pattern!r}, table={table!r}): {exc}") from None

    def register(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            raise ValueError(f"@projection({pattern!r}): {hook_name(fn)} must be a plain (def) function: it runs "
                             "inside the write transaction")
        _attach(fn, [ProjectionHook(pattern, table, statements, fn)])
        return fn
    return register


Registration = ModelHook | FieldHook | ProjectionHook


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
    """The hooks of one load: before/after hooks per (model, operation), custom Query and Mutation fields,
    custom projections (by table)."""

    def __init__(self, objects: Iterable[Any] = ()) -> None:
        self.before: dict[tuple[str, str], tuple[ModelHook, ...]] = {}
        self.after: dict[tuple[str, str], tuple[ModelHook, ...]] = {}
        self.queries: dict[str, FieldHook] = {}
        self.mutations: dict[str, FieldHook] = {}
        self.projections: dict[str, ProjectionHook] = {}    # by table name, lower case
        self.modules: list[str] = []      # names of the modules this set was collected from
        self._seen: set[int] = set()
        self.extend(objects)

    def __bool__(self) -> bool:
        return bool(self.before or self.after or self.queries or self.mutations or self.projections)

    def __len__(self) -> int:
        return (sum(map(len, self.before.values())) + sum(map(len, self.after.values())) + len(self.queries)
                + len(self.mutations) + len(self.projections))

    def __repr__(self) -> str:
        return (f"HookSet(before={sum(map(len, self.before.values()))}, after={sum(map(len, self.after.values()))}, "
                f"queries={sorted(self.queries)}, mutations={sorted(self.mutations)}, "
                f"projections={sorted(p.table for p in self.projections.values())})")

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
        if isinstance(registration, ProjectionHook):
            other = self.projections.get(registration.table.lower())
            if other is not None:
                raise ConfigError(f"{registration.source}: @projection table {registration.table!r} is already "
                                  f"maintained by the {other.describe()}")
            self.projections[registration.table.lower()] = registration
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
        for custom in other.projections.values():
            self.add(custom)
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
                                "@before, @after, @query, @mutation or @projection")

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

    def check_tables(self, model_tables: Iterable[str]) -> None:
        """Refuse a projection table that is a model's table."""
        tables = {t.lower() for t in model_tables}
        for custom in self.projections.values():
            if custom.table.lower() in tables:
                raise ConfigError(f"{custom.source}: @projection({custom.pattern!r}): table {custom.table!r} is the "
                                  "table of a model of the schema")
