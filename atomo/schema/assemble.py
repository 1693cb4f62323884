"""Shared last step of both syntaxes: mutable drafts -> the immutable `Schema`.

Both syntax readers only collect `*Draft` objects; everything that must behave the same whatever the
syntax (name checks, implied `id`, rule order, indexes, checks, reference resolution, access owner
fields, action inputs, channels) happens here once.
"""

from __future__ import annotations

import json
import re
from typing import Any

from atomo.schema.annotations import check_name, column_names, compile_expr, string_arg
from atomo.schema.drafts import (
    ActionDraft,
    ChannelDraft,
    Drafts,
    FieldDraft,
    ModelDraft,
    RelationDraft,
    StreamDraft,
    find,
)
from atomo.schema.graphql_names import GRAPHQL_NAME, name_clashes
from atomo.schema.model import (
    NO_DEFAULT,
    OPERATIONS,
    RESERVED_TABLES,
    SYSTEM_COLUMNS,
    AccessRule,
    Action,
    ActionBinding,
    Alternative,
    ChannelRule,
    Check,
    CompositeIndex,
    Condition,
    Field,
    Model,
    Relationship,
    Rule,
    Schema,
    StreamRule,
    camel_case,
    snake_case,
)
from atomo.schema.patterns import valid_pattern
from atomo.schema.rules import dedupe
from atomo.schema.suggest import hint
from atomo.schema.tokenizer import Pos, Sink

IMPLIED_ID_CODE = "implied-id"      # warning: a model listed in schema.models without an `id` field
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
ACTION_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
USER_COLUMN_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
SYSTEM_FIELD_COLUMNS = frozenset({"deleted_at", "tenant_id", "_version"})
TIMESTAMP_COLUMNS = frozenset({"created_at", "updated_at"})
BUILTIN_USER_COLUMNS = frozenset({"id", "email", "password_hash", "first_name", "last_name", "role",
                                  "is_active", "tenant_id", "last_login_at", "created_at", "updated_at"})
SQL_TYPES = frozenset({"TEXT", "INTEGER", "REAL", "NUMERIC", "BLOB"})
INPUT_TYPES = frozenset({"string", "number", "boolean", "object", "array", "any"})
RELATIONSHIP_TYPES = ("belongsTo", "hasMany", "hasOne")
UI_SYSTEM_KEYS = frozenset({"id", "createdAt", "updatedAt", "deletedAt", "tenantId", "_version"})
_TEXTUAL = frozenset({"text", "email", "url", "relation", "file", "datetime", "select"})


