"""``Database`` on PostgreSQL (issue 21, second piece): the same writer and readers over psycopg 3.

The writer thread, group commit, the optimistic batch re-run with a savepoint per unit after a failure,
exclusive units and the readers are ``Database``'s own; this class gives them PostgreSQL connections:

- ``PgConnection`` wraps a psycopg connection in autocommit mode (``BEGIN``/``COMMIT`` are explicit, as on
  SQLite) so units keep their ``fn(conn)`` shape: ``execute`` takes Atomo's ``?`` placeholders (rewritten
  to ``%s`` outside quotes and comments, once per distinct statement), rows are ``PgRow`` (by index or by
  column name, like ``sqlite3.Row``), and ``total_changes``/``in_transaction`` are there.
- A write transaction is ``BEGIN`` plus the write lock of ``atomo.storage.pg_log`` (one transaction that may
  append events at a time, whatever the instance: positions stay gap-free in commit order).
- A read is one ``REPEATABLE READ READ ONLY`` transaction: every statement of ``fn`` sees one snapshot, as a
  SQLite read transaction does.

Not here yet (docs/design/postgres-backend.md): the schema's DDL and SQL dialect for models, the event log's
appender, platform tables, snapshot/restore, and ``DATABASE_URL=postgresql://`` in the runtime.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from atomo.errors import ConfigError, UsageError
from atomo.storage.database import Database
from atomo.storage.pg_log import begin_write

log = logging.getLogger("atomo.storage")
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/"
                     r"|\bIS\s+NOT\s+\?|\bIS\s+\?|\bifnull\s*\(|\binstr\s*\(|\?|%", re.S | re.I)


CACHED_SQL_CHARS = 2048     # longer statements (big client filters) are rewritten each time, never kept


def pg_sql(sql: str, with_params: bool = True) -> str:
    """``_rewrite`` of ``sql``, cached for the statements Atomo repeats (bounded: 4096 of at most 2 KiB each)."""
    return _rewrite_cached(sql, with_params) if len(sql) <= CACHED_SQL_CHARS else _rewrite(sql, with_params)


@lru_cache(maxsize=4096)
def _rewrite_cached(sql: str, with_params: bool) -> str:
    return _rewrite(sql, with_params)


def _rewrite(sql: str, with_params: bool) -> str:
    """Atomo's SQLite-flavoured ``sql`` for PostgreSQL, outside quotes and comments: ``?`` placeholders as
    ``%s``; SQLite's null-safe ``IS ?`` / ``IS NOT ?`` as ``IS [NOT] DISTINCT FROM``; ``ifnull(`` as
    ``coalesce(`` and ``instr(`` as ``strpos(``. With parameters every ``%`` is doubled (psycopg reads ``%``
    everywhere in such a statement, literals included)."""
    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s" if with_params else token
        if token == "%" or token[0] in "'\"-/":
            return token.replace("%", "%%") if with_params else token
        word = token.upper()
        if word.startswith("IFNULL"):
            return "coalesce("
        if word.startswith("INSTR"):          # same arguments, same 1-based answer (0: not found)
            return "strpos("
        placeholder = "%s" if with_params else "?"
        if word.split()[1] == "NOT":
            return f"IS DISTINCT FROM {placeholder}"
        return f"IS NOT DISTINCT FROM {placeholder}"
    return _TOKENS.sub(swap, sql)


class PgRow(tuple):  # type: ignore[type-arg]
    """A row by position or by column name, with ``keys()``: what code written for ``sqlite3.Row`` reads."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    return type("PgRow", (PgRow,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(column.name for column in cursor.description))
    return cls


class PgConnection:
    """A psycopg connection that units use as they use a ``sqlite3.Connection``.

    A connection the server dropped (a restart, a failover, a network cut) is opened again by the first statement
    that starts something new: a ``BEGIN``, or any statement outside an explicit transaction. A statement inside a
    transaction that was cut fails as it would (the transaction is gone: the unit fails, its caller sees a
    storage error), so nothing ever runs half in one session and half in another."""

    dialect = "postgres"

    def __init__(self, raw: Any, url: str | None = None, read_only: bool = False) -> None:
        self.raw = raw
        self.url = url
        self.read_only = read_only
        self.total_changes = 0
        self.reconnects = 0
        self._explicit = False          # inside BEGIN ... COMMIT/ROLLBACK
        self._trace: Callable[[str], None] | None = None

    def _restartable(self, sql: str) -> bool:
        """Whether ``sql`` may run on a new session: it begins a transaction, or it is a read on its own (a write
        outside a transaction is never retried: it may have committed before the cut)."""
        if self.url is None:
            return False
        if sql.lstrip()[:5].upper() == "BEGIN":
            return True
        return not self._explicit and self.read_only

    def _reopen(self) -> None:
        self.raw = _open(self.url, self.read_only)      # type: ignore[arg-type]  # raises while the server is away
        self._explicit = False
        self.reconnects += 1
        log.warning("reconnected to PostgreSQL")

    def _usable(self, sql: str) -> None:
        raw = self.raw
        if (raw.closed or raw.broken) and self._restartable(sql):
            self._reopen()

    def _track(self, sql: str) -> None:
        head = sql.lstrip()[:9].upper()
        if head.startswith("BEGIN"):
            self._explicit = True
        elif head in ("COMMIT", "ROLLBACK") or (head.startswith("ROLLBACK") and " TO " not in sql.upper()):
            self._explicit = False

    def set_trace_callback(self, trace: Callable[[str], None] | None) -> None:
        """As ``sqlite3.Connection.set_trace_callback``: ``trace(sql)`` for every statement executed from now on."""
        self._trace = trace

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._trace is not None:
            self._trace(sql)
        self._usable(sql)
        self._track(sql)
        try:
            cursor = self._send(sql, params)
        except Exception as exc:       # a session cut while idle shows at its next statement: retried once if safe
            import psycopg
            if not (isinstance(exc, psycopg.OperationalError) and (self.raw.broken or self.raw.closed)
                    and self._restartable(sql)):
                raise
            self._reopen()
            self._track(sql)
            cursor = self._send(sql, params)
        if cursor.description is None and cursor.rowcount > 0:
            self.total_changes += cursor.rowcount
        return cursor

    def _send(self, sql: str, params: Sequence[Any]) -> Any:
        return self.raw.execute(pg_sql(sql), params) if params else self.raw.execute(pg_sql(sql, False))

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(pg_sql(sql), seq)
        if cursor.rowcount > 0:
            self.total_changes += cursor.rowcount
        return cursor

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus
        return bool(self.raw.info.transaction_status != TransactionStatus.IDLE)

    def close(self) -> None:
        self.raw.close()


def connect(url: str, *, read_only: bool = False) -> PgConnection:
    """A ``PgConnection`` to ``url`` (``read_only``: every transaction read-only); a boot error when it cannot."""
    try:
        import psycopg
    except ImportError:
        raise ConfigError("PostgreSQL needs psycopg: pip install 'atomo[postgres]'") from None
    try:
        return PgConnection(_open(url, read_only), url, read_only)
    except psycopg.Error as exc:
        raise ConfigError(f"cannot connect to PostgreSQL: {exc}") from None


def _open(url: str, read_only: bool) -> Any:
    import psycopg
    raw = psycopg.connect(url, autocommit=True, row_factory=_row_factory, connect_timeout=10)
    raw.adapters.register_loader("numeric", _numeric_loader())
    if read_only:
        raw.execute("SET default_transaction_read_only = on")
    return raw


@lru_cache(maxsize=1)
def _numeric_loader() -> type:
    """``numeric`` values as SQLite's NUMERIC affinity gives them: an int when integral, else a float."""
    from psycopg.types.numeric import NumericLoader

    class AtomoNumericLoader(NumericLoader):
        def load(self, data: Any) -> Any:
            value = super().load(data)
            if not value.is_finite():
                return float(value)
            integral = value.to_integral_value()
            return int(integral) if value == integral and abs(integral) < 1 << 63 else float(value)
    return AtomoNumericLoader


class PgDatabase(Database):
    """``Database`` on the PostgreSQL server at ``url`` (a schema chosen by its ``search_path``)."""

    dialect = "postgres"
    READ_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def __init__(self, url: str, *, read_connections: int = 4, write_batch_max: int = 256,
                 write_queue_max: int = 10000, group_commit: bool = True, folder: Path | None = None) -> None:
        """``folder``: the project's local state folder (``path.parent`` is where a generated JWT secret is kept)."""
        super().__init__((folder or Path(".atomo")) / "postgresql", read_connections=read_connections,
                         write_batch_max=write_batch_max, write_queue_max=write_queue_max, group_commit=group_commit)
        self.url = url
        self.schema_name = ""          # current_schema() of the connections, known after start()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._serve(*await self._loop.run_in_executor(None, self._connect_all))

    def _connect_all(self) -> tuple[PgConnection, list[PgConnection]]:
        writer = connect(self.url)
        try:
            row = writer.execute("SELECT current_schema(), to_regclass('events') IS NULL").fetchone()
            if row[0] is None:
                raise ConfigError("PostgreSQL: the connection has no schema to create tables in (check search_path)")
            self.schema_name, self.created = row[0], bool(row[1])
            return writer, [connect(self.url, read_only=True) for _ in range(self._n_readers)]
        except BaseException:
            writer.close()
            raise

    async def read(self, fn: Callable[[Any], Any], *, inline: bool = False, one_statement: bool = False) -> Any:
        """As ``Database.read``, always on a reader thread: a read is a network round trip here, which must not
        block the event loop (``inline`` is for SQLite's microsecond page reads)."""
        return await super().read(fn, inline=False, one_statement=one_statement)

    def _read_begin(self, one_statement: bool) -> str | None:
        """No transaction for one statement (autocommit: it sees one snapshot by itself), else ``READ_BEGIN``."""
        return None if one_statement else self.READ_BEGIN

    def connect(self, *, query_only: bool) -> Any:
        """A connection of its own (the projection rebuild's), as ``Database.connect``."""
        return connect(self.url, read_only=query_only)

    async def snapshot(self) -> Any:
        raise UsageError("snapshot() and reset() need SQLite data (data_file=':memory:' or a file); on PostgreSQL "
                         "use a schema per test instead")

    async def restore(self, snapshot: Any, **_: Any) -> Any:
        return await self.snapshot()

    def _begin(self, conn: Any) -> None:
        begin_write(conn)

    def _bound_wal(self, conn: Any) -> None:
        """No WAL file to bound: PostgreSQL checkpoints by itself."""

    def _close_writer(self, conn: Any) -> None:
        conn.close()
