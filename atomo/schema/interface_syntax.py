"""Interface syntax: `export interface` models, enums, `export type` unions and the
`export const schema = {...}` metadata object (schema chapter §2)."""

from __future__ import annotations

from typing import Any

from atomo.schema.annotations import Annotation, attach, default_value
from atomo.schema.declarations import AliasDecl, ConstDecl, EnumDecl, InterfaceDecl, Module, TType
from atomo.schema.drafts import (
    ActionDraft,
    BindingDraft,
    ChannelDraft,
    ConditionDraft,
    Drafts,
    FieldDraft,
    ModelDraft,
    RelationDraft,
    StreamDraft,
    find,
)
from atomo.schema.literals import INVALID, Arr, Lit, Node, Obj
from atomo.schema.rules import access_object, access_value, combine, dedupe, parse_rules
from atomo.schema.suggest import hint, hinted
from atomo.schema.values import Values, called_root

EVENTS = ("created", "updated", "deleted")
MODEL_KEYS = ("tableName", "access", "validation", "relationships", "events", "ui", "primaryKey", "searchable",
              "config", "graphqlName")
CONFIG_KEYS = ("auditLog", "softDeletes", "defaultPageSize", "subscriptions")
CONDITIONS = ("changedAny", "fieldEquals")
_SCALARS = {"string": "text", "number": "number", "boolean": "boolean", "Date": "datetime", "File": "file",
            "Block": "json", "any": "json", "unknown": "json", "object": "json", "Object": "json",
            "Record": "json"}
SCHEMA_KEYS = ("models", "actions", "channels", "streams", "builtins", "config")


def apply_field_annotations(f: FieldDraft, anns: list[Annotation], values: Values) -> None:
    for a in anns:
        if a.name == "default":
            v = default_value(a, values)
            if v is not INVALID:
                f.default, f.default_at = v, a.pos
            continue
        if a.arg is not None:
            values.sink.error(a.pos, "unsupported-syntax", f"'{a.label}' takes no argument (write '{a.label}' alone)")
        setattr(f, a.name, True)


class _Types:
    def __init__(self, module: Module, values: Values) -> None:
        self.sink = values.sink
        self.enums = {e.name: e for e in module.of(EnumDecl)}
        self.aliases = {a.name: a for a in module.of(AliasDecl)}
        self.interfaces = {i.name: i for i in module.of(InterfaceDecl)}

    def kind(self, t: TType, depth: int = 0) -> tuple[str, tuple[str, ...] | None, str | None, bool]:
        """(kind, options, item_type, nullable) of a field type."""
        if t.kind == "union":
            items = [a for a in t.args if a.kind != "null"]
            nullable = len(items) < len(t.args)
            if len(items) == 1:
                k = self.kind(items[0], depth + 1)
                return k[0], k[1], k[2], nullable or k[3]
            parts = [self.kind(a, depth + 1) for a in items]
            if parts and all(p[0] == "select" for p in parts):
                return "select", tuple(dedupe([o for p in parts for o in p[1] or ()])), None, nullable
            self.sink.warn(t.tok, "ignored-syntax", f"union type '{t.src}' is stored as JSON")
            return "json", None, None, nullable
        if t.kind == "lit":
            if isinstance(t.value, str):
                return "select", (t.value,), None, False
            return ("boolean" if isinstance(t.value, bool) else "number"), None, None, False
        if t.kind == "null":
            return "json", None, None, True
        if t.kind == "array" or t.kind == "name" and t.name == "Array":
            inner = t.args[0] if t.args else None
            if inner is not None and inner.kind == "name" and inner.name == "Block":
                return "blocks", None, None, False
            if inner is not None:
                self.known_names(inner)
            return "array", None, inner.src if inner is not None else None, False
        if t.kind != "name":
            return "json", None, None, False
        if t.name in _SCALARS:
            for arg in t.args:
                self.known_names(arg)
            return _SCALARS[t.name], None, None, False
        if t.name in self.enums:
            return "select", tuple(dedupe([v for _, _, v in self.enums[t.name].members])), None, False
        if t.name in self.aliases and depth < 20:
            return self.kind(self.aliases[t.name].type, depth + 1)
        if t.name not in self.interfaces:
            self.unknown(t)
        return "json", None, None, False

    def known_names(self, t: TType) -> None:
        """Report unknown type names inside an array item or a generic argument (stored as JSON)."""
        if t.kind == "name" and t.name != "Array" and t.name not in _SCALARS and t.name not in self.enums \
                and t.name not in self.aliases and t.name not in self.interfaces:
            self.unknown(t)
        for arg in t.args:
            self.known_names(arg)

    def unknown(self, t: TType) -> None:
        names = [*_SCALARS, "Array", *self.enums, *self.aliases, *self.interfaces]
        message, found = hinted(f"unknown type '{t.name}'", t.name, names)
        if not found:
            message += " (declare it in this file, or use any, object or Record<string, any> for JSON)"
        self.sink.error(t.tok, "unknown-type", message)


