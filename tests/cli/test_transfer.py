"""`atomo export FILE` / `atomo import FILE`: a project's event log and users between SQLite and PostgreSQL.

The round trip SQLite -> PostgreSQL -> SQLite keeps every record, deleted record, event and user; the event and
user lines of the three exports are the same bytes (payloads are never re-encoded, JSON or MessagePack). An
import refuses a database with events or users, and a damaged file (the line is named) leaves the target empty.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from atomo import Atomo
from atomo.auth.login import LoginService
from atomo.config import load_settings
from atomo.storage import transfer
from atomo.storage.events import NewEvent
from tests.cli.conftest import atomo
from tests.conftest import SAMPLE, new_postgres_schema

PASSWORD = "Transfer-pass-42"


def app_for(project: Path, *, database_url: str | None = None, data_file: Path | None = None,
            encoding: str = "json") -> Atomo:
    environ = {"ATOMO_EVENT_ENCODING": encoding}
    if database_url is not None:
        environ["DATABASE_URL"] = database_url
    if data_file is not None:
        environ["ATOMO_DATA_FILE"] = str(data_file)
    return Atomo(project, settings=load_settings(environ))


async def fill(app: Atomo) -> None:
    """The CRM seed, then creates, updates, deletes, restores, block operations, a custom event and a user."""
    await app.runtime.seed_file(SAMPLE / "seed.json")
    deal = await app.create("Deal", {"title": "Export  me", "value": 1234.5, "stage": "lead", "companyId": "c-2"},
                            actor="u-1")
    await app.update("Deal", id=deal["id"], data={"stage": "won", "probability": 100})
    await app.update("Contact", id="p-1", data={"phone": "+44 20 7946 0000", "tags": ["vip", "ünïcødé ✓"]})
    await app.delete("Deal", id="d-3")
    await app.delete("Contact", id="p-6")
    await app.restore("Contact", id="p-6")
    await app.delete("Contact", id="p-5")
    await app.hard_delete("Contact", id="p-5")
    await app.insert_block("Deal", "d-1", "notes", {"type": "paragraph", "text": "Renewal next *year*."})
    await app.update_block("Deal", "d-1", "notes", "b-1", {"text": "Signed after a trial."})
    await app.move_block("Deal", "d-1", "notes", "b-2", position=0)
    await app.remove_block("Deal", "d-2", "notes", "b-6")
    await app.events.append("Audit/export", [NewEvent("Audit.Noted", {"note": "moved"}, metadata={"corr": "c-9"})],
                            actor="ops")
    await app.users.create("bob@example.com", PASSWORD, role="editor", first_name="Bob")


def filled(project: Path) -> None:
    """The project's SQLite data with ``fill``'s records, events and user."""
    async def prepare() -> None:
        async with app_for(project) as app:
            await fill(app)
    asyncio.run(prepare())


async def state(app: Atomo) -> dict[str, Any]:
    """What the API answers: every model's records and deleted records, the whole log, the users."""
    assert app.schema is not None
    models: dict[str, Any] = {}
    for model in app.schema.models:
        live = await app.records(model.name, order_by={"id": "asc"}, limit=1000)
        gone = await app.deleted_records(model.name, order_by={"id": "asc"}, limit=1000)
        models[model.name] = (live, gone)
    events = await app.events.read_all(limit=100_000)
    users = sorted(await app.users.list(), key=lambda u: u.id)
    return {"models": models, "events": events, "users": users}


async def opened_state(app: Atomo, *, login: bool = False) -> dict[str, Any]:
    async with app:
        found = await state(app)
        if login:        # bob's password works on this database, and his token reads through the API
            session = await LoginService(app.runtime.db, app.tokens, session_ttl_secs=600).login(  # type: ignore[arg-type]
                "bob@example.com", PASSWORD)
            assert await app.as_user(session.token).count("Deal") == len(found["models"]["Deal"][0])
        return found


def cli(project: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None):  # noqa: ANN201
    return atomo("--project", str(project), *args, cwd=project, env=env, input=input)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def count_rows(data_file: Path) -> tuple[int, int]:
    conn = sqlite3.connect(data_file)
    try:
        return (conn.execute("SELECT count(*) FROM events").fetchone()[0],
                conn.execute("SELECT count(*) FROM users").fetchone()[0])
    finally:
        conn.close()


