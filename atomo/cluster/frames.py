"""The relay's wire format: a 4-byte big-endian length, then a msgpack array ``[kind, peer, payload]``.

From a worker, ``peer`` is the addressee (``ALL``: every other worker, ``SUPERVISOR``: the supervisor
only); from the relay, it is the sender (``SUPERVISOR`` for the supervisor's own frames).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgpack

ALL = -1
SUPERVISOR = -2
MAX_FRAME = 64 << 20        # a realtime message is at most ATOMO_REALTIME_MAX_FRAME_BYTES; metrics texts are small
_HEAD = struct.Struct(">I")


class FrameError(Exception):
    pass


def pack(kind: str, peer: int, payload: Any) -> bytes:
    body = msgpack.packb([kind, peer, payload], use_bin_type=True)
    return _HEAD.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> tuple[str, int, Any] | None:
    """The next frame, or None at the end of the stream."""
    try:
        head = await reader.readexactly(4)
    except asyncio.IncompleteReadError:
        return None
    (size,) = _HEAD.unpack(head)
    if size > MAX_FRAME:
        raise FrameError(f"relay frame of {size} bytes")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None
    kind, peer, payload = msgpack.unpackb(body, raw=False, strict_map_key=False)
    return str(kind), int(peer), payload
