"""Who is calling: the principal (user, anonymous or system) and the request's effective scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atomo.storage.idempotency import IdempotencyClaim


@dataclass(frozen=True)
class Principal:
    user_id: str | None = None
    email: str | None = None
    role: str | None = None            # lower case
    tenant_binding: str | None = None  # users.tenant_id
    system: bool = False               # library/CLI writes: no rules, no scope
    session_id: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Principal()
SYSTEM = Principal(system=True)


@dataclass(frozen=True)
class Caller:
    """A principal plus the request's effective tenant and the attribution of its writes."""

    principal: Principal = SYSTEM
    tenant: str | None = None          # effective tenant scope (None = unscoped, unless untenanted)
    actor: str | None = None           # recorded on events; defaults to the user id
    origin: str | None = None          # action name, `seed`, ...
    untenanted: bool = False           # unbound non-admin user: only rows without a tenant (auth §8)
    idempotency: IdempotencyClaim | None = None   # a mutation's Idempotency-Key, taken by its first event

    @property
    def event_actor(self) -> str | None:
        return self.actor if self.actor is not None else self.principal.user_id

    @property
    def scoped(self) -> bool:
        """Whether reads are narrowed to one tenant (``tenant``) or to untenanted rows."""
        return not self.principal.system and (self.tenant is not None or self.untenanted)

    @property
    def tenant_scope(self) -> tuple[bool, str | None]:
        """``(scoped, tenant)``: whether reads are narrowed, and to which tenant (None = untenanted rows)."""
        scoped = self.scoped
        return scoped, self.tenant if scoped else None

    def sees_tenant(self, tenant_id: str | None) -> bool:
        """Whether a row, event or job of ``tenant_id`` is inside this caller's tenant scope."""
        return not self.scoped or tenant_id == self.tenant


SYSTEM_CALLER = Caller()
