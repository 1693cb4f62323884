import re

import pytest

from atomo.data.validation import is_json_value, normalize_input
from atomo.errors import ValidationError
from atomo.schema.model import Field, Model, Rule, camel_case, snake_case

NOW = "2026-06-08T10:00:00.123456+00:00"
STAGES = ("lead", "qualified", "proposal", "won", "lost")


def rules(text: str) -> tuple[Rule, ...]:
    out = []
    for part in filter(None, text.split("|")):
        name, _, arg = part.partition(":")
        out.append(Rule(name, tuple(arg.split(",")) if name in ("in", "exists") else float(arg) if arg else None))
    return tuple(out)


def fld(name: str, kind: str = "text", rule_text: str = "", **kw) -> Field:
    column = snake_case(name)
    return Field(name=name, column=column, key=camel_case(column), kind=kind, rules=rules(rule_text), **kw)


def mdl(name: str, *fields: Field) -> Model:
    pk = Field(name="id", column="id", key="id", kind="text", optional=False, primary=True)
    return Model(name=name, table=snake_case(name) + "s", fields=(pk, *fields))


DEAL = mdl(
    "Deal",
    fld("title", rule_text="required|min:2|max:160", optional=False),
    fld("value", "number", "required|min:0", optional=False, default=0),
    fld("currency", "select", "required|in:EUR,USD", optional=False, default="EUR", options=("EUR", "USD")),
    fld("stage", "select", "required|in:" + ",".join(STAGES), optional=False, default="lead", options=STAGES),
    fld("probability", "number", "min:0|max:100"),
    fld("closeDate", "datetime"),
    fld("companyId", "relation", "required|exists:companies,id", optional=False),
    fld("ownerId"),
    fld("notes", "blocks"),
)
CONTACT = mdl(
    "Contact",
    fld("firstName", rule_text="required|max:100", optional=False, trim=True),
    fld("email", "email", "email", lowercase=True, trim=True),
    fld("website", "url", "url"),
    fld("phone", rule_text="numeric|max:40"),
    fld("tags", "array", "min:1|max:3"),
    fld("meta", "json"),
    fld("active", "boolean"),
    fld("seenAt", "datetime", default_now=True),
    fld("touchedAt", "datetime", auto_update=True),
    fld("createdAt", "datetime", default_now=True),
    fld("updatedAt", "datetime", auto_update=True),
)


def create(model, data, **kw):
    return normalize_input(model, data, mode="create", now=NOW, **kw)


def update(model, data, **kw):
    return normalize_input(model, data, mode="update", now=NOW, **kw)


def details(model, data, mode="create", **kw) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        normalize_input(model, data, mode=mode, now=NOW, **kw)
    err = info.value
    assert err.code == "VALIDATION_ERROR"
    assert err.message == "; ".join(d["message"] for d in err.details)
    return err.details


def one(model, data, mode="create", **kw) -> dict:
    found = details(model, data, mode, **kw)
    assert len(found) == 1, found
    return found[0]


def test_spec_example_every_failure_reported_in_record_order():
    found = details(DEAL, {"stage": "open", "companyId": "c1"})
    assert found == [
        {"field": "title", "message": "title is required", "code": "required"},
        {"field": "stage", "message": "stage must be one of: lead,qualified,proposal,won,lost", "code": "in"},
    ]


def test_create_applies_defaults_and_returns_a_full_record_in_order():
    out = create(DEAL, {"title": "Big", "company_id": "c1", "closeDate": "2026-06-08T12:00:00+02:00"})
    assert out == {"title": "Big", "value": 0, "currency": "EUR", "stage": "lead", "probability": None,
                   "closeDate": "2026-06-08T10:00:00.000000+00:00", "companyId": "c1", "ownerId": None,
                   "notes": []}
    assert list(out) == ["title", "value", "currency", "stage", "probability", "closeDate", "companyId",
                         "ownerId", "notes"]


def test_default_passes_required_but_explicit_null_does_not():
    assert one(DEAL, {"title": "Big", "companyId": "c", "value": None}) == {
        "field": "value", "message": "value is required", "code": "required"}


