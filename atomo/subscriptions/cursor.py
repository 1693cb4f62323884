"""A subscription as a cursor over the event feed (graphql chapter §10), shared by ``modelChanges``
(``model_changes``) and ``streamEvents`` (``stream_events``).

The cursor replays ``position > after`` from the log, then continues live (no gap, no duplicate); a
slow client only falls behind. It reads events only into room reserved on the socket's outbox
(``outbox``), at most ``RESERVE`` at a time, so a client that does not read holds the cursor back: no
batch of events waits in memory for the socket. A subclass says which events concern it (``wants``,
cheap) and what message each becomes for its caller (``message``: None when the caller may not see it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atomo.auth.principal import Caller
from atomo.storage.events import StoredEvent
from atomo.storage.feed import EventFeed

if TYPE_CHECKING:
    from atomo.subscriptions.outbox import Outbox


@dataclass(frozen=True)
class Sink:
    """Where one subscription reads from and writes to."""

    feed: EventFeed
    outbox: Outbox
    prefix: tuple[str, str]             # the ``next`` message around the encoded payload
    stopped: Callable[[], bool]         # the socket is closing or the server shutting down
    live_from: int | None               # the feed's tail when the subscribe message arrived (None: read it)


class FeedCursor:
    root_key: str

    def __init__(self, caller: Caller, sink: Sink, after: int | None) -> None:
        self.caller = caller
        self.sink = sink
        self.head, self.tail = sink.prefix
        self.after = after

    def wants(self, event: StoredEvent) -> bool:
        raise NotImplementedError

    async def message(self, event: StoredEvent) -> str | None:
        """The ``next`` message of a wanted event, or None when the caller may not see it."""
        raise NotImplementedError

    def rebind(self, caller: Caller, data: Any) -> None:
        """The caller's principal changed: decide the access again (``AtomoError`` ends the subscription)."""
        raise NotImplementedError

    async def run(self) -> None:
        """Deliver until the socket closes (stop cancels the task): reserve room, read at most that many
        events after the cursor (from the feed's ring, else the log), queue those the caller may read."""
        feed, outbox, stopped = self.sink.feed, self.sink.outbox, self.sink.stopped
        cursor = self.sink.live_from if self.after is None else self.after
        if cursor is None:
            cursor = await feed.now()
        while True:
            room = await outbox.reserve()
            used = 0
            try:
                if room == 0 or stopped():
                    return
                events = await feed.events_after(cursor, room)
                for event in events:
                    cursor = event.position
                    if not self.wants(event):
                        continue
                    text = await self.message(event)
                    if text is not None:
                        outbox.put_reserved(text)
                        used += 1
            finally:
                outbox.release(room - used)
            if not events:
                if feed.closed:
                    return
                await feed.wait(cursor)
