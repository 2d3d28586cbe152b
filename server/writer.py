"""The writer process: the only thing that writes the database.

HTTP workers validate a request and hand the writer a job over a Unix socket
(:mod:`server.ipc`); each worker thread keeps one connection open and sends one message at a
time. One I/O thread reads every connection (a selector loop: no thread per message), answers
the cheap operations itself, and puts submissions and replies into one bounded queue. A
committer thread takes whatever is waiting (up to ``max_batch``) and applies it in one
transaction: new petitions, replies, the log
leaves they produce, the Merkle nodes those complete, one signed tree head for the new size and
a signed receipt for each new petition. Only after ``COMMIT`` returns (``synchronous=FULL``, so
the WAL is on disk) is any job answered. This is group commit: one fsync serves a whole batch,
which is what lets one writer keep up with many workers without SQLite lock contention. The
committer answers each job on its connection as soon as the batch is durable.

The log must not show the order in which petitions arrived: within a batch the jobs are
shuffled (:func:`integration_order`, with the operating system's randomness) before they get
their leaf indices, so that a petitioner who knows when they submitted cannot point at their own
leaf among the others of the batch, nor can anyone who watched the network. With
``batch_interval_seconds`` the committer also starts a group commit only on multiples of that
interval (unless a full batch is already waiting): polling the log head then dates a petition
only to its interval, not to the moment it arrived (docs/operations.md).

The committer keeps the hashes of the Merkle nodes it wrote recently in memory, so appending a
leaf and proving the new petitions' inclusion rarely reads the database; after a rolled-back
batch the cache is dropped, because it may hold nodes that were never stored.

When the queue is full a job is refused at once with ``busy``, and the worker answers 503 with
Retry-After: the server sheds load instead of queueing without bound. If a transaction fails,
it is rolled back and every job in it is answered ``unavailable``; nothing half-written remains
and nothing was acknowledged.

The writer also keeps the bureau-request nonces (in memory only, expiring): it is the one
process every worker shares, so a nonce used against one worker cannot be replayed to another.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import queue
import random
import secrets
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from crypto import merkle
from crypto.errors import SealedPetitionError
from crypto.fields import Status, format_day
from crypto.keys import SigningKey
from crypto.labels import SignedKind
from crypto.objects import LogEntry, Receipt, TreeHead
from crypto.signing import SignedObject, sign
from server.clock import utc_today
from server.config import ServerConfig
from server.database import Connection, connect, ensure_schema
from server.datadir import DataDirectory
from server.ipc import FramingError, MessageBuffer, send_message
from server.merkle_store import NodeCache, StoredTree, append_leaf, log_size
from server.privatelog import configure_logging

log = logging.getLogger("sealed_petition.writer")

Outcome = tuple[dict[str, Any], bytes]

#: How long the writer waits for a worker to take an answer before dropping its connection.
SEND_TIMEOUT = 10.0


class Peer:
    """One worker thread's connection: at most one message outstanding at a time.

    The I/O thread reads it; the answer to a job is written by the committer. A connection that
    closes while its job is still being committed is closed only after that answer, so the
    committer can never write to a descriptor number the kernel has handed to someone else.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(SEND_TIMEOUT)  # recv only runs when the selector says it will not block
        self.sock = sock
        self.buffer = MessageBuffer()
        self._lock = threading.Lock()
        self._outstanding = False
        self._closed = False

    def answer(self, outcome: Outcome) -> None:
        with self._lock:
            self._outstanding = False
            if self._closed:
                self.sock.close()
                return
            try:
                send_message(self.sock, *outcome)
            except OSError:
                self._closed = True  # the worker gave up; the I/O thread sees the EOF
                self.sock.close()

    def hand_over(self) -> None:
        """A job is outstanding: its answer comes from the committer."""
        with self._lock:
            self._outstanding = True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if not self._outstanding:
                self.sock.close()


@dataclass
class Job:
    op: str
    header: dict[str, Any]
    blob: bytes
    peer: Peer | None = None  # None when a test drives the committer directly
    outcome: Outcome = ({"result": "unavailable"}, b"")

    def finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        if self.peer is not None:
            self.peer.answer(outcome)


