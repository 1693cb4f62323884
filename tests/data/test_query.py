import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomo.data.query import check_page, compile_order_by, compile_where, register_functions
from atomo.errors import ValidationError
from atomo.schema.model import Field, Model, camel_case, snake_case
from atomo.storage.records import canonical_datetime, codec_for, column_values, dump_json, record_from_row


def fld(name: str, kind: str = "text", **kw) -> Field:
    column = snake_case(name)
    return Field(name=name, column=column, key=camel_case(column), kind=kind, **kw)


def mdl(name: str, *fields: Field) -> Model:
    pk = Field(name="id", column="id", key="id", kind="text", optional=False, primary=True)
    return Model(name=name, table=snake_case(name) + "s", fields=(pk, *fields))


ITEM = mdl("Item", fld("name"), fld("stage", "select"), fld("score", "number"), fld("active", "boolean"),
           fld("dueAt", "datetime"), fld("tags", "array"), fld("meta", "json"), fld("notes", "blocks"),
           fld("HTTPStatus", "number"))
SQL_TYPES = {"number": "NUMERIC", "boolean": "INTEGER"}


def connect(model: Model = ITEM) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    register_functions(conn)
    cols = [f'"{c.column}" {SQL_TYPES.get(c.kind, "TEXT")}' for c in codec_for(model).columns]
    conn.execute(f'CREATE TABLE "{model.table}" ({", ".join(cols)}, PRIMARY KEY ("id"))')
    return conn


def insert(conn: sqlite3.Connection, record: dict, model: Model = ITEM) -> None:
    stored = column_values(model, record)
    names = ", ".join(f'"{c}"' for c in stored)
    conn.execute(f'INSERT INTO "{model.table}" ({names}) VALUES ({", ".join("?" * len(stored))})',
                 list(stored.values()))


def select_ids(conn: sqlite3.Connection, where, model: Model = ITEM) -> set[str]:
    params: list = []
    sql = compile_where(model, where, params)
    return {r["id"] for r in conn.execute(f'SELECT "id" FROM "{model.table}" WHERE {sql}', params)}


def invalid(where, field, model: Model = ITEM) -> str:
    with pytest.raises(ValidationError) as info:
        compile_where(model, where, [])
    [detail] = info.value.details
    assert detail["code"] == "invalid_filter" and detail["field"] == field, detail
    return detail["message"]


# --------------------------------------------------------------- the spec semantics, in Python

def fold(text: str) -> str:
    return text.casefold()


def operand(kind: str, value):
    if kind == "datetime":
        return canonical_datetime(value)
    return value


def leaf(col, op: str, arg, record: dict) -> bool:
    op = {"eq": "equals", "neq": "not", "like": "contains"}.get(op, op)
    x = record[col.key]
    if op == "isNull":
        return (x is None) == arg
    if op == "equals":
        return x is None if arg is None else x is not None and x == operand(col.kind, arg)
    if op == "not":
        return not leaf(col, "equals", arg, record)
    if op == "in":
        return any(leaf(col, "equals", v, record) for v in arg)
    if op == "notIn":
        return not leaf(col, "in", arg, record)
    if x is None:
        return False
    if op in ("contains", "startsWith", "endsWith"):
        text = fold(dump_json(x) if col.kind in ("array", "json", "blocks") else x)
        needle = fold(arg)
        return {"contains": needle in text, "startsWith": text.startswith(needle),
                "endsWith": text.endswith(needle)}[op]
    y = operand(col.kind, arg)
    return {"gt": x > y, "gte": x >= y, "lt": x < y, "lte": x <= y}[op]


def matches(where: dict, record: dict, model: Model = ITEM) -> bool:
    by_name = codec_for(model).by_name
    for key, value in where.items():
        if key == "AND":
            ok = all(matches(w, record) for w in value)
        elif key == "OR":
            ok = any(matches(w, record) for w in value)
        elif key == "NOT":
            ok = not all(matches(w, record) for w in (value if isinstance(value, list) else [value]))
        else:
            col = by_name[key]
            ops = value if isinstance(value, dict) else {"equals": value}
            ok = all(leaf(col, op, arg, record) for op, arg in ops.items())
        if not ok:
            return False
    return True


