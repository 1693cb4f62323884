"""Size bounds of `where` filters (ATOMO_MAX_FILTER_TERMS, list values, bound parameters) and the
balanced AND/OR chains that keep every accepted filter inside SQLite's expression depth."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from atomo.data.query import DEFAULT_MAX_TERMS, MAX_FILTER_VALUES, MAX_PARAMETERS, compile_where
from atomo.errors import ValidationError
from tests.data.test_query import ITEM, connect, insert


def refused(where: Any, **kw: Any) -> str:
    with pytest.raises(ValidationError) as info:
        compile_where(ITEM, where, [], **kw)
    [detail] = info.value.details
    assert detail["field"] == "where" and detail["code"] == "invalid_filter", detail
    return detail["message"]


def run(conn: sqlite3.Connection, where: Any, **kw: Any) -> set[str]:
    params: list[Any] = []
    sql = compile_where(ITEM, where, params, **kw)
    return {r["id"] for r in conn.execute(f'SELECT "id" FROM "items" WHERE {sql}', params)}


@pytest.fixture
def conn() -> sqlite3.Connection:
    db = connect()
    for i in range(50):
        insert(db, {"id": f"r{i}", "name": f"n{i}", "score": i, "createdAt": "2026-01-01", "updatedAt": "2026-01-01",
                    "_version": 1})
    return db


def test_default_term_bound() -> None:
    assert DEFAULT_MAX_TERMS == 500
    compile_where(ITEM, {"OR": [{"name": str(i)} for i in range(499)]}, [])     # 499 conditions + the OR
    message = refused({"OR": [{"name": str(i)} for i in range(500)]})
    assert message == "where has more than 500 terms (ATOMO_MAX_FILTER_TERMS)"
    refused({"OR": [{"name": str(i)} for i in range(1000)]})


def test_every_condition_and_combinator_counts() -> None:
    where = {"name": "a", "score": {"gte": 1, "lt": 5}, "NOT": {"AND": [{"stage": "x"}]}}   # 3 leaves + 1 + NOT, AND
    compile_where(ITEM, where, [], max_terms=6)
    assert refused(where, max_terms=5) == "where has more than 5 terms (ATOMO_MAX_FILTER_TERMS)"
    compile_where(ITEM, {"AND": [], "OR": [], "NOT": {}}, [], max_terms=3)
    refused({"AND": [], "OR": [], "NOT": {}}, max_terms=2)


def test_list_values_are_bounded_together() -> None:
    lists = [{"name": {"in": [f"{i}-{j}" for j in range(1000)]}} for i in range(MAX_FILTER_VALUES // 1000)]
    compile_where(ITEM, {"OR": lists}, [])
    more = {"OR": [*lists, {"name": {"notIn": ["x"]}}]}
    assert refused(more) == f"where has more than {MAX_FILTER_VALUES} in/notIn values"


def test_bound_parameters_stay_under_sqlite_limit() -> None:
    terms = MAX_PARAMETERS // 2 + 1                                  # startsWith binds two values
    where = {"OR": [{"name": {"startsWith": "x"}} for _ in range(terms)]}
    assert refused(where, max_terms=100_000) == f"where has more than {MAX_PARAMETERS} values"


def test_long_chains_are_balanced_and_run(conn: sqlite3.Connection) -> None:
    assert run(conn, {"OR": [{"name": f"n{i}"} for i in range(29_000)]}, max_terms=30_000) == {f"r{i}" for i in range(50)}
    assert run(conn, {"AND": [{"score": {"gte": 0}} for _ in range(5000)] + [{"name": "n7"}]},
               max_terms=10_000) == {"r7"}
    nested: Any = {"name": "n3"}
    for level in range(8):                      # the deepest nesting, each level a long chain
        siblings = [{"name": "none"}] * 300 if level % 2 else [{"score": {"lt": 100}} for _ in range(300)]
        nested = {("AND", "OR")[level % 2]: [nested, *siblings]}
    assert run(conn, nested, max_terms=10_000) == {"r3"}


def test_short_chains_keep_their_flat_sql() -> None:
    params: list[Any] = []
    sql = compile_where(ITEM, {"OR": [{"name": str(i)} for i in range(32)]}, params)
    assert sql.count("(") == 1
    sql = compile_where(ITEM, {"OR": [{"name": str(i)} for i in range(33)]}, params)
    assert sql.count("(") == 3


@pytest.mark.parametrize("combinator", ["AND", "OR", "NOT"])
def test_deep_nesting_is_refused(combinator: str) -> None:
    where: Any = {"name": "a"}
    for _ in range(100):
        where = {combinator: where if combinator == "NOT" else [where]}
    with pytest.raises(ValidationError):
        compile_where(ITEM, where, [])
