"""The where-compiler on PostgreSQL (issue 21): the property tests of ``test_query`` against a real server —
random rows and random filters give exactly the Python semantics' ids, text operators fold like Python
(``atomo_fold`` from ``atomo.storage.pg_fold``), and NULLs sort first ascending, last descending, as on
SQLite. PostgreSQL text holds no NUL character, so generated rows carry none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomo.data.query import compile_order_by, compile_where
from atomo.errors import ValidationError
from atomo.schema.model import Model
from atomo.storage.records import column_values, record_from_row
from atomo.storage.tables import create_table_sql
from tests.conftest import postgres_schema_connection
from tests.data.test_query import (
    ITEM,
    depth,
    matches,
    pieces,
    records,
    single_conditions,
    text_operator_case,
    wheres,
)

pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def conn(postgres_server) -> Iterator[Any]:  # noqa: ANN001
    connection = postgres_schema_connection(postgres_server, "query_test")
    yield connection
    connection.close()


def fresh_table(conn: Any, model: Model = ITEM) -> None:
    """The model's table as the boot migration makes it on PostgreSQL (without NOT NULL: rows are random)."""
    conn.execute(f'DROP TABLE IF EXISTS "{model.table}"')
    conn.execute(create_table_sql(model, strict=False, dialect="postgres"))


def insert(conn: Any, record: dict, model: Model = ITEM) -> None:
    stored = column_values(model, record)
    names = ", ".join(f'"{c}"' for c in stored)
    conn.execute(f'INSERT INTO "{model.table}" ({names}) VALUES ({", ".join("?" * len(stored))})',
                 list(stored.values()))


def select_ids(conn: Any, where: Any, model: Model = ITEM) -> set[str]:
    params: list = []
    sql = compile_where(model, where, params, dialect="postgres")
    return {r["id"] for r in conn.execute(f'SELECT "id" FROM "{model.table}" WHERE {sql}', params)}


def stored_records(conn: Any) -> list[dict]:
    cursor = conn.execute('SELECT * FROM "items"')
    names = [c.name for c in cursor.description]
    return [record_from_row(ITEM, dict(zip(names, row, strict=True))) for row in cursor]


def no_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(no_nul(k) and no_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return all(no_nul(v) for v in value)
    return True


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(rows=st.lists(records.filter(no_nul), min_size=1, max_size=12),
       filters=st.lists(st.one_of(single_conditions, single_conditions, wheres).filter(no_nul), min_size=1,
                        max_size=8))
def test_where_matches_the_python_semantics_on_postgres(conn, rows, filters) -> None:  # noqa: ANN001
    fresh_table(conn)
    for i, row in enumerate(rows):
        insert(conn, {**row, "id": f"r{i}"})
    stored = stored_records(conn)
    for where in filters:
        if depth(where) > 8:
            with pytest.raises(ValidationError):
                compile_where(ITEM, where, [], dialect="postgres")
            continue
        expected = {r["id"] for r in stored if matches(where, r)}
        assert select_ids(conn, where) == expected, where


@settings(max_examples=100, deadline=None)
@given(data=st.data(), names=st.lists(st.one_of(st.none(), pieces), min_size=1, max_size=6),
       op=st.sampled_from(["contains", "like", "startsWith", "endsWith"]))
def test_text_operators_fold_case_like_python_on_postgres(conn, data, names, op) -> None:  # noqa: ANN001
    fresh_table(conn)
    text_operator_case(data, names, op, conn, insert, select_ids)


def test_nulls_sort_first_ascending_and_last_descending_on_postgres(conn) -> None:  # noqa: ANN001
    fresh_table(conn)
    for i, score in enumerate([2, None, 1]):
        insert(conn, {"id": f"r{i}", "score": score, "createdAt": "2026-01-01", "updatedAt": "2026-01-01",
                      "_version": 1})
    order = {"score": "asc"}
    ids = [r["id"] for r in conn.execute(
        f'SELECT "id" FROM "items" ORDER BY {compile_order_by(ITEM, order, dialect="postgres")}')]
    assert ids == ["r1", "r2", "r0"]
    ids = [r["id"] for r in conn.execute(
        f'SELECT "id" FROM "items" ORDER BY {compile_order_by(ITEM, {"score": "desc"}, dialect="postgres")}')]
    assert ids == ["r0", "r2", "r1"]