def depth(where: dict) -> int:
    inner = [0]
    for key, value in where.items():
        if key in ("AND", "OR", "NOT"):
            items = value if isinstance(value, list) else [value]
            inner.append(1 + max((depth(w) for w in items), default=0))
    return max(inner)


# ---------------------------------------------------------------------------- the property test

# Few pieces, so rows and filters collide often; they include case-folding traps (ß/SS, final
# sigma, the ﬁ ligature, dotted İ) and the LIKE wildcards.
TEXT_PIECES = ["a", "A", "%", "_", "ß", "SS", "s", "É", "é", "İ", "i", "ﬁ", "FI", "Σ", "ς", "σ", " ", "\\"]
pieces = st.lists(st.sampled_from(TEXT_PIECES), max_size=3).map("".join)
texts = st.one_of(pieces, pieces, pieces, st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3))
needles = st.lists(st.sampled_from(TEXT_PIECES), max_size=2).map("".join)
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -2.5, 3.0, 1e15, -1e-3]))
DATETIMES = ["2026-06-08", "2026-06-08T10:00:00Z", "2026-06-08T12:00:00+02:00", "2026-06-07T23:59:59.999999Z",
             "2026-06-08T10:00:00.000001+00:00", "1999-12-31T23:00:00-01:00", "2030-01-01 00:00"]
datetimes = st.sampled_from(DATETIMES)
COLUMNS = codec_for(ITEM).columns


def nullable(strategy):
    return st.one_of(st.none(), strategy)


KIND_VALUES = {
    "text": texts, "select": texts, "number": numbers, "boolean": st.booleans(), "datetime": datetimes,
    "array": st.lists(texts, max_size=2),
    "json": st.dictionaries(pieces, texts | numbers, max_size=2),
    "blocks": st.lists(pieces.map(lambda t: {"id": "b", "type": "custom", "t": t}), max_size=1),
}
SYSTEM_VALUES = {"id": st.just(""), "createdAt": datetimes, "updatedAt": datetimes,
                 "deletedAt": nullable(datetimes), "tenantId": nullable(st.sampled_from(["t1", "T1"])),
                 "_version": st.integers(1, 3)}
records = st.fixed_dictionaries({
    c.key: SYSTEM_VALUES[c.key] if c.system else nullable(KIND_VALUES[c.kind]) for c in COLUMNS})
WHERE_VALUES = {**KIND_VALUES, "text": st.one_of(pieces, needles), "select": st.one_of(pieces, needles)}
TEXT_OPERATORS = ["contains", "like", "startsWith", "endsWith"]
OPERATORS = ["equals", "eq", "not", "neq", "gt", "gte", "lt", "lte", "in", "notIn", "isNull", "shorthand",
             *TEXT_OPERATORS]


@st.composite
def conditions(draw):
    col = draw(st.sampled_from(COLUMNS))
    key = draw(st.sampled_from(sorted({col.key, col.column, col.field.name if col.field else col.key})))
    if col.kind in ("array", "json", "blocks"):
        op = draw(st.sampled_from(["contains", "like", "isNull"]))
        return key, {op: draw(st.booleans() if op == "isNull" else needles)}
    values = WHERE_VALUES[col.kind]
    if col.key in ("_version", "tenantId"):
        values = st.integers(0, 4) if col.key == "_version" else st.sampled_from(["t1", "T1", "t"])
    op = draw(st.sampled_from(OPERATORS))
    if op in TEXT_OPERATORS and col.kind in ("number", "boolean"):
        op = "isNull"
    if op in TEXT_OPERATORS:
        return key, {op: draw(st.sampled_from(["2026", "Z", "", "00+00:00"]) if col.kind == "datetime" else needles)}
    if op == "isNull":
        return key, {op: draw(st.booleans())}
    if op in ("in", "notIn"):
        return key, {op: draw(st.lists(nullable(values), max_size=3))}
    if op == "shorthand":
        return key, draw(nullable(values))
    return key, {op: draw(values if op in ("gt", "gte", "lt", "lte") else nullable(values))}


