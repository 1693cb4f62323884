"""Access decisions from the schema's rules: one function every data path uses.

``decide`` answers "may this caller do this operation on this model at all, and if so, limited to
which rows?". Row limits are expressed twice, as SQL (for reads and matching) and as a Python
predicate (for after-images and event delivery), from the same ``Access`` object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from atomo.errors import PermissionDeniedError, UnauthenticatedError
from atomo.schema.model import AccessRule, Alternative, Model

RULE_OF = {"create": "create", "read": "read", "update": "update", "delete": "delete",
           "restore": "delete", "hardDelete": "delete"}
RESERVED_WORDS = frozenset({"public", "authenticated", "system", "sametenant", "anon"})


@dataclass(frozen=True)
class Access:
    """The outcome of a passing decision. ``unrestricted`` or a row filter (OR of its parts)."""

    unrestricted: bool
    owner_fields: tuple[str, ...] = ()   # column names: row passes if column = user id
    owner_keys: tuple[str, ...] = ()     # the same fields as record keys
    same_tenant: str | None = None       # row passes if tenant_id = this
    user_id: str | None = None           # the caller, for owner fields
    stamp_keys: tuple[str, ...] = ()     # owner(f) fields of the rule: creates fill them with user_id

    def sql(self, params: list[Any]) -> str | None:
        if self.unrestricted:
            return None
        parts = []
        for column in self.owner_fields:
            parts.append(f'"{column}" = ?')
            params.append(self.user_id)
        if self.same_tenant is not None:
            parts.append('"tenant_id" = ?')
            params.append(self.same_tenant)
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    def allows(self, record: Mapping[str, Any]) -> bool:
        if self.unrestricted:
            return True
        if any(record.get(k) == self.user_id and self.user_id is not None for k in self.owner_keys):
            return True
        return self.same_tenant is not None and record.get("tenantId") == self.same_tenant


UNRESTRICTED = Access(True)


@lru_cache(maxsize=256)
def parse_rule_text(text: str) -> AccessRule:
    """The `|`-separated rule syntax, used for ATOMO_DEFAULT_ACCESS."""
    alternatives = []
    for part in (p.strip() for p in text.split("|")):
        low = part.lower()
        if low in ("public", "authenticated"):
            alternatives.append(Alternative(low))
        elif low in ("sametenant", "sametenant()"):
            alternatives.append(Alternative("sameTenant"))
        elif low.startswith("owner(") and low.endswith(")"):
            alternatives.append(Alternative("owner", part[6:-1].strip()))
        elif part:
            alternatives.append(Alternative("role", low))
    return AccessRule(tuple(alternatives))


def decide(model: Model, operation: str, *, user_id: str | None, role: str | None, tenant: str | None,
           system: bool = False, default_rule: str = "authenticated") -> Access:
    """Raise UNAUTHENTICATED / PERMISSION_DENIED, or return the caller's Access for the operation."""
    if system:
        return UNRESTRICTED
    action = RULE_OF.get(operation, operation)
    rule = model.rule(action) or parse_rule_text(default_rule)
    role = (role or "").lower()
    owners: list[tuple[str, str]] = []
    same_tenant = caller_level = False
    for alt in rule.alternatives:
        if alt.kind == "public":
            caller_level = True
        elif user_id is None:
            continue
        elif alt.kind == "authenticated" or (alt.kind == "role" and alt.value == role):
            caller_level = True
        elif alt.kind == "owner":
            field = model.field(alt.value or "")
            if field is not None:
                owners.append((field.column, field.key))
        elif alt.kind == "sameTenant" and tenant is not None:
            same_tenant = True
    if caller_level:
        # A create still stamps the rule's owner fields for a logged-in caller (auth chapter §7.3).
        if not owners or user_id is None or action != "create":
            return UNRESTRICTED
        return Access(True, user_id=user_id, stamp_keys=tuple(k for _, k in owners))
    if user_id is None:
        raise UnauthenticatedError(f"Authentication required for '{action}' on '{model.name}'")
    if not owners and not same_tenant:
        raise PermissionDeniedError.for_action(model.name, action)
    keys = tuple(k for _, k in owners)
    return Access(False, tuple(c for c, _ in owners), keys, tenant if same_tenant else None, user_id,
                  keys if action == "create" else ())
