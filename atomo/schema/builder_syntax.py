"""Builder syntax (`@atomo-cc/schema`): `model('<table>', { fields, access, on })`, field builders and
their chain methods, `allow.*`, `action(...)` chains with `.whenChanged/.when`, `channel(...)`."""

from __future__ import annotations

from typing import Any

from atomo.schema.annotations import attach
from atomo.schema.declarations import AliasDecl, ConstDecl, EnumDecl, InterfaceDecl, Module
from atomo.schema.drafts import ActionDraft, BindingDraft, ConditionDraft, Drafts, FieldDraft, ModelDraft
from atomo.schema.interface_syntax import (
    EVENTS,
    apply_field_annotations,
    channel_draft,
    stream_draft,
    ui_names,
    user_columns,
)
from atomo.schema.literals import INVALID, Arr, Call, Lit, Member, Node, Step
from atomo.schema.model import Rule
from atomo.schema.rules import access_object, dedupe
from atomo.schema.suggest import hint
from atomo.schema.values import Values, called_root, declares

FIELD_BUILDERS = ("text", "email", "url", "number", "boolean", "datetime", "select", "relation", "blocks",
                  "json", "file")
FLAGS = {"id": ("primary", True), "required": ("optional", False), "optional": ("optional", True),
         "defaultNow": ("default_now", True), "autoUpdate": ("auto_update", True), "unique": ("unique", True),
         "index": ("index", True), "trim": ("trim", True), "lowercase": ("lowercase", True)}
KNOWN_CALLS = (*FIELD_BUILDERS, "allow", "model", "action", "channel", "stream")
ACTION_METHODS = ("from", "input", "returns", "whenChanged", "when")
MODEL_OPTIONS = ("fields", "access", "on", "ui", "graphqlName")
FIELD_METHODS = (*FLAGS, "min", "max", "default")


def read(module: Module, values: Values) -> Drafts:
    sink, drafts = values.sink, Drafts()
    for decl in module.decls:
        if isinstance(decl, EnumDecl):
            values.env[decl.name] = {n: v for n, _, v in decl.members}
            continue
        if isinstance(decl, (InterfaceDecl, AliasDecl)):
            sink.warn(decl.tok, "ignored-syntax",
                      f"type '{decl.name}' has no effect in the builder syntax; ignored")
            continue
        if not isinstance(decl, ConstDecl):
            continue
        steps = values.flatten(decl.node)
        root = steps[0]
        if declares(decl.node, "model"):
            drafts.models.append(_model(decl, steps, values, module))
        elif declares(decl.node, "action"):
            action = _action(steps, values)
            if action is not None:
                drafts.actions.append(action)
        elif declares(decl.node, "channel"):
            args = root.args or []
            pattern = values.string(args[0], "the channel pattern") if args else None
            if pattern is not None:
                drafts.channels.append(channel_draft(pattern, args[0].tok, args[1] if len(args) > 1 else None,
                                                     values))
            _extra(steps[1:], values)
        elif declares(decl.node, "stream"):
            args = root.args or []
            pattern = values.string(args[0], "the stream pattern") if args else None
            if pattern is not None:
                drafts.streams.append(stream_draft(pattern, args[0].tok, args[1] if len(args) > 1 else None, values))
            _extra(steps[1:], values)
        elif decl.name == "builtins" and not isinstance(decl.node, (Call, Member)):
            drafts.user_columns += user_columns(decl.node, values)
        elif (base := called_root(decl.node)) is not None and (
                base.name not in values.env and base.name not in KNOWN_CALLS):
            sink.error(base.tok, "unknown-call", hint(f"unknown call '{base.name}()'", base.name,
                                                      ("model", "action", "channel", "stream"),
                                                      "top-level calls"))
        values.env[decl.name] = decl.node
    return drafts


def _extra(steps: list[Step], values: Values) -> None:
    """Methods chained after `model(...)` / `channel(...)` / `stream(...)`: none exist."""
    for s in steps:
        values.sink.error(s.tok, "unknown-method",
                          f"unknown method '.{s.name}()' (model(), channel() and stream() take no methods)")


