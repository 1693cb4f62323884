"""The GraphQL engine: tartiflette behind one small interface (architecture: keep it swappable).

Per query text, parsing, validation and the limit analysis run once and are cached (``_Prepared``).
``execute`` then coerces the variables, runs the selected operation with tartiflette's field
resolution (root fields driven here, without tasks) and
turns every error into the platform's wire shape (graphql chapter §9). A document that does not
parse, fails validation, exceeds a limit, names no runnable operation or whose variables do not
coerce is a *document error*: nothing runs and the body has no ``data`` key. Before the C parser
sees a document, ``prescan.check_document`` bounds its tokens, bracket nesting and fragments.
"""
# ruff: noqa: E402  (tartiflette is imported after import_tartiflette(), see atomo.graphql)

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atomo.graphql import import_tartiflette

import_tartiflette()

from tartiflette import Engine, Resolver, Scalar
from tartiflette.coercers.common import Path
from tartiflette.execution.collect import collect_executable_variable_definitions, collect_fields
from tartiflette.execution.context import ExecutionContext
from tartiflette.execution.helpers import get_field_definition
from tartiflette.language.ast import FragmentDefinitionNode, OperationDefinitionNode
from tartiflette.language.parsers.libgraphqlparser import parse_to_document
from tartiflette.schema.registry import SchemaRegistry
from tartiflette.utils.errors import to_graphql_error
from tartiflette.utils.values import is_invalid_value

from atomo.auth.principal import Caller
from atomo.config import Settings
from atomo.data.service import DataService
from atomo.graphql.limits import (
    OperationInfo,
    UnsupportedText,
    analyze,
    decode_unicode_escapes,
    error_message_and_locations,
    limit_errors,
    select_operation,
    suggest_names,
)
from atomo.graphql.prescan import check_document, nesting_bound
from atomo.graphql.resolvers import ROOT_RESOLVERS, RequestContext, default_resolver, field_error, format_field_error
from atomo.graphql.resolvers import Resolver as ResolverFn
from atomo.graphql.root_plan import FieldPlan, arguments_of, plan_root, plan_variables, take_variables
from atomo.graphql.row_budget import RowBudget
from atomo.graphql.scalars import (
    CURRENT_VARIABLES,
    DateTimeScalar,
    JSONObjectScalar,
    JSONScalar,
    install_fast_outputs,
    sequential_arguments_coercer,
)
from atomo.graphql.sdl import full_sdl
from atomo.hooks.registry import CURRENT_REQUEST_ID

CACHE_SIZE = 512                    # documents kept, least recently used evicted first
CACHE_MAX_QUERY_CHARS = 16 * 1024   # longer documents are parsed every time
CACHE_MAX_TOTAL_CHARS = 1024 * 1024  # bounds the memory of cached ASTs
MAX_DOCUMENT_ERRORS = 100           # validation errors reported per document (graphql-js's maxErrors)
_BUILDS = itertools.count(1)
_UNPLANNED = object()


@dataclass
class ExecutionOutcome:
    body: dict[str, Any]
    document_error: bool
    all_unauthenticated: bool
    operation_type: str | None
    operation_name: str | None


@dataclass(frozen=True)
class SchemaExtension:
    """An addition from another chapter: SDL (``extend type Mutation { ... }``) and its resolvers."""

    sdl: str = ""
    resolvers: Mapping[str, ResolverFn] = field(default_factory=dict)


@dataclass
class _Prepared:
    document: Any                               # tartiflette DocumentNode, None when it did not parse
    errors: list[dict[str, Any]]                # document errors (parse/validation), wire shape
    operations: dict[str | None, OperationInfo]
    fragments: dict[str, Any] = field(default_factory=dict)
    variables: dict[str | None, list[Any]] = field(default_factory=dict)  # executable definitions per operation
    operation_nodes: dict[str | None, Any] = field(default_factory=dict)
    plans: dict[str | None, Any] = field(default_factory=dict)  # root plans per operation (None: tartiflette)
    variable_plans: dict[str | None, Any] = field(default_factory=dict)