def test_round_trip_sqlite_postgres_sqlite(crm: Path, postgres_url: str, tmp_path: Path) -> None:
    source = app_for(crm)

    async def prepare() -> dict[str, Any]:
        async with source:
            await fill(source)
            return await state(source)
    before = asyncio.run(prepare())
    assert before["models"]["Deal"][1]["data"] and len(before["events"]) > 25

    first = tmp_path / "first.ndjson"
    out = cli(crm, "export", str(first))
    assert out.exit_code == 0, out.output
    n = len(before["events"])
    assert out.stdout == f"exported {n} events, 1 users to {first}\n"
    header = json.loads(lines(first)[0])
    assert header["format"] == "atomo-export" and header["version"] == 1 and header["source"] == "sqlite"
    assert (header["events"], header["users"], header["lastPosition"]) == (n, 1, n)
    assert not (tmp_path / "first.ndjson.partial").exists()

    imported = cli(crm, "import", str(first), "--database-url", postgres_url)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.startswith(f"imported {n} events, 1 users; rebuilt 3 tables in ")

    second = tmp_path / "second.ndjson"
    out = cli(crm, "export", str(second), "--database-url", postgres_url)
    assert out.exit_code == 0, out.output
    assert json.loads(lines(second)[0])["source"] == "postgres"
    assert lines(second)[1:] == lines(first)[1:]          # the same events and users, byte for byte

    third = tmp_path / "third.db"
    imported = cli(crm, "--data-file", str(third), "import", str(second))
    assert imported.exit_code == 0, imported.output
    out = cli(crm, "--data-file", str(third), "export", "-")   # to stdout
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines()[1:] == lines(first)[1:]
    assert out.stderr.endswith(f"exported {n} events, 1 users to stdout\n")

    on_postgres = asyncio.run(opened_state(app_for(crm, database_url=postgres_url), login=True))
    on_sqlite = asyncio.run(opened_state(app_for(crm, data_file=third), login=True))
    assert on_postgres["models"] == before["models"] == on_sqlite["models"]
    assert on_postgres["events"] == before["events"] == on_sqlite["events"]
    assert on_postgres["users"] == before["users"]
    # the login above changed last_login_at on the SQLite copy only; the account is the same otherwise
    assert [(u.id, u.email, u.password_hash, u.role) for u in on_sqlite["users"]] == \
        [(u.id, u.email, u.password_hash, u.role) for u in before["users"]]


