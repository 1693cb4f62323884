"""Block-level mutations (content.md §3-§5): deciding an operation's event, and applying an event.

Every block mutation is split in two, so that the live write and a projection rebuild produce the
same bytes:

- ``decide(field, blocks, op, now)`` checks one requested operation against the field's current
  blocks and returns the event it makes (type, ``data``, ``previous_data``), or None when it changes
  nothing (an identical patch, a move to the current place). It raises the documented errors.
- ``apply_event(blocks, type, data, recorded_at)`` applies a stored block event to a list of blocks
  in place. The writer applies the event it just decided with it; the rebuild, ``modelChanges`` and
  ``history`` replay the log with it.

The unit of conflict is one key of one block (§5): an update merges its patch into the block as it
is at commit time; ``expectedRev`` and ``expectedVersion`` let a client refuse to overwrite.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from atomo.content.blocks import MANAGED_KEYS, MAX_BLOCKS, block_problems, content_of, same_content
from atomo.errors import ConflictError, NotFoundError, ValidationError

OPS = ("insert", "update", "move", "remove")
EVENT_TYPES = {"insert": "BlockInserted", "update": "BlockUpdated", "move": "BlockMoved", "remove": "BlockRemoved"}
OP_OF_EVENT = {v: k for k, v in EVENT_TYPES.items()}
MAX_OPS = 100            # operations in one applyBlockOps call
_OP_KEYS = frozenset({"op", "blockId", "block", "position", "after", "expectedRev"})


@dataclass(frozen=True)
class BlockOp:
    """One requested operation, its arguments checked for type (not yet against the field)."""

    op: str
    block_id: str | None = None
    block: dict[str, Any] | None = None      # insert: the new block; update: the patch
    position: int | None = None
    after: str | None = None
    expected_rev: int | None = None


@dataclass(frozen=True)
class Decided:
    """The event one operation makes."""

    type: str
    data: dict[str, Any]
    previous: dict[str, Any] | None


def _invalid(field: str, message: str, code: str = "invalid_block_op") -> ValidationError:
    return ValidationError.single(field, message, code)


def _optional_int(value: Any, name: str, field: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int:
        raise _invalid(field, f"{name} must be an integer")
    return value


def _optional_id(value: Any, name: str, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise _invalid(field, f"{name} must be a block id (1 to 255 characters)")
    return value


def block_op(op: str, field: str, *, block_id: Any = None, block: Any = None, position: Any = None,
             after: Any = None, expected_rev: Any = None) -> BlockOp:
    """A ``BlockOp`` from the arguments of one mutation (GraphQL, library, worker plane, batch item)."""
    if op not in OPS:
        raise _invalid(field, f"op must be one of {', '.join(OPS)}")
    block_id = _optional_id(block_id, "blockId", field)
    after = _optional_id(after, "after", field)
    position = _optional_int(position, "position", field)
    expected_rev = _optional_int(expected_rev, "expectedRev", field)
    if op != "insert" and block_id is None:
        raise _invalid(field, f"{op} needs blockId")
    if op in ("insert", "update") and not isinstance(block, dict):
        raise _invalid(field, "block must be an object")
    if op in ("insert", "move"):
        if after is not None and position is not None:
            raise _invalid(field, "give at most one of after and position")
        if position is not None and position < 0:
            raise _invalid(field, "position must be 0 or more")
        if op == "move" and after is None and position is None:
            raise _invalid(field, "moveBlock needs after or position")
        if op == "move" and after == block_id:
            raise _invalid(field, "a block cannot be moved after itself")
    elif after is not None or position is not None:
        raise _invalid(field, f"{op} takes no after or position")
    if op in ("insert", "move") and expected_rev is not None:
        raise _invalid(field, f"{op} takes no expectedRev")
    return BlockOp(op, block_id, block if op in ("insert", "update") else None, position, after, expected_rev)


def parse_ops(field: str, ops: Any) -> list[BlockOp]:
    """The operations of an ``applyBlockOps`` call: 1 to ``MAX_OPS`` objects ``{op, blockId?, block?,
    position?, after?, expectedRev?}``."""
    if not isinstance(ops, list) or not 1 <= len(ops) <= MAX_OPS:
        raise _invalid("ops", f"ops must be a list of 1 to {MAX_OPS} operations")
    parsed = []
    for i, raw in enumerate(ops):
        if not isinstance(raw, dict):
            raise _invalid("ops", f"ops[{i}] must be an object")
        unknown = sorted(set(raw) - _OP_KEYS)
        if unknown:
            raise _invalid("ops", f"ops[{i}]: unknown key {unknown[0]!r}")
        try:
            parsed.append(block_op(raw.get("op"), field, block_id=raw.get("blockId"), block=raw.get("block"),
                                   position=raw.get("position"), after=raw.get("after"),
                                   expected_rev=raw.get("expectedRev")))
        except ValidationError as exc:
            raise at_op(exc, i) from None
    return parsed


def at_op(exc: Exception, index: int) -> Exception:
    """``exc`` marked with the batch index of the operation that raised it (``opIndex``)."""
    if isinstance(exc, ValidationError):
        details = [{**d, "opIndex": index} for d in exc.details or []]
        return ValidationError(f"ops[{index}]: {exc.message}", details)
    if isinstance(exc, NotFoundError | ConflictError) and isinstance(exc.details, dict):
        exc.details = {**exc.details, "opIndex": index}
    return exc


def index_of(blocks: list[dict[str, Any]], block_id: str) -> int:
    for i, block in enumerate(blocks):
        if block.get("id") == block_id:
            return i
    return -1


def _find(field: str, blocks: list[dict[str, Any]], block_id: str) -> int:
    i = index_of(blocks, block_id)
    if i < 0:
        raise NotFoundError(f"block {block_id} not found in {field}", {"field": field, "blockId": block_id})
    return i


def _check_rev(field: str, block: dict[str, Any], expected: int | None) -> None:
    if expected is not None and block.get("rev") != expected:
        raise ConflictError(f"block {block['id']} is at rev {block.get('rev')}, not {expected}",
                            {"field": field, "blockId": block["id"], "currentRev": block.get("rev"),
                             "expectedRev": expected})


def _problems(field: str, where: int, block_id: Any, block: Any) -> ValidationError | None:
    problems = block_problems(block)
    if not problems:
        return None
    return ValidationError(details=[{"field": field, "code": "block", "blockId": block_id,
                                     "message": f"{field}[{where}]: {p}"} for p in problems])


def decide(field: str, blocks: list[dict[str, Any]], op: BlockOp, now: str) -> Decided | None:
    """The event ``op`` makes on ``blocks`` (the field at commit time), or None when nothing changes."""
    if op.op == "insert":
        return _decide_insert(field, blocks, op, now)
    i = _find(field, blocks, op.block_id or "")
    current = blocks[i]
    if op.op == "update":
        return _decide_update(field, i, current, op)
    if op.op == "move":
        return _decide_move(field, blocks, i, op)
    _check_rev(field, current, op.expected_rev)
    return Decided("BlockRemoved", {"field": field, "blockId": current["id"], "index": i}, {"block": current})


def _decide_insert(field: str, blocks: list[dict[str, Any]], op: BlockOp, now: str) -> Decided:
    raw = op.block or {}
    if op.after is not None:
        index = _find(field, blocks, op.after) + 1
    elif op.position is not None:
        index = min(op.position, len(blocks))
    else:
        index = len(blocks)
    block_id = raw.get("id")
    error = _problems(field, index, block_id, raw)
    if error is not None:
        raise error
    if block_id is None:
        block_id = str(uuid.uuid4())
    elif index_of(blocks, block_id) >= 0:
        raise ConflictError(f"block {block_id} already exists in {field}", {"field": field, "blockId": block_id})
    if len(blocks) >= MAX_BLOCKS:
        raise _invalid(field, f"{field} holds at most {MAX_BLOCKS} blocks", "max_items")
    content = content_of(raw)
    block = {"id": block_id, "type": content.get("type")}
    block.update(content)
    block.update(id=block_id, rev=1, createdAt=now, updatedAt=now)
    return Decided("BlockInserted", {"field": field, "block": block, "index": index}, None)


def merged(block: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` merged one level deep into ``block``'s content: keys set to null are removed."""
    out = content_of(block)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _decide_update(field: str, i: int, current: dict[str, Any], op: BlockOp) -> Decided | None:
    raw = op.block or {}
    if "id" in raw and raw["id"] != current["id"]:
        raise _invalid(field, "the block id cannot change (id in the patch must equal blockId)")
    _check_rev(field, current, op.expected_rev)
    patch = {k: v for k, v in content_of(raw).items() if k != "id"}
    after = merged(current, patch)
    error = _problems(field, i, current["id"], after)
    if error is not None:
        raise error
    if same_content(after, content_of(current)):
        return None
    rev = current["rev"] + 1 if isinstance(current.get("rev"), int) else 1
    return Decided("BlockUpdated", {"field": field, "blockId": current["id"], "patch": patch, "rev": rev},
                   {"block": current})


