"""The throwaway PostgreSQL of the tests and benchmarks (``atomo.testing.postgres``, issue 21): a real server
from Debian's binaries, started in a private folder on a free port, never as root, and gone after ``stop()``.
Skipped (with the reason) where PostgreSQL is not installed; ``.ci/run`` installs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from atomo.testing.postgres import PostgresUnavailable, TemporaryPostgres, find_bindir

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def bindir() -> Path:
    try:
        return find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def test_a_temporary_server_serves_sql_as_an_unprivileged_user_and_is_gone_after_stop(bindir: Path) -> None:
    server = TemporaryPostgres(bindir=bindir).start()
    folder, pid = server.folder, server.server_pid()
    try:
        assert server.version >= 15
        assert pid is not None
        uid = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("Uid:")).split()[1])
        assert uid != 0, "PostgreSQL never runs as root"
        with psycopg.connect(server.url, autocommit=True) as conn:
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
            assert conn.execute("SELECT current_user").fetchone() == ("atomo",)
            conn.execute("CREATE TABLE t (k bigint PRIMARY KEY, v text NOT NULL)")
            conn.execute("INSERT INTO t VALUES (1, 'ünïcode ✓')")
            assert conn.execute("SELECT v FROM t").fetchone() == ("ünïcode ✓",)
        assert folder is not None and folder.exists()
    finally:
        server.stop()
    assert not folder.exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_two_servers_run_side_by_side_on_their_own_ports(bindir: Path) -> None:
    with TemporaryPostgres(bindir=bindir) as one, TemporaryPostgres(bindir=bindir) as two:
        assert one.port != two.port and one.folder != two.folder
        with psycopg.connect(one.url, autocommit=True) as a, psycopg.connect(two.url, autocommit=True) as b:
            a.execute("CREATE TABLE only_here (x int)")
            assert b.execute("SELECT to_regclass('only_here')").fetchone() == (None,)


def test_a_missing_installation_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match="no initdb and pg_ctl in"):
        TemporaryPostgres(bindir=tmp_path).start()
