"""Who is calling: the principal (user, anonymous or system) and the request's effective scope."""

from __future__ import annotations

from dataclasses import dataclass


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
    tenant: str | None = None          # effective tenant scope (None = unscoped)
    actor: str | None = None           # recorded on events; defaults to the user id
    origin: str | None = None          # action name, `seed`, ...

    @property
    def event_actor(self) -> str | None:
        return self.actor if self.actor is not None else self.principal.user_id


SYSTEM_CALLER = Caller()
