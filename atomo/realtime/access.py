"""Channel access (realtime chapter §9): optional rules from the schema, and the reserved channels.

- Without rules everything is allowed except the reserved channels. Once the schema declares any
  rule, a channel matching none is refused (default deny). Sessions are checked as ``session:<name>``.
- Matching: an exact name beats a pattern; among patterns the longest literal prefix wins. ``{id}``
  is one segment without ``:``; a trailing ``*`` matches any rest.
- ``subscribe`` governs subscribe/presence/session_join, ``publish`` governs publish; a missing rule
  means ``authenticated``. With ``record`` the ``{id}`` names a record the caller must be able to read
  (read rule with row-level terms, tenant scope, not soft-deleted); ``owner(f)``/``sameTenant`` are
  evaluated on it (false without ``record``).
- ``job:<id>``: subscribe/presence only for principals allowed to read the job (``job_reader``: the
  rule of ``GET /jobs/{id}``, tenant scope included; without it admins), never publish.
- ``system:*``: clients never publish there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from atomo.auth.principal import Caller, Principal
from atomo.auth.scope import caller_for
from atomo.errors import AtomoError
from atomo.schema.model import AccessRule, ChannelRule, camel_case, snake_case
from atomo.schema.patterns import compile_rules, match

JobReader = Callable[[Principal, str], Awaitable[bool]]
RecordReader = Callable[[str, str, Caller], Awaitable[dict[str, Any] | None]]


def caller_level(rule: AccessRule | None, principal: Principal) -> tuple[bool, list[Any]]:
    """(allowed by a caller-level alternative, the row-level alternatives that apply)."""
    if rule is None:
        return principal.authenticated, []
    rows = []
    for alt in rule.alternatives:
        if alt.kind == "public":
            return True, []
        if not principal.authenticated:
            continue
        if alt.kind == "authenticated" or (alt.kind == "role" and alt.value == (principal.role or "")):
            return True, []
        if alt.kind in ("owner", "sameTenant"):
            rows.append(alt)
    return False, rows


class ChannelAccess:
    def __init__(self, rules: Callable[[], tuple[ChannelRule, ...]], records: RecordReader,
                 job_reader: JobReader | None = None) -> None:
        self.rules = rules
        self.records = records
        self.job_reader = job_reader

    async def allowed(self, principal: Principal, channel: str, action: str) -> bool:
        """``action``: ``subscribe`` (also presence, session_join) or ``publish``."""
        if channel.startswith("job:"):
            return action == "subscribe" and await self._job(principal, channel[4:])
        if channel.startswith("system:") and action == "publish":
            return False
        rules = self.rules()
        if not rules:
            return True
        found = match(compile_rules(rules), channel)
        if found is None:
            return False
        rule, record_id = found
        access = rule.subscribe if action == "subscribe" else rule.publish
        passed, rows = caller_level(access, principal)
        if rule.record is None:
            return passed
        if record_id is None or not principal.authenticated and not passed:
            return False
        caller = caller_for(principal, None)
        try:
            record = await self.records(rule.record, record_id, caller)
        except AtomoError:
            return False
        if record is None:
            return False
        if passed:
            return True
        for alt in rows:
            if alt.kind == "owner" and alt.value is not None:
                value = record.get(alt.value, record.get(camel_case(snake_case(alt.value))))
                if value == principal.user_id:
                    return True
            if alt.kind == "sameTenant" and caller.tenant is not None and record.get("tenantId") == caller.tenant:
                return True
        return False

    async def _job(self, principal: Principal, job_id: str) -> bool:
        if not principal.authenticated:
            return False
        if self.job_reader is None:     # no jobs subsystem: admins only
            return principal.role == "admin"
        try:                            # exactly when GET /jobs/{id} shows the job (tenant scope included)
            return await self.job_reader(principal, job_id)
        except AtomoError:
            return False
