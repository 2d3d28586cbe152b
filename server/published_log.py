"""The read side of the static log: the published checkpoint, and receipts built against it.

HTTP workers never sign anything. They serve what the writer published in ``public/log/`` and,
for a petitioner who comes back with their receipt code, build a fresh receipt (tlog-proof)
against the checkpoint published last, so it carries the cosignatures gathered since the
petition was accepted. The file is read on every use, so no worker ever serves a checkpoint
older than one another worker already served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from crypto import merkle, note
from crypto.checkpoint import Checkpoint
from crypto.errors import SealedPetitionError
from crypto.log_receipt import build_receipt
from server.database import Connection
from server.errors import StorageError
from server.merkle_store import NodeCache, StoredTree, read_leaves


class PublishedCheckpoint:
    """The published checkpoint, read on every use and parsed again only when it changed.

    ``read`` gives its bytes: ``public/log/checkpoint`` with the SQLCipher store, the
    ``log_head`` row with PostgreSQL. The bytes are the test of change, not a file's metadata:
    the writer dates every file to midnight and the rename alternates inode numbers, so two
    different checkpoints can share an inode, a size and a modification time. It is a few
    hundred bytes.
    """

    def __init__(self, read: Callable[[], bytes | None]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._current: tuple[bytes, Checkpoint] | None = None

    def current(self) -> tuple[bytes, Checkpoint] | None:
        try:
            message = self._read()
        except StorageError:
            return self._current
        if message is None:
            return self._current
        with self._lock:
            if self._current is not None and self._current[0] == message:
                return self._current
            try:
                text, _ = note.split(message)
                self._current = (message, Checkpoint.from_text(text))
            except SealedPetitionError:
                pass  # keep serving the previous one; the writer rewrites it whole
            return self._current


def receipt_for(
    conn: Connection,
    index: int,
    published: tuple[bytes, Checkpoint],
    nodes: NodeCache | None = None,
) -> bytes:
    """The receipt of leaf ``index`` under the published checkpoint (one read transaction).

    ``nodes``: hashes read before, kept by a long-lived caller (committed nodes never change).
    """
    message, checkpoint = published
    if not 0 <= index < checkpoint.size:
        raise StorageError(f"entry {index} is not in the published checkpoint yet")
    leaves = read_leaves(conn, index, index + 1)
    if len(leaves) != 1:
        raise StorageError(f"the log is missing entry {index}; it is damaged")
    tree = StoredTree(conn, checkpoint.size, nodes)
    proof = merkle.inclusion_proof(tree, index, checkpoint.size)
    return build_receipt(leaves[0], index, proof, message)