wheres = st.recursive(st.lists(conditions(), max_size=3).map(dict), lambda children: st.one_of(
    st.lists(children, max_size=3).map(lambda ws: {"AND": ws}),
    st.lists(children, max_size=3).map(lambda ws: {"OR": ws}),
    children.map(lambda w: {"NOT": w}),
    st.lists(children, max_size=2).map(lambda ws: {"NOT": ws}),
    st.tuples(children, conditions()).map(lambda t: {**t[0], t[1][0]: t[1][1]}),
), max_leaves=12)

single_conditions = conditions().map(lambda kv: {kv[0]: kv[1]})  # every leaf decides the result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(records, min_size=1, max_size=12),
       filters=st.lists(st.one_of(single_conditions, single_conditions, wheres), min_size=1, max_size=8))
def test_where_matches_the_python_semantics(rows, filters):
    """Random rows in a real table, random where trees: SQL returns exactly the Python filter's ids."""
    conn = connect()
    for i, row in enumerate(rows):
        insert(conn, {**row, "id": f"r{i}"})
    stored = [record_from_row(ITEM, r) for r in conn.execute('SELECT * FROM "items"')]
    for where in filters:
        if depth(where) > 8:
            with pytest.raises(ValidationError) as info:
                compile_where(ITEM, where, [])
            assert info.value.details[0]["code"] == "invalid_filter"
            continue
        expected = {r["id"] for r in stored if matches(where, r)}
        assert select_ids(conn, where) == expected, where


@settings(max_examples=300, deadline=None)
@given(data=st.data(), names=st.lists(nullable(pieces), min_size=1, max_size=6),
       op=st.sampled_from(["contains", "like", "startsWith", "endsWith"]))
def test_text_operators_fold_case_like_python(data, names, op):
    """Needles cut from stored texts with their case changed: the folding paths must agree."""
    text_operator_case(data, names, op, connect(), insert, select_ids)


def text_operator_case(data, names, op, conn, insert, select_ids) -> None:
    """One example of the text-operator property on ``conn`` (SQLite here; PostgreSQL in test_query_postgres)."""
    for i, name in enumerate(names):
        insert(conn, {"id": f"r{i}", "name": name, "createdAt": "2026-01-01", "updatedAt": "2026-01-01",
                      "_version": 1})
    source = data.draw(st.sampled_from([n for n in names if n] or [""]))
    i = data.draw(st.integers(0, len(source)))
    needle = data.draw(st.sampled_from([str.upper, str.swapcase, str.casefold, str]))(source[i:])
    if op in ("contains", "like", "startsWith"):
        needle = needle[: data.draw(st.integers(0, len(needle)))]
    col = codec_for(ITEM).by_key["name"]
    expected = {f"r{i}" for i, name in enumerate(names) if leaf(col, op, needle, {"name": name})}
    assert select_ids(conn, {"name": {op: needle}}) == expected


@pytest.mark.parametrize(("stored", "op", "needle", "hit"), [
    ("Straße", "contains", "SS", True), ("STRASSE", "contains", "ß", True), ("Straße", "endsWith", "SSE", True),
    ("xß", "endsWith", "ß", True), ("ßx", "startsWith", "ß", True), ("ßx", "startsWith", "SSX", True),
    ("ﬁle", "startsWith", "FI", True), ("oﬃce", "contains", "ffi", True), ("ΟΔΟΣ", "endsWith", "ς", True),
    ("İstanbul", "startsWith", "i̇s", True), ("İstanbul", "startsWith", "is", False),
    ("100%", "contains", "0%", True), ("1000", "contains", "%", False), ("a_b", "like", "_", True),
    ("ab", "like", "a_b", False), ("ab", "like", "a%", False), ("a%b", "endsWith", "%B", True),
    ("abc", "startsWith", "abcd", False), ("abc", "endsWith", "zabc", False), ("abc", "contains", "", True),
    ("abc", "startsWith", "", True), ("abc", "endsWith", "", True), ("", "endsWith", "", True),
    ("", "contains", "a", False),
])
def test_text_operator_examples(stored, op, needle, hit):
    conn = connect()
    insert(conn, {"id": "r", "name": stored, "createdAt": "2026-01-01", "updatedAt": "2026-01-01", "_version": 1})
    insert(conn, {"id": "null", "createdAt": "2026-01-01", "updatedAt": "2026-01-01", "_version": 1})
    assert select_ids(conn, {"name": {op: needle}}) == ({"r"} if hit else set())