#: The WAL is copied into the database file this often, by a thread of its own.
CHECKPOINT_INTERVAL = 1.0
#: SQLite's own checkpoint on commit, kept only as a backstop should that thread fail: far
#: above what a second of surge writes (about 4 MiB here; docs/performance.md).
BACKSTOP_CHECKPOINT_PAGES = 16384


class Checkpointer:
    """Copies committed pages from the WAL into the database file, off the commit path.

    SQLite's automatic checkpoint runs inside whichever COMMIT crosses its threshold: that
    commit then also copies and fsyncs a thousand pages, and every submission waiting on it
    waits too (the worst commits took 100 times the median). A passive checkpoint from its own
    connection never blocks the writer; it only copies what no reader still needs.
    """

    def __init__(self, data: DataDirectory) -> None:
        self._conn: Connection = connect(data.database_path, data.database_key(), writer=True)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        with contextlib.suppress(Exception):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()

    def _run(self) -> None:
        while not self._stopping.wait(CHECKPOINT_INTERVAL):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception:
                log.exception("a background checkpoint failed; SQLite's own will take over")


class NonceRegistry:
    """Nonces of signed bureau requests, remembered until their timestamp leaves the window.

    Nothing here is written anywhere. After a restart the registry is empty, so requests signed
    before this process started are refused as stale: a request captured earlier cannot be
    replayed across a restart either.
    """

    def __init__(self, window_seconds: int) -> None:
        self._window = window_seconds
        self._started = int(time.time())
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def claim(self, bureau_id: str, nonce: str, timestamp: int) -> str:
        now = int(time.time())
        if abs(now - timestamp) > self._window or timestamp < self._started:
            return "stale"
        key = (bureau_id, nonce)
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t <= self._window}
            if key in self._seen:
                return "replayed"
            self._seen[key] = timestamp
            return "fresh"


