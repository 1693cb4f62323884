"""``atomo_fold`` on a real PostgreSQL (``atomo.storage.pg_fold``, issue 21) against Python's ``str.casefold``:
every code point that folds, one by one and all in one string, the text filters' traps, and random text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atomo.storage.pg_fold import fold_function_ddl, fold_tables
from tests.conftest import postgres_schema_connection

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def conn(postgres_server) -> Iterator[object]:  # noqa: ANN001
    connection = postgres_schema_connection(postgres_server, "fold_test")
    connection.execute(fold_function_ddl())               # CREATE OR REPLACE: every boot may run it
    yield connection
    connection.close()


def fold(conn, text: str | None) -> str | None:  # noqa: ANN001
    return conn.execute("SELECT atomo_fold(?::text)", (text,)).fetchone()[0]


def test_every_code_point_that_folds_folds_as_in_python(conn) -> None:  # noqa: ANN001
    sources, targets, expanding = fold_tables()
    assert len(sources) == len(targets) > 1000 and len(expanding) > 100
    chars = [*sources, *(c for c, _ in expanding)]
    rows = conn.execute("SELECT atomo_fold(c) FROM unnest(?::text[]) WITH ORDINALITY AS t(c, n) ORDER BY n",
                        (chars,)).fetchall()
    assert [r[0] for r in rows] == [c.casefold() for c in chars]
    everything = "".join(chars)
    assert fold(conn, everything) == everything.casefold()


@pytest.mark.parametrize("text", ["Straße", "STRASSE", "ΟΔΟΣ", "ὈΔΥΣΣΕΎΣ", "İstanbul", "ﬁle", "oﬃce", "ǅ", "ﬀ",
                                  "Ꭰꭰ", "𐐀𐐨", "", "100% a_b 'q'", "ẞ", "ŉ", "ǰ"])
def test_the_traps_of_the_text_filters(conn, text: str) -> None:  # noqa: ANN001
    assert fold(conn, text) == text.casefold()


def test_null_folds_to_null(conn) -> None:  # noqa: ANN001
    assert fold(conn, None) is None


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20))
def test_random_text_folds_as_in_python(conn, text: str) -> None:  # noqa: ANN001
    assert fold(conn, text) == text.casefold()
