"""``Idempotency-Key`` on ``POST /graphql`` mutations (Atomo-Python extension).

A client that may send a mutation twice (a retry after a lost response, the SDK's offline queue
replaying) sends ``Idempotency-Key: <1 to 200 visible ASCII characters>``. The key belongs to the
authenticated user and tenant; the request is fingerprinted (query, operation name, variables):

- first time: the mutation runs; its first event takes the key in the same transaction
  (:mod:`atomo.storage.idempotency`), and the answer is stored before it is sent;
- again with the same request: the stored answer, byte for byte, with ``Idempotent-Replayed: true``;
  while the first is still running in this process, the retry waits for it and gets its answer;
- again after the server died between the write and storing its answer (or the answer was larger
  than 1 MiB): ``ALREADY_APPLIED`` (a GraphQL error with the position of the request's first event);
- the same key with a different request: HTTP 422 ``IDEMPOTENCY_KEY_REUSED``.

A request that wrote nothing keeps no key, so its retry simply runs again. Queries ignore the header.
Anonymous requests with a key are refused (400): a key shared by every anonymous caller could hand one
caller's answer to another.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from atomo.auth.principal import Caller
from atomo.http.errors import HttpError
from atomo.storage.idempotency import IdempotencyClaim, IdempotencyStore

MAX_KEY_LENGTH = 200
REPLAYED = (b"idempotent-replayed", b"true")

Answer = tuple[int, bytes]


def parse_key(raw: bytes) -> str:
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or any(b < 0x21 or b > 0x7E for b in raw):
        raise HttpError(400, "BAD_REQUEST", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters")
    return raw.decode("ascii")


def already_applied(position: int) -> dict[str, Any]:
    return {"data": None, "errors": [{
        "message": "this mutation was applied by an earlier request with the same Idempotency-Key; its answer was not kept",
        "extensions": {"code": "ALREADY_APPLIED", "position": position}}]}


class IdempotentMutations:
    """Runs keyed mutations at most once per (user, tenant, key)."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store
        # keys whose first request is running in this process: later ones wait for its answer
        self._running: dict[tuple[str, str], tuple[str, asyncio.Future[Answer | None]]] = {}

    def claim(self, caller: Caller, key: str, query: str, variables: Any, operation_name: str | None) -> IdempotencyClaim:
        """The key of a mutation request by ``caller`` (refused for an anonymous one)."""
        if not caller.principal.authenticated:
            raise HttpError(400, "BAD_REQUEST", "Idempotency-Key needs an authenticated request")
        request = json.dumps([query, operation_name, variables], sort_keys=True, separators=(",", ":"), default=str)
        scope = f"{caller.principal.user_id}\x1f{caller.tenant or ''}"
        return IdempotencyClaim(scope, key, hashlib.sha256(request.encode("utf-8")).hexdigest(), self.store.horizon())

    async def run(self, claim: IdempotencyClaim, execute: Callable[[], Awaitable[Answer]]) -> tuple[int, bytes, bool]:
        """``(status, body, replayed)`` of the request."""
        slot = (claim.scope, claim.key)
        while (running := self._running.get(slot)) is not None:
            fingerprint, future = running
            if fingerprint != claim.fingerprint:
                raise _reused()
            answer = await asyncio.shield(future)
            if answer is not None:
                return answer[0], answer[1], True
        future: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self._running[slot] = (claim.fingerprint, future)       # before any await: a duplicate now waits
        answer: Answer | None = None
        try:
            row = await self.store.find(claim)
            if row is not None:
                if row.fingerprint != claim.fingerprint:
                    raise _reused()
                if row.response is not None and row.status is not None:
                    answer = row.status, row.response
                else:
                    answer = 200, json.dumps(already_applied(row.first_position)).encode("utf-8")
                return answer[0], answer[1], True
            answer = await execute()
            await self.store.complete(claim, *answer)     # kept before it is sent
            return answer[0], answer[1], False
        finally:
            del self._running[slot]
            future.set_result(answer)                     # None: the waiters run the request themselves


def _reused() -> HttpError:
    return HttpError(422, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used for a different request")