def is_model_interface(iface: InterfaceDecl) -> bool:
    """An interface with an `id` field is a model (unless named `*Command` / `*Input`)."""
    return any(m.name == "id" for m in iface.members) and not iface.name.endswith(("Command", "Input"))


def read(module: Module, values: Values) -> Drafts:
    sink, drafts = values.sink, Drafts()
    types = _Types(module, values)
    schema_node: Node | None = None
    seen_types: dict[str, Any] = {}
    for decl in module.decls:
        if isinstance(decl, (InterfaceDecl, EnumDecl, AliasDecl)):
            if decl.name in seen_types:
                sink.error(decl.tok, "duplicate", f"duplicate type '{decl.name}'")
            seen_types[decl.name] = decl
        if isinstance(decl, EnumDecl):
            values.env[decl.name] = {n: v for n, _, v in decl.members}
    for decl in module.of(ConstDecl):
        if (base := called_root(decl.node)) is not None and base.name not in values.env:
            sink.error(base.tok, "unknown-call", f"unknown call '{base.name}()' (schema.ts holds declarations only)")
        if decl.name == "schema" and schema_node is None:
            schema_node = decl.node
        elif schema_node is None:
            values.env[decl.name] = decl.node
    listed: dict[str, tuple[Any, Obj | None]] = {}
    schema = values.obj(schema_node, "schema") if schema_node is not None else None
    for key, tok, node in schema.items if schema else []:
        if key == "models":
            for name, ntok, cfg in _items(values, node, "schema.models"):
                listed[name] = (ntok, values.obj(cfg, f"the options of model {name}"))
                if name not in types.interfaces:
                    sink.error(ntok, "reference", hint(f"model '{name}' has no interface", name, types.interfaces))
        elif key == "actions":
            for name, ntok, spec in _items(values, node, "schema.actions"):
                drafts.actions.append(_action(name, ntok, spec, values))
        elif key == "channels":
            for pattern, ptok, spec in _items(values, node, "schema.channels"):
                drafts.channels.append(channel_draft(pattern, ptok, spec, values))
        elif key == "streams":
            for pattern, ptok, spec in _items(values, node, "schema.streams"):
                drafts.streams.append(stream_draft(pattern, ptok, spec, values))
        elif key == "builtins":
            drafts.user_columns += user_columns(node, values)
        elif key != "config":
            sink.error(tok, "unknown-property", hint(f"'{key}' is not a schema option", key, SCHEMA_KEYS, "options"))
    for iface in module.of(InterfaceDecl):
        has_id = any(m.name == "id" for m in iface.members)
        if is_model_interface(iface) or iface.name in listed:
            model = _model(iface, types, values, module)
            model.listed_without_id = not has_id
            if iface.name in listed and listed[iface.name][1] is not None:
                _configure(model, listed[iface.name][1], values)
            drafts.models.append(model)
    return drafts


def _items(values: Values, node: Node, what: str) -> list[tuple[str, Any, Node]]:
    obj = values.obj(node, what)
    return obj.items if obj else []


