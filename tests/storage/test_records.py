import gc
import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atomo.schema.model import Field, Model, camel_case, snake_case
from atomo.storage import records as values
from atomo.storage.records import (
    canonical_datetime,
    codec_for,
    column_values,
    from_column,
    now_iso,
    record_from_row,
    storable_text,
    to_column,
)


def fld(name: str, kind: str = "text", **kw) -> Field:
    column = snake_case(name)
    return Field(name=name, column=column, key=camel_case(column), kind=kind, **kw)


def mdl(name: str, *fields: Field) -> Model:
    pk = Field(name="id", column="id", key="id", kind="text", optional=False, primary=True)
    return Model(name=name, table=snake_case(name) + "s", fields=(pk, *fields))


CONTACT = mdl(
    "Contact", fld("firstName"), fld("score", "number"), fld("active", "boolean"),
    fld("bornAt", "datetime"), fld("tags", "array"), fld("notes", "blocks"), fld("meta", "json"),
    fld("createdAt", "datetime"), fld("updatedAt", "datetime"), fld("URL"),
)


def test_now_iso_is_canonical():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", now_iso())


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-06-08T10:00:00.123456+00:00", "2026-06-08T10:00:00.123456+00:00"),
    ("2026-06-08T10:00:00Z", "2026-06-08T10:00:00.000000+00:00"),
    ("2026-06-08t10:00:00z", "2026-06-08T10:00:00.000000+00:00"),
    ("2026-06-08 10:00:00", "2026-06-08T10:00:00.000000+00:00"),
    ("2026-06-08T10:00:00", "2026-06-08T10:00:00.000000+00:00"),
    ("2026-06-08T10:00", "2026-06-08T10:00:00.000000+00:00"),
    ("2026-06-08T12:30:00+02:00", "2026-06-08T10:30:00.000000+00:00"),
    ("2026-06-08T00:30:00-01:00", "2026-06-08T01:30:00.000000+00:00"),
    ("2026-06-08T00:30:00.5-0100", "2026-06-08T01:30:00.500000+00:00"),
    ("2026-06-08T10:00:00.1234567891Z", "2026-06-08T10:00:00.123456+00:00"),
    ("2026-06-08", "2026-06-08T00:00:00.000000+00:00"),
    ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000000+00:00"),
])
def test_canonical_datetime(text, expected):
    assert canonical_datetime(text) == expected


@pytest.mark.parametrize("text", [
    "", "yesterday", "2026-13-01", "2026-02-30", "2026-06-08T25:00:00", "2026-06-08T10:00:00+24:00",
    "2026-06-08T10", "20260608", "2026-W23", "0001-01-01T00:00:00+01:00", "2026-06-08T10:00:60",
    "٢٠٢٦-06-08", 12, None,
])
def test_canonical_datetime_rejects(text):
    with pytest.raises(ValueError):
        canonical_datetime(text)


offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets))
def test_canonical_datetime_is_the_same_instant_and_idempotent(dt):
    canonical = canonical_datetime(dt.isoformat())
    assert datetime.fromisoformat(canonical) == dt
    assert canonical_datetime(canonical) == canonical
    assert len(canonical) == 32 and canonical.endswith("+00:00")


def test_to_and_from_column_per_kind():
    f = {f.key: f for f in CONTACT.fields}
    assert to_column(f["firstName"], "Ann") == "Ann"
    assert to_column(f["score"], 3.0) == 3 and type(to_column(f["score"], 3.0)) is int
    assert to_column(f["score"], 2.5) == 2.5
    assert to_column(f["score"], 10**30) == 1e30  # beyond SQLite's integers: stored as REAL
    assert to_column(f["active"], True) == 1 and to_column(f["active"], False) == 0
    assert to_column(f["bornAt"], "2026-06-08") == "2026-06-08T00:00:00.000000+00:00"
    assert to_column(f["tags"], ["a", "é"]) == '["a","é"]'
    assert to_column(f["meta"], {"a": {"b": 1}}) == '{"a":{"b":1}}'
    for field in CONTACT.fields:
        assert to_column(field, None) is None
        assert from_column(field, None) is None
    assert from_column(f["score"], 3.0) == 3 and type(from_column(f["score"], 3.0)) is int
    assert from_column(f["score"], 2.5) == 2.5
    assert from_column(f["score"], "7") == 7 and from_column(f["score"], "7.5") == 7.5
    assert from_column(f["score"], "x") == "x"
    assert from_column(f["active"], 1) is True and from_column(f["active"], 0) is False
    assert from_column(f["tags"], '["a"]') == ["a"]
    assert from_column(f["meta"], "not json") == "not json"
    assert from_column(f["firstName"], "Ann") == "Ann"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_json_round_trip(value):
    meta = CONTACT.field("meta")
    stored = to_column(meta, value)
    assert value is None or json.loads(stored) == value
    assert from_column(meta, stored) == value