# ---------------------------------------------------------------------------- SQL shape and values

def compiled(where) -> tuple[str, list]:
    params: list = []
    return compile_where(ITEM, where, params), params


def test_sql_shape_is_parameterised():
    assert compiled(None) == ("1", [])
    assert compiled({}) == ("1", [])
    assert compiled({"name": "x'; DROP TABLE items; --"}) == ('"name" = ?', ["x'; DROP TABLE items; --"])
    assert compiled({"name": None}) == ('"name" IS NULL', [])
    assert compiled({"name": {"eq": None}}) == ('"name" IS NULL', [])
    assert compiled({"name": {"not": None}}) == ('"name" IS NOT NULL', [])
    assert compiled({"name": {"neq": "a"}}) == ('"name" IS NOT ?', ["a"])
    assert compiled({"HTTPStatus": {"gte": 200, "lt": 300.0}}) == (
        '("http_status" >= ? AND "http_status" < ?)', [200, 300])
    assert compiled({"active": True}) == ('"active" = ?', [1])
    assert compiled({"due_at": {"gt": "2026-06-08T12:00:00+02:00"}}) == (
        '"due_at" > ?', ["2026-06-08T10:00:00.000000+00:00"])
    folded = '(CASE WHEN "name" GLOB \'*[^ -~]*\' THEN atomo_fold("name") ELSE lower("name") END)'
    assert compiled({"name": {"contains": "ABC"}}) == (f"instr({folded}, ?) > 0", ["abc"])
    assert compiled({"name": {"startsWith": "Straße"}}) == (f"substr({folded}, 1, ?) = ?", [7, "strasse"])
    assert compiled({"name": {"endsWith": "X"}}) == (f"substr({folded}, ?) = ?", [-1, "x"])
    assert compiled({"name": {"contains": ""}}) == ('"name" IS NOT NULL', [])
    assert compiled({"name": {"in": []}}) == ("0", [])
    assert compiled({"name": {"notIn": []}}) == ("1", [])
    assert compiled({"name": {"in": ["a", None]}}) == ('("name" IN (?) OR "name" IS NULL)', ["a"])
    assert compiled({"name": {"notIn": ["a", "b"]}}) == ('("name" IS NULL OR "name" NOT IN (?, ?))', ["a", "b"])
    assert compiled({"name": {"notIn": ["a", None]}}) == ('("name" IS NOT NULL AND "name" NOT IN (?))', ["a"])
    assert compiled({"name": {"notIn": [None]}}) == ('"name" IS NOT NULL', [])
    assert compiled({"AND": []}) == ("1", [])
    assert compiled({"OR": []}) == ("0", [])
    assert compiled({"NOT": {}}) == ("NOT coalesce(1, 0)", [])
    assert compiled({"NOT": [{"name": "a"}, {"stage": "b"}]}) == (
        'NOT coalesce(("name" = ? AND "stage" = ?), 0)', ["a", "b"])
    assert compiled({"OR": [{"id": "a"}, {"_version": 2}], "tenant_id": "t"}) == (
        '(("id" = ? OR "_version" = ?) AND "tenant_id" = ?)', ["a", 2, "t"])
    assert compiled({"tags": {"isNull": False}, "meta": {"like": "K"}}) == (
        '("tags" IS NOT NULL AND instr((CASE WHEN "meta" GLOB \'*[^ -~]*\' THEN atomo_fold("meta") '
        'ELSE lower("meta") END), ?) > 0)', ["k"])