def test_default_now_and_auto_update_fields_get_now_on_create_only():
    out = create(CONTACT, {"firstName": "Ann"})
    assert out["seenAt"] == NOW and out["touchedAt"] == NOW
    assert "createdAt" not in out and "updatedAt" not in out  # managed by the data service
    assert out["tags"] == [] and out["meta"] is None and out["active"] is None
    assert update(CONTACT, {"firstName": "Bo"}) == {"firstName": "Bo"}


def test_trim_and_lowercase_run_before_the_rules():
    out = create(CONTACT, {"firstName": "  Ann ", "email": "  ANN@Example.COM "})
    assert out["firstName"] == "Ann" and out["email"] == "ann@example.com"
    assert one(CONTACT, {"firstName": "   "})["message"] == "firstName is required"
    title_min = one(DEAL, {"title": "a", "companyId": "c"})
    assert title_min == {"field": "title", "message": "title must be at least 2 characters", "code": "min_length"}


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@sub.example.org", "ü@exämple.de"])
def test_valid_emails(email):
    assert create(CONTACT, {"firstName": "A", "email": email})["email"] == email.lower()


@pytest.mark.parametrize("email", ["plain", "@b.co", "a@b", "a@@b.co", "a b@c.de", "a@b@c.de", "a@.", "a@b."])
def test_invalid_emails(email):
    assert one(CONTACT, {"firstName": "A", "email": email}) == {
        "field": "email", "message": "email must be a valid email", "code": "email"}


@pytest.mark.parametrize("url", ["http://x", "https://example.com/a?b#c", "HTTPS://EXAMPLE.COM"])
def test_valid_urls(url):
    assert create(CONTACT, {"firstName": "A", "website": url})["website"] == url


@pytest.mark.parametrize("url", ["example.com", "ftp://x.io", "http://", "https:// x.io", "http:///path"])
def test_invalid_urls(url):
    assert one(CONTACT, {"firstName": "A", "website": url}) == {
        "field": "website", "message": "website must be a valid URL", "code": "url"}


@pytest.mark.parametrize(("phone", "ok"), [
    ("123", True), ("-1.5", True), ("+.5", True), ("1e3", True), ("12.", True),
    ("12a", False), ("", False), (" 1", False), ("1,5", False), ("١٢", False),
])
def test_numeric_rule(phone, ok):
    if ok:
        assert create(CONTACT, {"firstName": "A", "phone": phone})["phone"] == phone
    else:
        assert one(CONTACT, {"firstName": "A", "phone": phone}) == {
            "field": "phone", "message": "phone must be numeric", "code": "numeric"}


@pytest.mark.parametrize(("data", "expected"), [
    ({"title": "x" * 161}, ("title", "title must be at most 160 characters", "max_length")),
    ({"value": -1}, ("value", "value must be at least 0", "min_value")),
    ({"probability": 100.5}, ("probability", "probability must be at most 100", "max_value")),
    ({"probability": -0.1}, ("probability", "probability must be at least 0", "min_value")),
])
def test_min_max_on_text_and_numbers(data, expected):
    base = {"title": "Big", "companyId": "c"}
    assert one(DEAL, {**base, **data}) == dict(zip(("field", "message", "code"), expected, strict=True))


def test_min_max_items_on_arrays():
    assert one(CONTACT, {"firstName": "A", "tags": []}) == {
        "field": "tags", "message": "tags must have at least 1 items", "code": "min_items"}
    assert one(CONTACT, {"firstName": "A", "tags": ["a", "b", "c", "d"]}) == {
        "field": "tags", "message": "tags must have at most 3 items", "code": "max_items"}
    assert create(CONTACT, {"firstName": "A", "tags": ["a", "b", "c"]})["tags"] == ["a", "b", "c"]


def test_in_rule_on_numbers_compares_the_number_text():
    model = mdl("Dice", fld("face", "number", "in:1,2,3"))
    assert create(model, {"face": 2})["face"] == 2
    assert create(model, {"face": 2.0})["face"] == 2.0
    assert one(model, {"face": 4}) == {"field": "face", "message": "face must be one of: 1,2,3", "code": "in"}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("firstName", 5, "firstName must be text"),
    ("email", ["a@b.co"], "email must be text"),
    ("active", "true", "active must be a boolean"),
    ("active", 1, "active must be a boolean"),
    ("seenAt", "yesterday", "seenAt must be a date-time"),
    ("seenAt", 1700000000, "seenAt must be a date-time"),
    ("tags", "a,b", "tags must be an array"),
    ("tags", {"a": 1}, "tags must be an array"),
    ("meta", {1: "x"}, "meta must be a JSON value"),
    ("meta", {"a": float("nan")}, "meta must be a JSON value"),
    ("meta", {"a": {1, 2}}, "meta must be a JSON value"),
    ("firstName", "a\ud800", "firstName must be text"),   # a lone surrogate cannot be stored
    ("meta", {"a": ["\udfff"]}, "meta must be a JSON value"),
    ("meta", {"\ud800": 1}, "meta must be a JSON value"),
])
def test_type_errors(key, value, message):
    data = {"firstName": "A", key: value}
    assert one(CONTACT, data) == {"field": key, "message": message, "code": "type"}


