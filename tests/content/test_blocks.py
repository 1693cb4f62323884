import re

import pytest

from atomo.content.blocks import block_problems, normalize_blocks

NOW = "2026-06-08T10:00:00.123456+00:00"
OLD = "2026-01-01T00:00:00.000000+00:00"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def norm(value, previous=None):
    return normalize_blocks("notes", value, previous, NOW)


def messages(value, previous=None) -> list[str]:
    blocks, details = norm(value, previous)
    assert all(d["field"] == "notes" and d["code"] == "block" for d in details)
    return [d["message"] for d in details]


def test_not_an_array_is_a_type_error():
    for value in ("x", {"type": "paragraph"}, 3):
        assert norm(value) == ([], [{"field": "notes", "message": "notes must be an array", "code": "type"}])


def test_new_blocks_get_ids_and_managed_keys_in_order():
    blocks, details = norm([{"text": "hi", "type": "paragraph", "rev": 7, "createdAt": "x"},
                            {"type": "divider", "id": "b2"}])
    assert details == []
    first, second = blocks
    assert UUID4.fullmatch(first["id"])
    assert list(first) == ["id", "type", "text", "rev", "createdAt", "updatedAt"]
    assert (first["rev"], first["createdAt"], first["updatedAt"]) == (1, NOW, NOW)
    assert second == {"id": "b2", "type": "divider", "rev": 1, "createdAt": NOW, "updatedAt": NOW}


def test_ids_are_distinct_across_calls():
    ids = {norm([{"type": "divider"}])[0][0]["id"] for _ in range(50)}
    assert len(ids) == 50


def test_previous_blocks_keep_or_bump_their_revision():
    previous = [
        {"id": "a", "type": "paragraph", "text": "same", "rev": 4, "createdAt": OLD, "updatedAt": OLD},
        {"id": "b", "type": "task", "title": "t", "completed": False, "rev": 2, "createdAt": OLD, "updatedAt": OLD},
        {"id": "gone", "type": "divider", "rev": 1, "createdAt": OLD, "updatedAt": OLD},
    ]
    value = [
        {"id": "b", "type": "task", "title": "t", "completed": True, "rev": 1, "updatedAt": "forged"},
        {"type": "paragraph", "text": "same", "id": "a", "rev": 100},   # key order does not matter
        {"id": "c", "type": "divider"},
    ]
    blocks, details = norm(value, previous)
    assert details == []
    b, a, c = blocks
    assert (a["rev"], a["createdAt"], a["updatedAt"]) == (4, OLD, OLD)
    assert (b["rev"], b["createdAt"], b["updatedAt"]) == (3, OLD, NOW)
    assert (c["rev"], c["createdAt"], c["updatedAt"]) == (1, NOW, NOW)


def test_type_change_and_json_type_change_count_as_changes():
    previous = [{"id": "a", "type": "custom", "n": 1, "rev": 1, "createdAt": OLD, "updatedAt": OLD}]
    assert norm([{"id": "a", "type": "custom", "n": True}], previous)[0][0]["rev"] == 2
    assert norm([{"id": "a", "type": "custom", "n": 1.5}], previous)[0][0]["rev"] == 2
    assert norm([{"id": "a", "type": "other", "n": 1}], previous)[0][0]["rev"] == 2
    assert norm([{"id": "a", "type": "custom", "n": 1}], previous)[0][0]["rev"] == 1


def test_previous_block_without_managed_keys_is_treated_as_new():
    blocks, _ = norm([{"id": "a", "type": "divider"}], [{"id": "a", "type": "divider"}])
    assert (blocks[0]["rev"], blocks[0]["createdAt"]) == (1, NOW)