def _model(iface: InterfaceDecl, types: _Types, values: Values, module: Module) -> ModelDraft:
    m = ModelDraft(iface.name, iface.tok, doc=module.doc_before(iface.start))
    for mem in iface.members:
        kind, options, item, nullable = types.kind(mem.type)
        m.fields.append(FieldDraft(mem.name, mem.tok, kind=kind, optional=mem.optional or nullable,
                                   options=options, item_type=item, doc=module.doc_before(mem.start)))
    fanns, m.annotations = attach(module.comments, iface.open, iface.close,
                                  [(mem.name, mem.end) for mem in iface.members], values.sink)
    for f in m.fields:
        apply_field_annotations(f, fanns.get(f.name, []), values)
    return m


def _configure(m: ModelDraft, cfg: Obj, values: Values) -> None:
    sink = values.sink
    for key, tok, node in cfg.items:
        if key == "tableName":
            m.table, m.table_at = values.string(node, "tableName"), node.tok
        elif key == "graphqlName":
            m.graphql_name, m.graphql_name_at = values.string(node, "graphqlName"), node.tok
        elif key == "access":
            m.access, m.access_at = access_object(node, values)
        elif key == "validation":
            for name, ntok, rule in _items(values, node, "validation"):
                source, f = values.string(rule, "a validation rule"), find(m.fields, name)
                if f is None:
                    sink.error(ntok, "reference", hint(f"validation names unknown field '{name}' of {m.name}", name,
                                                       [f.name for f in m.fields]))
                elif source is not None:
                    f.rules += parse_rules(source, rule.tok, sink)
        elif key == "relationships":
            for name, ntok, spec in _items(values, node, "relationships"):
                r = _known(values, spec, ("type", "model", "foreignKey"), "relationship")
                rtype, model = r.get("type"), r.get("model")
                fk = r.get("foreignKey", (name if rtype == "belongsTo" else m.name[:1].lower() + m.name[1:]) + "Id")
                if isinstance(rtype, str) and isinstance(model, str) and isinstance(fk, str):
                    m.relationships.append(RelationDraft(name, rtype, model, fk, ntok))
                else:
                    sink.error(ntok, "syntax", f"relationship '{name}' needs string 'type' and 'model'")
        elif key == "events":
            for event, etok, bindings in _items(values, node, "events"):
                if event not in EVENTS:
                    sink.error(etok, "unknown-property", hint(f"'{event}' is not an event", event, EVENTS, "events"))
                    continue
                m.bindings += _bindings(event, bindings, values)
        elif key == "ui":
            m.ui, m.ui_names = values.value(node), ui_names(node, values)
        elif key == "primaryKey":
            if values.value(node) != "id":
                sink.error(node.tok, "unsupported-syntax", "primaryKey must be 'id' (the primary key is always 'id')")
        elif key == "config":
            _known(values, node, CONFIG_KEYS, "model config")
        elif key != "searchable":
            sink.error(tok, "unknown-property", hint(f"'{key}' is not a model option", key, MODEL_KEYS, "options"))


def _known(values: Values, node: Node, keys: tuple[str, ...], container: str) -> dict[str, Any]:
    """The literal object at `node`, warning about keys outside `keys`."""
    out: dict[str, Any] = {}
    for key, tok, value in _items(values, node, f"a {container}"):
        if key not in keys:
            values.sink.error(tok, "unknown-property", hint(f"'{key}' is not a {container} option", key, keys, "options"))
        else:
            v = values.value(value)
            if v is not INVALID:
                out[key] = v
    return out


def _bindings(event: str, node: Node, values: Values) -> list[BindingDraft]:
    node = values.deref(node)
    items = node.items if isinstance(node, Arr) else [node]
    out = []
    for item in items:
        obj = values.obj(item, "an event binding")
        if obj is None:
            continue
        action, conditions = None, []
        for key, tok, value in obj.items:
            if key == "action":
                action = values.string(value, "the action name")
            elif key == "condition":
                value = values.deref(value)
                for c in value.items if isinstance(value, Arr) else [value]:
                    conditions.append(_condition(c, values))
            else:
                values.sink.error(tok, "unknown-property",
                                  hint(f"'{key}' is not a binding option", key, ("action", "condition"), "options"))
        if action is None:
            values.sink.error(obj.tok, "syntax", "an event binding needs an 'action' name")
        else:
            out.append(BindingDraft(event, action, obj.tok, conditions))
    return out