def test_params_are_appended_to_the_given_list():
    params = ["before"]
    compile_where(ITEM, {"name": "a"}, params)
    assert params == ["before", "a"]


def test_semantics_against_sqlite():
    conn = connect()
    base = {"createdAt": "2026-01-01", "updatedAt": "2026-01-01", "_version": 1}
    insert(conn, {**base, "id": "a", "name": "Alpha", "score": 1, "active": True, "tags": ["Red"],
                  "dueAt": "2026-06-08T10:00:00Z"})
    insert(conn, {**base, "id": "b", "name": "beta", "score": 2.5, "active": False, "deletedAt": "2026-02-01"})
    insert(conn, {**base, "id": "n"})
    assert select_ids(conn, {"name": {"not": "Alpha"}}) == {"b", "n"}
    assert select_ids(conn, {"score": {"notIn": [1]}}) == {"b", "n"}
    assert select_ids(conn, {"NOT": {"score": {"gt": 1}}}) == {"a", "n"}
    assert select_ids(conn, {"NOT": [{"score": {"gt": 0}}, {"active": True}]}) == {"b", "n"}
    assert select_ids(conn, {"active": False}) == {"b"}
    assert select_ids(conn, {"tags": {"contains": "red"}}) == {"a"}
    assert select_ids(conn, {"dueAt": "2026-06-08T12:00:00+02:00"}) == {"a"}
    assert select_ids(conn, {"dueAt": {"lt": "2026-06-09"}}) == {"a"}
    assert select_ids(conn, {"deletedAt": {"isNull": True}}) == {"a", "n"}
    assert select_ids(conn, {"OR": [{"id": "a"}, {"score": 2.5}]}) == {"a", "b"}
    assert select_ids(conn, {"createdAt": "2026-01-01"}) == {"a", "b", "n"}


# ------------------------------------------------------------------------------------ where errors

@pytest.mark.parametrize(("where", "field", "message"), [
    ("name", None, "where must be an object"),
    ([{"name": "a"}], None, "where must be an object"),
    ({"zzz": 1}, "zzz", "zzz is not a field of Item"),
    ({'name" OR 1=1 --': 1}, 'name" OR 1=1 --', 'name" OR 1=1 -- is not a field of Item'),
    ({"name": {"regex": "a"}}, "name", "unknown operator 'regex' on name"),
    ({"name": {"Equals": "a"}}, "name", "unknown operator 'Equals' on name"),
    ({"name": 5}, "name", "name.equals needs text, not a number"),
    ({"name": {"gt": None}}, "name", "name.gt needs text, not null"),
    ({"name": {"contains": 5}}, "name", "name.contains needs text, not a number"),
    ({"name": {"startsWith": None}}, "name", "name.startsWith needs text, not null"),
    ({"score": "5"}, "score", "score.equals needs a number, not '5'"),
    ({"score": True}, "score", "score.equals needs a number, not a boolean"),
    ({"score": {"in": [1, "2"]}}, "score", "score.in needs a number, not '2'"),
    ({"score": {"contains": "1"}}, "score", "score is not text: contains does not apply"),
    ({"active": {"like": "t"}}, "active", "active is not text: like does not apply"),
    ({"active": 1}, "active", "active.equals needs a boolean, not a number"),
    ({"dueAt": "tomorrow"}, "dueAt", "dueAt.equals needs a date-time, not 'tomorrow'"),
    ({"created_at": {"gte": 5}}, "createdAt", "createdAt.gte needs a date-time, not a number"),
    ({"_version": "1"}, "_version", "_version.equals needs a number, not '1'"),
    ({"name": {"in": "a"}}, "name", "name.in must be an array"),
    ({"name": {"notIn": {"a": 1}}}, "name", "name.notIn must be an array"),
    ({"name": {"in": ["a"] * 1001}}, "name", "name.in has more than 1000 values"),
    ({"name": {"in": [["a"]]}}, "name", "name.in needs text, not an array"),
    ({"name": "\ud800"}, "name", "name.equals needs text, not text with a lone surrogate"),
    ({"name": {"contains": "x\udc00"}}, "name", "name.contains needs text, not text with a lone surrogate"),
    ({"name": {"isNull": "yes"}}, "name", "name.isNull must be true or false"),
    ({"name": {"isNull": None}}, "name", "name.isNull must be true or false"),
    ({"tags": "red"}, "tags", "tags accepts only the operators contains and isNull"),
    ({"meta": {"equals": None}}, "meta", "meta accepts only the operators contains and isNull"),
    ({"notes": {"startsWith": "x"}}, "notes", "notes accepts only the operators contains and isNull"),
    ({"tags": {"contains": ["red"]}}, "tags", "tags.contains needs text, not an array"),
    ({"AND": {"name": "a"}}, "AND", "AND must be an array of objects"),
    ({"OR": ["a"]}, "OR", "OR must be an array of objects"),
    ({"NOT": "a"}, "NOT", "NOT must be an object or an array of objects"),
    ({"NOT": [{"name": "a"}, 3]}, "NOT", "NOT must be an object or an array of objects"),
])
def test_invalid_filters(where, field, message):
    assert invalid(where, field) == message