@pytest.mark.parametrize(("block", "reason"), [
    ("x", "block must be an object"),
    (["type", "p"], "block must be an object"),
    ({}, "type must be a non-empty string"),
    ({"type": ""}, "type must be a non-empty string"),
    ({"type": 3}, "type must be a non-empty string"),
    ({"type": "divider", "id": ""}, "id must be a string of 1 to 255 characters"),
    ({"type": "divider", "id": "x" * 256}, "id must be a string of 1 to 255 characters"),
    ({"type": "divider", "id": 12}, "id must be a string of 1 to 255 characters"),
    ({"type": "paragraph"}, "text is required"),
    ({"type": "paragraph", "text": None}, "text is required"),
    ({"type": "paragraph", "text": 5}, "text must be a string"),
    ({"type": "heading", "level": 1}, "text is required"),
    ({"type": "heading", "text": "h"}, "level is required"),
    ({"type": "heading", "text": "h", "level": 0}, "level must be an integer from 1 to 6"),
    ({"type": "heading", "text": "h", "level": 7}, "level must be an integer from 1 to 6"),
    ({"type": "heading", "text": "h", "level": 2.5}, "level must be an integer from 1 to 6"),
    ({"type": "heading", "text": "h", "level": True}, "level must be an integer from 1 to 6"),
    ({"type": "heading", "text": "h", "level": "2"}, "level must be an integer from 1 to 6"),
    ({"type": "list"}, "items is required"),
    ({"type": "list", "items": "a"}, "items must be an array of strings"),
    ({"type": "list", "items": ["a", 1]}, "items must be an array of strings"),
    ({"type": "quote"}, "text is required"),
    ({"type": "code"}, "code is required"),
    ({"type": "code", "code": ["x"]}, "code must be a string"),
    ({"type": "image"}, "url is required"),
    ({"type": "embed", "url": 1}, "url must be a string"),
    ({"type": "task"}, "title is required"),
    ({"type": "task", "title": "t", "completed": "yes"}, "completed must be a boolean"),
    ({"type": "task", "title": "t", "completed": 1}, "completed must be a boolean"),
    ({"type": "call_log", "duration": "60"}, "duration must be a number"),
    ({"type": "call_log", "duration": False}, "duration must be a number"),
    ({"type": "meeting_note"}, "title is required"),
])
def test_block_problems(block, reason):
    assert block_problems(block) == [reason]
    assert messages([{"type": "divider"}, block]) == [f"notes[1]: {reason}"]


@pytest.mark.parametrize("block", [
    {"type": "paragraph", "text": ""},
    {"type": "heading", "text": "h", "level": 6},
    {"type": "list", "items": [], "style": "numbered"},
    {"type": "quote", "text": "q", "cite": 5},
    {"type": "code", "code": "x = 1"},
    {"type": "image", "url": "u", "width": "wide"},
    {"type": "embed", "url": "u"},
    {"type": "divider"},
    {"type": "task", "title": "t"},
    {"type": "task", "title": "t", "completed": None},
    {"type": "call_log"},
    {"type": "call_log", "duration": 12.5},
    {"type": "meeting_note", "title": "m", "attendees": "everyone"},
    {"type": "my_widget", "anything": {"goes": [1]}},
    {"type": "paragraph", "text": "t", "level": 99},  # level is checked on headings only
])
def test_valid_blocks(block):
    assert block_problems(block) == []
    blocks, details = norm([block])
    assert details == [] and {k: blocks[0][k] for k in block} == block


def test_several_problems_of_one_block_are_all_reported():
    assert messages([{"type": "heading", "id": "", "level": 0}]) == [
        "notes[0]: id must be a string of 1 to 255 characters",
        "notes[0]: text is required",
        "notes[0]: level must be an integer from 1 to 6",
    ]


def test_duplicate_ids_within_the_field():
    assert messages([{"id": "a", "type": "divider"}, {"id": "b", "type": "divider"},
                     {"id": "a", "type": "divider"}]) == ["notes[2]: id 'a' is used by another block"]


def test_invalid_blocks_are_left_out_of_the_result():
    blocks, details = norm([{"id": "a", "type": "divider"}, {"type": "heading"}])
    assert [b["id"] for b in blocks] == ["a"] and len(details) == 2
