"""The row budget of one GraphQL request (``GRAPHQL_MAX_ROWS``).

Complexity counts selected fields, not the rows they return, so 200 aliases of ``records`` without
``limit`` could return every row 200 times. Every resolver that returns rows reads through the
request's ``RowBudget``: it hands the data service the rows still allowed (``max_rows``), the
service asks SQLite for at most one more and raises ``LimitExceededError`` when that one comes
back, and the rows actually returned are charged. Over the budget the field fails with
``LIMIT_EXCEEDED`` before anything is serialised, and so does every later row-returning field of
the request, without reading. Subscriptions (their catch-up included) are not counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from atomo.errors import LimitExceededError

T = TypeVar("T")


class RowBudget:
    """Rows a request may still return; ``limit`` None means unbounded."""

    __slots__ = ("limit", "used", "exceeded")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.used = 0
        self.exceeded = False

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    def error(self) -> LimitExceededError:
        return LimitExceededError(f"The request returns more than {self.limit} rows (GRAPHQL_MAX_ROWS)",
                                  {"maxRows": self.limit})

    def charge(self, rows: int) -> None:
        self.used += rows
        if self.limit is not None and self.used > self.limit:
            self.exceeded = True
            raise self.error()

    async def read(self, fetch: Callable[[int | None], Awaitable[T]], rows: Callable[[Any], int] = len) -> T:
        """``await fetch(max_rows)``, its ``rows(result)`` charged; LIMIT_EXCEEDED when over."""
        if self.exceeded:
            raise self.error()
        try:
            result = await fetch(self.remaining)
        except LimitExceededError:
            self.exceeded = True
            raise self.error() from None
        self.charge(rows(result))
        return result


def page_rows(page: Any) -> int:
    """Rows of a ``PaginatedRecords`` result."""
    return len(page["data"])


def one_row(record: Any) -> int:
    return 0 if record is None else 1