class Writer:
    def __init__(self, config: ServerConfig, data: DataDirectory) -> None:
        self._config = config
        self._data = data
        self._log_key: SigningKey = data.log_signing_key()
        self._conn: Connection = connect(data.database_path, data.database_key(), writer=True)
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")
        ensure_schema(self._conn)
        self._size = log_size(self._conn)
        self._nodes = NodeCache()
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=config.queue_capacity)
        self._nonces = NonceRegistry(config.request_window_seconds)
        self._stopping = threading.Event()
        self._ensure_head()

    # --- serving ---------------------------------------------------------------------------

    def serve(self, on_ready: Callable[[], None]) -> None:
        listener = _listen(self._data)
        listener.setblocking(False)
        committer = threading.Thread(target=self._commit_loop, name="committer", daemon=True)
        committer.start()
        checkpointer = Checkpointer(self._data)
        checkpointer.start()
        peers: dict[socket.socket, Peer] = {}
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            on_ready()
            try:
                while not self._stopping.is_set():
                    for key, _ in selector.select(0.5):
                        if key.fileobj is listener:
                            self._accept(listener, selector, peers)
                        else:
                            self._readable(peers[key.fileobj], selector, peers)  # type: ignore[index]
            finally:
                for peer in peers.values():
                    peer.close()
                listener.close()
                with contextlib.suppress(OSError):
                    os.unlink(self._data.socket_path)
        committer.join()
        checkpointer.stop()

    def stop(self) -> None:
        self._stopping.set()

    def _accept(
        self,
        listener: socket.socket,
        selector: selectors.BaseSelector,
        peers: dict[socket.socket, Peer],
    ) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                log.warning("could not accept a worker's connection")
                return
            peers[conn] = Peer(conn)
            selector.register(conn, selectors.EVENT_READ)

    def _readable(
        self, peer: Peer, selector: selectors.BaseSelector, peers: dict[socket.socket, Peer]
    ) -> None:
        try:
            data = peer.sock.recv(1024 * 1024)
            if data:
                peer.buffer.feed(data)
                while (message := peer.buffer.take()) is not None:
                    self._dispatch(peer, *message)
                return
        except (OSError, FramingError, ValueError, KeyError, TypeError):
            log.warning("dropped a malformed message from a worker")
        selector.unregister(peer.sock)
        del peers[peer.sock]
        peer.close()

    def _dispatch(self, peer: Peer, header: dict[str, Any], blob: bytes) -> None:
        """Answer the cheap operations here; queue the durable ones for the committer."""
        op = header.get("op")
        if op in ("submit", "reply"):
            if self._stopping.is_set():
                peer.answer(({"result": "unavailable"}, b""))
                return
            job = Job(op, header, blob, peer)
            peer.hand_over()
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                peer.answer(({"result": "busy"}, b""))
            return
        if op == "status":
            # Readiness only: queue depth and log size stay inside the writer (docs/operations.md).
            peer.answer(({"result": "ok" if not self._stopping.is_set() else "stopping"}, b""))
        elif op == "nonce":
            result = self._nonces.claim(
                str(header["bureau_id"]), str(header["nonce"]), int(header["timestamp"])
            )
            peer.answer(({"result": result}, b""))
        else:
            peer.answer(({"result": "unknown_op"}, b""))

    # --- group commit ----------------------------------------------------------------------

    def _commit_loop(self) -> None:
        interval = self._config.batch_interval_seconds
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            batch = [first]
            if interval > 0:
                # Wait for the next tick of a fixed schedule, so that when a batch is committed
                # says nothing about when its first job came; a full batch goes at once.
                self._fill(batch, next_tick(time.monotonic(), interval))
            self._fill(batch, time.monotonic() + self._config.batch_linger_seconds)
            self._commit(batch)

    def _fill(self, batch: list[Job], deadline: float) -> None:
        """Take waiting jobs into ``batch`` until it is full or ``deadline`` has passed."""
        while len(batch) < self._config.max_batch:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    batch.append(self._queue.get(timeout=remaining))
                else:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _commit(self, batch: list[Job]) -> None:
        batch = integration_order(batch, _SYSTEM_RANDOM)
        size_before = self._size
        try:
            transaction = _Transaction(
                self._conn, self._log_key, size_before, utc_today(), self._nodes
            )
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = transaction.apply(batch)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except Exception:
            self._nodes.clear()  # it may hold nodes of the batch that was not stored
            log.exception("a group commit of %d jobs failed and was rolled back", len(batch))
            for job in batch:
                job.finish(({"result": "unavailable"}, b""))
            return
        self._size = transaction.size
        for job, outcome in zip(batch, outcomes, strict=True):
            job.finish(outcome)

    def _ensure_head(self) -> None:
        row = self._conn.execute(
            "SELECT 1 FROM tree_heads WHERE tree_size = ?", (self._size,)
        ).fetchone()
        if row is not None:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            _Transaction(
                self._conn, self._log_key, self._size, utc_today(), self._nodes
            ).store_head()
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise


_SYSTEM_RANDOM = secrets.SystemRandom()


def next_tick(now: float, interval: float) -> float:
    """The first multiple of ``interval`` after ``now`` (both in seconds, monotonic clock)."""
    return (math.floor(now / interval) + 1) * interval


def integration_order(batch: list[Job], rng: random.Random) -> list[Job]:
    """The order in which a batch gets its leaf indices: shuffled, never the arrival order.

    One constraint survives the shuffle: replies to one petition keep their relative order, since
    each must carry the next sequence number. They are put back, in arrival order, into the
    places the shuffle gave them, so they are spread among the rest of the batch all the same.
    """
    order = list(batch)
    rng.shuffle(order)
    replies: dict[str, list[Job]] = {}
    for job in batch:
        if job.op == "reply":
            replies.setdefault(str(job.header.get("petition_id")), []).append(job)
    for petition_jobs in replies.values():
        if len(petition_jobs) < 2:
            continue
        members = {id(job) for job in petition_jobs}
        places = [place for place, job in enumerate(order) if id(job) in members]
        for place, job in zip(places, petition_jobs, strict=True):
            order[place] = job
    return order


