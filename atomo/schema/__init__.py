"""The `schema.ts` reader: both syntaxes into the immutable objects of `atomo.schema.model`."""

from atomo.schema.loader import (
    check_report,
    check_report_json,
    discover_schema,
    field_count,
    load_schema,
    parse_schema,
    require_valid,
)
from atomo.schema.model import (
    KINDS,
    NO_DEFAULT,
    AccessRule,
    Action,
    ActionBinding,
    Alternative,
    ChannelRule,
    Check,
    CompositeIndex,
    Condition,
    Diagnostic,
    Field,
    Model,
    Relationship,
    Rule,
    Schema,
    camel_case,
    snake_case,
)

__all__ = [
    "parse_schema", "load_schema", "discover_schema", "require_valid", "check_report", "check_report_json",
    "field_count", "Schema", "Model", "Field", "Rule", "AccessRule", "Alternative", "Relationship", "Condition",
    "ActionBinding", "Action", "ChannelRule", "CompositeIndex", "Check", "Diagnostic", "KINDS", "NO_DEFAULT",
    "snake_case", "camel_case",
]
