"""Atomo's ``?`` statements for psycopg (``atomo.storage.pg_database.pg_sql``), and the same statements with
parameters on a real PostgreSQL: quotes, comments, ``%`` and ``?`` inside literals."""

from __future__ import annotations

import pytest

from atomo.storage.pg_database import pg_sql


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("SELECT '?', ? -- why?\n", "SELECT '?', %s -- why?\n"),
    ("SELECT 'it''s ?' || ?", "SELECT 'it''s ?' || %s"),
    ('SELECT "odd?col" FROM t WHERE x LIKE ? /* ? */', 'SELECT "odd?col" FROM t WHERE x LIKE %s /* ? */'),
    ("SELECT 5 % 2, 'a%' WHERE ? ", "SELECT 5 %% 2, 'a%%' WHERE %s "),
    ("WHERE tenant_id IS ? AND b is not ? AND c IS NULL", "WHERE tenant_id IS NOT DISTINCT FROM %s AND b IS DISTINCT"
     " FROM %s AND c IS NULL"),
    ("ON jobs (queue, ifnull(tenant_id, ''), k) -- ifnull(", "ON jobs (queue, coalesce(tenant_id, ''), k) -- ifnull("),
    ("WHERE instr(email, ?) > 0 AND 'instr(' = ?", "WHERE strpos(email, %s) > 0 AND 'instr(' = %s"),
])
def test_placeholders_are_rewritten_outside_quotes_and_comments(sql: str, expected: str) -> None:
    assert pg_sql(sql) == expected


def test_the_rewritten_statements_run_with_their_parameters(postgres_url: str) -> None:
    from atomo.storage.pg_database import connect
    conn = connect(postgres_url)
    try:
        row = conn.execute("SELECT '?' AS q, ? AS p, 7 % 4 AS m, 'a%b' LIKE 'a%' AS l -- ?", ("x",)).fetchone()
        assert row == ("?", "x", 3, True)
        assert (row["q"], row["p"], row["m"], row["l"]) == ("?", "x", 3, True)
        assert row.keys() == ["q", "p", "m", "l"]
        assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1      # no parameters: sent as written
        assert conn.execute("SELECT NULL::text IS ?, 'a'::text IS NOT ?, ifnull(NULL, 'x')", (None, None)).fetchone() == (
            True, True, "x")                                              # SQLite's null-safe IS, on PostgreSQL
    finally:
        conn.close()


def test_long_statements_are_rewritten_but_not_kept() -> None:
    from atomo.storage.pg_database import CACHED_SQL_CHARS, _rewrite_cached
    long = "SELECT 1 WHERE " + " OR ".join(["x = ?"] * (CACHED_SQL_CHARS // 5))
    before = _rewrite_cached.cache_info().currsize
    assert pg_sql(long).count("%s") == CACHED_SQL_CHARS // 5
    assert _rewrite_cached.cache_info().currsize == before, "a client-sized statement is not cached"