def _model(decl: ConstDecl, steps: list[Step], values: Values, module: Module) -> ModelDraft:
    sink, args = values.sink, steps[0].args or []
    m = ModelDraft(decl.name, decl.tok, doc=module.doc_before(decl.start))
    _extra(steps[1:], values)
    if args:
        m.table, m.table_at = values.string(args[0], "the table name"), args[0].tok
    if len(args) != 2:
        sink.error(steps[0].tok, "syntax", "model() takes a table name and an options object")
    options = values.obj(args[1], "the model options") if len(args) > 1 else None
    for key, tok, node in options.items if options else []:
        if key == "fields":
            fields = values.obj(node, "fields")
            if fields is None:
                continue
            for name, ftok, fnode in fields.items:
                f = _field(name, ftok, fnode, values)
                if f is not None:
                    f.doc = module.doc_before(ftok)
                    m.fields.append(f)
            fanns, m.annotations = attach(module.comments, fields.tok, fields.close,
                                          list(zip([k for k, _, _ in fields.items], fields.ends, strict=True)), sink)
            for f in m.fields:
                apply_field_annotations(f, fanns.get(f.name, []), values)
        elif key == "access":
            m.access, m.access_at = access_object(node, values)
        elif key == "on":
            obj = values.obj(node, "on")
            for event, etok, items in obj.items if obj else []:
                if event not in EVENTS:
                    sink.error(etok, "unknown-property", hint(f"'{event}' is not an event", event, EVENTS, "events"))
                    continue
                items = values.deref(items)
                for item in items.items if isinstance(items, Arr) else [items]:
                    b = _binding(event, item, values)
                    if b is not None:
                        m.bindings.append(b)
        elif key == "ui":
            m.ui, m.ui_names = values.value(node), ui_names(node, values)
        elif key == "graphqlName":
            m.graphql_name, m.graphql_name_at = values.string(node, "graphqlName"), node.tok
        else:
            sink.error(tok, "unknown-property", hint(f"'{key}' is not a model option", key, MODEL_OPTIONS, "options"))
    return m


def _strings(args: list[Node], values: Values, what: str) -> list[str] | None:
    """String arguments given one by one or as one array."""
    if len(args) == 1 and isinstance(values.deref(args[0]), Arr):
        return values.strings(args[0], what)
    out = [values.string(a, what) for a in args]
    return None if None in out else [s for s in out if s is not None]


def _field(name: str, tok: Any, node: Node, values: Values) -> FieldDraft | None:
    sink = values.sink
    steps = values.flatten(node)
    root = steps[0]
    if root.args is None or root.name not in FIELD_BUILDERS:
        if root.args is not None:
            sink.error(root.tok, "unknown-call", hint(f"unknown field builder '{root.name}()' for field '{name}'",
                                                      str(root.name), FIELD_BUILDERS, "builders"))
        elif values.value(node) is not INVALID:
            sink.error(node.tok, "syntax", f"field '{name}' must be declared with a builder such as text()")
        return None
    f = FieldDraft(name, tok, kind=root.name)
    args = root.args
    if root.name == "select":
        options = _strings(args, values, "select() options")
        if not options:
            sink.error(root.tok, "syntax", f"select() of '{name}' needs a list of string options")
        f.options = tuple(dedupe(options or []))
    elif root.name == "relation":
        f.target_table = values.string(args[0], "the relation table") if len(args) == 1 else None
        f.target_at = args[0].tok if args else root.tok
        if f.target_table is None and len(args) != 1:
            sink.error(root.tok, "syntax", f"relation() of '{name}' needs a table name")
    elif args:
        sink.error(root.tok, "unsupported-syntax", f"'{root.name}()' takes no arguments")
    for s in steps[1:]:
        if s.args is None or s.name not in FIELD_METHODS:
            sink.error(s.tok, "unknown-method", hint(f"unknown field method '.{s.name}()'", str(s.name), FIELD_METHODS,
                                                     "methods"))
        elif s.name in ("min", "max"):
            n = values.value(s.args[0]) if len(s.args) == 1 else INVALID
            if isinstance(n, (int, float)) and not isinstance(n, bool):
                f.rules.append(Rule(s.name, n))
            else:
                sink.error(s.tok, "invalid-rule", f"'.{s.name}()' of '{name}' needs a number")
        elif s.name == "default":
            v = values.value(s.args[0]) if len(s.args) == 1 else INVALID
            if len(s.args) != 1:
                sink.error(s.tok, "syntax", f"'.default()' of '{name}' takes one value")
            elif v is not INVALID:
                f.default, f.default_at = v, s.tok
        else:
            if s.args:
                sink.error(s.tok, "unsupported-syntax", f"'.{s.name}()' takes no arguments")
            attr, value = FLAGS[s.name]
            setattr(f, attr, value)
            if s.name == "id":
                f.optional = False
    return f


