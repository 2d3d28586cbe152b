"""The log's Merkle tree, kept as stored node hashes so proofs never rehash the whole log.

Every complete (power-of-two, aligned) subtree hash is stored once, when its last leaf arrives:
level 0 holds the leaf hashes, level ``k`` the hash of leaves ``[p·2^k, (p+1)·2^k)``. That is
fewer than two rows per leaf. Any subtree RFC 9162 asks for is either one of those rows or
splits into O(log n) of them, so a root, an inclusion proof or a consistency proof costs a few
dozen indexed lookups at any log size. The proof algorithms themselves are ``crypto.merkle``'s.
"""

from __future__ import annotations

import threading

from crypto.merkle import EMPTY_ROOT, leaf_hash, node_hash
from server.database import Connection
from server.errors import StorageError


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


class NodeCache:
    """Node hashes the writer stored or read recently, so appends and proofs skip the database.

    New leaves land at the right edge of the tree, and everything an append or a new leaf's
    inclusion proof needs is a node near that edge: the ones written in the last batches, or a
    few large left subtrees that are read once and then stay. A bounded dict in insertion order
    keeps exactly those; when it grows past ``limit`` the older half is dropped. Only the writer
    uses one, and it must :meth:`clear` it when a transaction rolls back. On PostgreSQL the
    elected integrator shares the writer's: it reads only nodes below the committed size, which
    a rollback never touches.
    """

    def __init__(self, limit: int = 1 << 17) -> None:
        self._limit = limit
        self._hashes: dict[tuple[int, int], bytes] = {}
        # On PostgreSQL the committer and the integrator thread share one cache.
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> bytes | None:
        return self._hashes.get(key)

    def put(self, key: tuple[int, int], value: bytes) -> None:
        with self._lock:
            self._hashes.pop(key, None)
            self._hashes[key] = value
            if len(self._hashes) > self._limit:
                for old in list(self._hashes)[: self._limit // 2]:
                    del self._hashes[old]

    def clear(self) -> None:
        with self._lock:
            self._hashes.clear()


class StoredTree:
    """A :class:`crypto.merkle.SubtreeHasher` over the first ``size`` leaves in the database.

    Use it inside one transaction (:meth:`server.database.Database.snapshot` or the writer's
    transaction) so that every lookup sees the same tree.
    """

    def __init__(self, conn: Connection, size: int, cache: NodeCache | None = None) -> None:
        self._conn = conn
        self._size = size
        self._cache = cache or NodeCache()

    @property
    def size(self) -> int:
        return self._size

    def subtree_root(self, start: int, end: int) -> bytes:
        if not 0 <= start <= end <= self._size:
            raise StorageError(f"subtree [{start}, {end}) is outside a log of {self._size}")
        if start == end:
            return EMPTY_ROOT
        return self._mth(start, end)

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._node(n.bit_length() - 1, start // n)
        mid = start + _split(n)
        return node_hash(self._mth(start, mid), self._mth(mid, end))

    def node(self, level: int, position: int) -> bytes:
        """A stored complete subtree: the hash of leaves [position·2^level, (position+1)·2^level).

        Not bounded by ``size``: the tile store reads the nodes of tiles directly.
        """
        return self._node(level, position)

    def _node(self, level: int, position: int) -> bytes:
        key = (level, position)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self._conn.execute(
            "SELECT hash FROM log_nodes WHERE level = ? AND position = ?", key
        ).fetchone()
        if row is None:
            raise StorageError(f"the log is missing node {level}/{position}; it is damaged")
        value = bytes(row[0])
        self._cache.put(key, value)
        return value


class LogAppender:
    """Appends leaves inside one transaction; their rows are written together at :meth:`flush`.

    Leaf ``index`` completes the subtree at level ``k`` exactly when the low ``k`` bits of
    ``index`` are all ones; the left sibling at each level was completed earlier (by this
    appender, or stored before). A batch's leaves and nodes then cost two statements, not two
    per leaf: on PostgreSQL every statement is a round trip. Flush before reading the leaves
    back in the same transaction.
    """

    def __init__(self, conn: Connection, cache: NodeCache | None = None) -> None:
        self._conn = conn
        self._cache = cache or NodeCache()
        self._leaves: list[tuple[int, bytes]] = []
        self._nodes: list[tuple[int, int, bytes]] = []
        self._pending: dict[tuple[int, int], bytes] = {}

    def append(self, index: int, leaf: bytes) -> bytes:
        """Add leaf ``index`` and every subtree it completes; return its leaf hash."""
        hashed = leaf_hash(leaf)
        current = hashed
        self._add_node(0, index, current)
        level, position = 0, index
        while position % 2 == 1:
            current = node_hash(self._sibling(level, position - 1), current)
            level, position = level + 1, position // 2
            self._add_node(level, position, current)
        self._leaves.append((index, leaf))
        return hashed

    def flush(self) -> None:
        if self._leaves:
            self._conn.executemany(
                "INSERT INTO log_leaves (leaf_index, leaf) VALUES (?, ?)", self._leaves
            )
        if self._nodes:
            self._conn.executemany(
                "INSERT INTO log_nodes (level, position, hash) VALUES (?, ?, ?)", self._nodes
            )
        self._leaves, self._nodes = [], []
        self._pending.clear()

    def _add_node(self, level: int, position: int, value: bytes) -> None:
        self._nodes.append((level, position, value))
        self._pending[(level, position)] = value
        self._cache.put((level, position), value)

    def _sibling(self, level: int, position: int) -> bytes:
        pending = self._pending.get((level, position))
        if pending is not None:
            return pending
        return StoredTree(self._conn, 0, self._cache).node(level, position)


def append_leaf(conn: Connection, index: int, leaf: bytes, cache: NodeCache | None = None) -> bytes:
    """Store leaf ``index`` and every subtree it completes at once; return its leaf hash."""
    appender = LogAppender(conn, cache)
    hashed = appender.append(index, leaf)
    appender.flush()
    return hashed


def log_size(conn: Connection) -> int:
    row = conn.execute("SELECT max(leaf_index) FROM log_leaves").fetchone()
    return 0 if row[0] is None else int(row[0]) + 1


def read_leaves(conn: Connection, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        "SELECT leaf FROM log_leaves WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index",
        (start, end),
    ).fetchall()
    return [bytes(row[0]) for row in rows]
