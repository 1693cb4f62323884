"""Blocks: the shape and validation of one block, and normalisation of a whole Blocks value.

A block is a JSON object with a non-empty string `type` and an `id` unique within its field
(content.md §2). `rev`, `createdAt` and `updatedAt` are managed by the server: values sent by a
client are ignored and recomputed against the previously stored blocks, so a whole-field write keeps
`rev`/`createdAt` of unchanged blocks and raises `rev` of changed ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

MANAGED_KEYS = ("rev", "createdAt", "updatedAt")
MAX_ID_LENGTH = 255
MAX_BLOCKS = 10_000      # blocks in one field, for whole-field writes and block inserts alike
MAX_FIELD_CHARS = 4 << 20   # the stored JSON text of a field that block inserts and updates may grow to


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_bool(value: Any) -> bool:
    return type(value) is bool


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_level(value: Any) -> bool:
    return _is_int(value) and 1 <= value <= 6


# Required keys of the built-in types. Text keys must be strings; `items` an array of strings.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "paragraph": ("text",), "heading": ("text", "level"), "list": ("items",), "quote": ("text",),
    "code": ("code",), "image": ("url",), "embed": ("url",), "divider": (), "task": ("title",),
    "call_log": (), "meeting_note": ("title",),
}

# Keys checked whenever present on a built-in type (key -> (test, reason)); required keys included.
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str), "text must be a string"),
    "code": (lambda v: isinstance(v, str), "code must be a string"),
    "url": (lambda v: isinstance(v, str), "url must be a string"),
    "title": (lambda v: isinstance(v, str), "title must be a string"),
    "level": (_is_level, "level must be an integer from 1 to 6"),
    "items": (_is_string_list, "items must be an array of strings"),
    "completed": (_is_bool, "completed must be a boolean"),
    "duration": (_is_number, "duration must be a number"),
}
_CHECKED_KEYS: dict[str, tuple[str, ...]] = {
    "paragraph": ("text",), "heading": ("text", "level"), "list": ("items",), "quote": ("text",),
    "code": ("code",), "image": ("url",), "embed": ("url",), "divider": (),
    "task": ("title", "completed"), "call_log": ("duration",), "meeting_note": ("title",),
}


def block_problems(block: Any) -> list[str]:
    """Reasons a single block (managed keys ignored) is invalid; `id` uniqueness is not checked here."""
    if not isinstance(block, dict):
        return ["block must be an object"]
    problems = []
    btype = block.get("type")
    if not isinstance(btype, str) or btype == "":
        problems.append("type must be a non-empty string")
    if "id" in block and block["id"] is not None:
        bid = block["id"]
        if not isinstance(bid, str) or not 1 <= len(bid) <= MAX_ID_LENGTH:
            problems.append(f"id must be a string of 1 to {MAX_ID_LENGTH} characters")
    if isinstance(btype, str) and btype in REQUIRED_KEYS:
        required = REQUIRED_KEYS[btype]
        for key in required:
            if block.get(key) is None:
                problems.append(f"{key} is required")
        for key in _CHECKED_KEYS[btype]:
            value = block.get(key)
            if value is None:
                continue  # missing required keys are reported above; optional ones may be null
            test, reason = _CHECKS[key]
            if not test(value):
                problems.append(reason)
    return problems


def content_of(block: dict[str, Any]) -> dict[str, Any]:
    """The block without its server-managed keys."""
    return {k: v for k, v in block.items() if k not in MANAGED_KEYS}


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    # JSON text comparison: `true` vs `1` and `1` vs `1.0` count as changes, key order does not.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def stamp_block(content: dict[str, Any], previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """`content` (with its id) plus managed keys, computed against the stored `previous` block."""
    block = {"id": content["id"], "type": content.get("type")}
    block.update(content)
    if previous is None or not isinstance(previous.get("rev"), int):
        block.update(rev=1, createdAt=now, updatedAt=now)
    elif same_content(content, content_of(previous)):
        block.update(rev=previous["rev"], createdAt=previous.get("createdAt", now),
                     updatedAt=previous.get("updatedAt", now))
    else:
        block.update(rev=previous["rev"] + 1, createdAt=previous.get("createdAt", now), updatedAt=now)
    return block


def normalize_blocks(key: str, value: Any, previous: list[Any] | None,
                     now: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate and normalise a whole Blocks value of field `key`.

    Returns (blocks, details): ids filled (UUID v4), managed keys recomputed against `previous`
    (the stored blocks, matched by id), and one `{field, code: "block", message}` per problem.
    """
    if not isinstance(value, list):
        return [], [{"field": key, "message": f"{key} must be an array", "code": "type"}]
    if len(value) > MAX_BLOCKS:
        return [], [{"field": key, "message": f"{key} holds at most {MAX_BLOCKS} blocks", "code": "max_items"}]
    stored = {b["id"]: b for b in previous or () if isinstance(b, dict) and isinstance(b.get("id"), str)}
    details: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, raw in enumerate(value):
        problems = block_problems(raw)
        if isinstance(raw, dict):
            bid = raw.get("id")
            if bid is None:
                bid = str(uuid.uuid4())
            elif isinstance(bid, str) and bid in seen:
                problems.append(f"id '{bid}' is used by another block")
            if isinstance(bid, str):
                seen.add(bid)
            if not problems:
                content = content_of(raw)
                content["id"] = bid
                blocks.append(stamp_block(content, stored.get(bid), now))
        details += [{"field": key, "message": f"{key}[{i}]: {p}", "code": "block"} for p in problems]
    return blocks, details
