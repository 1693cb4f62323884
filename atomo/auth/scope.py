"""The effective tenant scope of a request (auth chapter §8), shared by every surface.

- tenant-bound user: always the bound tenant; a different requested tenant -> 403;
- unbound admin: the requested tenant if any, else unscoped (every tenant);
- unbound non-admin user: untenanted rows only (``tenant_id IS NULL``); any requested tenant -> 403;
- anonymous: the requested tenant, if any, narrows what ``public`` operations return.

The requested tenant comes from ``X-Tenant-ID``, ``tenant`` in ``connection_init``, or the library's
``as_user(..., tenant=)``; it is 1-128 characters (else 400).
"""

from __future__ import annotations

from atomo.auth.principal import Caller, Principal
from atomo.errors import PermissionDeniedError, ValidationError

MAX_TENANT_LENGTH = 128


def check_tenant(value: str | None, field: str = "X-Tenant-ID") -> str | None:
    if value is None:
        return None
    if not value or len(value) > MAX_TENANT_LENGTH:
        raise ValidationError.single(field, f"{field} must be 1 to {MAX_TENANT_LENGTH} characters", "invalid_tenant")
    return value


def caller_for(principal: Principal, requested: str | None, *, field: str = "X-Tenant-ID") -> Caller:
    """The caller of a request by ``principal`` asking for tenant ``requested`` (None: no header)."""
    requested = check_tenant(requested, field)
    binding = principal.tenant_binding
    if binding is not None:
        if requested is not None and requested != binding:
            raise PermissionDeniedError(f"{field} does not match your tenant")
        return Caller(principal=principal, tenant=binding)
    if principal.system or not principal.authenticated or (principal.role or "") == "admin":
        return Caller(principal=principal, tenant=requested)
    if requested is not None:
        raise PermissionDeniedError(f"{field} is only for admins and users bound to that tenant")
    return Caller(principal=principal, untenanted=True)