@pytest.mark.parametrize("value", ["1", True, False, float("inf"), [1], {"n": 1}])
def test_number_type_errors_bool_is_not_a_number(value):
    assert one(DEAL, {"title": "Big", "companyId": "c", "probability": value}) == {
        "field": "probability", "message": "probability must be a number", "code": "type"}


def test_type_error_skips_the_other_rules_of_that_field():
    assert one(DEAL, {"title": 12, "companyId": "c"})["code"] == "type"


def test_data_must_be_an_object():
    for data in (None, [], "x", 3):
        assert one(DEAL, data) == {"field": None, "message": "data must be an object", "code": "type"}


def test_keys_in_either_spelling_and_by_declared_name():
    model = mdl("Page", fld("URL", "url", "url"), fld("ownerId"))
    assert create(model, {"URL": "http://a", "owner_id": "u"}) == {"url": "http://a", "ownerId": "u"}
    assert create(model, {"url": "http://a"})["url"] == "http://a"


def test_unknown_and_duplicate_keys():
    found = details(DEAL, {"title": "Big", "companyId": "c", "zzz": 1, "company_id": "d", 7: 1})
    assert found == [
        {"field": "zzz", "message": "zzz is not a field of Deal", "code": "unknown_field"},
        {"field": "companyId", "message": "companyId is given twice (as companyId and company_id)",
         "code": "duplicate_key"},
        {"field": "7", "message": "7 is not a field of Deal", "code": "unknown_field"},
    ]


def test_unknown_keys_suggest_the_closest_writable_key():
    found = details(DEAL, {"title": "Big", "companyId": "c", "titel": 1, "companyid": 2, "tenantid": 3})
    assert found == [
        {"field": "titel", "message": "titel is not a field of Deal. Did you mean 'title'?", "code": "unknown_field",
         "suggestions": ["title"]},
        {"field": "companyid", "message": "companyid is not a field of Deal. Did you mean 'companyId'?",
         "code": "unknown_field", "suggestions": ["companyId"]},
        {"field": "tenantid", "message": "tenantid is not a field of Deal", "code": "unknown_field"},  # read-only
    ]


@pytest.mark.parametrize("key", ["deletedAt", "deleted_at", "tenantId", "tenant_id", "_version"])
def test_read_only_keys_on_create(key):
    assert one(DEAL, {"title": "Big", "companyId": "c", key: None}) == {
        "field": camel_case(snake_case(key)), "message": f"{camel_case(snake_case(key))} is read-only",
        "code": "read_only"}


@pytest.mark.parametrize("key", ["id", "createdAt", "created_at", "deletedAt", "tenant_id", "_version"])
def test_read_only_keys_on_update(key):
    record_key = camel_case(key)
    assert one(DEAL, {key: "x"}, mode="update") == {
        "field": record_key, "message": f"{record_key} is read-only", "code": "read_only"}


def test_system_keys_allowed_on_create_are_normalised():
    out = create(DEAL, {"id": "d1", "title": "Big", "companyId": "c", "created_at": "2026-01-01",
                        "updatedAt": "2026-01-02T01:00:00+01:00"})
    assert list(out)[0] == "id" and list(out)[-2:] == ["createdAt", "updatedAt"]
    assert out["createdAt"] == "2026-01-01T00:00:00.000000+00:00"
    assert out["updatedAt"] == "2026-01-02T00:00:00.000000+00:00"
    assert "id" not in create(DEAL, {"id": None, "title": "Big", "companyId": "c"})
    assert update(DEAL, {"updatedAt": "2026-01-02"}) == {"updatedAt": "2026-01-02T00:00:00.000000+00:00"}