def document_error_body(messages: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """``{"errors": [...]}`` for a document error (no data): code VALIDATION_ERROR. Each entry is
    ``(message, locations)`` or ``(message, locations, details)``; ``details`` (and ``fields``, its JSON
    string) appear only when there are some: a document error is about no input field."""
    errors = []
    for message, locations, *rest in messages:
        error: dict[str, Any] = {"message": message}
        if locations:
            error["locations"] = locations
        extensions: dict[str, Any] = {"code": "VALIDATION_ERROR"}
        details = rest[0] if rest else None
        if details:
            extensions["details"] = details
            extensions["fields"] = json.dumps(details, separators=(",", ":"), ensure_ascii=False, default=str)
        error["extensions"] = extensions
        errors.append(error)
    return {"errors": errors}


_TARTIFLETTE_EXTRAS = {"types": ("Date", "DateTime", "Time"), "directives": ("nonIntrospectable",)}


def _hide_unused_builtins(schema: Any, sdl: str) -> None:
    """tartiflette adds Date/DateTime/Time scalars and a @nonIntrospectable directive to every schema;
    drop those our SDL does not use so introspection shows exactly the SDL."""
    for name in _TARTIFLETTE_EXTRAS["types"]:
        if not re.search(rf"\b{name}\b", sdl):
            schema.type_definitions.pop(name, None)
            schema.types = [t for t in schema.types if t.name != name]
    for name in _TARTIFLETTE_EXTRAS["directives"]:
        if f"@{name}" not in sdl:
            schema.directives = [d for d in schema.directives if d.name != name]


class GraphQLEngine:
    """One cooked schema; build with ``await GraphQLEngine.build(schema, settings)``."""

    def __init__(self, engine: Engine, sdl: str, settings: Settings, schema: Any,
                 resolvers: dict[str, ResolverFn] | None = None) -> None:
        self._engine = engine
        self._resolvers = resolvers or {}
        self._schema: Any = engine._schema  # the baked tartiflette schema
        self.sdl = sdl
        self.schema = schema
        self.settings = settings
        self._cache: OrderedDict[str, _Prepared] = OrderedDict()
        self._cached_chars = 0
        self._max_nesting = nesting_bound(settings.graphql_max_depth)

    @classmethod
    async def build(cls, schema: Any, settings: Settings, *,
                    extensions: Iterable[SchemaExtension] = ()) -> GraphQLEngine:
        extensions = list(extensions)
        sdl = full_sdl(ext.sdl for ext in extensions)
        name = f"atomo-{hashlib.sha256(sdl.encode()).hexdigest()[:16]}-{next(_BUILDS)}"
        resolvers: dict[str, ResolverFn] = dict(ROOT_RESOLVERS)
        for ext in extensions:
            resolvers.update(ext.resolvers)
        Scalar("JSON", schema_name=name)(JSONScalar)
        Scalar("JSONObject", schema_name=name)(JSONObjectScalar)
        if re.search(r"^scalar DateTime$", sdl, re.M):
            Scalar("DateTime", schema_name=name)(DateTimeScalar)
        for path, fn in resolvers.items():
            Resolver(path, schema_name=name, parent_concurrently=False, list_concurrently=False)(fn)
        engine = Engine(sdl, schema_name=name)
        try:
            await engine.cook(custom_default_resolver=default_resolver, coerce_list_concurrently=False,
                              coerce_parent_concurrently=False,
                              custom_default_arguments_coercer=sequential_arguments_coercer)
            install_fast_outputs(engine._schema)
            _hide_unused_builtins(engine._schema, sdl)
        finally:
            SchemaRegistry._schemas.pop(name, None)  # the baked schema keeps what it needs
        return cls(engine, sdl, settings, schema, resolvers)

    # -- documents -----------------------------------------------------------------------------
    def _prepare(self, query: str) -> _Prepared:
        cached = self._cache.get(query)
        if cached is not None:
            self._cache.move_to_end(query)
            return cached
        prepared = self._parse(query)
        if len(query) <= CACHE_MAX_QUERY_CHARS:
            self._cache[query] = prepared
            self._cached_chars += len(query)
            while len(self._cache) > CACHE_SIZE or self._cached_chars > CACHE_MAX_TOTAL_CHARS:
                evicted, _ = self._cache.popitem(last=False)
                self._cached_chars -= len(evicted)
        return prepared

    def _parse(self, query: str) -> _Prepared:
        too_big = check_document(query, max_tokens=self.settings.graphql_max_tokens, max_nesting=self._max_nesting)
        if too_big is not None:  # checked before the C parser, which a deep document crashes (prescan.py)
            return _Prepared(None, document_error_body([(too_big, None)])["errors"], {})
        try:
            if "\x00" in query:  # libgraphqlparser reads a C string: it would stop there
                raise UnsupportedText("Syntax Error: NUL characters are not allowed in a document")
            document = parse_to_document(decode_unicode_escapes(query) if "\\u" in query else query, self._schema)
        except UnsupportedText as exc:
            return _Prepared(None, document_error_body([(str(exc), None)])["errors"], {})
        except Exception as exc:  # syntax errors arrive as TartifletteError; deep nesting as RecursionError
            message, locations = (error_message_and_locations(exc) if hasattr(exc, "coerce_value")
                                  else ("Syntax Error: the document could not be parsed", None))
            return _Prepared(None, document_error_body([(message, locations)])["errors"], {})
        try:
            operations = analyze(document)
        except RecursionError:  # pragma: no cover - the pre-scan bounds nesting and fragments well below this
            return _Prepared(None, document_error_body([("Document is nested too deeply", None)])["errors"], {})
        errors = document.validators.errors
        body = (document_error_body(suggest_names([error_message_and_locations(e) for e in errors[:MAX_DOCUMENT_ERRORS]],
                                                  self._schema))["errors"] if errors else [])
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        return _Prepared(document, body, operations, fragments)

    def operation_type(self, query: str, operation_name: str | None) -> str | None:
        """``query``/``mutation``/``subscription`` of the operation that would run, or None."""
        info = select_operation(self._prepare(query).operations, operation_name)
        return info.type if info is not None else None

    def check(self, query: str, operation_name: str | None) -> tuple[OperationInfo | None, dict[str, Any] | None]:
        """The selected operation and, when it may not run, the document-error body (also for ws)."""
        _, info, problem = self._check(query, operation_name)
        return info, problem

    def _check(self, query: str, operation_name: str | None) -> tuple[_Prepared, OperationInfo | None,
                                                                      dict[str, Any] | None]:
        prepared = self._prepare(query)
        info = select_operation(prepared.operations, operation_name)
        if prepared.errors:
            return prepared, info, {"errors": prepared.errors}
        if info is None:
            message = (f"Unknown operation named '{operation_name}'" if operation_name
                       else "Must provide operation name if query contains multiple operations")
            return prepared, None, document_error_body([(message, None)])
        s = self.settings
        problems = limit_errors(info, max_depth=s.graphql_max_depth, max_complexity=s.graphql_max_complexity,
                                introspection=s.graphql_introspection)
        if problems:
            location = [info.location] if info.location else None
            return prepared, info, document_error_body((p, location) for p in problems)
        return prepared, info, None

    # -- execution -----------------------------------------------------------------------------
    async def execute(self, query: str, variables: dict[str, Any] | None, operation_name: str | None, *,
                      service: DataService, caller: Caller, request_id: str | None = None) -> ExecutionOutcome:
        token = CURRENT_REQUEST_ID.set(request_id)     # the request id of hooks (atomo.hooks) run by this request
        try:
            return await self._execute(query, variables, operation_name, service=service, caller=caller,
                                       request_id=request_id)
        finally:
            CURRENT_REQUEST_ID.reset(token)

    async def _execute(self, query: str, variables: dict[str, Any] | None, operation_name: str | None, *,
                       service: DataService, caller: Caller, request_id: str | None) -> ExecutionOutcome:
        prepared, info, problem = self._check(query, operation_name)
        op_type = info.type if info is not None else None
        op_name = info.name if info is not None else operation_name
        if problem is None and op_type == "subscription":
            problem = document_error_body([("Subscriptions are served over the WebSocket endpoint /graphql/ws",
                                            [info.location] if info and info.location else None)])
        if problem is not None or info is None:
            return ExecutionOutcome(problem or {"errors": []}, True, False, op_type, op_name)
        ctx = RequestContext(service, caller, request_id, RowBudget(self.settings.graphql_max_rows))
        operation, values, errors = await self._coerce_variables(prepared, info, ctx, variables)
        if errors:
            return ExecutionOutcome(document_error_body(error_message_and_locations(e) for e in errors), True, False,
                                    op_type, op_name)
        plan = prepared.plans.get(info.name, _UNPLANNED)
        if plan is _UNPLANNED:
            plan = prepared.plans[info.name] = plan_root(self._schema, operation, self._resolvers)
        if plan is not None:
            data, executed, field_errors = await self._run_plan(plan, values, ctx, serial=op_type == "mutation")
        else:
            execution_context = ExecutionContext(self._schema, prepared.fragments, operation, ctx, None, values)
            token = CURRENT_VARIABLES.set(values)
            try:
                data, executed = await self._run_operation(execution_context)
            finally:
                CURRENT_VARIABLES.reset(token)
            field_errors = [format_field_error(e, request_id) for e in execution_context.errors]
        body: dict[str, Any] = {"data": data}
        all_unauthenticated = False
        if field_errors:
            body["errors"] = field_errors
            unauthenticated = {e["path"][0] for e in field_errors if len(e.get("path") or ()) == 1
                               and e.get("extensions", {}).get("code") == "UNAUTHENTICATED"}
            all_unauthenticated = bool(executed) and unauthenticated >= set(executed)
        return ExecutionOutcome(body, False, all_unauthenticated, op_type, op_name)

    async def _run_plan(self, plan: tuple[FieldPlan, ...], variables: dict[str, Any], ctx: RequestContext, *,
                        serial: bool) -> tuple[dict[str, Any] | None, list[str], list[dict[str, Any]]]:
        """Execute planned root fields with the semantics of ``_run_operation``: a failing non-null field
        nulls ``data`` (and stops a mutation), a failing nullable one is null with its error."""
        data: dict[str, Any] | None = {}
        executed: list[str] = []
        errors: list[dict[str, Any]] = []
        for planned in plan:
            executed.append(planned.key)
            try:
                value = planned.check(await planned.resolver(None, arguments_of(planned, variables), ctx, None))
            except Exception as exc:
                errors.append(field_error(exc, [planned.location] if planned.location else None, [planned.key],
                                          ctx.request_id))
                if planned.non_null:
                    data = None
                    if serial:
                        break
                elif data is not None:
                    data[planned.key] = None
                continue
            if data is not None:
                data[planned.key] = value
        return data, executed, errors

    async def _execution_context(self, prepared: _Prepared, info: OperationInfo, ctx: RequestContext,
                                 raw: dict[str, Any] | None) -> tuple[Any, list[Any]]:
        """tartiflette's ``build_execution_context`` with the variable definitions cached per document
        and the variables coerced one after another instead of gathered as tasks."""
        operation, values, errors = await self._coerce_variables(prepared, info, ctx, raw)
        if errors:
            return None, errors
        return ExecutionContext(self._schema, prepared.fragments, operation, ctx, None, values), []

    async def _coerce_variables(self, prepared: _Prepared, info: OperationInfo, ctx: RequestContext,
                                raw: dict[str, Any] | None) -> tuple[Any, dict[str, Any], list[Any]]:
        """The operation node, its coerced variable values and the coercion errors."""
        operation = prepared.operation_nodes.get(info.name)
        if operation is None:
            operation = prepared.operation_nodes[info.name] = next(
                d for d in prepared.document.definitions if isinstance(d, OperationDefinitionNode)
                and (d.name.value if d.name else None) == info.name)
        quick = prepared.variable_plans.get(info.name, _UNPLANNED)
        if quick is _UNPLANNED:
            quick = prepared.variable_plans[info.name] = plan_variables(operation, self._schema)
        if quick is not None:
            taken = take_variables(quick, raw or {})
            if taken is not None:
                return operation, taken, []
        definitions = prepared.variables.get(info.name)
        if definitions is None:
            definitions = prepared.variables[info.name] = collect_executable_variable_definitions(
                self._schema, operation)
        values: dict[str, Any] = {}
        errors: list[Any] = []
        for definition in definitions:
            try:
                result = await definition.coercer(raw or {}, ctx)
            except Exception as exc:  # pragma: no cover - tartiflette reports coercion problems as results
                errors.append(to_graphql_error(exc))
                continue
            if is_invalid_value(result):
                continue
            value, problems = result
            if problems:
                errors.extend(problems)
            else:
                values[definition.name] = value
        return operation, values, errors

    async def _run_operation(self, execution_context: Any) -> tuple[dict[str, Any] | None, list[str]]:
        """Execute the root fields one after another; returns the data and the keys that ran.

        A query runs every root field even after a non-null one failed (``data`` is then null, as
        with tartiflette's concurrent execution); a mutation stops at the first failing field, as
        serial execution does in graphql-js. Root fields are not gathered as tasks:
        the data service reads are mostly short and on the event loop, and tasks cost more."""
        operation = execution_context.operation
        root_type = self._schema.get_operation_root_type(operation)
        fields = await collect_fields(execution_context, root_type, operation.selection_set)
        serial = operation.operation_type == "mutation"
        data: dict[str, Any] | None = {}
        executed: list[str] = []
        for key, nodes in fields.items():
            definition = get_field_definition(self._schema, root_type, nodes[0].name.value)
            if definition is None:
                continue
            executed.append(key)
            try:
                value = await definition.resolver(execution_context, root_type, None, nodes, Path(None, key), False)
            except Exception as exc:  # a non-null field failed: the error nulls data
                execution_context.add_error(exc)
                data = None
                if serial:
                    break
                continue
            if data is not None and not is_invalid_value(value):
                data[key] = value
        return data, executed