class _Finisher:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.names: dict[str, ModelDraft] = {}
        self.tables: dict[str, ModelDraft] = {}
        self.refused_tables: set[str] = set()   # models whose table name is an error

    def model_for_table(self, table: str) -> ModelDraft | None:
        return self.tables.get(table.lower()) or self.names.get(table)

    # -- models -------------------------------------------------------------------------------------
    def register(self, m: ModelDraft) -> bool:
        err = self.sink.error
        if not NAME_RE.match(m.name):
            err(m.at, "invalid-name", f"invalid model name '{m.name}'")
            return False
        if m.name in self.names:
            err(m.at, "duplicate", f"duplicate model '{m.name}'")
            return False
        m.table = m.table if m.table is not None else snake_case(m.name) + "s"
        low = m.table.lower()
        if low.startswith(("sqlite_", "_atomo")) or low in RESERVED_TABLES:
            err(m.table_at or m.at, "invalid-name", f"table name '{m.table}' is reserved")
            self.refused_tables.add(m.name)
        elif not NAME_RE.match(m.table):
            err(m.table_at or m.at, "invalid-name", f"invalid table name '{m.table}'")
            self.refused_tables.add(m.name)
        if low in self.tables:
            err(m.table_at or m.at, "duplicate",
                f"table '{m.table}' is used by both {self.tables[low].name} and {m.name}")
            return False
        self.names[m.name], self.tables[low] = m, m
        return True

    def check_fields(self, m: ModelDraft) -> None:
        err, kept, columns = self.sink.error, [], {}
        for f in m.fields:
            f.column = column = snake_case(f.name)
            if not NAME_RE.match(f.name):
                why = "names starting with '_' are reserved" if f.name.startswith("_") else "invalid field name"
                err(f.at, "invalid-name", f"{why}: '{f.name}'")
            elif column in SYSTEM_FIELD_COLUMNS:
                err(f.at, "invalid-name", f"'{f.name}' is a system field and cannot be declared")
            elif f.name.upper() in ("AND", "OR", "NOT"):
                err(f.at, "invalid-name", f"'{f.name}' is reserved (where combinator)")
            elif column in columns:
                other = columns[column].name
                err(f.at, "duplicate", f"duplicate field '{f.name}' in {m.name}" if other == f.name else
                    f"fields '{other}' and '{f.name}' of {m.name} share the column '{column}'")
            else:
                if column == "id" and f.kind != "text":
                    err(f.at, "invalid-name", "the primary key 'id' must be a string")
                elif f.primary and column != "id":
                    err(f.at, "invalid-name", f"only the field 'id' can be the primary key, not '{f.name}'")
                elif column in TIMESTAMP_COLUMNS and f.kind != "datetime":
                    err(f.at, "invalid-name", f"'{f.name}' is managed by the platform and must be a date-time")
                if camel_case(column) != f.name:
                    self.sink.warn(f.at, "key-rename",
                                   f"field '{f.name}' of {m.name} appears as '{camel_case(column)}' in records")
                columns[column] = f
                kept.append(f)
        m.fields = kept

    def relationships(self, m: ModelDraft) -> tuple[Relationship, ...]:
        drafts: list[RelationDraft] = []
        for f in m.fields:
            if f.target_table is not None:
                target = self.model_for_table(f.target_table)
                if target is None:
                    self.sink.error(f.target_at or f.at, "reference",
                                    f"relation('{f.target_table}') names no model table")
                    continue
                name = f.name[:-2] if f.name.endswith("Id") and len(f.name) > 2 else (
                    f.name[:-3] if f.name.endswith("_id") and len(f.name) > 3 else f.name)
                drafts.append(RelationDraft(name, "belongsTo", target.name, f.name, f.at))
        out: dict[str, Relationship] = {}
        for r in drafts + m.relationships:
            target = self.names.get(r.model)
            if r.name in out:
                self.sink.error(r.at, "duplicate", f"duplicate relationship '{r.name}' in {m.name}")
            elif r.type not in RELATIONSHIP_TYPES:
                self.sink.error(r.at, "syntax",
                                f"relationship type must be belongsTo, hasMany or hasOne, not '{r.type}'")
            elif target is None:
                self.sink.error(r.at, "reference", hint(f"relationship '{r.name}' of {m.name} names unknown model "
                                                        f"'{r.model}'", r.model, self.names))
            else:
                owner = m if r.type == "belongsTo" else target
                fk = find(owner.fields, r.foreign_key)
                if fk is None:
                    self.sink.error(r.at, "reference", hint(f"foreign key '{r.foreign_key}' is not a field of {owner.name}",
                                                            r.foreign_key, [f.name for f in owner.fields]))
                    continue
                if r.type == "belongsTo":
                    fk.target = target.name
                out[r.name] = Relationship(r.name, r.type, target.name, camel_case(snake_case(fk.name)))
        return tuple(out.values())

    def check_default(self, f: FieldDraft) -> None:
        at, v = f.default_at or f.at, f.default
        if (f.default_now or f.auto_update) and f.kind != "datetime":
            self.sink.error(at, "invalid-rule", f"defaultNow()/autoUpdate() need a datetime field, not '{f.name}'")
        if v is NO_DEFAULT:
            return
        if f.options is not None and v not in f.options:
            problem = f"default {json.dumps(v)} of '{f.name}' is not one of: {','.join(f.options)}"
        elif v is None:
            problem = f"default null is not allowed for '{f.name}' (make the field optional instead)"
        else:
            fits = {"number": isinstance(v, (int, float)) and not isinstance(v, bool),
                    "boolean": isinstance(v, bool), "array": isinstance(v, list), "blocks": isinstance(v, list),
                    "json": True}.get(f.kind, isinstance(v, str) and f.kind in _TEXTUAL)
            problem = "" if fits else f"default {json.dumps(v)} does not fit the {f.kind} field '{f.name}'"
        if problem:
            self.sink.error(at, "invalid-rule", problem)
            f.default = NO_DEFAULT

    def field(self, f: FieldDraft, unique_cols: set[str]) -> Field:
        self.check_default(f)
        column = f.column
        primary = column == "id"
        system = primary or column in TIMESTAMP_COLUMNS
        has_default = f.default is not NO_DEFAULT or f.default_now
        rules = [Rule("required")] if not f.optional and not has_default and not system else []
        rules += f.rules
        rules += [Rule(k) for k in ("email", "url") if f.kind == k]
        if f.options is not None:
            rules.append(Rule("in", f.options))
        return Field(f.name, column, camel_case(column), f.kind, optional=f.optional and not primary,
                     default=f.default, default_now=f.default_now, auto_update=f.auto_update,
                     unique=primary or f.unique or f.name == "email" or column in unique_cols,
                     index=not primary and (f.index or f.target is not None), primary=primary, options=f.options,
                     target=f.target, rules=tuple(dedupe(rules)), trim=f.trim, lowercase=f.lowercase,
                     item_type=f.item_type, line=f.at.line, col=f.at.col, doc=f.doc)

    def model(self, m: ModelDraft) -> Model:
        relationships = self.relationships(m)
        fields = m.fields

        def resolve(name: str) -> str | None:
            f = find(fields, name)
            if f is not None:
                return f.column
            if name == "id":
                return "id"
            return SYSTEM_COLUMNS.get(name) or (name if name in SYSTEM_COLUMNS.values() else None)

        self.check_ui(m, relationships)
        composite, checks = self.annotations(m, resolve)
        unique_cols = {ix.columns[0] for ix, _ in composite if ix.unique and len(ix.columns) == 1 and not ix.where}
        built = [self.field(f, unique_cols) for f in fields]
        ids = [f for f in built if f.primary]
        if not ids:
            if m.listed_without_id:
                self.sink.warn(m.at, IMPLIED_ID_CODE, f"model {m.name} has no 'id' field; 'id: string' is implied")
            ids = [Field("id", "id", "id", "text", optional=False, unique=True, primary=True,
                         line=m.at.line, col=m.at.col)]
        built = ids + [f for f in built if not f.primary]
        indexes: dict[str, CompositeIndex] = {}
        for f in built:
            for prefix, wanted in (("uq", f.unique and not f.primary), ("idx", f.index)):
                name = f"{prefix}_{m.table}_{f.column}"
                if wanted:
                    indexes.setdefault(name, CompositeIndex(name, (f.column,), prefix == "uq"))
        for ix, at in composite:
            if indexes.setdefault(ix.name, ix) != ix:
                self.sink.error(at, "duplicate", f"index {ix.name} is declared twice with different definitions")
        return Model(m.name, str(m.table), tuple(built), self.access(m), relationships, self.events(m),
                     m.ui, tuple(indexes.values()), tuple(checks), m.at.line, self.graphql_name(m), m.doc,
                     m.at.col)

    def graphql_name(self, m: ModelDraft) -> str | None:
        """The `graphqlName` option or `@@graphqlName('...')` annotation (one of them, once)."""
        name, at = m.graphql_name, m.graphql_name_at
        for a in m.annotations:
            if a.name != "graphqlName":
                continue
            value = string_arg(a, self.sink)
            if at is not None:
                self.sink.error(a.pos, "duplicate", f"the graphqlName of {m.name} is set twice")
            else:
                name, at = value, a.arg_pos or a.pos
        if name is not None and (not GRAPHQL_NAME.match(name) or name.startswith("__")):
            self.sink.error(at or m.at, "invalid-name", f"invalid graphqlName '{name}' of {m.name} (a GraphQL name: "
                                                        "letters, digits and _, not starting with a digit or __)")
            return None
        return name

    def check_ui(self, m: ModelDraft, relationships: tuple[Relationship, ...]) -> None:
        """`ui` lists naming no field: a warning (`ui` is served as written; Atomo does not act on it)."""
        related = {r.name: self.names.get(r.model) for r in relationships}

        def known(fields: list[FieldDraft], name: str) -> bool:
            return find(fields, name) is not None or name in UI_SYSTEM_KEYS

        for key, name, at in m.ui_names:
            head, _, rest = name.partition(".")
            target = related.get(head)
            if known(m.fields, name) or head in related and (not rest or target is None or known(target.fields, rest)):
                continue
            if target is not None and rest:
                message = hint(f"ui.{key}: '{rest}' of '{name}' is not a field of {target.name}", rest,
                               [f.name for f in target.fields])
            else:
                message = hint(f"ui.{key}: '{name}' is not a field of {m.name}", name,
                               [f.name for f in m.fields] + list(related))
            self.sink.warn(at, "ui-field", message)

    def annotations(self, m: ModelDraft, resolve: Any) -> tuple[list[tuple[CompositeIndex, Any]], list[Check]]:
        indexes: list[tuple[CompositeIndex, Any]] = []
        checks: dict[str, Check] = {}
        for a in m.annotations:
            if a.name == "graphqlName":
                continue
            if a.name == "check":
                if a.arg is None:
                    self.sink.error(a.pos, "syntax", "'@@check' needs an expression")
                    continue
                expr = compile_expr(a.arg, a.arg_pos or a.pos, resolve, self.sink)
                if expr is not None:
                    checks.setdefault(check_name(str(m.table), expr), Check(check_name(str(m.table), expr), expr))
                continue
            names = column_names(a, self.sink)
            if names is None:
                continue
            cols = []
            for name, at in names:
                col = resolve(name)
                if col is None:
                    self.sink.error(at, "reference", hint(f"'{name}' is not a field of {m.name}", name,
                                                          [f.name for f in m.fields]))
                cols.append(col)
            where = None
            if a.where is not None:
                where = compile_expr(a.where, a.where_pos or a.pos, resolve, self.sink, where=True)
            if None in cols or (a.where is not None and where is None):
                continue
            prefix = "uq" if a.name == "unique" else "idx"
            indexes.append((CompositeIndex(f"{prefix}_{m.table}_{'_'.join(cols)}", tuple(dedupe(cols)),
                                           a.name == "unique", where), a.pos))
        return indexes, list(checks.values())

    def key_of(self, m: ModelDraft, name: str, at: Any, what: str, system: bool = True) -> str | None:
        """The record key of a field of `m` named `name` (or a system key), else a `reference` error."""
        f = find(m.fields, name)
        if f is not None:
            return camel_case(f.column or snake_case(f.name))
        if name == "id" or system and name in ("createdAt", "updatedAt", "deletedAt", "tenantId"):
            return name
        self.sink.error(at, "reference", hint(f"{what} '{name}' is not a field of {m.name}", name,
                                              [f.name for f in m.fields]))
        return None

    def access(self, m: ModelDraft) -> dict[str, AccessRule | None]:
        out: dict[str, AccessRule | None] = {}
        for op in OPERATIONS:
            rule = m.access.get(op)
            if rule is not None:
                alts = []
                for a in rule.alternatives:
                    if a.kind == "owner":
                        key = self.key_of(m, str(a.value), m.access_at.get(op, m.at), "owner field", system=False)
                        a = Alternative("owner", key or a.value)
                    alts.append(a)
                rule = AccessRule(tuple(dedupe(alts)))
            out[op] = rule
        return out

    def events(self, m: ModelDraft) -> dict[str, tuple[ActionBinding, ...]]:
        out: dict[str, list[ActionBinding]] = {"created": [], "updated": [], "deleted": []}
        for b in m.bindings:
            conditions = []
            for c in b.conditions:
                changed = None if c.changed_any is None else tuple(
                    self.key_of(m, n, c.at, "condition field") or n for n in c.changed_any)
                equals = None if c.field_equals is None else tuple(
                    (self.key_of(m, n, c.at, "condition field") or n, v) for n, v in c.field_equals)
                if changed is not None or equals is not None:
                    conditions.append(Condition(changed, equals))
            out.setdefault(b.event, []).append(ActionBinding(b.action, tuple(conditions)))
        return {k: tuple(v) for k, v in out.items()}

    # -- actions, channels, users -------------------------------------------------------------------
    def action(self, a: ActionDraft) -> Action | None:
        err, source = self.sink.error, None
        if not ACTION_RE.match(a.name):
            err(a.at, "invalid-name", f"invalid action name '{a.name}'")
        if a.from_table is not None:
            target = self.model_for_table(a.from_table)
            if target is None:
                err(a.at, "reference", f"action '{a.name}': from('{a.from_table}') names no model table")
            source = target.name if target else None
        if a.pick_fields is not None:
            if a.from_table is None:
                err(a.at, "reference", f"action '{a.name}': input([...]) needs .from(<table>)")
            a.input = {"pick": {"model": source, "fields": a.pick_fields}}
        spec = a.input
        if isinstance(spec, dict) and set(spec) == {"pick"} and isinstance(spec["pick"], dict):
            name, names = spec["pick"].get("model"), spec["pick"].get("fields", [])
            target = self.names.get(name) if isinstance(name, str) else None
            if target is None and name is not None:
                err(a.at, "reference", f"action '{a.name}' picks from unknown model '{name}'")
            elif target is not None and isinstance(names, list):
                for n in names:
                    self.key_of(target, str(n), a.at, f"action '{a.name}': picked field")
                source = source or target.name
        elif isinstance(spec, dict) and set(spec) == {"object"} and isinstance(spec["object"], dict):
            for key, kind in spec["object"].items():
                if not (isinstance(kind, str) and kind.rstrip("?") in INPUT_TYPES):
                    word = kind.rstrip("?") if isinstance(kind, str) else ""
                    self.sink.error(a.at, "unknown-type", hint(
                        f"action '{a.name}': unknown input type {json.dumps(kind)} for '{key}'", word,
                        sorted(INPUT_TYPES), "types"))
        elif spec is not None:
            err(a.at, "syntax",
                f"action '{a.name}': input must be {{ pick: {{ model, fields }} }} or {{ object: {{...}} }}")
        return Action(a.name, spec, a.returns, source)

    def channel(self, c: ChannelDraft) -> ChannelRule | None:
        p = c.pattern
        if not p or p.startswith(("system:", "job:")):
            self.sink.error(c.at, "invalid-name",
                            f"channel pattern '{p}' is reserved" if p else "empty channel pattern")
        elif not valid_pattern(p):
            self.sink.error(c.at, "invalid-name",
                            f"invalid channel pattern '{p}' (use literal text, {{id}} and a trailing *)")
        record = None
        if c.record is not None:
            target = self.model_for_table(c.record)
            if target is None:
                self.sink.error(c.at, "reference", f"channel '{p}' names unknown model '{c.record}'")
            record = target.name if target else None
        return ChannelRule(p, record, c.subscribe, c.publish)

    def stream(self, d: StreamDraft, models: tuple[Model, ...]) -> StreamRule | None:
        p = d.pattern
        if not p or p.startswith("$") or len(p) > 200 or any(ord(ch) < 32 or ord(ch) == 127 for ch in p):
            self.sink.error(d.at, "invalid-name", f"stream pattern '{p}' is reserved ($...)" if p.startswith("$")
                            else "a stream pattern is 1 to 200 characters without control characters")
            return None
        if not valid_pattern(p):
            self.sink.error(d.at, "invalid-name", f"invalid stream pattern '{p}' (use literal text, {{id}} and a "
                                                  "trailing *)")
            return None
        head, sep, _ = p.partition("/")
        if sep and any(m.name == head for m in models):
            self.sink.error(d.at, "invalid-name", f"stream pattern '{p}' names the record streams of model {head}: "
                                                  "they follow the model's access rules")
            return None
        for key in ("append", "read"):
            rule = getattr(d, key)
            for alt in rule.alternatives if rule is not None else ():
                if alt.kind in ("owner", "sameTenant"):
                    self.sink.error(d.at, "invalid-rule", f"stream '{p}' {key}: {alt.kind} is a row rule; streams take "
                                                          "roles, 'authenticated' or 'public' (tenancy applies anyway)")
        return StreamRule(p, d.append, d.read)

    def user_columns(self, items: list[tuple[str, Any, Any]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for column, kind, at in items:
            if not USER_COLUMN_RE.match(column):
                self.sink.error(at, "invalid-name", f"invalid users column name '{column}'")
            elif column in BUILTIN_USER_COLUMNS or column in out:
                self.sink.error(at, "duplicate", f"'{column}' is already a column of users")
            elif not isinstance(kind, str) or kind.upper() not in SQL_TYPES:
                self.sink.error(at, "unknown-type", hint(f"unknown column type {json.dumps(kind)} for users.{column}",
                                                         kind if isinstance(kind, str) else "", sorted(SQL_TYPES),
                                                         "types"))
            else:
                out[column] = kind.upper()
        return out


def finish(drafts: Drafts, sink: Sink, syntax: str, path: str) -> Schema:
    fin = _Finisher(sink)
    models = [m for m in drafts.models if fin.register(m)]
    for m in models:
        fin.check_fields(m)
    built = tuple(fin.model(m) for m in models)
    actions: dict[str, Action] = {}
    for a in drafts.actions:
        if a.name in actions:
            sink.error(a.at, "duplicate", f"duplicate action '{a.name}'")
            continue
        action = fin.action(a)
        if action is not None:
            actions[a.name] = action
    for model, message in name_clashes(Schema(built, tuple(actions.values())), fin.refused_tables):
        sink.error(Pos(model.line or 1, model.col or 1), "name-clash", message)
    channels: dict[str, ChannelRule] = {}
    for c in drafts.channels:
        if c.pattern in channels:
            sink.error(c.at, "duplicate", f"duplicate channel pattern '{c.pattern}'")
            continue
        rule = fin.channel(c)
        if rule is not None:
            channels[c.pattern] = rule
    streams: dict[str, StreamRule] = {}
    for d in drafts.streams:
        if d.pattern in streams:
            sink.error(d.at, "duplicate", f"duplicate stream pattern '{d.pattern}'")
            continue
        stream = fin.stream(d, built)
        if stream is not None:
            streams[d.pattern] = stream
    users = fin.user_columns(drafts.user_columns)
    return Schema(built, tuple(actions.values()), tuple(channels.values()), users, syntax, path, sink.diagnostics(),
                  tuple(streams.values()))