def _decide_move(field: str, blocks: list[dict[str, Any]], i: int, op: BlockOp) -> Decided | None:
    if op.after is not None:
        anchor = _find(field, blocks, op.after)
        to = anchor + 1 if anchor < i else anchor   # right after the anchor once the block is taken out
    else:
        to = min(op.position or 0, len(blocks) - 1)
    if to == i:
        return None
    return Decided("BlockMoved", {"field": field, "blockId": blocks[i]["id"], "fromIndex": i, "toIndex": to},
                   {"index": i})


def apply_event(blocks: list[dict[str, Any]], type_: str, data: dict[str, Any], recorded_at: str) -> int | None:
    """Apply a stored block event to ``blocks`` in place; the index of the changed block (None when
    removed). Blocks are replaced, never changed in place, so earlier copies of the list stay valid.
    An event that no longer fits (its block is missing) changes nothing."""
    if type_ == "BlockInserted":
        index = min(max(int(data.get("index", len(blocks))), 0), len(blocks))
        blocks.insert(index, dict(data["block"]))
        return index
    i = index_of(blocks, data.get("blockId", ""))
    if i < 0:
        return None
    if type_ == "BlockUpdated":
        old = blocks[i]
        block = merged(old, data.get("patch") or {})
        block.update(rev=data.get("rev", 1), createdAt=old.get("createdAt", recorded_at), updatedAt=recorded_at)
        blocks[i] = block
        return i
    if type_ == "BlockMoved":
        block = blocks.pop(i)
        to = min(max(int(data.get("toIndex", i)), 0), len(blocks))
        blocks.insert(to, block)
        return to
    if type_ == "BlockRemoved":
        del blocks[i]
    return None


def block_list(value: Any) -> list[dict[str, Any]]:
    """A stored Blocks value as a new list of its block objects (anything else is dropped)."""
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


__all__ = ["EVENT_TYPES", "MANAGED_KEYS", "MAX_BLOCKS", "MAX_OPS", "OPS", "OP_OF_EVENT", "BlockOp", "Decided",
           "apply_event", "at_op", "block_list", "block_op", "decide", "index_of", "merged", "parse_ops"]
