"""``decide``: the access decision every data path uses (auth chapter §7.3), in-process."""

from __future__ import annotations

import pytest

from atomo.auth.rbac import decide
from atomo.errors import PermissionDeniedError, UnauthenticatedError
from atomo.schema.loader import parse_schema

SCHEMA = parse_schema("""
export interface Doc { id: string; name: string; ownerId?: string; editorId?: string }
export interface Bare { id: string; name: string }
export const schema = { models: {
  Doc: { access: { read: 'admin|owner(ownerId)|sameTenant', create: 'Sales|owner(ownerId)|owner(editorId)',
                   update: 'owner(ownerId)', delete: 'public' } },
} }
export default schema
""")
DOC, BARE = SCHEMA.model("Doc"), SCHEMA.model("Bare")


def test_caller_level_alternatives_are_unrestricted() -> None:
    assert decide(DOC, "read", user_id="u1", role="ADMIN", tenant=None).unrestricted
    assert decide(DOC, "delete", user_id=None, role=None, tenant=None).unrestricted      # public
    assert decide(DOC, "hardDelete", user_id=None, role=None, tenant=None).unrestricted  # uses the delete rule
    assert decide(BARE, "update", user_id="u1", role="viewer", tenant=None).unrestricted  # default: authenticated
    assert decide(DOC, "read", user_id=None, role=None, tenant="t", system=True).unrestricted


def test_row_level_filters() -> None:
    access = decide(DOC, "read", user_id="u1", role="viewer", tenant="t1")
    params: list[object] = []
    assert not access.unrestricted
    assert access.sql(params) == '("owner_id" = ? OR "tenant_id" = ?)' and params == ["u1", "t1"]
    assert access.allows({"ownerId": "u1", "tenantId": "other"}) and access.allows({"ownerId": None, "tenantId": "t1"})
    assert not access.allows({"ownerId": "u2", "tenantId": "t2"})
    no_tenant = decide(DOC, "read", user_id="u1", role="viewer", tenant=None)
    assert no_tenant.same_tenant is None and not no_tenant.allows({"ownerId": None, "tenantId": None})


def test_refusals() -> None:
    with pytest.raises(UnauthenticatedError):
        decide(DOC, "read", user_id=None, role=None, tenant="t1")          # sameTenant needs a user too
    with pytest.raises(UnauthenticatedError):
        decide(BARE, "read", user_id=None, role=None, tenant=None)
    with pytest.raises(PermissionDeniedError) as denied:
        decide(BARE, "read", user_id="u1", role="viewer", tenant=None, default_rule="admin|manager")
    assert denied.value.details == {"model": "Bare", "action": "read"}


def test_create_stamps_owner_fields_also_when_a_role_passes() -> None:
    by_role = decide(DOC, "create", user_id="u1", role="sales", tenant=None)
    assert by_role.unrestricted and by_role.stamp_keys == ("ownerId", "editorId") and by_role.user_id == "u1"
    by_owner = decide(DOC, "create", user_id="u1", role="viewer", tenant=None)
    assert not by_owner.unrestricted and by_owner.stamp_keys == ("ownerId", "editorId")
    assert decide(DOC, "update", user_id="u1", role="viewer", tenant=None).stamp_keys == ()
    assert decide(BARE, "create", user_id="u1", role="viewer", tenant=None).stamp_keys == ()