@pytest.mark.parametrize(("where", "suggestions"), [
    ({"nmae": "a"}, ["name"]),
    ({"Stage": "a"}, ["stage"]),
    ({"created_At": "2026-01-01"}, ["createdAt"]),
    ({"and": [{"name": "a"}]}, ["AND"]),
    ({"OR": [{"scroe": 1}]}, ["score"]),
])
def test_unknown_where_keys_suggest_the_closest(where, suggestions):
    with pytest.raises(ValidationError) as info:
        compile_where(ITEM, where, [])
    [detail] = info.value.details
    quoted = " or ".join(f"'{s}'" for s in suggestions)
    assert detail["message"] == f"{detail['field']} is not a field of Item. Did you mean {quoted}?"
    assert detail["suggestions"] == suggestions and detail["code"] == "invalid_filter"
    assert info.value.message == detail["message"]


def test_in_accepts_exactly_1000_values():
    assert select_ids(connect(), {"name": {"in": [str(i) for i in range(1000)]}}) == set()


def nest(levels: int, combinator: str) -> dict:
    where: dict = {"name": "a"}
    for _ in range(levels):
        where = {combinator: where if combinator == "NOT" else [where]}
    return where


@pytest.mark.parametrize("combinator", ["AND", "OR", "NOT"])
def test_nesting_depth_limit(combinator):
    compile_where(ITEM, nest(8, combinator), [])
    assert invalid(nest(9, combinator), combinator) == f"where nests {combinator} deeper than 8 levels"
    mixed = {"AND": [{"OR": [{"NOT": nest(6, "AND")}]}]}
    assert invalid(mixed, "AND") == "where nests AND deeper than 8 levels"


# ----------------------------------------------------------------------------------------- orderBy

@pytest.mark.parametrize(("order_by", "sql"), [
    (None, '"created_at" ASC, "id" ASC'),
    ({}, '"created_at" ASC, "id" ASC'),
    ([], '"created_at" ASC, "id" ASC'),
    ({"stage": "asc", "createdAt": "DESC"}, '"stage" ASC, "created_at" DESC, "id" ASC'),
    ({"created_at": "Desc", "stage": "aSc"}, '"created_at" DESC, "stage" ASC, "id" ASC'),
    ([{"field": "score", "direction": "desc"}, {"field": "HTTPStatus"}], '"score" DESC, "http_status" ASC, "id" ASC'),
    ({"id": "desc"}, '"id" DESC'),
    ({"score": "asc", "id": "desc", "name": "asc"}, '"score" ASC, "id" DESC, "name" ASC'),
    ([{"field": "score", "direction": "desc"}, {"field": "score", "direction": "asc"}], '"score" DESC, "id" ASC'),
    ({"_version": "desc", "tenantId": "asc"}, '"_version" DESC, "tenant_id" ASC, "id" ASC'),
])
def test_order_by(order_by, sql):
    assert compile_order_by(ITEM, order_by) == sql