class _Transaction:
    """The work of one group commit, applied inside the writer's open transaction."""

    def __init__(
        self, conn: Connection, log_key: SigningKey, size: int, day: date, nodes: NodeCache
    ) -> None:
        self._conn = conn
        self._log_key = log_key
        self.size = size
        self._day = day
        self._nodes = nodes
        self._new_petitions: dict[str, dict[str, Any]] = {}
        self._new_replies: list[dict[str, Any]] = []
        self._pending_replies: dict[str, int] = {}

    def apply(self, batch: list[Job]) -> list[Outcome]:
        decisions = [self._submit(job) if job.op == "submit" else self._reply(job) for job in batch]
        if not (self._new_petitions or self._new_replies):
            return [decision() for decision in decisions]
        tree = StoredTree(self._conn, self.size, self._nodes)
        signed_head = self.store_head(tree)
        for petition in self._new_petitions.values():
            receipt = Receipt(
                petition_id=petition["petition_id"],
                bureau_id=petition["bureau_id"],
                envelope_hash=petition["envelope_hash"],
                leaf_index=petition["leaf_index"],
                day=self._day,
                tree_head=signed_head,
                inclusion_proof=tuple(
                    merkle.inclusion_proof(tree, petition["leaf_index"], self.size)
                ),
            )
            petition["receipt"] = sign(
                SignedKind.RECEIPT, receipt.to_json(), self._log_key
            ).encode()
        self._conn.executemany(
            "INSERT INTO petitions (petition_id, bureau_id, envelope, envelope_hash, "
            "lookup_key_hash, day, status, leaf_index, receipt) "
            "VALUES (:petition_id, :bureau_id, :envelope, :envelope_hash, "
            ":lookup_key_hash, :day, :status, :leaf_index, :receipt)",
            self._new_petitions.values(),
        )
        for reply in self._new_replies:
            reply["tree_size"] = self.size
            reply["signed_head"] = signed_head.encode()
            self._conn.execute(
                "INSERT INTO replies (petition_id, sequence, status, signed_reply, reply_hash, "
                "day, leaf_index, tree_size) VALUES (:petition_id, :sequence, :status, "
                ":signed_reply, :reply_hash, :day, :leaf_index, :tree_size)",
                {key: value for key, value in reply.items() if key != "signed_head"},
            )
            self._conn.execute(
                "UPDATE petitions SET status = ? WHERE petition_id = ?",
                (reply["status"], reply["petition_id"]),
            )
        return [decision() for decision in decisions]

    def store_head(self, tree: StoredTree | None = None) -> SignedObject:
        tree = tree or StoredTree(self._conn, self.size, self._nodes)
        head = TreeHead(
            tree_size=self.size, root_hash=tree.subtree_root(0, self.size), day=self._day
        )
        signed = sign(SignedKind.TREE_HEAD, head.to_json(), self._log_key)
        self._conn.execute(
            "INSERT INTO tree_heads (tree_size, signed_head) VALUES (?, ?)",
            (self.size, signed.encode()),
        )
        return signed

    def _append(self, entry: LogEntry) -> int:
        index = self.size
        append_leaf(self._conn, index, entry.leaf(), self._nodes)
        self.size += 1
        return index

    def _submit(self, job: Job) -> Callable[[], Outcome]:
        header = job.header
        petition_id = str(header["petition_id"])
        lookup_key_hash = bytes.fromhex(header["lookup_key_hash"])
        pending = self._new_petitions.get(petition_id)
        if pending is not None:
            if pending["lookup_key_hash"] != lookup_key_hash:
                return lambda: ({"result": "conflict"}, b"")
            return lambda: ({"result": "existing"}, pending["receipt"])
        existing = self._conn.execute(
            "SELECT lookup_key_hash, receipt FROM petitions WHERE petition_id = ?", (petition_id,)
        ).fetchone()
        if existing is not None:
            if bytes(existing[0]) != lookup_key_hash:
                return lambda: ({"result": "conflict"}, b"")
            stored_receipt = bytes(existing[1])
            return lambda: ({"result": "existing"}, stored_receipt)
        envelope_hash = bytes.fromhex(header["envelope_hash"])
        bureau_id = str(header["bureau_id"])
        entry = LogEntry(petition_id, bureau_id, envelope_hash, Status.RECEIVED, self._day)
        petition: dict[str, Any] = {
            "petition_id": petition_id,
            "bureau_id": bureau_id,
            "envelope": job.blob,
            "envelope_hash": envelope_hash,
            "lookup_key_hash": lookup_key_hash,
            "day": format_day(self._day),
            "status": Status.RECEIVED.value,
            "leaf_index": self._append(entry),
        }
        self._new_petitions[petition_id] = petition
        return lambda: ({"result": "created"}, petition["receipt"])

    def _reply(self, job: Job) -> Callable[[], Outcome]:
        header = job.header
        petition_id = str(header["petition_id"])
        reply_hash = bytes.fromhex(header["reply_hash"])
        petition = self._conn.execute(
            "SELECT bureau_id, envelope_hash FROM petitions WHERE petition_id = ?", (petition_id,)
        ).fetchone()
        if petition is None or petition[0] != header["bureau_id"]:
            return lambda: ({"result": "not_found"}, b"")
        bureau_id, stored_envelope_hash = str(petition[0]), bytes(petition[1])
        for pending in self._new_replies:
            if pending["reply_hash"] == reply_hash:
                same = pending
                return lambda: (
                    {"result": "existing", "leaf_index": same["leaf_index"]},
                    same["signed_head"],
                )
        row = self._conn.execute(
            "SELECT r.leaf_index, h.signed_head FROM replies r "
            "JOIN tree_heads h ON h.tree_size = r.tree_size WHERE r.reply_hash = ?",
            (reply_hash,),
        ).fetchone()
        if row is not None:
            found = ({"result": "existing", "leaf_index": int(row[0])}, bytes(row[1]))
            return lambda: found
        stored = self._conn.execute(
            "SELECT count(*) FROM replies WHERE petition_id = ?", (petition_id,)
        ).fetchone()[0]
        expected = stored + self._pending_replies.get(petition_id, 0)
        if int(header["sequence"]) != expected:
            return lambda: ({"result": "out_of_order", "expected": expected}, b"")
        status = Status.parse(header["status"])
        entry = LogEntry(
            petition_id, bureau_id, stored_envelope_hash, status, self._day, reply_hash
        )
        reply: dict[str, Any] = {
            "petition_id": petition_id,
            "sequence": expected,
            "status": status.value,
            "signed_reply": job.blob,
            "reply_hash": reply_hash,
            "day": format_day(self._day),
            "leaf_index": self._append(entry),
        }
        self._pending_replies[petition_id] = self._pending_replies.get(petition_id, 0) + 1
        self._new_replies.append(reply)
        return lambda: (
            {"result": "created", "leaf_index": reply["leaf_index"]},
            reply["signed_head"],
        )


def _listen(data: DataDirectory) -> socket.socket:
    path = data.socket_path
    if path.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # left behind by a writer that was killed
        else:
            probe.close()
            raise SystemExit(f"another writer is already serving {data.path}")
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(1024)
    return listener


def main(argv: list[str] | None = None) -> int:
    """``python -m server.writer CONFIG_JSON``: started by ``petition serve``, not by people."""
    parser = argparse.ArgumentParser(prog="python -m server.writer")
    parser.add_argument("config_json")
    args = parser.parse_args(argv)
    configure_logging()
    os.umask(0o077)
    try:
        config = ServerConfig.from_json(args.config_json)
        writer = Writer(config, DataDirectory.open_existing(config.data_dir))
    except SealedPetitionError as exc:
        sys.stderr.write(f"petition: error: {exc.message}\n")
        return 1

    def stop(signum: int, frame: object) -> None:
        writer.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    writer.serve(ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