def _condition(node: Node, values: Values) -> ConditionDraft:
    c = ConditionDraft(node.tok)
    for key, tok, value in _items(values, node, "a condition"):
        if key in ("changedAny", "ChangedAny"):
            c.changed_any = (c.changed_any or []) + (values.strings(value, key) or [])
        elif key == "fieldEquals":
            pairs = [(k, values.value(v)) for k, _, v in _items(values, value, key)]
            c.field_equals = (c.field_equals or []) + [p for p in pairs if p[1] is not INVALID]
        elif key == "FieldEquals":
            spec = _known(values, value, ("field", "value"), "FieldEquals")
            if not isinstance(spec.get("field"), str) or "value" not in spec:
                values.sink.error(value.tok, "syntax", "FieldEquals needs 'field' and 'value'")
            else:
                c.field_equals = (c.field_equals or []) + [(spec["field"], spec["value"])]
        else:
            values.sink.error(tok, "unknown-property", hint(f"'{key}' is not a condition", key, CONDITIONS, "conditions"))
    return c


def _action(name: str, tok: Any, node: Node, values: Values) -> ActionDraft:
    spec = _known(values, node, ("input", "returns"), "action")
    return ActionDraft(name, tok, input=spec.get("input"), returns=spec.get("returns"))


def channel_draft(pattern: str, tok: Any, node: Node | None, values: Values) -> ChannelDraft:
    """`{ record?, subscribe?, publish? }` options of a channel rule (both syntaxes)."""
    c = ChannelDraft(pattern, tok)
    for key, ktok, value in _items(values, node, "channel options") if node is not None else []:
        if key == "record":
            c.record = values.string(value, "record")
        elif key in ("subscribe", "publish"):
            alts = access_value(value, values)
            setattr(c, key, combine(alts) if alts else None)
        else:
            values.sink.error(ktok, "unknown-property", hint(f"'{key}' is not a channel option", key,
                                                             ("record", "subscribe", "publish"), "options"))
    return c


def stream_draft(pattern: str, tok: Any, node: Node | None, values: Values) -> StreamDraft:
    """`{ append?, read? }` options of a stream rule (both syntaxes)."""
    d = StreamDraft(pattern, tok)
    for key, ktok, value in _items(values, node, "stream options") if node is not None else []:
        if key in ("append", "read"):
            alts = access_value(value, values)
            setattr(d, key, combine(alts) if alts else None)
        else:
            values.sink.error(ktok, "unknown-property", hint(f"'{key}' is not a stream option", key,
                                                             ("append", "read"), "options"))
    return d


def user_columns(node: Node, values: Values) -> list[tuple[str, Any, Any]]:
    """`builtins: { users: { columns: { col: 'TEXT' } } }` (both syntaxes)."""
    out = []
    for key, tok, value in _items(values, node, "builtins"):
        if key != "users":
            values.sink.error(tok, "unknown-property", hint(f"'{key}' is not a builtin table", key, ("users",)))
            continue
        for ukey, utok, uvalue in _items(values, value, "builtins.users"):
            if ukey != "columns":
                values.sink.error(utok, "unknown-property", hint(f"'{ukey}' is not a users option", ukey, ("columns",)))
                continue
            for col, ctok, ctype in _items(values, uvalue, "builtins.users.columns"):
                out.append((col, values.value(ctype), ctok))
    return out


def ui_names(node: Node, values: Values) -> list[tuple[str, str, Any]]:
    """The field names a model's `ui` option lists: `(key, name, position)` for every string of a
    `*View`/`*Fields` list and every `*Field` string (`listView`, `searchFields`, `displayField`...)."""
    out: list[tuple[str, str, Any]] = []
    obj = values.deref(node)
    for key, _, value in obj.items if isinstance(obj, Obj) else []:
        value = values.deref(value)
        if key.endswith(("View", "Fields")) and isinstance(value, Arr):
            items = [values.deref(i) for i in value.items]
        elif key.endswith("Field"):
            items = [value]
        else:
            continue
        out += [(key, i.value, i.tok) for i in items if isinstance(i, Lit) and isinstance(i.value, str)]
    return out