@pytest.mark.parametrize(("order_by", "field", "message"), [
    ({"zzz": "asc"}, "zzz", "zzz is not a field of Item"),
    ({"stage": "up"}, "stage", "orderBy direction of stage must be asc or desc"),
    ({"stage": None}, "stage", "orderBy direction of stage must be asc or desc"),
    ([{"field": "stage", "direction": 1}], "stage", "orderBy direction of stage must be asc or desc"),
    ([{"direction": "asc"}], None, "orderBy entries must be objects {field, direction}"),
    ([{"field": "stage", "dir": "asc"}], None, "orderBy entries must be objects {field, direction}"),
    (["stage"], None, "orderBy entries must be objects {field, direction}"),
    ("stage", None, "orderBy must be an object or an array"),
])
def test_invalid_order_by(order_by, field, message):
    with pytest.raises(ValidationError) as info:
        compile_order_by(ITEM, order_by)
    assert info.value.details == [{"field": field, "message": message, "code": "invalid_order_by"}]


def test_unknown_order_by_fields_suggest_the_closest():
    for order_by in ({"scroe": "asc"}, [{"field": "scroe", "direction": "desc"}]):
        with pytest.raises(ValidationError) as info:
            compile_order_by(ITEM, order_by)
        assert info.value.details == [{"field": "scroe", "message": "scroe is not a field of Item. Did you mean 'score'?",
                                       "code": "invalid_order_by", "suggestions": ["score"]}]


def test_nulls_sort_first_ascending_and_last_descending_in_sqlite():
    conn = connect()
    for i, score in enumerate([2, None, 1, None]):
        insert(conn, {"id": f"r{i}", "score": score, "createdAt": "2026-01-01", "updatedAt": "2026-01-01",
                      "_version": 1})

    def ids(order_by):
        sql = f'SELECT "id" FROM "items" ORDER BY {compile_order_by(ITEM, order_by)}'
        return [r["id"] for r in conn.execute(sql)]
    assert ids({"score": "asc"}) == ["r1", "r3", "r2", "r0"]
    assert ids({"score": "desc"}) == ["r0", "r2", "r1", "r3"]


# -------------------------------------------------------------------------------------- pagination

def test_check_page():
    assert check_page(None, None, max_page_size=1000, default_limit=None) == (None, 0)
    assert check_page(None, None, max_page_size=1000, default_limit=20) == (20, 0)
    assert check_page(0, 0, max_page_size=1000, default_limit=20) == (0, 0)
    assert check_page(1000, 45, max_page_size=1000, default_limit=20) == (1000, 45)


@pytest.mark.parametrize(("limit", "offset", "field", "code"), [
    (-1, 0, "limit", "invalid_limit"), (1001, 0, "limit", "invalid_limit"), (True, 0, "limit", "invalid_limit"),
    (2.0, 0, "limit", "invalid_limit"), ("5", 0, "limit", "invalid_limit"),
    (5, -1, "offset", "invalid_offset"), (5, 1.5, "offset", "invalid_offset"), (5, False, "offset", "invalid_offset"),
])
def test_check_page_errors(limit, offset, field, code):
    with pytest.raises(ValidationError) as info:
        check_page(limit, offset, max_page_size=1000, default_limit=20)
    [detail] = info.value.details
    assert (detail["field"], detail["code"]) == (field, code)
    assert detail["message"] in ("limit must be between 0 and 1000", "offset must be at least 0")


def test_registered_fold_function():
    conn = sqlite3.connect(":memory:")
    register_functions(conn)
    assert conn.execute("SELECT atomo_fold(NULL), atomo_fold('StraSSe'), atomo_fold(12), atomo_fold(1.5)").fetchone() \
        == (None, "strasse", "12", "1.5")
