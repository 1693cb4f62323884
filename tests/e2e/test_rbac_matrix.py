"""The access decision table (auth chapter §7.3) through the real server: every rule kind x role x
operation, with the exact outcome (UNAUTHENTICATED / PERMISSION_DENIED / allowed on every row /
filtered to the caller's rows / NOT_FOUND or a zero count for invisible rows).

One model per rule kind, all with the same fields. Users and rows are prepared with the library
before the server starts: for each model and caller there is an own row and a row of another user
for each of update, delete, restore (pre-deleted) and hardDelete, all in tenant ``t1``. The non-admin
users are bound to ``t1`` (only unbound admins may choose a tenant with ``X-Tenant-ID``, auth §8); an
unbound twin of each (``<role>-free``) has no effective tenant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from atomo import Atomo
from atomo.auth.principal import Caller
from tests.e2e.authkit import PASSWORD, Gql, Outcome, with_library, write_project
from tests.e2e.conftest import ServerProcess, server_env

RULES: dict[str, str | None] = {
    "NoRule": None, "PublicDoc": "public", "AuthDoc": "authenticated", "RoleDoc": "Sales|MANAGER",
    "OwnerDoc": "owner(ownerId)", "TenantDoc": "sameTenant", "AdminOwnerDoc": "admin|owner(ownerId)",
    "AdminTenantDoc": "admin|sameTenant",
}
MIXED = "MixedDoc"   # read/create: authenticated; update/delete: admin|owner(ownerId)
ROLES = ("viewer", "sales", "manager", "admin")
CALLERS = ("anonymous", *ROLES)
WRITES = ("update", "delete", "restore", "hardDelete")
TENANT = "t1"


def schema_text() -> str:
    lines = [f"export interface {name} {{ id: string; name: string; ownerId?: string }}" for name in [*RULES, MIXED]]
    models = []
    for name, rule in RULES.items():
        if rule is not None:
            models.append(f"    {name}: {{ access: {{ create: '{rule}', read: '{rule}', update: '{rule}', "
                          f"delete: '{rule}' }} }},")
    models.append(f"    {MIXED}: {{ access: {{ read: 'authenticated', create: 'authenticated', "
                  "update: allow.any([allow.role('admin'), allow.owner('ownerId')]), "
                  "delete: 'admin|owner(ownerId)' } },")
    return "\n".join([*lines, "export const schema = {", "  models: {", *models, "  },", "}", "export default schema",
                      ""])


def expected(model: str, who: str, scoped: bool = True) -> str:
    """all | own | denied | unauth for one caller on one model (the same rule for every operation)."""
    rule = RULES[model]
    if rule == "public":
        return "all"
    if who == "anonymous":
        return "unauth"
    if rule in (None, "authenticated"):
        return "all"
    if rule == "Sales|MANAGER":
        return "all" if who in ("sales", "manager") else "denied"
    if rule == "owner(ownerId)":
        return "own"
    if rule == "sameTenant":
        return "all" if scoped else "denied"
    if rule == "admin|owner(ownerId)":
        return "all" if who == "admin" else "own"
    assert rule == "admin|sameTenant"
    return "all" if who == "admin" or scoped else "denied"


class World:
    def __init__(self, server: ServerProcess, users: dict[str, str], rows: dict[tuple[str, ...], str]) -> None:
        self.server = server
        self.users = users                  # role (and "other") -> user id
        self.rows = rows                    # (model, who, op, own|other) -> record id
        self.gql = Gql(server.base_url)
        self.tokens: dict[str, str | None] = {"anonymous": None}
        self.free_tokens: dict[str, str | None] = {"anonymous": None, "admin": None}
        for role in ROLES:
            self.tokens[role] = self.gql.login(f"{role}@matrix.test")
            if role != "admin":
                self.free_tokens[role] = self.gql.login(f"{role}-free@matrix.test")
        self.free_tokens["admin"] = self.tokens["admin"]


async def prepare(app: Atomo) -> tuple[dict[str, str], dict[tuple[str, ...], str]]:
    users = {}
    for role in (*ROLES, "other"):
        user, _ = await app.users.create(f"{role}@matrix.test", PASSWORD, role="viewer" if role == "other" else role,
                                         tenant_id=None if role == "admin" else TENANT)
        users[role] = user.id
        if role in ROLES and role != "admin":
            await app.users.create(f"{role}-free@matrix.test", PASSWORD, role=role)
    scoped = Caller(tenant=TENANT)
    rows: dict[tuple[str, ...], str] = {}

    async def row(model: str, who: str, op: str, whose: str) -> None:
        owner = users["other"] if whose == "other" else users.get(who)
        record = await app.runtime.data.create(model, {"name": f"{who}-{op}-{whose}", "ownerId": owner}, caller=scoped)
        if op == "restore":
            await app.runtime.data.delete(model, id=record["id"], caller=scoped)
        rows[(model, who, op, whose)] = record["id"]
    await asyncio.gather(*(row(m, who, op, whose) for m in [*RULES, MIXED] for who in CALLERS for op in WRITES
                           for whose in ("own", "other")))
    return users, rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    project = write_project(tmp_path_factory.mktemp("rbac") / "project", schema_text())
    users, rows = with_library(project, prepare)
    server = ServerProcess(project, env=server_env()).start()
    try:
        w = World(server, users, rows)
        yield w
        w.gql.close()
    finally:
        server.stop()


def assert_refused(outcome: Outcome, kind: str) -> None:
    if kind == "unauth":
        assert outcome.code == "UNAUTHENTICATED" and outcome.status == 401, outcome
    else:
        assert outcome.code == "PERMISSION_DENIED" and outcome.status == 200, outcome
        assert outcome.body["errors"][0]["extensions"]["details"]["model"] in [*RULES, MIXED]


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("model", list(RULES))
def test_decision_table(world: World, model: str, who: str) -> None:
    kind = expected(model, who)
    token, me, rows = world.tokens[who], world.users.get(who), world.rows
    m = f'model: "{model}"'

    def run(field: str, args: str, variables: dict[str, Any] | None = None, mutation: bool = False) -> Outcome:
        return world.gql.field(field, f"{m}{', ' if args else ''}{args}", variables, mutation=mutation, token=token,
                               tenant=TENANT)

    def rid(op: str, whose: str) -> str:
        return rows[(model, who, op, whose)]

    operations = {
        "create": lambda: run("create", "data: $d", {"d": {"name": "created"}}, True),
        "records": lambda: run("records", ""),
        "record": lambda: run("record", f'id: "{rid("update", "other")}"'),
        "count": lambda: run("count", ""),
        "update": lambda: run("update", f'id: "{rid("update", "other")}", data: $d', {"d": {"name": "x"}}, True),
        "delete": lambda: run("delete", f'id: "{rid("delete", "other")}"', mutation=True),
        "restore": lambda: run("restore", f'id: "{rid("restore", "other")}"', mutation=True),
        "hardDelete": lambda: run("hardDelete", f'id: "{rid("hardDelete", "other")}"', mutation=True),
    }
    if kind in ("unauth", "denied"):
        for name, call in operations.items():
            outcome = call()
            assert_refused(outcome, kind)
            assert outcome.body["errors"][0]["path"] == [name.split("_")[0]]
        return

    # -- reads: everything in the tenant, or only the caller's rows -------------------------------------
    records = operations["records"]()
    assert records.ok, records
    ids = {r["id"] for r in records.value}
    assert rid("update", "own") in ids and rid("delete", "own") in ids
    assert rid("restore", "own") not in ids                       # soft-deleted rows are not listed
    assert all(r["tenantId"] == TENANT for r in records.value)
    count = operations["count"]()
    assert count.ok and count.value == len(ids), count
    other = operations["record"]()
    assert other.ok, other
    own = run("record", f'id: "{rid("update", "own")}"')
    assert own.ok and own.value["id"] == rid("update", "own")
    if kind == "all":
        assert rid("update", "other") in ids and other.value["id"] == rid("update", "other")
    else:
        assert all(r["ownerId"] == me for r in records.value)
        assert rid("update", "other") not in ids and other.value is None

    # -- create: allowed, tenant stamped, owner(f) stamped with the caller's id --------------------------
    created = operations["create"]()
    assert created.ok, created
    assert created.value["tenantId"] == TENANT
    stamps_owner = RULES[model] is not None and "owner(" in str(RULES[model]) and who != "anonymous"
    assert created.value["ownerId"] == (me if stamps_owner else None)
    foreign = run("create", "data: $d", {"d": {"name": "given away", "ownerId": world.users["other"]}}, True)
    if kind == "own":
        assert foreign.code == "PERMISSION_DENIED", foreign
    else:
        assert foreign.ok and foreign.value["ownerId"] == world.users["other"], foreign

    # -- writes on another user's row: applied, or invisible (NOT_FOUND by id / zero count) -------------
    update = operations["update"]()
    if kind == "all":
        assert update.ok and update.value["name"] == "x", update
    else:
        assert update.code == "NOT_FOUND" and update.body["data"] is None, update
    for op in ("delete", "restore", "hardDelete"):
        outcome = operations[op]()
        assert outcome.ok and outcome.value == (1 if kind == "all" else 0), (op, outcome)

    # -- writes on the caller's own row: always applied ------------------------------------------------
    mine = run("update", f'id: "{rid("update", "own")}", data: $d', {"d": {"name": "mine"}}, True)
    assert mine.ok and mine.value["name"] == "mine", mine
    if kind == "own":   # the after-image must pass too: no handing a row to another owner
        away = run("update", f'id: "{rid("update", "own")}", data: $d', {"d": {"ownerId": world.users["other"]}},
                   True)
        assert away.code == "PERMISSION_DENIED", away
    for op in ("delete", "restore", "hardDelete"):
        outcome = run(op, f'id: "{rid(op, "own")}"', mutation=True)
        assert outcome.ok and outcome.value == 1, (op, outcome)


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize("model", ["TenantDoc", "AdminTenantDoc"])
def test_same_tenant_without_an_effective_tenant(world: World, model: str, who: str) -> None:
    """sameTenant is false without an effective tenant: PERMISSION_DENIED unless a role alternative passes."""
    kind = expected(model, who, scoped=False)
    token = world.free_tokens[who]
    target = world.rows[(model, who, "update", "other")]
    outcomes = [
        world.gql.field("records", f'model: "{model}"', token=token),
        world.gql.field("count", f'model: "{model}"', token=token),
        world.gql.field("record", f'model: "{model}", id: "{target}"', token=token),
        world.gql.field("create", f'model: "{model}", data: $d', {"d": {"name": "n"}}, mutation=True, token=token),
        world.gql.field("delete", f'model: "{model}", id: "missing"', mutation=True, token=token),
    ]
    for outcome in outcomes:
        if kind == "all":
            assert outcome.ok, outcome
        else:
            assert_refused(outcome, kind)
    if kind == "all":   # the unscoped admin sees every tenant, and creates rows without one
        assert outcomes[2].value["id"] == target and outcomes[3].value["tenantId"] is None


def test_mixed_rules_readable_but_not_writable(world: World) -> None:
    """read: authenticated, update/delete: admin|owner(ownerId): foreign rows by id are PERMISSION_DENIED,
    by where they are skipped silently."""
    token = world.tokens["sales"]
    mine, theirs = world.rows[(MIXED, "sales", "update", "own")], world.rows[(MIXED, "sales", "update", "other")]
    m = f'model: "{MIXED}"'
    seen = world.gql.field("record", f'{m}, id: "{theirs}"', token=token, tenant=TENANT)
    assert seen.ok and seen.value["id"] == theirs
    denied = world.gql.field("update", f'{m}, id: "{theirs}", data: $d', {"d": {"name": "n"}}, mutation=True,
                             token=token, tenant=TENANT)
    assert denied.code == "PERMISSION_DENIED" and denied.body["errors"][0]["extensions"]["details"] == \
        {"model": MIXED, "action": "update"}
    for op in ("delete", "hardDelete"):
        outcome = world.gql.field(op, f'{m}, id: "{theirs}"', mutation=True, token=token, tenant=TENANT)
        assert outcome.code == "PERMISSION_DENIED" and \
            outcome.body["errors"][0]["extensions"]["details"]["action"] == "delete", outcome
    where = {"id": {"in": [mine, theirs]}}
    bulk = world.gql.field("update", f"{m}, where: $w, data: $d", {"w": where, "d": {"name": "bulk"}}, mutation=True,
                           token=token, tenant=TENANT)
    assert bulk.ok and bulk.value["id"] == mine, bulk
    assert world.gql.field("record", f'{m}, id: "{theirs}"', token=token, tenant=TENANT).value["name"] != "bulk"
    deleted = world.gql.field("delete", f"{m}, where: $w", {"w": where}, mutation=True, token=token, tenant=TENANT)
    assert deleted.ok and deleted.value == 1
    many = world.gql.field("updateMany", f"{m}, items: $items", {"items": [{"id": theirs, "data": {"name": "z"}}]},
                           mutation=True, token=token, tenant=TENANT)
    assert many.code == "PERMISSION_DENIED", many