@pytest.mark.parametrize(("value", "expected"), [
    ("", ("id must be at least 1 characters", "min_length")),
    ("x" * 256, ("id must be at most 255 characters", "max_length")),
    (5, ("id must be text", "type")),
    ("\ud800", ("id must be text", "type")),
])
def test_client_id_on_create(value, expected):
    assert one(DEAL, {"id": value, "title": "Big", "companyId": "c"}) == {
        "field": "id", "message": expected[0], "code": expected[1]}
    assert create(DEAL, {"id": "x" * 255, "title": "Big", "companyId": "c"})["id"] == "x" * 255


def test_bad_created_at_on_create():
    assert one(DEAL, {"title": "Big", "companyId": "c", "createdAt": "soon"}) == {
        "field": "createdAt", "message": "createdAt must be a date-time", "code": "type"}


def test_update_checks_only_the_keys_present():
    assert update(DEAL, {}) == {}
    assert update(DEAL, {"probability": 50, "stage": "won"}) == {"stage": "won", "probability": 50}
    assert one(DEAL, {"title": None}, mode="update")["message"] == "title is required"
    # every rule runs: "" fails `required` and `min:2`
    assert [d["code"] for d in details(DEAL, {"title": ""}, mode="update")] == ["required", "min_length"]
    assert update(DEAL, {"probability": None}) == {"probability": None}
    found = details(DEAL, {"probability": 150, "stage": "open", "value": "1"}, mode="update")
    assert [d["message"] for d in found] == [
        "value must be a number", "stage must be one of: lead,qualified,proposal,won,lost",
        "probability must be at most 100"]


def test_null_passes_every_rule_but_required():
    out = create(CONTACT, {"firstName": "A", "email": None, "website": None, "phone": None, "tags": None})
    assert out["email"] is None and out["tags"] is None


def test_mode_must_be_known():
    with pytest.raises(ValueError):
        normalize_input(DEAL, {}, mode="upsert")


def test_now_defaults_to_the_current_time():
    out = normalize_input(CONTACT, {"firstName": "A"}, mode="create")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", out["seenAt"])


def test_blocks_are_normalised_on_create():
    out = create(DEAL, {"title": "Big", "companyId": "c", "notes": [{"type": "paragraph", "text": "hi"}]})
    [block] = out["notes"]
    assert block["type"] == "paragraph" and block["rev"] == 1 and block["createdAt"] == NOW
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", block["id"])


def test_blocks_on_update_keep_unchanged_and_bump_changed():
    old = "2026-01-01T00:00:00.000000+00:00"
    current = {"notes": [
        {"id": "a", "type": "paragraph", "text": "same", "rev": 3, "createdAt": old, "updatedAt": old},
        {"id": "b", "type": "paragraph", "text": "before", "rev": 1, "createdAt": old, "updatedAt": old},
    ]}
    patch = {"notes": [{"id": "a", "type": "paragraph", "text": "same", "rev": 99},
                       {"id": "b", "type": "paragraph", "text": "after"}]}
    a, b = update(DEAL, patch, current=current)["notes"]
    assert (a["rev"], a["createdAt"], a["updatedAt"]) == (3, old, old)
    assert (b["rev"], b["createdAt"], b["updatedAt"]) == (2, old, NOW)


def test_block_errors_are_reported_with_the_other_errors():
    found = details(DEAL, {"title": "B", "companyId": "c",
                           "notes": [{"type": "heading", "text": "h", "level": 9}, "x"]})
    assert found == [
        {"field": "title", "message": "title must be at least 2 characters", "code": "min_length"},
        {"field": "notes", "message": "notes[0]: level must be an integer from 1 to 6", "code": "block"},
        {"field": "notes", "message": "notes[1]: block must be an object", "code": "block"},
    ]
    assert one(DEAL, {"notes": "text"}, mode="update") == {
        "field": "notes", "message": "notes must be an array", "code": "type"}


def test_is_json_value_handles_deep_nesting_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert is_json_value(deep)
    assert not is_json_value([1, (2,)])


def test_blocks_with_unstorable_text():
    assert one(DEAL, {"notes": [{"type": "paragraph", "text": "\ud800"}]}, mode="update") == {
        "field": "notes", "message": "notes must be a JSON value", "code": "type"}