def test_stdin_import_and_small_pages(crm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyset pages and insert batches smaller than the log (3 rows): the same file, through stdout and stdin."""
    filled(crm)
    monkeypatch.setattr(transfer, "BATCH", 3)
    exported = cli(crm, "export", "-")
    assert exported.exit_code == 0, exported.output
    target = tmp_path / "copy.db"
    imported = cli(crm, "--data-file", str(target), "import", "-", input=exported.stdout)
    assert imported.exit_code == 0, imported.output
    again = cli(crm, "--data-file", str(target), "export", "-")
    assert again.stdout.splitlines()[1:] == exported.stdout.splitlines()[1:]
    assert asyncio.run(opened_state(app_for(crm, data_file=target)))["models"] == \
        asyncio.run(opened_state(app_for(crm)))["models"]


def test_import_into_a_database_with_events_or_users_is_refused(crm: Path, tmp_path: Path,
                                                                 postgres_url: str) -> None:
    filled(crm)
    file = tmp_path / "log.ndjson"
    assert cli(crm, "export", str(file)).exit_code == 0
    data_file = crm / ".atomo" / "atomo.db"
    before = count_rows(data_file)

    refused = cli(crm, "import", str(file))                  # into the source itself
    assert refused.exit_code == 3
    assert refused.stderr == (f"atomo: the target database already has {before[0]} events and 1 users: import only "
                              "into an empty database (a new data file, or a new PostgreSQL schema); nothing was "
                              "imported\n")
    assert count_rows(data_file) == before

    users_only = tmp_path / "users-only.db"                  # a database with an account but no events
    made = cli(crm, "--data-file", str(users_only), "users", "create", "--email", "a@example.com",
               "--generate-password")
    assert made.exit_code == 0, made.output
    refused = cli(crm, "--data-file", str(users_only), "import", str(file))
    assert refused.exit_code == 3 and "already has 0 events and 1 users" in refused.stderr
    assert count_rows(users_only) == (0, 1)

    assert cli(crm, "import", str(file), "--database-url", postgres_url).exit_code == 0
    refused = cli(crm, "import", str(file), "--database-url", postgres_url)
    assert refused.exit_code == 3 and f"already has {before[0]} events and 1 users" in refused.stderr


def damaged(path: Path, change: Any, name: str = "damaged") -> Path:
    text = path.read_text(encoding="utf-8")
    out = path.with_name(f"{name}.ndjson")
    out.write_text(change(text), encoding="utf-8", newline="")
    return out


def drop_line(number: int) -> Any:
    return lambda text: "".join(line for i, line in enumerate(text.splitlines(keepends=True), 1) if i != number)


def insert_line(number: int, text: str) -> Any:
    def change(whole: str) -> str:
        parts = whole.splitlines(keepends=True)
        return "".join([*parts[:number - 1], text, *parts[number - 1:]])
    return change


def edit_line(number: int, fn: Any) -> Any:
    def change(text: str) -> str:
        parts = text.splitlines(keepends=True)
        parts[number - 1] = json.dumps(fn(json.loads(parts[number - 1]))) + "\n"
        return "".join(parts)
    return change


def set_key(key: str, value: Any) -> Any:
    return lambda obj: {**obj, key: value}


def test_damaged_files_are_refused_with_the_line_and_leave_the_target_empty(
        crm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filled(crm)
    good = tmp_path / "good.ndjson"
    assert cli(crm, "export", str(good)).exit_code == 0
    n = json.loads(lines(good)[0])["events"]
    monkeypatch.setattr(transfer, "BATCH", 4)      # later errors come after batches were inserted (then undone)
    second_event_id = json.loads(lines(good)[2])["event_id"]
    cases = [
        (drop_line(10), "line 10: position 10 where 9 was expected (positions run 1, 2, 3… in order without gaps)"),
        (edit_line(1, set_key("version", 2)), "line 1: export version 2 is not supported (this release reads "
                                              "version 1)"),
        (edit_line(1, set_key("format", "other")), "line 1: not an Atomo export (the header's format is not "
                                                   "'atomo-export')"),
        (lambda text: text[:-25], f"line {n + 2}: truncated (the last line does not end with a newline: the file "
                                  "was cut short?)"),
        (drop_line(n + 2), f"the file ends at line {n + 1} after {n} events and 0 users, where its header announces "
                           f"{n} and 1 (was it cut short?)"),
        (insert_line(16, "{oops\n"), "line 16: not valid JSON"),
        (edit_line(n, set_key("event_id", second_event_id)), f"line {n}: the database refused it: UNIQUE constraint "
                                                             "failed: events.event_id"),
        (edit_line(12, set_key("data", "{not json")), "line 12: data is not valid JSON"),
        (edit_line(7, set_key("colour", "red")), "line 7: unknown event field 'colour'"),
        (edit_line(n + 2, lambda obj: {**obj, "row": {**obj["row"], "nickname": "x"}}),
         f"line {n + 2}: users has no column 'nickname' in the target database"),
    ]
    for number, (change, message) in enumerate(cases):
        bad = damaged(good, change, f"damaged-{number}")
        target = tmp_path / f"target-{number}.db"
        refused = cli(crm, "--data-file", str(target), "import", str(bad))
        assert refused.exit_code == 1, (message, refused.output)
        errors = [line for line in refused.stderr.splitlines() if line.startswith("atomo: ")]  # after progress lines
        assert len(errors) == 1 and errors[0].startswith(f"atomo: {message}"), refused.stderr
        assert errors[0].endswith("; nothing was imported"), refused.stderr
        if target.exists():
            assert count_rows(target) == (0, 0), message
        else:
            assert message.startswith("line 1:")       # a wrong header: the target is not even created


def test_damaged_file_on_postgres_leaves_the_schema_empty(crm: Path, tmp_path: Path, postgres_url: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    filled(crm)
    good = tmp_path / "good.ndjson"
    assert cli(crm, "export", str(good)).exit_code == 0
    monkeypatch.setattr(transfer, "BATCH", 4)
    bad = damaged(good, drop_line(20))
    refused = cli(crm, "import", str(bad), "--database-url", postgres_url)
    assert refused.exit_code == 1 and "atomo: line 20: position 20 where 19 was expected" in refused.stderr

    async def counts() -> tuple[int, int]:
        async with app_for(crm, database_url=postgres_url) as app:
            return await app.events.last_position(), len(await app.users.list())
    assert asyncio.run(counts()) == (0, 0)
    assert cli(crm, "import", str(good), "--database-url", postgres_url).exit_code == 0   # and it stays usable


def test_msgpack_project_round_trips(crm: Path, postgres_server: Any, postgres_url: str, tmp_path: Path) -> None:
    msgpack = {"ATOMO_EVENT_ENCODING": "msgpack"}

    async def prepare() -> dict[str, Any]:
        async with app_for(crm, encoding="msgpack") as app:
            await fill(app)
            return await state(app)
    before = asyncio.run(prepare())
    first = tmp_path / "first.ndjson"
    assert cli(crm, "export", str(first), env=msgpack).exit_code == 0
    event = json.loads(lines(first)[1])
    assert "data_b64" in event and "data" not in event and event["previous_data"] is None

    refused = cli(crm, "import", str(first), "--database-url", postgres_url)   # a json (text) event log
    assert refused.exit_code == 1
    assert refused.stderr == ("atomo: line 2: data is MessagePack but the target's event log stores JSON text: "
                              "import with ATOMO_EVENT_ENCODING=msgpack into a new schema; nothing was imported\n")

    url = new_postgres_schema(postgres_server, "msgpack_target")   # the refused import made a text event log
    imported = cli(crm, "import", str(first), "--database-url", url, env=msgpack)
    assert imported.exit_code == 0, imported.output
    second = tmp_path / "second.ndjson"
    assert cli(crm, "export", str(second), "--database-url", url, env=msgpack).exit_code == 0
    assert lines(second)[1:] == lines(first)[1:]
    third = tmp_path / "third.db"
    assert cli(crm, "--data-file", str(third), "import", str(second), env=msgpack).exit_code == 0

    on_postgres = asyncio.run(opened_state(app_for(crm, database_url=url, encoding="msgpack"), login=True))
    on_sqlite = asyncio.run(opened_state(app_for(crm, data_file=third, encoding="msgpack")))
    assert on_postgres["models"] == before["models"] == on_sqlite["models"]
    assert on_postgres["events"] == before["events"] == on_sqlite["events"]

