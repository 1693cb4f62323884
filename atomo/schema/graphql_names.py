"""The names of the typed GraphQL API of a schema (Atomo-Python extension), and their clashes.

Per model ``Contact`` (collection ``contacts``: the model's ``graphqlName`` if set, else the camelCase
of its table, so ``tableName: 'companies'`` gives ``companies``): the object type ``Contact``, the
inputs ``ContactCreateInput``/``ContactUpdateInput``/``ContactWhere``/``ContactOrderBy``, the page
``ContactPage`` and event ``ContactEvent`` types; the root fields ``contact``, ``contacts``,
``contactsPage``, ``contactsCount``, ``createContact``, ``updateContact``, ``deleteContact``,
``restoreContact``, ``hardDeleteContact`` and the subscription ``contactChanges``; with Blocks fields also
``insertContactBlock``/``updateContactBlock``/``moveContactBlock``/``removeContactBlock``/``applyContactBlockOps``,
the enum ``ContactBlockField`` and the types ``ContactBlockChange``/``ContactBlockOpsChange``. A select field
whose options are all GraphQL names becomes the enum ``<Model><Field>`` (``DealStage``).

``name_clashes`` reports every generated name that collides with another, with the generic API or
with a GraphQL built-in, as schema errors with a rename hint: both ``atomo schema check`` and the
server refuse such a schema instead of serving something other than what was declared.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from atomo.schema.model import Field, Model, Relationship, Schema, camel_case

GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*\Z")

# Types of the model-generic SDL, the typed API's shared types, and GraphQL/tartiflette built-ins.
BUILTIN_TYPES = frozenset({
    "Query", "Mutation", "Subscription", "JSON", "JSONObject", "PageInfo", "PaginatedRecords", "BulkUpdateInput",
    "EventType", "StoredEvent", "ModelEvent", "String", "Int", "Float", "Boolean", "ID", "DateTime", "Date", "Time",
    "SortOrder", "QueryMode", "StringFilter", "NumberFilter", "DateTimeFilter", "BooleanFilter", "EnumFilter",
    "JSONFilter", "JobInfo", "BlockChange", "BlockOpResult", "BlockOpsChange", "BlockOpInput",
    "NewEventInput", "AppendResult", "StreamInfo",
})
# Root fields of the generic API (and the other chapters' extensions) per root type.
BUILTIN_FIELDS = {
    "Query": frozenset({"records", "record", "paginatedRecords", "deletedRecords", "count", "history", "events",
                        "renderBlocks", "stream", "streams"}),
    "Mutation": frozenset({"create", "update", "updateMany", "delete", "restore", "hardDelete", "enqueueJob",
                           "insertBlock", "updateBlock", "moveBlock", "removeBlock", "applyBlockOps",
                           "appendEvents"}),
    "Subscription": frozenset({"modelChanges", "streamEvents"}),
}
SYSTEM_FIELDS = ("id", "createdAt", "updatedAt", "deletedAt", "tenantId", "_version")


def upper_first(name: str) -> str:
    return name[:1].upper() + name[1:]


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


@dataclass(frozen=True)
class ModelNames:
    """Every GraphQL name generated for one model."""

    model: str
    one: str            # contact
    many: str           # contacts
    blocks: bool = False    # the model has Blocks fields: typed block mutations

    @property
    def type(self) -> str:
        return self.model

    @property
    def create_input(self) -> str:
        return f"{self.model}CreateInput"

    @property
    def update_input(self) -> str:
        return f"{self.model}UpdateInput"

    @property
    def where(self) -> str:
        return f"{self.model}Where"

    @property
    def order_by(self) -> str:
        return f"{self.model}OrderBy"

    @property
    def page_type(self) -> str:
        return f"{self.model}Page"

    @property
    def event_type(self) -> str:
        return f"{self.model}Event"

    @property
    def page(self) -> str:
        return f"{self.many}Page"

    @property
    def count(self) -> str:
        return f"{self.many}Count"

    @property
    def changes(self) -> str:
        return f"{self.one}Changes"

    def mutation(self, operation: str) -> str:
        """``create``/``update``/``delete``/``restore``/``hardDelete`` + the type name."""
        return f"{operation}{self.model}"

    @property
    def block_field(self) -> str:
        return f"{self.model}BlockField"

    @property
    def block_change(self) -> str:
        return f"{self.model}BlockChange"

    @property
    def block_ops_change(self) -> str:
        return f"{self.model}BlockOpsChange"

    def block_mutation(self, op: str) -> str:
        """``insert``/``update``/``move``/``remove`` -> ``insertDealBlock``; ``apply`` -> ``applyDealBlockOps``."""
        return f"apply{self.model}BlockOps" if op == "apply" else f"{op}{self.model}Block"

    def block_mutations(self) -> tuple[str, ...]:
        if not self.blocks:
            return ()
        return tuple(self.block_mutation(op) for op in ("insert", "update", "move", "remove", "apply"))

    def types(self) -> tuple[str, ...]:
        """The object and input types (enums: ``enums()``)."""
        blocks = (self.block_change, self.block_ops_change) if self.blocks else ()
        return (self.type, self.create_input, self.update_input, self.where, self.order_by, self.page_type,
                self.event_type, *blocks)

    def enums(self) -> tuple[str, ...]:
        """The enums made from the model itself (a select field's enum: ``enum_name``)."""
        return (self.block_field,) if self.blocks else ()

    def typescript_types(self) -> tuple[str, ...]:
        """Names ``atomo codegen``'s atomo.ts declares for the model besides the GraphQL ones."""
        return (f"{self.model}Create", f"{self.model}Update")

    def root_fields(self) -> dict[str, tuple[str, ...]]:
        return {
            "Query": (self.one, self.many, self.page, self.count),
            "Mutation": (*(self.mutation(op) for op in ("create", "update", "delete", "restore", "hardDelete")),
                         *self.block_mutations()),
            "Subscription": (self.changes,),
        }


def model_names(model: Model) -> ModelNames:
    many = model.graphql_name or camel_case(model.table)
    return ModelNames(model.name, lower_first(model.name), many, any(f.kind == "blocks" for f in model.data_fields))


def enum_name(model: Model, field: Field) -> str | None:
    """The GraphQL enum of a select field, or None when it is not one (then it is a ``String``):
    its options must all be GraphQL names other than true/false/null."""
    options = field.options
    if field.kind != "select" or not options:
        return None
    if all(GRAPHQL_NAME.match(o) and o not in ("true", "false", "null") for o in options):
        return f"{model.name}{upper_first(field.key)}"
    return None


def typed_relations(model: Model) -> tuple[Relationship, ...]:
    """The relationships the typed object type shows as fields. A builder ``parent: relation('things')``
    names its relationship like its foreign-key field: the field keeps the name (the id) and the
    relationship is not a field of the typed type (a query follows it with ``thing(id:)``)."""
    return tuple(r for r in model.relationships if not (r.foreign_key == r.name and model.field(r.name)))


def name_clashes(schema: Schema, refused_tables: Collection[str] = ()) -> list[tuple[Model, str]]:
    """(model, message with a rename hint) for every typed name that collides.

    Root fields made from the collection name (``contacts``, ``contactsPage``, ``contactsCount``) are
    renamed with ``graphqlName``; the others (``contact``, ``createContact``, ``contactChanges``) and
    the types only by renaming the model. ``refused_tables``: models whose table name is already an
    error (``events``): without ``graphqlName`` their collection names are left unchecked, since the
    table, and with it that name, has to change anyway.
    """
    problems: list[tuple[Model, str]] = []
    types: dict[str, str] = {}          # type name -> what made it
    owners: dict[str, Model] = {}        # type name -> the model it is reported at
    fields: dict[tuple[str, str], tuple[str, bool]] = {}   # (root, field) -> (model, made from the collection name)
    for model in schema.models:
        names = model_names(model)
        collection = {names.many, names.page, names.count}
        unchecked = model.name in refused_tables and model.graphql_name is None   # the collection names
        if not GRAPHQL_NAME.match(names.many) or names.many.startswith("__"):
            if model.graphql_name is not None:
                problems.append((model, f"graphqlName '{names.many}' of model {model.name} is not a GraphQL name "
                                        "(letters, digits and _, not starting with a digit or __)"))
            elif not unchecked:
                problems.append((model, f"the collection name '{names.many}' of model {model.name} (from its table) "
                                        "is not a GraphQL name; set graphqlName"))
            unchecked = True
        made = [(t, f"model {model.name}") for t in (*names.types(), *names.enums(), *names.typescript_types())]
        for f in model.fields:
            if (e := enum_name(model, f)) is not None:
                made += [(e, f"the enum of {model.name}.{f.key}"), (f"{e}Filter", f"the enum of {model.name}.{f.key}")]
        for name, origin in made:
            if name in BUILTIN_TYPES or name.startswith("__"):
                problems.append((model, f"{origin} generates the GraphQL type {name}, which is built in; "
                                        f"rename the {'field' if origin.startswith('the enum') else 'model'}"))
            elif name in types:
                own = origin.startswith("the enum") and types[name] == f"model {model.name}"
                problems.append((model, f"{origin} generates the GraphQL type {name}, which {types[name]} "
                                        f"generates too; rename {'the field' if own else 'one of them'}"))
            else:
                types[name] = origin
                owners[name] = model
        collection_clashed = False      # one report for `contacts`/`contactsPage`/`contactsCount` together
        for root, generated in names.root_fields().items():
            mine: set[str] = set()
            for name in generated:
                by_many = name in collection and name != names.one
                if name in mine:
                    if unchecked:
                        pass
                    elif name == names.one == names.many:
                        problems.append((model, f"model {model.name}: the single-record field and the list field "
                                                f"are both '{name}'; set graphqlName to a plural, e.g. graphqlName: "
                                                f"'{name}List'"))
                    else:
                        problems.append((model, f"model {model.name} generates {root}.{name} twice; set "
                                                "graphqlName or rename the model"))
                    continue
                mine.add(name)
                if by_many and (unchecked or collection_clashed):
                    continue
                fix = "set graphqlName" if by_many else "rename the model"
                clash = name in BUILTIN_FIELDS[root] or (root, name) in fields
                collection_clashed = collection_clashed or by_many and clash
                if name in BUILTIN_FIELDS[root]:
                    problems.append((model, f"model {model.name} generates {root}.{name}, which the generic API "
                                            f"has; {fix}"))
                elif (root, name) in fields:
                    other, other_by_many = fields[(root, name)]
                    fix = ("set graphqlName on one of them" if by_many and other_by_many else
                           f"set graphqlName on {model.name if by_many else other}" if by_many or other_by_many else
                           "rename one of the models")
                    problems.append((model, f"model {model.name} generates {root}.{name}, which model {other} "
                                            f"generates too; {fix}"))
                else:
                    fields[(root, name)] = (model.name, by_many)
        declared = {f.key for f in model.fields} | set(SYSTEM_FIELDS)
        for relation in model.relationships:
            if relation not in typed_relations(model):
                continue
            if relation.name in declared:
                problems.append((model, f"relationship {model.name}.{relation.name} has the name of a field; "
                                        "rename the relationship"))
            elif not GRAPHQL_NAME.match(relation.name):
                problems.append((model, f"relationship {model.name}.{relation.name} is not a GraphQL name"))
    for action in schema.actions:           # atomo.ts: <Action>Input / <Action>Result next to the model types
        base = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", action.name) if p) or "Action"
        for name in (f"{base}Input", f"{base}Result"):
            if name in owners:
                problems.append((owners[name], f"action {action.name} generates the TypeScript type {name} of "
                                               f"atomo.ts, which {types[name]} generates too; rename the action"))
    return problems
