"""Integration: turning committed leaves into a signed, witnessed, published checkpoint.

The writer *sequences*: a group commit durably gives each new entry its leaf index. This module
*integrates*, once per commit that added leaves (one signature per batch, never one per
petition), in an order that keeps every promise made to anyone outside:

1. compute the root of the new size from the stored node hashes;
2. compare-and-swap ``log.head`` (:func:`server.store_guard.swap_head`): only if it still holds
   the checkpoint signed last is the new one signed and put there, so a second integrator, a
   restored backup or a lost database can never make the log key sign a second history;
3. write the tiles the new size added or completed (``public/log/tile/…``);
4. ask the policy's witnesses to cosign (c2sp.org/tlog-witness), all at once and with a time
   limit; a witness that fails is skipped for a while rather than slowing every batch;
5. write ``public/log/checkpoint`` with every cosignature received, and only then
6. hand out receipts (c2sp.org/tlog-proof) built against that checkpoint.

Receipts are not stored. Each is made when asked, from the leaf and the latest published
checkpoint, so a petitioner who asks again later gets one with the cosignatures gathered since.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Protocol

from crypto import merkle
from crypto.checkpoint import Checkpoint, open_checkpoint, sign
from crypto.errors import SealedPetitionError
from crypto.log_receipt import build_receipt
from crypto.tlog_policy import Policy
from server.database import Connection
from server.datadir import DataDirectory
from server.errors import StorageError
from server.merkle_store import NodeCache, StoredTree, read_leaves
from server.published import DirectoryFile
from server.store_guard import SignedHead, read_head, swap_head
from server.tile_store import DirectoryLogFiles, TileFiles, TileStore
from server.witnessing import WitnessClient, cosign_all

log = logging.getLogger("sealed_petition.integrator")

#: How long one round of cosigning may take before the batch is answered without the late ones.
WITNESS_TIMEOUT = 5.0
#: The most leaves kept from the last integrations for building their receipts.
RECENT_LEAVES = 8192
#: After a failure a witness is left out of this many seconds of batches.
WITNESS_BACKOFF = 30.0


class LogState(Protocol):
    """Where the log's head (the last checkpoint signed) and its published checkpoint live.

    :class:`DirectoryLogState` for the SQLCipher store (``log.head`` and
    ``public/log/checkpoint``), :class:`server.postgres.PostgresLogState` for PostgreSQL.
    """

    def read_head(self) -> SignedHead | None: ...

    def swap_head(self, expected: bytes | None, new: bytes) -> None:
        """Replace the head only if it still holds ``expected``; else :class:`ForkRefused`."""

    def read_published(self) -> bytes | None: ...

    def publish(self, signed: bytes, cosigned: bytes, day: date) -> None:
        """Publish ``cosigned`` (the checkpoint ``signed`` with its cosignatures)."""


class DirectoryLogState:
    """``DATA/log.head`` (compare-and-swap, :func:`server.store_guard.swap_head`) and the
    published ``DATA/public/log/checkpoint``."""

    def __init__(self, data: DataDirectory, files: DirectoryLogFiles) -> None:
        self._data = data
        self._files = files
        self._verifier = data.log_verifier()

    def read_head(self) -> SignedHead | None:
        return read_head(self._data.path, self._verifier)

    def swap_head(self, expected: bytes | None, new: bytes) -> None:
        swap_head(self._data.path, self._verifier, expected, new)

    def read_published(self) -> bytes | None:
        return self._files.read_checkpoint()

    def publish(self, signed: bytes, cosigned: bytes, day: date) -> None:
        self._files.write_checkpoint(cosigned, day)


class Integrator:
    """Signs, publishes and witnesses the log's checkpoints; builds receipts.

    One at a time per log: the SQLCipher writer, or the elected PostgreSQL integrator
    (:mod:`server.pg_integration`). ``state`` and ``files`` say where the head, the published
    checkpoint and the tiles live (the data directory unless given).
    """

    def __init__(
        self,
        data: DataDirectory,
        conn: Connection,
        nodes: NodeCache,
        *,
        today: Callable[[], date],
        witness_timeout: float = WITNESS_TIMEOUT,
        state: LogState | None = None,
        files: TileFiles | None = None,
    ) -> None:
        self._data = data
        self._conn = conn
        self._nodes = nodes
        self._today = today
        self._signer = data.log_signer()
        self._verifier = self._signer.verifier()
        if state is None or files is None:
            directory_files = DirectoryLogFiles(data.public_log_dir)
            files = directory_files
            state = DirectoryLogState(data, directory_files)
        self._state = state
        self._tiles = TileStore(files)
        self._directory = DirectoryFile(data.directory_path)
        self._witness_timeout = witness_timeout
        self._witnesses: dict[str, WitnessClient] = {}
        self._policy_text: bytes | None = None
        self._skip_until: dict[str, float] = {}
        # The connection is the writer's; witness threads ask for proofs through this lock.
        self._conn_lock = threading.Lock()
        head = state.read_head()
        self._head: bytes | None = None if head is None else head.encoded
        self._size = -1 if head is None else head.tree_size
        self._published = b""
        self._published_size = 0
        # Committed leaves never change: those just read for the tiles serve the receipts.
        self._recent_leaves: dict[int, bytes] = {}

    @property
    def origin(self) -> str:
        return self._verifier.name

    @property
    def signed_size(self) -> int:
        """The size of the checkpoint signed last (-1 before the first)."""
        return self._size

    # --- integration -----------------------------------------------------------------------

    def start(self, size: int) -> None:
        """At start: a checkpoint for the store's size, every tile it needs, and publication."""
        day = self._today()
        with self._conn_lock:
            self._tiles.repair(size, self._node, self._leaves, day)
        if self._head is None or self._size != size:
            self._sign(size)
        assert self._head is not None  # noqa: S101  (signed just above if it was missing)
        published = self._state.read_published()
        if published is not None and self._same_checkpoint(published, self._head):
            self._published, self._published_size = published, size
            return
        self._publish(size, day)

    def integrate(self, new_size: int) -> None:
        """After a commit that grew the log to ``new_size`` (from the size signed last)."""
        old_size = max(self._size, 0)
        self._sign(new_size)
        day = self._today()
        try:
            with self._conn_lock:
                self._tiles.publish(old_size, new_size, self._node, self._leaves, day)
        except StorageError as exc:
            # Receipts stay valid (they carry their proofs); the static log is behind until a
            # later batch or the next start repairs it. The checkpoint is not advanced past
            # tiles that are missing.
            log.error("could not write the log's tiles (%s); the next start repairs them", exc)
            self._published, self._published_size = self._head or b"", new_size
            return
        self._publish(new_size, day)

    def _sign(self, size: int) -> None:
        with self._conn_lock:
            root = StoredTree(self._conn, size, self._nodes).subtree_root(0, size)
        signed = sign(Checkpoint(self.origin, size, root), [self._signer])
        self._state.swap_head(self._head, signed)
        self._head, self._size = signed, size

    def _publish(self, size: int, day: date) -> None:
        assert self._head is not None  # noqa: S101  (callers sign first)
        cosigned = self._cosign(self._head)
        try:
            self._state.publish(self._head, cosigned, day)
        except StorageError as exc:
            log.error("could not write the published checkpoint (%s)", exc)
        self._published, self._published_size = cosigned, size

    # --- witnesses -------------------------------------------------------------------------

    def _cosign(self, signed: bytes) -> bytes:
        witnesses = self._current_witnesses()
        if not witnesses:
            return signed
        now = time.monotonic()
        asked = [w for w in witnesses if self._skip_until.get(w.name, 0.0) <= now]
        if not asked:
            return signed
        cosigned, failures = cosign_all(asked, signed, self._prove)
        failed = {failure.witness for failure in failures}
        for failure in failures:
            self._skip_until[failure.witness] = time.monotonic() + WITNESS_BACKOFF
            log.warning("witness %s did not cosign: %s", failure.witness, failure.message)
        for witness in asked:
            if witness.name not in failed:
                self._skip_until.pop(witness.name, None)
        return cosigned

    def _current_witnesses(self) -> list[WitnessClient]:
        published = self._directory.current()
        if published is None:
            return []
        policy_text = published.directory.log_policy
        if policy_text != self._policy_text:
            self._policy_text = policy_text
            self._witnesses = _clients(published.directory.policy(), self._witness_timeout)
            self._skip_until.clear()
        return list(self._witnesses.values())

    def _prove(self, old_size: int, new_size: int) -> list[bytes]:
        with self._conn_lock:
            tree = StoredTree(self._conn, new_size, self._nodes)
            return merkle.consistency_proof(tree, old_size, new_size)

    # --- receipts --------------------------------------------------------------------------

    def receipt(self, index: int) -> bytes:
        """The tlog-proof for leaf ``index`` against the latest published checkpoint."""
        size = self._published_size
        if not 0 <= index < size:
            raise StorageError(f"entry {index} is not covered by the checkpoint of size {size}")
        with self._conn_lock:
            recent = self._recent_leaves.get(index)
            leaf = [recent] if recent is not None else read_leaves(self._conn, index, index + 1)
            tree = StoredTree(self._conn, size, self._nodes)
            proof = merkle.inclusion_proof(tree, index, size)
        if len(leaf) != 1:
            raise StorageError(f"the log is missing entry {index}; it is damaged")
        return build_receipt(leaf[0], index, proof, self._published)

    # --- readers for the tile store --------------------------------------------------------

    def _node(self, level: int, position: int) -> bytes:
        return StoredTree(self._conn, 0, self._nodes).node(level, position)

    def _leaves(self, start: int, end: int) -> list[bytes]:
        """Leaves for the entry bundles; the batch's new ones are kept for its receipts."""
        leaves = read_leaves(self._conn, start, end)
        if len(self._recent_leaves) > RECENT_LEAVES:
            self._recent_leaves.clear()
        self._recent_leaves.update(zip(range(start, start + len(leaves)), leaves, strict=True))
        return leaves

    def _same_checkpoint(self, published: bytes, head: bytes) -> bool:
        """Whether the published file is the head's checkpoint (cosignatures aside)."""
        try:
            ours, _ = open_checkpoint(head, [self._verifier])
            theirs, _ = open_checkpoint(published, [self._verifier])
        except SealedPetitionError:
            return False
        return ours == theirs


def _clients(policy: Policy, timeout: float) -> dict[str, WitnessClient]:
    """A client for every witness of the policy that has a URL (the server cannot reach others)."""
    return {
        witness.name: WitnessClient(witness.name, witness.verifier, witness.url, timeout)
        for witness in policy.witnesses
        if witness.url is not None
    }
