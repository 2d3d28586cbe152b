"""The writer process: the only thing that writes the database.

HTTP workers validate a request and hand the writer a job over a Unix socket
(:mod:`server.ipc`). Jobs wait in one bounded queue; a committer thread takes whatever is
waiting (up to ``max_batch``) and applies it in one transaction: new petitions, replies, the log
leaves they produce, the Merkle nodes those complete, one signed tree head for the new size and
a signed receipt for each new petition. Only after ``COMMIT`` returns (``synchronous=FULL``, so
the WAL is on disk) is any job answered. This is group commit: one fsync serves a whole batch,
which is what lets one writer keep up with many workers without SQLite lock contention.

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
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from server.database import Connection, connect, ensure_schema, petition_row
from server.datadir import DataDirectory
from server.ipc import FramingError, receive_message, send_message
from server.merkle_store import StoredTree, append_leaf, log_size
from server.privatelog import configure_logging

log = logging.getLogger("sealed_petition.writer")

Outcome = tuple[dict[str, Any], bytes]


@dataclass
class Job:
    op: str
    header: dict[str, Any]
    blob: bytes
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome = ({"result": "unavailable"}, b"")

    def finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.done.set()


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
        ensure_schema(self._conn)
        self._size = log_size(self._conn)
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=config.queue_capacity)
        self._nonces = NonceRegistry(config.request_window_seconds)
        self._stopping = threading.Event()
        self._ensure_head()

    # --- serving ---------------------------------------------------------------------------

    def serve(self, on_ready: Callable[[], None]) -> None:
        listener = _listen(self._data)
        committer = threading.Thread(target=self._commit_loop, name="committer", daemon=True)
        committer.start()
        on_ready()
        listener.settimeout(0.5)
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    raise
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                os.unlink(self._data.socket_path)
        committer.join()

    def stop(self) -> None:
        self._stopping.set()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(60)
            try:
                header, blob = receive_message(conn)
                send_message(conn, *self._dispatch(header, blob))
            except (OSError, FramingError, ValueError, KeyError, TypeError):
                log.warning("dropped a malformed message from a worker")

    def _dispatch(self, header: dict[str, Any], blob: bytes) -> Outcome:
        op = header.get("op")
        if op == "status":
            return {
                "result": "ok",
                "queue_depth": self._queue.qsize(),
                "queue_capacity": self._config.queue_capacity,
                "tree_size": self._size,
            }, b""
        if op == "nonce":
            result = self._nonces.claim(
                str(header["bureau_id"]), str(header["nonce"]), int(header["timestamp"])
            )
            return {"result": result}, b""
        if op in ("submit", "reply"):
            if self._stopping.is_set():
                return {"result": "unavailable"}, b""
            job = Job(op, header, blob)
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                return {"result": "busy"}, b""
            if not job.done.wait(self._config.writer_timeout_seconds):
                # Still queued or committing; the client's retry is idempotent.
                return {"result": "unavailable"}, b""
            return job.outcome
        return {"result": "unknown_op"}, b""

    # --- group commit ----------------------------------------------------------------------

    def _commit_loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            batch = [first]
            deadline = time.monotonic() + self._config.batch_linger_seconds
            while len(batch) < self._config.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    if remaining > 0:
                        batch.append(self._queue.get(timeout=remaining))
                    else:
                        batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[Job]) -> None:
        size_before = self._size
        try:
            transaction = _Transaction(self._conn, self._log_key, size_before, utc_today())
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = transaction.apply(batch)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except Exception:
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
            _Transaction(self._conn, self._log_key, self._size, utc_today()).store_head()
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise


class _Transaction:
    """The work of one group commit, applied inside the writer's open transaction."""

    def __init__(self, conn: Connection, log_key: SigningKey, size: int, day: date) -> None:
        self._conn = conn
        self._log_key = log_key
        self.size = size
        self._day = day
        self._new_petitions: dict[str, dict[str, Any]] = {}
        self._new_replies: list[dict[str, Any]] = []
        self._pending_replies: dict[str, int] = {}

    def apply(self, batch: list[Job]) -> list[Outcome]:
        decisions = [self._submit(job) if job.op == "submit" else self._reply(job) for job in batch]
        if not (self._new_petitions or self._new_replies):
            return [decision() for decision in decisions]
        tree = StoredTree(self._conn, self.size)
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
            self._conn.execute(
                "INSERT INTO petitions (petition_id, bureau_id, token, envelope, envelope_hash, "
                "lookup_key_hash, day, status, leaf_index, receipt) "
                "VALUES (:petition_id, :bureau_id, :token, :envelope, :envelope_hash, "
                ":lookup_key_hash, :day, :status, :leaf_index, :receipt)",
                petition,
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
        tree = tree or StoredTree(self._conn, self.size)
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
        append_leaf(self._conn, index, entry.leaf())
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
        existing = petition_row(self._conn, petition_id)
        if existing is not None:
            if existing.lookup_key_hash != lookup_key_hash:
                return lambda: ({"result": "conflict"}, b"")
            return lambda: ({"result": "existing"}, existing.receipt)
        envelope_hash = bytes.fromhex(header["envelope_hash"])
        bureau_id = str(header["bureau_id"])
        entry = LogEntry(petition_id, bureau_id, envelope_hash, Status.RECEIVED, self._day)
        petition: dict[str, Any] = {
            "petition_id": petition_id,
            "bureau_id": bureau_id,
            "token": bytes.fromhex(header["token"]),
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
        petition = petition_row(self._conn, petition_id)
        if petition is None or petition.bureau_id != header["bureau_id"]:
            return lambda: ({"result": "not_found"}, b"")
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
            petition_id, petition.bureau_id, petition.envelope_hash, status, self._day, reply_hash
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