def _table(model: Model) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    cols = [f'"{c.column}" {"NUMERIC" if c.kind == "number" else "TEXT"}' for c in codec_for(model).columns]
    conn.execute(f'CREATE TABLE "{model.table}" ({", ".join(cols)}, "legacy" TEXT)')
    return conn


def test_record_from_row_order_and_types_through_sqlite():
    conn = _table(CONTACT)
    record = {
        "id": "c1", "firstName": "Ann", "score": 3.0, "active": True,
        "bornAt": "2026-06-08T12:00:00+02:00", "tags": ["x"], "notes": [{"id": "b", "type": "divider"}],
        "meta": {"k": [1, 2.5]}, "url": "https://x.io", "createdAt": "2026-06-08T10:00:00Z",
        "updatedAt": "2026-06-08", "deletedAt": None, "tenantId": "t1", "_version": 4,
    }
    stored = column_values(CONTACT, record)
    assert stored["born_at"] == "2026-06-08T10:00:00.000000+00:00" and stored["active"] == 1
    conn.execute(f'INSERT INTO contacts ({", ".join(stored)}, legacy) VALUES ({", ".join("?" * len(stored))}, ?)',
                 [*stored.values(), "old"])
    row = conn.execute("SELECT * FROM contacts").fetchone()
    out = record_from_row(CONTACT, row)
    assert list(out) == ["id", "firstName", "score", "active", "bornAt", "tags", "notes", "meta", "url",
                         "createdAt", "updatedAt", "deletedAt", "tenantId", "_version"]
    assert out["score"] == 3 and type(out["score"]) is int
    assert out["active"] is True and out["tags"] == ["x"] and out["meta"] == {"k": [1, 2.5]}
    assert out["bornAt"] == "2026-06-08T10:00:00.000000+00:00"
    assert out["updatedAt"] == "2026-06-08T00:00:00.000000+00:00"
    assert out["_version"] == 4 and out["deletedAt"] is None and out["tenantId"] == "t1"
    assert record_from_row(CONTACT, dict(row)) == out  # a plain mapping works the same


def test_record_from_row_missing_columns_are_null():
    out = record_from_row(CONTACT, {"id": "c1", "first_name": "Ann", "unknown": 1})
    assert out["id"] == "c1" and out["firstName"] == "Ann" and out["score"] is None and out["_version"] is None


def test_record_from_sqlite_row_with_fewer_or_other_columns():
    conn = _table(CONTACT)
    conn.execute("INSERT INTO contacts (id, first_name, score, tags, legacy) VALUES ('c1', 'Ann', 2.0, '[1]', 'x')")
    for _ in range(2):  # the second read reuses the cached plan of this column list
        row = conn.execute("SELECT legacy, tags, id, score FROM contacts").fetchone()
        out = record_from_row(CONTACT, row)
        assert out["id"] == "c1" and out["score"] == 2 and out["tags"] == [1]
        assert out["firstName"] is None and out["createdAt"] is None and len(out) == 14
    full = record_from_row(CONTACT, conn.execute("SELECT * FROM contacts").fetchone())
    assert full["firstName"] == "Ann"


def test_storable_text():
    assert storable_text("plain") and storable_text("ünïcode ✓ 𝄞")
    assert not storable_text("a\ud800") and not storable_text("\udfff")


def test_column_values_accepts_every_spelling_and_rejects_unknown():
    assert column_values(CONTACT, {"first_name": "A", "URL": "u", "_version": 2}) == {
        "first_name": "A", "url": "u", "_version": 2}
    with pytest.raises(ValueError, match="nope is not a column of Contact"):
        column_values(CONTACT, {"nope": 1})


def test_codec_is_cached_per_model_object_and_released():
    model = mdl("Thing", fld("name"))
    assert codec_for(model) is codec_for(model)
    twin = mdl("Thing", fld("name"))
    assert codec_for(twin) is not codec_for(model)
    key = id(model)
    del model
    gc.collect()
    assert key not in values._CODECS
