"""Rate-limit buckets and connection counts shared by the worker processes of one server.

``atomo serve --workers N`` runs N processes behind one port; a limit kept in each process's memory
would let a client through N times. The supervisor creates one table file (``create_table``) in the
group's private folder before it starts the workers; every worker maps it (``SharedTable.open``) and
reads and writes it in place: the file is the shared memory (``mmap``, ``MAP_SHARED``).

Layout (fixed at creation; the file never grows, so memory is bounded whatever the clients send):

- a 4 KiB header: magic, version, the sizes below, and a random 16-byte salt;
- the token region: ``slots`` slots (default 2^19 = 2^16 buckets of 8) of 32 bytes: key hash,
  tokens, updated (the fields of ``TokenBuckets``) and ``full_at``, the time the bucket is full again.
  16 MiB by default;
- the count region: ``count_slots`` slots (default 2^16 = 2^13 buckets of 8) of a key hash and one
  int32 per worker index (``workers`` columns, default 8): open connections per key and worker.
  2.5 MiB by default.

The file is sparse: pages that no key touched cost nothing.

Keys (a str, or a tuple of str, bytes or int) are hashed with blake2b keyed by the table's salt, over
the namespace and a typed, length-prefixed encoding of the key: the same in every process of the group,
unpredictable to clients (they cannot aim their keys at one bucket). The low bits of the 8-byte digest
choose the bucket, the top byte is replaced by a tag of the namespace (never 0: a zero hash is an empty
slot), which ``clear`` and ``len`` use.

Locking: each bucket is guarded by a POSIX byte-range lock (``fcntl.lockf``) on its own first byte in
the file, held for one operation (a few microseconds: see ``bench/shared_table_bench.py``); the kernel
drops the locks of a process that dies, so a killed worker never leaves a bucket locked. ``clear``,
``len`` and ``forget_worker`` lock a whole region with one call. POSIX locks belong to the process,
not the thread, so a ``threading.Lock`` serialises the threads of one process first; and closing any
descriptor of the file drops the process's locks, so each process opens the table once.

Times are ``atomo.clock.monotonic()``: CLOCK_MONOTONIC is one clock for the whole machine on Linux, so
times written by one process are comparable in another (a time read just before another process's
later write is treated as that write's time: a bucket's clock never goes back).

Bounds, the trade-off of a fixed size: a bucket that refilled to capacity equals an absent one, so its
slot is free again. When all 8 slots of a bucket hold buckets that are not full, a new key evicts the
one closest to full (the smallest ``full_at``): under a flood of distinct keys beyond the table size
a key may be forgotten, and gets a full bucket again (as with the ``max_keys`` LRU of ``TokenBuckets``).
A count slot is free when its counts are all zero; when a bucket has none free, the connection is
admitted uncounted (fail open: an attacker with that many addresses is past any per-address cap).
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path

from atomo import clock as process_clock
from atomo.config import MAX_WORKERS  # count columns, one per worker index (ATOMO_WORKERS' bound)

MAGIC = b"ATOMOSHT"
VERSION = 1
HEADER_BYTES = 4096
WAYS = 8                            # slots per bucket
TOKEN_SLOTS = 1 << 19               # 2^16 buckets of 8: 16 MiB
COUNT_SLOTS = 1 << 16               # 2^13 buckets of 8: 2.5 MiB with 8 workers
HASH_CACHE_SIZE = 4096              # key hashes remembered per namespace and process

_HEADER = struct.Struct("<8sIIII16s")           # magic, version, token slots, count slots, workers, salt
_TOKEN_SLOT = struct.Struct("<Qddd")            # hash, tokens, updated, full_at
_TOKEN_BUCKET = struct.Struct("<" + "Q16xd" * WAYS)   # (hash, full_at) of each slot
_TOKEN_HASHES = struct.Struct("<" + "Q24x" * WAYS)    # the hash of each slot
_TOKEN_BYTES = _TOKEN_SLOT.size
_LOW56 = (1 << 56) - 1


def _count_slot_bytes(workers: int) -> int:
    return 8 + (4 * workers + 7) // 8 * 8


def _encode(key: Hashable) -> bytes:
    """A typed, length-prefixed encoding: distinct keys never encode alike."""
    if type(key) is str:
        return b"s" + key.encode("utf-8", "surrogatepass")
    if isinstance(key, tuple):
        parts = [_encode(part) for part in key]
        return b"t" + b"".join(len(part).to_bytes(4, "little") + part for part in parts)
    if isinstance(key, bytes):
        return b"b" + key
    if isinstance(key, int):
        return b"i" + str(key).encode("ascii")
    if isinstance(key, str):
        return b"s" + str(key).encode("utf-8", "surrogatepass")
    raise TypeError(f"a shared table key is a str, bytes, int or a tuple of them, not {type(key).__name__}")


def create_table(path: str | os.PathLike[str], *, slots: int = TOKEN_SLOTS, count_slots: int = COUNT_SLOTS,
                 workers: int = MAX_WORKERS) -> Path:
    """Create the table file (zeroed, sparse, mode 0600), replacing one left by an earlier run.

    Called by the supervisor before it starts the workers; ``workers`` is the number of count
    columns (worker indexes 0..workers-1). Slot numbers are powers of two, at least ``WAYS``.
    """
    for name, value in (("slots", slots), ("count_slots", count_slots)):
        if value < WAYS or value & (value - 1):
            raise ValueError(f"{name} must be a power of two of at least {WAYS}, not {value}")
    if not 1 <= workers <= 1024:
        raise ValueError(f"workers must be 1..1024, not {workers}")
    path = Path(path)
    size = HEADER_BYTES + slots * _TOKEN_BYTES + count_slots * _count_slot_bytes(workers)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)
        os.pwrite(fd, _HEADER.pack(MAGIC, VERSION, slots, count_slots, workers, os.urandom(16)), 0)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return path


class SharedTable:
    """One process's mapping of the table file (``open`` once per process; see the module docstring)."""

    def __init__(self, path: Path, fd: int, memory: mmap.mmap) -> None:
        magic, version, slots, count_slots, workers, salt = _HEADER.unpack_from(memory, 0)
        if magic != MAGIC or version != VERSION:
            raise ValueError(f"{path} is not a shared table of this version")
        self.path = path
        self.fd = fd
        self.memory = memory
        self.salt = salt
        self.workers = workers
        self.token_base = HEADER_BYTES
        self.token_buckets = slots // WAYS
        self.count_base = HEADER_BYTES + slots * _TOKEN_BYTES
        self.count_buckets = count_slots // WAYS
        self.count_slot_bytes = _count_slot_bytes(workers)
        self.mutex = threading.Lock()           # POSIX locks do not exclude the threads of one process

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SharedTable:
        path = Path(path)
        fd = os.open(path, os.O_RDWR)
        try:
            return cls(path, fd, mmap.mmap(fd, os.fstat(fd).st_size))
        except BaseException:
            os.close(fd)
            raise

    def close(self) -> None:
        self.memory.close()
        os.close(self.fd)

    def __enter__(self) -> SharedTable:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def tag(namespace: str) -> int:
        """The top byte of a namespace's key hashes: 1..255 (two namespaces may share one: ``clear``
        and ``len`` then count or refill both, which only ever gives tokens back)."""
        return hashlib.blake2b(namespace.encode("utf-8"), digest_size=1).digest()[0] or 1

    def hasher(self, namespace: str) -> Callable[[Hashable], int]:
        """The key hash of one namespace: the low 7 bytes of a salted blake2b digest, and its tag."""
        prefix = hashlib.blake2b(digest_size=8, key=self.salt)
        prefix.update(namespace.encode("utf-8") + b"\0")
        tag = self.tag(namespace) << 56

        def key_hash(key: Hashable) -> int:
            h = prefix.copy()
            h.update(_encode(key))
            return (int.from_bytes(h.digest(), "little") & _LOW56) | tag
        return key_hash

    @contextmanager
    def region(self, base: int, size: int) -> Iterator[None]:
        """Lock a region: one bucket (its first byte), or every bucket in it with one call."""
        with self.mutex:
            fcntl.lockf(self.fd, fcntl.LOCK_EX, size, base)
            try:
                yield
            finally:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, size, base)

    def token_region(self) -> tuple[int, int]:
        return self.token_base, self.token_buckets * WAYS * _TOKEN_BYTES

    def forget_worker(self, index: int) -> None:
        """Zero worker ``index``'s connection counts (it exited: its connections are gone)."""
        if not 0 <= index < self.workers:
            raise ValueError(f"worker index {index} is not in 0..{self.workers - 1}")
        stride = self.count_slot_bytes
        size = self.count_buckets * WAYS * stride
        with self.region(self.count_base, size):
            memory, base = self.memory, self.count_base
            column = struct.Struct(f"<{self.workers}i")
            for offset in range(base, base + size, stride):
                if memory[offset:offset + 8] == b"\0" * 8:
                    continue
                counts = list(column.unpack_from(memory, offset + 8))
                counts[index] = 0
                if any(counts):
                    column.pack_into(memory, offset + 8, *counts)
                else:
                    memory[offset:offset + stride] = bytes(stride)


