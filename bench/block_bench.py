"""A block mutation against a whole-field update on one large document (content chapter §3): process CPU µs
per change and the bytes each change adds to the event log, through the embedded library (one caller).

Both change one paragraph of a document of ``--blocks`` blocks: ``updateBlock`` sends a patch; the whole-field
``update`` sends the document with that paragraph changed (what an editor without block mutations does).
The event bytes are ``length(data) + length(previous_data)`` of the events the changes appended.

Usage: python bench/block_bench.py [--blocks 500] [--ops 300] [--encoding json|msgpack]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from atomo import Atomo
from atomo.config import load_settings

SCHEMA = """
export interface Doc { id: string; title: string; body?: Block[] }
export default { models: {} }
"""


def document(blocks: int) -> list[dict[str, Any]]:
    kinds = [{"type": "paragraph", "text": "A paragraph of **ordinary** length, with a [link](https://example.com) "
                                           "and some words to make it about two hundred characters long in total."},
             {"type": "heading", "text": "A section heading", "level": 2},
             {"type": "task", "title": "Follow up with the customer", "completed": False, "dueDate": "2026-12-24"},
             {"type": "list", "items": ["first point", "second point", "third point"]}]
    return [{"id": f"b{i}", **kinds[i % len(kinds)]} for i in range(blocks)]


async def event_bytes(app: Atomo, after: int) -> int:
    def run(conn: Any) -> int:
        row = conn.execute("SELECT coalesce(sum(length(data) + coalesce(length(previous_data), 0)), 0) FROM events "
                           "WHERE position > ?", (after,)).fetchone()
        return int(row[0])
    return await app.runtime.db.read(run)  # type: ignore[no-any-return]


async def measure(blocks: int, ops: int, encoding: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "schema.ts").write_text(SCHEMA)
        async with Atomo(tmp, settings=load_settings({"ATOMO_EVENT_ENCODING": encoding})) as app:
            doc = await app.create("Doc", {"title": "Big", "body": document(blocks)})
            body = doc["body"]
            results = {}
            for name in ("updateBlock", "whole-field update"):
                start = await app.events.last_position()
                cpu, wall = time.process_time(), time.perf_counter()
                for n in range(ops):
                    target = (n * 4) % blocks            # a paragraph
                    text = f"{name} edit {n}"
                    if name == "updateBlock":
                        await app.update_block("Doc", doc["id"], "body", f"b{target}", {"text": text})
                    else:
                        body = [dict(b) for b in body]
                        body[target]["text"] = text
                        await app.update("Doc", id=doc["id"], data={"body": body})
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                size = await event_bytes(app, start)
                results[name] = (cpu / ops * 1e6, wall / ops * 1e6, size / ops)
            print(f"{blocks} blocks, {ops} changes each, event encoding {encoding}")
            print(f"{'change':<20} {'CPU µs/op':>10} {'wall µs/op':>11} {'event bytes/op':>15}")
            for name, (cpu_us, wall_us, size) in results.items():
                print(f"{name:<20} {cpu_us:10.0f} {wall_us:11.0f} {size:15.0f}")
            block, whole = results["updateBlock"], results["whole-field update"]
            print(f"whole-field / block: CPU {whole[0] / block[0]:.1f}x, event bytes {whole[2] / block[2]:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=500)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--encoding", choices=("json", "msgpack"), default="json")
    args = parser.parse_args()
    asyncio.run(measure(args.blocks, args.ops, args.encoding))


if __name__ == "__main__":
    main()
