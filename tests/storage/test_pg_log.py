"""Event positions on PostgreSQL (``atomo.storage.pg_log``, issue 21) against a real server
(``atomo.testing.postgres``), appended by Atomo's ``EventAppender`` on ``PgConnection``s: a second appender
waits for the first; positions are dense and in commit order under concurrent appenders with rollbacks (whole
transactions and a unit's savepoint), and a reader polling ``position > cursor`` never skips one. A
``bigserial`` next to it shows the skip this design prevents."""

from __future__ import annotations

import random
import threading
import time

import pytest

from atomo.storage.events import EventAppender, NewEvent
from atomo.storage.pg_database import PgConnection, connect
from atomo.storage.pg_log import begin_write, events_ddl

psycopg = pytest.importorskip("psycopg")
APPENDERS = 6
TRANSACTIONS = 60      # per appender


@pytest.fixture
def url(postgres_url: str) -> str:
    """A fresh schema with the event log."""
    conn = connect(postgres_url)
    for statement in events_ddl():
        conn.execute(statement)
    conn.close()
    return postgres_url


APPENDER = EventAppender()


def append(conn: PgConnection, stream: str, n: int) -> int:
    event, = APPENDER.append_many(conn, stream, [NewEvent("created", {"n": n})], None, actor=None, tenant_id=None,
                                  origin=None, recorded_at="2026-12-06T00:00:00Z")
    return event.position


def seen_after(conn: PgConnection, cursor: int) -> list[int]:
    return [row[0] for row in conn.execute("SELECT position FROM events WHERE position > ? ORDER BY position",
                                           (cursor,))]


def waiting_for_the_write_lock(conn: PgConnection) -> int:
    return int(conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
               .fetchone()[0])


def test_a_second_appender_waits_and_continues_after_the_first_commits(url: str) -> None:
    a, b, reader = connect(url), connect(url), connect(url)
    begin_write(a)
    assert append(a, "s:a", 1) == 1
    done: list[int] = []

    def second() -> None:
        begin_write(b)                                   # blocks here while A holds the lock
        done.append(append(b, "s:b", 1))
        b.execute("COMMIT")

    thread = threading.Thread(target=second)
    thread.start()
    deadline = time.monotonic() + 10
    while waiting_for_the_write_lock(reader) == 0:
        assert time.monotonic() < deadline, "B never waited for the write lock"
        time.sleep(0.01)
    assert seen_after(reader, 0) == [], "nothing committed yet"
    a.execute("COMMIT")
    thread.join(10)
    assert done == [2]
    assert seen_after(reader, 0) == [1, 2]
    for conn in (a, b, reader):
        conn.close()


def test_a_rolled_back_transaction_or_unit_leaves_no_gap(url: str) -> None:
    conn = connect(url)
    begin_write(conn)
    append(conn, "s:x", 1)
    conn.execute("ROLLBACK")
    begin_write(conn)
    assert append(conn, "s:y", 1) == 1
    conn.execute("SAVEPOINT unit")                       # a unit that fails gives its position back
    append(conn, "s:z", 1)
    conn.execute("ROLLBACK TO unit")
    conn.execute("RELEASE unit")
    assert append(conn, "s:y", 2) == 2
    conn.execute("COMMIT")
    assert seen_after(conn, 0) == [1, 2]
    conn.close()


def test_concurrent_appenders_give_dense_positions_and_a_polling_reader_skips_none(url: str) -> None:
    stop = threading.Event()
    polled: list[int] = []
    errors: list[BaseException] = []

    def appender(index: int) -> None:
        rng = random.Random(index)
        try:
            conn = connect(url)
            for t in range(TRANSACTIONS):
                begin_write(conn)
                for k in range(rng.randint(1, 3)):
                    append(conn, f"s:{index}-{t}-{k}", 1)
                time.sleep(rng.random() / 500)           # commits come late, while others wait
                conn.execute("ROLLBACK" if rng.random() < 0.1 else "COMMIT")
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            conn = connect(url)
            while True:
                last = stop.is_set()
                polled.extend(seen_after(conn, polled[-1] if polled else 0))
                if last:
                    conn.close()
                    return
                time.sleep(0.001)
        except BaseException as exc:
            errors.append(exc)

    poller = threading.Thread(target=reader)
    poller.start()
    writers = [threading.Thread(target=appender, args=(i,)) for i in range(APPENDERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(120)
    stop.set()
    poller.join(30)
    assert errors == []
    conn = connect(url)
    total = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    conn.close()
    assert total > APPENDERS * TRANSACTIONS              # 1-3 events per committed transaction
    assert polled == list(range(1, total + 1)), "the reader skipped or repeated a position"


def test_a_bigserial_lets_a_cursor_skip_an_event_that_commits_late(url: str) -> None:
    """Why positions are not a sequence: B takes 2 after A took 1, B commits first, a reader moves its cursor
    to 2, A commits 1 behind it."""
    setup = connect(url)
    setup.execute("CREATE TABLE naive (position bigserial PRIMARY KEY, v text)")
    a, b = connect(url), connect(url)
    a.execute("BEGIN")
    a.execute("INSERT INTO naive (v) VALUES ('a')")
    b.execute("BEGIN")
    b.execute("INSERT INTO naive (v) VALUES ('b')")
    b.execute("COMMIT")
    cursor = max(row[0] for row in setup.execute("SELECT position FROM naive"))
    a.execute("COMMIT")
    late = [row[0] for row in setup.execute("SELECT position FROM naive WHERE position > ?", (cursor,))]
    assert cursor == 2 and late == [], "position 1 committed after the cursor passed it: skipped"
    for conn in (setup, a, b):
        conn.close()