def forget_worker(path: str | os.PathLike[str], index: int) -> None:
    """The supervisor's call when worker ``index`` exited or is restarted."""
    with SharedTable.open(path) as table:
        table.forget_worker(index)


class SharedTokenBuckets:
    """``TokenBuckets`` (same methods, same arithmetic) kept in a ``SharedTable`` under ``namespace``.

    Each namespace is one kind of bucket (one capacity and window): the general limiter, and each of
    the login limiter's three kinds. ``len`` counts the namespace's buckets that are not full.
    """

    __slots__ = ("capacity", "rate", "window", "clock", "table", "namespace", "_hash", "_hashes", "_tag", "_fd", "_memory",
                 "_mutex", "_base", "_mask")

    def __init__(self, table: SharedTable, namespace: str, capacity: int, window_secs: float, *,
                 clock: Callable[[], float] = process_clock.monotonic) -> None:
        self.capacity = float(capacity)
        self.window = float(window_secs)
        self.rate = self.capacity / self.window
        self.clock = clock
        self.table = table
        self.namespace = namespace
        self._hash = table.hasher(namespace)
        self._hashes: dict[Hashable, int] = {}
        self._tag = table.tag(namespace)
        self._fd, self._memory, self._mutex = table.fd, table.memory, table.mutex
        self._base, self._mask = table.token_base, table.token_buckets - 1

    def _bucket(self, key_hash: int) -> int:
        return self._base + (key_hash & self._mask) * (WAYS * _TOKEN_BYTES)

    def _key(self, key: Hashable) -> int:
        """The key's hash, from a small cache of the keys seen last (hashing costs about a microsecond)."""
        cache = self._hashes
        key_hash = cache.get(key)
        if key_hash is None:
            if len(cache) >= HASH_CACHE_SIZE:
                cache.clear()
            key_hash = cache[key] = self._hash(key)
        return key_hash

    def _find(self, bucket: int, key_hash: int) -> int:
        """The offset of ``key_hash``'s slot in ``bucket`` (locked), or -1."""
        hashes = _TOKEN_HASHES.unpack_from(self._memory, bucket)
        return bucket + hashes.index(key_hash) * _TOKEN_BYTES if key_hash in hashes else -1

    def _free(self, bucket: int) -> int:
        """The slot a new key takes: the one full soonest (an empty or full slot first of all)."""
        fields = _TOKEN_BUCKET.unpack_from(self._memory, bucket)
        slot = min(range(WAYS), key=lambda i: fields[2 * i + 1])
        return bucket + slot * _TOKEN_BYTES

    def _store(self, slot: int, key_hash: int, tokens: float, updated: float) -> None:
        _TOKEN_SLOT.pack_into(self._memory, slot, key_hash, tokens,
                              updated, updated + (self.capacity - tokens) / self.rate)

    def __len__(self) -> int:
        """The namespace's buckets that are not full (a scan of the whole region)."""
        tag, now = self._tag, self.clock()
        base, size = self.table.token_region()
        with self.table.region(base, size):
            data = self._memory[base:base + size]
        hashes, full_at = array("Q", data)[0::4], array("d", data)[3::4]
        return sum(1 for h, at in zip(hashes, full_at, strict=True) if h >> 56 == tag and at > now)

    def tokens(self, key: Hashable, now: float | None = None) -> float:
        """Tokens available now (without taking one)."""
        if now is None:
            now = self.clock()
        key_hash = self._key(key)
        bucket = self._bucket(key_hash)
        with self.table.region(bucket, 1):
            slot = self._find(bucket, key_hash)
            if slot < 0:
                return self.capacity
            _, tokens, updated, _ = _TOKEN_SLOT.unpack_from(self._memory, slot)
        return min(self.capacity, tokens + max(0.0, now - updated) * self.rate)

    def take(self, key: Hashable, now: float | None = None) -> float:
        if now is None:
            now = self.clock()
        key_hash = self._key(key)
        bucket = self._bucket(key_hash)
        with self._mutex:      # region(bucket, 1) inlined: this runs on every request (a generator costs ~1 µs)
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, bucket)
            try:
                slot = self._find(bucket, key_hash)
                if slot < 0:
                    self._store(self._free(bucket), key_hash, self.capacity - 1.0, now)
                    return 0.0
                _, tokens, updated, _ = _TOKEN_SLOT.unpack_from(self._memory, slot)
                if now < updated:           # read before another process's later write
                    now = updated
                tokens += (now - updated) * self.rate
                if tokens > self.capacity:
                    tokens = self.capacity
                if tokens >= 1.0:
                    self._store(slot, key_hash, tokens - 1.0, now)
                    return 0.0
                self._store(slot, key_hash, tokens, now)
                return (1.0 - tokens) / self.rate
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, bucket)

    def wait(self, key: Hashable, now: float | None = None) -> float:
        """Seconds until ``key`` has a token (0.0 when it has one), without taking it."""
        tokens = self.tokens(key, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def give_back(self, key: Hashable) -> None:
        """Return one token taken by ``take`` (capped at the capacity)."""
        key_hash = self._key(key)
        bucket = self._bucket(key_hash)
        with self.table.region(bucket, 1):
            slot = self._find(bucket, key_hash)
            if slot >= 0:
                _, tokens, updated, _ = _TOKEN_SLOT.unpack_from(self._memory, slot)
                self._store(slot, key_hash, min(self.capacity, tokens + 1.0), updated)

    def reset(self, key: Hashable) -> None:
        """Refill ``key`` completely (a forgotten bucket is a full one)."""
        key_hash = self._key(key)
        bucket = self._bucket(key_hash)
        with self.table.region(bucket, 1):
            slot = self._find(bucket, key_hash)
            if slot >= 0:
                self._memory[slot:slot + _TOKEN_BYTES] = bytes(_TOKEN_BYTES)

    def clear(self) -> None:
        """Refill every bucket of the namespace (``POST /__test__/reset``)."""
        tag, memory, empty = self._tag, self._memory, bytes(_TOKEN_BYTES)
        base, size = self.table.token_region()
        with self.table.region(base, size):
            for i, h in enumerate(array("Q", memory[base:base + size])[0::4]):
                if h >> 56 == tag:
                    slot = base + i * _TOKEN_BYTES
                    memory[slot:slot + _TOKEN_BYTES] = empty


class SharedConnectionCap:
    """``ConnectionCap`` over the processes of a group: open connections per key, one count per worker.

    ``acquire`` refuses when the sum over the workers is at ``limit`` (0: unlimited, nothing is
    counted). A connection admitted without a free slot (see the module docstring) is remembered in
    this process, and its ``release`` touches nothing shared.
    """

    def __init__(self, table: SharedTable, worker: int, limit: int, namespace: str = "connections") -> None:
        if not 0 <= worker < table.workers:
            raise ValueError(f"worker index {worker} is not in 0..{table.workers - 1} (the table's workers)")
        self.limit = limit
        self.table = table
        self.worker = worker
        self.untracked: Counter[str] = Counter()
        self._hash = table.hasher(namespace)
        self._counts = struct.Struct(f"<{table.workers}i")
        self._column = 8 + 4 * worker

    def _bucket(self, key_hash: int) -> int:
        table = self.table
        return table.count_base + (key_hash & (table.count_buckets - 1)) * WAYS * table.count_slot_bytes

    def count(self, key: str) -> int:
        """Open connections of ``key`` in every process."""
        key_hash = self._hash(key)
        bucket = self._bucket(key_hash)
        with self.table.region(bucket, 1):
            slot = self._find(bucket, key_hash)
            return sum(self._counts.unpack_from(self.table.memory, slot + 8)) if slot >= 0 else 0

    def _find(self, bucket: int, key_hash: int) -> int:
        memory, stride = self.table.memory, self.table.count_slot_bytes
        for slot in range(bucket, bucket + WAYS * stride, stride):
            if int.from_bytes(memory[slot:slot + 8], "little") == key_hash:
                return slot
        return -1

    def acquire(self, key: str) -> bool:
        if not self.limit:
            return True
        key_hash = self._hash(key)
        bucket = self._bucket(key_hash)
        memory, stride, counts = self.table.memory, self.table.count_slot_bytes, self._counts
        with self.table.region(bucket, 1):
            slot = self._find(bucket, key_hash)
            if slot < 0:
                for free in range(bucket, bucket + WAYS * stride, stride):
                    if not any(counts.unpack_from(memory, free + 8)):
                        memory[free:free + stride] = bytes(stride)
                        memory[free:free + 8] = key_hash.to_bytes(8, "little")
                        slot = free
                        break
                else:
                    self.untracked[key] += 1       # no free slot: admitted uncounted
                    return True
            elif sum(counts.unpack_from(memory, slot + 8)) >= self.limit:
                return False
            at = slot + self._column
            memory[at:at + 4] = (int.from_bytes(memory[at:at + 4], "little", signed=True) + 1).to_bytes(
                4, "little", signed=True)
            return True

    def release(self, key: str) -> None:
        if not self.limit:
            return
        if self.untracked[key]:
            self.untracked[key] -= 1
            if not self.untracked[key]:
                del self.untracked[key]
            return
        key_hash = self._hash(key)
        bucket = self._bucket(key_hash)
        memory = self.table.memory
        with self.table.region(bucket, 1):
            slot = self._find(bucket, key_hash)
            if slot >= 0:
                at = slot + self._column
                mine = int.from_bytes(memory[at:at + 4], "little", signed=True)
                if mine > 0:
                    memory[at:at + 4] = (mine - 1).to_bytes(4, "little", signed=True)
