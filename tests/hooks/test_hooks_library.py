"""Hooks through the library API (``Atomo(project=..., hooks=[...])``): the project's hooks/*.py and extra modules,
what each hook receives, ``ctx.data`` acting as the caller, after-hooks after the commit, and the loader."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from atomo import Atomo
from atomo.errors import ConfigError, PermissionDeniedError
from atomo.errors import ValidationError as CoreValidationError
from atomo.hooks import HookContext, HookSet, PermissionDenied, ValidationError, after, before, mutation, query
from atomo.hooks.loader import load_hooks
from tests.conftest import SAMPLE, make_project, settings


def module(name: str, **functions: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    for key, fn in functions.items():
        fn.__module__ = name
        setattr(mod, key, fn)
    return mod


async def seeded(app: Atomo) -> Atomo:
    await app.runtime.seed_file(SAMPLE / "seed.json")
    return app


async def event_types(app: Atomo, after: int) -> list[str]:
    return [e.type for e in await app.events.read_all(after=after)]


async def test_project_hooks_and_extra_modules_run_on_every_write(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "hooks").mkdir()
    (project / "hooks" / "titles.py").write_text(
        "from atomo.hooks import before\n\n"
        "@before('Deal', 'create', 'update')\n"
        "async def tidy(data, ctx):\n"
        "    if 'title' in data:\n"
        "        data['title'] = ' '.join(data['title'].split())\n")
    seen: list[tuple[str, Any, Any, Any]] = []

    @before("Deal", "update")
    async def remember(data: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
        seen.append((ctx.operation, ctx.id, ctx.where, dict(data)))
        return {**data, "probability": 10}

    async with Atomo(project, settings=settings(), hooks=[module("extra_hooks", remember=remember)]) as app:
        await seeded(app)
        given = {"title": "  Big   deal ", "companyId": "c-1"}
        deal = await app.create("Deal", given)
        assert deal["title"] == "Big deal" and given["title"] == "  Big   deal "   # the caller's dict is untouched
        updated = await app.update("Deal", id=deal["id"], data={"title": " New  name"})
        assert (updated["title"], updated["probability"]) == ("New name", 10)
        assert seen == [("update", deal["id"], None, {"title": "New name"})]   # in registration order: tidy first
        await app.update("Deal", where={"title": "New name"}, data={"value": 7})
        assert seen[-1] == ("update", None, {"title": "New name"}, {"value": 7})
        many = await app.update_many("Deal", [{"id": "d-1", "data": {"title": " Pilot  2 "}},
                                              {"id": "d-2", "data": {"value": 1}}])
        assert [d["title"] for d in many] == ["Pilot 2", "Fleet renewal"]
        assert [s[1] for s in seen[-2:]] == ["d-1", "d-2"]


async def test_refusals_write_nothing(app: Atomo) -> None:
    @before("Company", "create")
    async def refuse(data: dict[str, Any], ctx: HookContext) -> None:
        if data["name"] == "Blank":
            raise ValidationError("no blank names", field="name", code="blank")
        if data["name"] == "Evil":
            raise PermissionDenied("no evil companies")

    app.runtime.data.hooks.hookset.extend([refuse])
    start = await app.events.last_position()
    with pytest.raises(CoreValidationError) as refused:
        await app.create("Company", {"name": "Blank"})
    assert refused.value.to_dict() == {"code": "VALIDATION_ERROR", "message": "no blank names",
                                       "details": [{"field": "name", "message": "no blank names", "code": "blank"}]}
    with pytest.raises(PermissionDeniedError) as denied:
        await app.create("Company", {"name": "Evil"})
    assert denied.value.to_dict() == {"code": "PERMISSION_DENIED", "message": "no evil companies"}
    assert await app.count("Company") == 0 and await app.events.last_position() == start
    assert (await app.create("Company", {"name": "Good"}))["name"] == "Good"


def test_validation_error_shapes() -> None:
    assert ValidationError({"title": "too short", "value": "negative"}).details == [
        {"field": "title", "message": "too short", "code": "invalid"},
        {"field": "value", "message": "negative", "code": "invalid"}]
    listed = ValidationError([{"field": "a", "message": "bad", "code": "x"}, "loose text"], code="y")
    assert listed.details == [{"field": "a", "message": "bad", "code": "x"},
                              {"field": None, "message": "loose text", "code": "y"}]
    assert listed.message == "bad; loose text" and listed.code == "VALIDATION_ERROR" and listed.status == 400
    assert ValidationError("whole", message="overall").message == "overall"
    assert isinstance(PermissionDenied(), PermissionDeniedError) and PermissionDenied().message == "Access denied"


async def test_lifecycle_hooks_get_the_target_and_the_record(app: Atomo) -> None:
    await seeded(app)
    calls: list[tuple[str, Any, Any, Any]] = []

    @before("Deal", "delete", "restore", "hardDelete")
    async def target(value: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
        calls.append(("before", ctx.operation, value, ctx.id))
        return {"ignored": True}

    @after("Deal", "create", "update", "delete", "restore", "hardDelete")
    async def record(deal: dict[str, Any], ctx: HookContext) -> None:
        assert ctx.event is not None and ctx.event.record_id == deal["id"] == ctx.id
        calls.append(("after", ctx.operation, ctx.event.type, (deal["id"], deal.get("deletedAt") is not None,
                                                               deal.get("_version"))))

    app.runtime.data.hooks.hookset.extend([target, record])
    data = app.runtime.data
    deal = await app.create("Deal", {"title": "Short life", "companyId": "c-1"})
    assert await app.delete("Deal", id=deal["id"]) == 1
    assert await app.restore("Deal", id=deal["id"]) == 1
    assert await app.update("Deal", where={"stage": "lead"}, data={"probability": 5})
    assert await app.hard_delete("Deal", id=deal["id"]) == 1
    await data.hooks.drain()
    assert [c for c in calls if c[0] == "before"] == [
        ("before", "delete", {"id": deal["id"], "where": None}, deal["id"]),
        ("before", "restore", {"id": deal["id"], "where": None}, deal["id"]),
        ("before", "hardDelete", {"id": deal["id"], "where": None}, deal["id"])]
    afters = [c[1:] for c in calls if c[0] == "after"]
    assert afters[:3] == [("create", "Created", (deal["id"], False, 1)), ("delete", "Deleted", (deal["id"], True, 2)),
                          ("restore", "Restored", (deal["id"], False, 3))]
    updated = sorted(c[2][0] for c in afters if c[0] == "update")
    assert updated == sorted([deal["id"], "d-4"])             # one call per updated record (both leads)
    assert afters[-1] == ("hardDelete", "HardDeleted", (deal["id"], False, 4))   # the record before it went


async def test_ctx_data_acts_as_the_caller(app: Atomo) -> None:
    await seeded(app)
    user, _ = await app.users.create("sales@example.com", "Sales-pass-42", role="sales")
    seen: dict[str, Any] = {}

    @before("Deal", "create")
    async def probe(data: dict[str, Any], ctx: HookContext) -> None:
        seen["user"] = ctx.caller.principal.user_id
        seen["request"] = ctx.request_id
        seen["companies"] = await ctx.data.count("Company")
        try:
            await ctx.data.delete("Company", id="c-1")      # sales may not delete companies
        except PermissionDeniedError as exc:
            seen["denied"] = exc.code
        seen["system"] = await ctx.data.system.count("Company", where={"id": "c-1"})
        with pytest.raises(AttributeError, match="ctx.data has no operation 'model'"):
            ctx.data.model("Deal")
        assert "records" in dir(ctx.data) and "create" in dir(ctx.data)

    app.runtime.data.hooks.hookset.extend([probe])
    await app.as_user(user.id).create("Deal", {"title": "As sales", "companyId": "c-1"})
    assert seen == {"user": user.id, "request": None, "companies": 3, "denied": "PERMISSION_DENIED", "system": 1}


async def test_after_hooks_run_after_the_commit_and_failures_are_logged(app: Atomo,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    await seeded(app)
    started = asyncio.Event()
    release = asyncio.Event()

    @after("Company", "create")
    async def slow(company: dict[str, Any], ctx: HookContext) -> None:
        started.set()
        await release.wait()
        await ctx.events.append("audit", "CompanySeen", {"id": company["id"]})

    @after("Company", "create")
    async def broken(company: dict[str, Any], ctx: HookContext) -> None:
        raise KeyError("no such thing")

    app.runtime.data.hooks.hookset.extend([slow, broken])
    start = await app.events.last_position()
    created = await app.create("Company", {"name": "Later Inc"})    # answered while the hook still waits
    await asyncio.wait_for(started.wait(), 5)
    assert await app.record("Company", created["id"]) is not None
    assert await event_types(app, start) == ["Created"]
    release.set()
    with caplog.at_level(logging.ERROR, logger="atomo.hooks"):
        await app.runtime.data.hooks.drain()
    assert await event_types(app, start) == ["Created", "CompanySeen"]
    (failed,) = [r for r in caplog.records if r.name == "atomo.hooks"]
    assert failed.getMessage().startswith("after-create hook test_after_hooks_run_after_the_commit_and_failures_are_logged"
                                          ".<locals>.broken on Company (")
    assert "(request None, event " in failed.getMessage()
    assert failed.exc_info is not None and failed.exc_info[0] is KeyError
    assert await app.record("Company", created["id"]) is not None        # the write stays


async def test_a_before_hook_returning_something_else_is_an_error(app: Atomo) -> None:
    @before("Company", "create")
    def sync_hook(data: dict[str, Any], ctx: HookContext) -> list[str]:   # plain functions work too
        return ["not", "a", "dict"]

    app.runtime.data.hooks.hookset.extend([sync_hook])
    with pytest.raises(TypeError, match=r"before-create hook .*sync_hook on Company .* returned list, not a dict or None"):
        await app.create("Company", {"name": "Listy"})
    assert await app.count("Company") == 0


async def test_two_apps_in_one_process_keep_their_own_hooks(tmp_path: Path) -> None:
    @before("Company", "create")
    async def mark(data: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
        return {**data, "industry": "marked"}

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = make_project(tmp_path / "a"), make_project(tmp_path / "b")
    async with Atomo(first, settings=settings(), hooks=[mark]) as a, Atomo(second, settings=settings()) as b:
        assert (await a.create("Company", {"name": "One"}))["industry"] == "marked"
        assert (await b.create("Company", {"name": "Two"}))["industry"] is None
        assert len(a.runtime.hooks) == 1 and not b.runtime.hooks


async def test_hooks_on_unknown_models_and_bad_objects_are_refused(tmp_path: Path) -> None:
    @after("Dael", "create")
    async def typo(record: dict[str, Any], ctx: HookContext) -> None: ...

    app = Atomo(make_project(tmp_path), settings=settings(), hooks=[typo])
    with pytest.raises(ConfigError, match=r"test_hooks_library\.py:\d+: @after\('Dael', 'create'\): the schema has no "
                                          r"model 'Dael' \(models: Company, Contact, Deal\)"):
        await app.start()
    with pytest.raises(ConfigError, match="is neither a module, a HookSet nor a function decorated"):
        Atomo(tmp_path / "project", settings=settings(), hooks=[len])
    with pytest.raises(ValueError, match="the operation must be one of"):
        before("Deal", "upsert")
    with pytest.raises(ValueError, match="not a GraphQL field name"):
        query("bad-name")
    with pytest.raises(ValueError, match="needs an operation"):
        after("Deal")


def test_duplicate_custom_fields_are_refused() -> None:
    @query("total")
    async def one(args: dict[str, Any], ctx: HookContext) -> int:
        return 1

    @query("total")
    async def two(args: dict[str, Any], ctx: HookContext) -> int:
        return 2

    with pytest.raises(ConfigError, match=r"test_hooks_library\.py:\d+: Query\.total is already defined by "
                                          r"@query\('total'\) at .*test_hooks_library\.py:\d+"):
        HookSet([one, two])
    @mutation("total")
    async def three(args: dict[str, Any], ctx: HookContext) -> int:
        return 3

    both = HookSet([one, three])               # a query and a mutation may share a name
    assert sorted(both.queries) == ["total"] and sorted(both.mutations) == ["total"]


# -- the loader -----------------------------------------------------------------------------------------------

def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_loader_imports_fresh_modules_with_relative_helpers(tmp_path: Path) -> None:
    folder = write(tmp_path / "hooks", {
        "_money.py": "RATE = 2\n",
        "deals.py": "from atomo.hooks import before\nfrom ._money import RATE\n\n"
                    "@before('Deal', 'create')\nasync def double(data, ctx):\n    data['value'] *= RATE\n",
        "notes.txt": "not python\n"})
    first = load_hooks(folder)
    (hook,) = first.before_hooks("Deal", "create")
    assert hook.fn.__module__.startswith("atomo_project_hooks_") and hook.fn.__module__.endswith(".deals")
    assert len(first) == 1 and first.modules == [hook.fn.__module__]            # _money.py is a helper only
    (folder / "_money.py").write_text("RATE = 3\n")
    (folder / "deals.py").write_text((folder / "deals.py").read_text().replace("double", "triple"))
    second = load_hooks(folder)
    (again,) = second.before_hooks("Deal", "create")
    assert again.fn.__name__ == "triple" and again.fn.__globals__["RATE"] == 3 and hook.fn.__globals__["RATE"] == 2
    assert load_hooks(tmp_path / "missing").modules == [] and not load_hooks(None)


def test_loader_names_the_failing_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = write(tmp_path / "hooks", {
        "_helper.py": "def broken():\n    return {}['missing']\n",
        "a.py": "from atomo.hooks import query\n\n@query('ok')\nasync def ok(args, ctx):\n    return 1\n",
        "b.py": "from ._helper import broken\n\nVALUE = broken()\n"})
    before_modules = set(sys.modules)
    with pytest.raises(ConfigError) as failed:
        load_hooks(folder)
    assert failed.value.message == "hooks/_helper.py:2: KeyError: 'missing'"
    assert set(sys.modules) - before_modules == set()          # nothing of the failed load stays imported
    (folder / "b.py").write_text("x = (\n")
    with pytest.raises(ConfigError, match=r"^hooks/b\.py:1: SyntaxError: '\(' was never closed$"):
        load_hooks(folder)


async def test_custom_fields_in_the_engine(app: Atomo) -> None:
    from atomo.auth.principal import SYSTEM_CALLER
    from atomo.graphql.custom_fields import custom_fields_extension
    from atomo.graphql.engine import GraphQLEngine

    @query("companyNames", args="limit: Int = 2", returns="[String!]!")
    async def company_names(args: dict[str, Any], ctx: HookContext) -> list[str]:
        """Company names, \"\"\"quoted\"\"\" in the description.\n\tAnd a tab."""
        return [c["name"] for c in await ctx.data.records("Company", order_by={"name": "asc"}, limit=args["limit"])]

    @mutation("stamp", args="stream: String!", returns="JSONObject!")
    async def stamp(args: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
        event = await ctx.events.append(args["stream"], "Stamped", {"by": ctx.field})
        return {"position": event.position, "operation": ctx.operation}

    await seeded(app)
    hooks = HookSet([company_names, stamp])
    app.runtime.data.hooks.hookset.merge(hooks)
    extension = custom_fields_extension(hooks)
    description = '"Company names, \\"\\"\\"quoted\\"\\"\\" in the description.\\nAnd a tab."'
    assert extension.sdl.startswith(f"extend type Query {{\n  {description}\n  companyNames(limit: Int = 2): [String!]!\n}}")
    engine = await GraphQLEngine.build(app.schema, app.runtime.settings, extensions=[extension])
    outcome = await engine.execute('{ companyNames __type(name: "Query") { fields { name description } } }', None,
                                   None, service=app.runtime.data, caller=SYSTEM_CALLER)
    assert outcome.body["data"]["companyNames"] == ["Globex", "Initech"]
    (field,) = [f for f in outcome.body["data"]["__type"]["fields"] if f["name"] == "companyNames"]
    assert field["description"] == 'Company names, """quoted""" in the description.\nAnd a tab.'
    stamped = await engine.execute('mutation { stamp(stream: "stamps") }', None, None, service=app.runtime.data,
                                   caller=SYSTEM_CALLER, request_id="req-1")
    position = stamped.body["data"]["stamp"]["position"]
    assert stamped.body["data"]["stamp"] == {"position": position, "operation": "mutation"}
    (event,) = await app.events.read_stream("stamps")
    assert (event.position, event.type, event.data) == (position, "Stamped", {"by": "stamp"})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"returns": "JSON }\ntype Evil { x: Int }\nextend type Query { y: Int"},
     "args and returns must describe one field (got '', 'JSON }\\ntype Evil { x: Int }\\nextend type Query { y: Int')"),
    ({"args": "where: BulkUpdateInput", "returns": "BulkUpdateInput"},
     "returns: BulkUpdateInput is an input type, not an output type"),
    ({"args": "page: PageInfo"}, "argument page: PageInfo is an object type, not an input type"),
    ({"args": "n: Itn"}, "argument n: unknown type 'Itn'. Did you mean 'Int' or 'ID'?"),
    ({"returns": "[Strin]"}, "returns: unknown type 'Strin'. Did you mean 'String'?"),
])
def test_custom_field_checks(kwargs: dict[str, str], message: str) -> None:
    from atomo.graphql.custom_fields import custom_fields_extension

    @query("checked", **kwargs)
    async def checked(args: dict[str, Any], ctx: HookContext) -> None: ...

    with pytest.raises(ConfigError) as refused:
        custom_fields_extension(HookSet([checked]))
    assert refused.value.message.endswith(message), refused.value.message
    assert re.match(r"tests/hooks/test_hooks_library\.py:\d+: @query\('checked'\): ", refused.value.message)