def _action_name(steps: list[Step], values: Values) -> str | None:
    root = steps[0]
    if root.name != "action" or root.args is None:
        if root.args is None and isinstance(root.name, str) and root.name not in values.env:
            values.sink.error(root.tok, "reference", f"'{root.name}' is not declared before this point")
        else:
            values.sink.error(root.tok, "syntax", "expected an action")
        return None
    if len(root.args) != 1:
        values.sink.error(root.tok, "syntax", "action() takes the action name")
        return None
    return values.string(root.args[0], "the action name")


def _action(steps: list[Step], values: Values) -> ActionDraft | None:
    name = _action_name(steps, values)
    if name is None:
        return None
    a = ActionDraft(name, steps[0].tok)
    for s in steps[1:]:
        args = s.args or []
        if s.name == "from":
            a.from_table = values.string(args[0], "from()") if len(args) == 1 else None
        elif s.name == "input":
            arg = values.deref(args[0]) if len(args) == 1 else None
            if isinstance(arg, Arr):
                a.pick_fields = values.strings(arg, "input()")
            elif arg is not None and (spec := values.value(arg)) is not INVALID:
                a.input = {"object": spec}
        elif s.name == "returns":
            a.returns = values.value(args[0]) if len(args) == 1 else None
        elif s.name not in ACTION_METHODS or s.args is None:
            values.sink.error(s.tok, "unknown-method", hint(f"unknown action method '.{s.name}()'", str(s.name),
                                                            ACTION_METHODS, "methods"))
    return a


def _binding(event: str, node: Node, values: Values) -> BindingDraft | None:
    node = values.deref(node)
    if isinstance(node, Lit) and isinstance(node.value, str):
        return BindingDraft(event, node.value, node.tok)
    steps = values.flatten(node)
    name = _action_name(steps, values)
    if name is None:
        return None
    binding = BindingDraft(event, name, node.tok)
    current: ConditionDraft | None = None
    for s in steps[1:]:
        args = s.args or []
        if s.name == "whenChanged":
            fields = _strings(args, values, "whenChanged() fields")
            if current is None or current.changed_any is not None:
                current = ConditionDraft(s.tok)
                binding.conditions.append(current)
            current.changed_any = fields or []
        elif s.name == "when":
            field = values.string(args[0], "the field of when()") if len(args) == 2 else None
            value = values.value(args[1]) if len(args) == 2 else INVALID
            if field is None or value is INVALID:
                values.sink.error(s.tok, "syntax", "when() takes a field name and a value")
                continue
            if current is None:
                current = ConditionDraft(s.tok)
                binding.conditions.append(current)
            current.field_equals = (current.field_equals or []) + [(field, value)]
        elif s.name not in ACTION_METHODS or s.args is None:
            values.sink.error(s.tok, "unknown-method", hint(f"unknown action method '.{s.name}()'", str(s.name),
                                                            ACTION_METHODS, "methods"))
    return binding
