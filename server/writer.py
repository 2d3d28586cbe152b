"""The writer process: the only thing that writes the database.

HTTP workers validate a request and hand the writer a job over a Unix socket
(:mod:`server.ipc`); each worker thread keeps one connection open and sends one message at a
time. One I/O thread reads every connection (a selector loop: no thread per message), answers
the cheap operations itself, and puts submissions and case events into one bounded queue. A
committer thread takes whatever is waiting (up to ``max_batch``) and applies it in one
transaction: new petitions, case events (with their replies and re-sealed copies), the log
leaves they produce and the Merkle nodes those complete. A case event is checked against the
petition's history inside that transaction (who handles it now, whether the statutory history
stays possible, the reply's sequence), so two events racing for one petition are applied one
after the other and the second is judged on what the first did. That is sequencing. After
``COMMIT`` returns (``synchronous=FULL``, so the WAL is on
disk) the batch is integrated (:mod:`server.integrator`): one checkpoint signed for the new size
(compared-and-swapped against ``log.head``), tiles published, witnesses asked to cosign; only
then is any job answered, each new entry with its receipt (a tlog-proof). This is group
commit: one fsync serves a whole batch, which is what lets one writer keep up with many
workers without SQLite lock contention. As soon as the batch is durable and integrated, the
committer hands each job's answer to the I/O thread, which alone writes to and closes the
workers' sockets.

Before it serves, the writer checks the store (:mod:`server.store_guard`): it refuses one that
cannot reproduce the last checkpoint its key signed (``log.head``), or that fails its integrity
check.
A commit that meets a damaged page stops all acknowledging until an operator restores the store.

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
import ctypes
import fcntl
import hmac
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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from crypto import note
from crypto.case_event import LogEntry, review_request, to_step
from crypto.errors import MalformedInput, SealedPetitionError
from crypto.fields import format_day
from crypto.statutory import Event, Kind, Step, deadlines, status
from server.clock import utc_today
from server.config import ServerConfig
from server.database import Connection, connect, ensure_schema, petition_events
from server.datadir import DataDirectory
from server.errors import DataDirectoryError, StorageError
from server.integrator import Integrator
from server.ipc import FramingError, MessageBuffer, encode_message, send_without_blocking
from server.merkle_store import LogAppender, NodeCache, StoredTree, log_size
from server.pg_integration import SEQUENCED, IntegratorElection, ReceiptWaiter, describe_error
from server.postgres import PostgresConnection, is_postgres_error, open_checked_postgres
from server.privatelog import configure_logging
from server.store_guard import (
    ForkRefused,
    StoreRefused,
    is_damage,
    read_head,
    refuse_damaged_store,
    refuse_missing_store,
    refuse_other_log,
    refuse_published_without_head,
)

log = logging.getLogger("sealed_petition.writer")

Outcome = tuple[dict[str, Any], bytes]
#: A job's answer before integration: the header, and the leaf whose receipt goes with it.
Decision = tuple[dict[str, Any], int | None]

#: The most answer bytes kept for a worker that is not reading them; past this it is dropped.
MAX_PENDING_OUTPUT = 4 * 1024 * 1024
#: After a SIGTERM that did not come from ``petition serve`` itself (a service manager stopping
#: the whole process group), the writer keeps serving the HTTP workers, which are finishing
#: their requests, until the server's own stop arrives; at most this long (gunicorn's graceful
#: timeout is 30 s).
DRAIN_LIMIT = 45.0
#: How often the I/O thread looks at its parent, in case the kernel's death signal is missing.
PARENT_CHECK_INTERVAL = 0.5
#: How long a starting writer waits for the lock of one that is still finishing (an orphan
#: answering its last jobs after its server was killed) before saying another one is serving.
LOCK_WAIT = 3.0


class Peer:
    """One worker's connection: a thread's (one message at a time) or a submission lane's.

    A lane (:mod:`server.submission_lane`) keeps many submissions outstanding on one connection;
    its messages carry a ``tag`` that the answer repeats, since answers come back in commit
    order, not in the order they were sent.

    Only the I/O thread touches the socket: it reads, writes answers, and closes. The committer
    hands its answers over (:class:`Outbox`) and never closes anything, so a descriptor can
    never be closed while the selector still watches it (the number would be reused by the
    next connection and its registration would fail).
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.buffer = MessageBuffer()
        self.output = bytearray()
        self.closed = False
        self.writing = False  # registered for EVENT_WRITE: an answer did not fit the buffer


class Outbox:
    """Answers from the committer to the I/O thread, with a wake-up for its selector."""

    def __init__(self) -> None:
        self._answers: deque[tuple[Peer, Outcome]] = deque()
        self.wake_reader, self._wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    def put(self, peer: Peer, outcome: Outcome, *, wake: bool = True) -> None:
        """Hand over an answer; ``wake=False`` when more follow at once (see finish_all)."""
        self._answers.append((peer, outcome))
        if wake:
            self.wake()

    def take(self) -> list[tuple[Peer, Outcome]]:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self.wake_reader.recv(4096):
                pass
        taken = []
        while self._answers:
            taken.append(self._answers.popleft())
        return taken

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError, OSError):
            self._wake_writer.send(b"\0")  # a full pipe already means "wake up"

    def close(self) -> None:
        self.wake_reader.close()
        self._wake_writer.close()


@dataclass
class Job:
    op: str
    header: dict[str, Any]
    blob: bytes
    peer: Peer | None = None  # None when a test drives the committer directly
    outcome: Outcome = ({"result": "unavailable"}, b"")
    outbox: Outbox | None = None

    def finish(self, outcome: Outcome, *, wake: bool = True) -> None:
        outcome = tagged(outcome, self.header)
        self.outcome = outcome
        if self.peer is not None and self.outbox is not None:
            self.outbox.put(self.peer, outcome, wake=wake)


def finish_all(batch: list[Job], outcomes: list[Outcome]) -> None:
    """Answer a batch's jobs, waking the I/O thread once for all of them (not once per job:
    a batch of sixty answers was sixty wake-ups and sixty sends to the same lane)."""
    for job, outcome in zip(batch, outcomes, strict=True):
        job.finish(outcome, wake=False)
    outboxes = {id(job.outbox): job.outbox for job in batch if job.outbox is not None}
    for outbox in outboxes.values():
        outbox.wake()


def tagged(outcome: Outcome, request: dict[str, Any]) -> Outcome:
    """The answer, carrying the request's ``tag`` when it had one (see :class:`Peer`)."""
    tag = request.get("tag")
    if tag is None:
        return outcome
    return {**outcome[0], "tag": tag}, outcome[1]


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

    def __init__(self, data: DataDirectory, on_damage: Callable[[BaseException], None]) -> None:
        self._conn: Connection = connect(data.database_path, data.database_key(), writer=True)
        self._on_damage = on_damage
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
            except Exception as exc:
                if is_damage(exc):
                    self._on_damage(exc)
                else:
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
    """The writer: the start-up checks, the I/O thread (the caller's) and the committer.

    Stopping has two speeds. :meth:`stop` (also a SIGTERM from ``petition serve``, which sends
    it once gunicorn's workers are gone, or the death of that parent) is final: no new job is
    taken, every queued one is committed and answered, and :meth:`serve` returns. A SIGTERM
    from anyone else (a service manager stopping the whole process group) only starts a drain:
    the HTTP workers are finishing their requests and still need the writer, so it keeps
    serving, with readiness saying "stopping", until the final stop comes (at most
    ``DRAIN_LIMIT``).
    """

    def __init__(
        self, config: ServerConfig, data: DataDirectory, *, lock_wait: float = LOCK_WAIT
    ) -> None:
        self._config = config
        self._data = data
        # First the lock: two writers checking and creating the same store would race.
        self._lock = _take_lock(data, lock_wait)
        self._url = config.database_url
        self._integrator: Integrator | None = None
        self._election: IntegratorElection | None = None
        self._receipts: ReceiptWaiter | None = None
        try:
            if self._url is None:
                self._conn: Connection = _open_checked_store(data, data.log_verifier())
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_CHECKPOINT_PAGES}")
            else:
                self._conn = open_checked_postgres(self._url, data.log_verifier())
            self._size = log_size(self._conn)
            self._nodes = NodeCache()
            self._queue: queue.Queue[Job] = queue.Queue(maxsize=config.queue_capacity)
            self._nonces = NonceRegistry(config.request_window_seconds)
            if self._url is None:
                self._integrator = Integrator(
                    data,
                    self._conn,
                    self._nodes,
                    today=utc_today,
                    witness_timeout=config.witness_timeout_seconds,
                )
                self._integrator.start(self._size)
            else:
                # Sequencing here; integration by whichever writer wins the election.
                self._election = IntegratorElection(
                    self._url,
                    data,
                    self._nodes,
                    today=utc_today,
                    witness_timeout=config.witness_timeout_seconds,
                    on_fork=self._mark_damaged,
                )
                self._receipts = ReceiptWaiter(
                    self._url, data.log_verifier(), config.writer_timeout_seconds * 0.8
                )
        except BaseException:
            with contextlib.suppress(Exception):
                self._conn.close()
            os.close(self._lock)
            raise
        self._final = threading.Event()  # no new job; exit once the queue is answered
        self._committer_done = threading.Event()
        self._damaged = threading.Event()
        self._drain_deadline: float | None = None
        self._outbox: Outbox | None = None  # made by serve(): only its loop reads it
        self._selector: selectors.BaseSelector | None = None
        self._peers: set[Peer] = set()

    # --- stopping --------------------------------------------------------------------------

    def stop(self) -> None:
        """The final stop: take no new job, answer the queued ones, return from serve()."""
        self._final.set()
        if self._outbox is not None:
            self._outbox.wake()

    def drain(self) -> None:
        """Keep serving the workers that are finishing, until the final stop or DRAIN_LIMIT."""
        if self._drain_deadline is None:
            self._drain_deadline = time.monotonic() + DRAIN_LIMIT
        if self._outbox is not None:
            self._outbox.wake()

    def on_signal(self, sender: int, parent: int | None) -> None:
        """SIGTERM or SIGINT from ``sender``: final from our parent or once orphaned."""
        if parent is None or sender == parent or os.getppid() != parent:
            self.stop()
        else:
            self.drain()

    @property
    def damaged(self) -> bool:
        return self._damaged.is_set()

    def _mark_damaged(self, exc: BaseException) -> None:
        if isinstance(exc, ForkRefused):
            if not self._damaged.is_set():
                self._damaged.set()
                log.error("%s", exc.message)
            return
        if not self._damaged.is_set():
            self._damaged.set()
            log.error(
                "the petition store is damaged (%s): nothing more will be acknowledged; stop "
                "the server and restore petitions.db and log.head from a backup",
                getattr(exc, "sqlite_errorname", type(exc).__name__),
            )

    def _state(self) -> str:
        if self._damaged.is_set():
            return "damaged"
        if self._final.is_set() or self._drain_deadline is not None:
            return "stopping"
        return "ok"

    # --- serving ---------------------------------------------------------------------------

    def serve(self, on_ready: Callable[[], None], *, parent: int | None = None) -> None:
        """Serve until stopped; ``parent``: exit when that process is gone (``petition serve``)."""
        listener = _listen(self._data)
        listener.setblocking(False)
        outbox = self._outbox = Outbox()
        committer = threading.Thread(target=self._commit_loop, name="committer", daemon=True)
        committer.start()
        checkpointer: Checkpointer | None = None
        if self._url is None:
            checkpointer = Checkpointer(self._data, self._mark_damaged)
            checkpointer.start()
        if self._election is not None and self._receipts is not None:
            self._receipts.start()
            self._election.start()
        next_parent_check = time.monotonic() + PARENT_CHECK_INTERVAL
        with selectors.DefaultSelector() as selector:
            self._selector = selector
            selector.register(listener, selectors.EVENT_READ, _LISTENER)
            selector.register(outbox.wake_reader, selectors.EVENT_READ, _WAKE)
            on_ready()
            try:
                while True:
                    for key, events in selector.select(0.25):
                        if key.data is _LISTENER:
                            self._accept(listener)
                        elif key.data is _WAKE:
                            self._deliver()
                        else:
                            peer: Peer = key.data
                            if events & selectors.EVENT_WRITE:
                                self._flush(peer)
                            if events & selectors.EVENT_READ and not peer.closed:
                                self._readable(peer)
                    now = time.monotonic()
                    if parent is not None and now >= next_parent_check:
                        next_parent_check = now + PARENT_CHECK_INTERVAL
                        if os.getppid() != parent:
                            log.warning("the server process is gone; the writer stops")
                            self.stop()
                    if self._drain_deadline is not None and now >= self._drain_deadline:
                        self.stop()
                    if self._final.is_set() and self._committer_done.is_set():
                        self._deliver()
                        break
            finally:
                for peer in list(self._peers):
                    self._drop(peer)
                listener.close()
                with contextlib.suppress(OSError):
                    os.unlink(self._data.socket_path)
                self._selector = None
        self._final.set()
        committer.join()
        if checkpointer is not None:
            checkpointer.stop()
        if self._receipts is not None:
            self._receipts.stop()  # answers every committed batch it still holds
        if self._election is not None:
            self._election.stop()
        outbox.close()
        self.close()

    def close(self) -> None:
        """Release the database and the lock (serve() does it; for a writer never served)."""
        with contextlib.suppress(Exception):
            self._conn.close()
        with contextlib.suppress(OSError):
            os.close(self._lock)

    def _accept(self, listener: socket.socket) -> None:
        assert self._selector is not None  # noqa: S101  (only called from serve)
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                log.warning("could not accept a worker's connection")
                return
            peer = Peer(conn)
            try:
                self._selector.register(conn, selectors.EVENT_READ, peer)
            except (KeyError, ValueError, OSError):
                # Cannot happen while only this thread closes sockets; never fatal anyway.
                log.warning("could not watch a worker's connection")
                conn.close()
                continue
            self._peers.add(peer)

    def _readable(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(1024 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(peer)
            return
        if not data:
            self._drop(peer)  # the worker closed it; an answer still due is simply not sent
            return
        try:
            peer.buffer.feed(data)
            while not peer.closed and (message := peer.buffer.take()) is not None:
                self._dispatch(peer, *message)
        except (FramingError, ValueError, KeyError, TypeError):
            log.warning("dropped a malformed message from a worker")
            self._drop(peer)

    def _dispatch(self, peer: Peer, header: dict[str, Any], blob: bytes) -> None:
        """Answer the cheap operations here; queue the durable ones for the committer."""
        op = header.get("op")
        if op in ("submit", "event", "review"):
            if self._final.is_set() or self._damaged.is_set():
                self._send(peer, tagged(({"result": "unavailable"}, b""), header))
                return
            job = Job(op, header, blob, peer, outbox=self._outbox)
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                self._send(peer, tagged(({"result": "busy"}, b""), header))
            return
        if op == "status":
            # Readiness only: queue depth and log size stay inside the writer (docs/operations.md).
            self._send(peer, tagged(({"result": self._state()}, b""), header))
        elif op == "nonce":
            result = self._nonces.claim(
                str(header["bureau_id"]), str(header["nonce"]), int(header["timestamp"])
            )
            self._send(peer, tagged(({"result": result}, b""), header))
        else:
            self._send(peer, tagged(({"result": "unknown_op"}, b""), header))

    def _deliver(self) -> None:
        """Send the committer's answers, with one send per connection for all it has."""
        assert self._outbox is not None  # noqa: S101  (only called from serve)
        touched: dict[int, Peer] = {}
        for peer, outcome in self._outbox.take():
            if not peer.closed:  # else the worker went away; it sends the job again if it cares
                peer.output += encode_message(*outcome)
                touched[id(peer)] = peer
        for peer in touched.values():
            self._flush(peer)

    def _send(self, peer: Peer, outcome: Outcome) -> None:
        if peer.closed:
            return  # the worker went away; it will send the same job again if it still cares
        peer.output += encode_message(*outcome)
        self._flush(peer)

    def _flush(self, peer: Peer) -> None:
        try:
            send_without_blocking(peer.sock, peer.output)
        except OSError:
            self._drop(peer)
            return
        if len(peer.output) > MAX_PENDING_OUTPUT:
            log.warning("dropped a worker connection that does not read its answers")
            self._drop(peer)
            return
        writing = bool(peer.output)
        if writing != peer.writing and self._selector is not None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
            self._selector.modify(peer.sock, events, peer)
            peer.writing = writing

    def _drop(self, peer: Peer) -> None:
        if peer.closed:
            return
        peer.closed = True
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(peer.sock)
        peer.sock.close()
        self._peers.discard(peer)

    # --- group commit ----------------------------------------------------------------------

    def _commit_loop(self) -> None:
        try:
            interval = self._config.batch_interval_seconds
            while True:
                try:
                    first = self._queue.get(timeout=0.2)
                except queue.Empty:
                    # Jobs are queued before the final stop is set (both by the I/O thread),
                    # so once it is seen an empty queue stays empty.
                    if self._final.is_set() and self._queue.empty():
                        return
                    continue
                batch = [first]
                if interval > 0 and not self._final.is_set():
                    # Wait for the next tick of a fixed schedule, so that when a batch is
                    # committed says nothing about when its first job came; a full batch goes
                    # at once.
                    self._fill(batch, next_tick(time.monotonic(), interval))
                self._fill(batch, time.monotonic() + self._config.batch_linger_seconds)
                self._commit(batch)
        finally:
            self._committer_done.set()
            if self._outbox is not None:
                self._outbox.wake()

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
        if self._damaged.is_set():
            for job in batch:
                job.finish(({"result": "unavailable"}, b""))
            return
        batch = integration_order(batch, _SYSTEM_RANDOM)
        try:
            size_before = self._begin()
            try:
                transaction = _Transaction(self._conn, size_before, utc_today(), self._nodes)
                decisions = transaction.apply(batch)
                if self._url is not None:
                    # Delivered at COMMIT: the integrator need not wait for its next look.
                    self._conn.execute(f"NOTIFY {SEQUENCED}")
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    self._conn.execute("ROLLBACK")
                raise
        except Exception as exc:
            self._nodes.clear()  # it may hold nodes of the batch that was not stored
            if is_damage(exc) or is_damage(exc.__context__ or exc):
                self._mark_damaged(exc)
            elif self._url is not None and (
                isinstance(exc, StorageError) or is_postgres_error(exc)
            ):
                log.error("a group commit of %d jobs failed (%s)", len(batch), describe_error(exc))
            else:
                log.exception("a group commit of %d jobs failed and was rolled back", len(batch))
            for job in batch:
                job.finish(({"result": "unavailable"}, b""))
            return
        self._size = transaction.size
        try:
            if self._election is not None and self._receipts is not None:
                # PostgreSQL: integrate here if this front end leads, else wait for the leader.
                answered = self._election.integrate_now(transaction.size, decisions)
                if answered is None:
                    self._receipts.wait_for(transaction.size, decisions, _finisher(batch))
                    return
                outcomes = answered
            else:
                outcomes = self._integrate(size_before, transaction.size, decisions)
        except StoreRefused as exc:
            # log.head changed under us: signing on would fork the log. The batch is stored
            # but acknowledged to no one; the operator must find out who else holds the key.
            self._mark_damaged(exc)
            outcomes = [({"result": "unavailable"}, b"") for _ in batch]
        except (StorageError, OSError) as exc:
            if is_damage(exc) or is_damage(exc.__context__ or exc):
                self._mark_damaged(exc)
            else:
                log.error("a committed batch could not be integrated (%s)", exc)
            outcomes = [({"result": "unavailable"}, b"") for _ in batch]
        finish_all(batch, outcomes)

    def _begin(self) -> int:
        """Start the batch's transaction; return the log's size as committed.

        SQLCipher: this writer is the only one, so the size is its own count. PostgreSQL: lock
        the sequencing row first, so that the batches of every front end apply one after the
        other, then read the size, which another front end may have grown (the node cache may
        then miss its nodes, never hold wrong ones: committed nodes never change).
        """
        if self._url is None:
            self._conn.execute("BEGIN IMMEDIATE")
            return self._size
        if self._conn.broken:
            self._conn.close()
            self._conn = PostgresConnection.open(self._url, application="sealed-petition-writer")
        self._conn.execute("BEGIN")
        self._conn.execute("SELECT id FROM log_lock WHERE id = 1 FOR UPDATE").fetchone()
        size = log_size(self._conn)
        if size != self._size:
            self._nodes.clear()
        return int(size)

    def _integrate(self, size_before: int, size: int, decisions: list[Decision]) -> list[Outcome]:
        """SQLCipher: sign, publish and witness the batch here, then build its receipts."""
        integrator = self._integrator
        assert integrator is not None  # noqa: S101  (the SQLCipher writer always has one)
        if size > size_before:
            integrator.integrate(size)
        outcomes: list[Outcome] = []
        for header, index in decisions:
            outcomes.append((header, b"" if index is None else integrator.receipt(index)))
        return outcomes


def _finisher(batch: list[Job]) -> Callable[[list[Outcome]], None]:
    def finish(outcomes: list[Outcome]) -> None:
        finish_all(batch, outcomes)

    return finish


_LISTENER = object()
_WAKE = object()


def _take_lock(data: DataDirectory, wait: float) -> int:
    """An exclusive lock on ``run/writer.lock``, held for the writer's whole life.

    The kernel drops it when the process dies, however it dies, so a stale lock cannot exist;
    a writer that is still finishing (an orphan answering its last jobs) is waited for briefly.
    """
    path = data.run_dir / "writer.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise DataDirectoryError(f"cannot open {path}: {exc.strerror}") from exc
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise DataDirectoryError(
                    f"another writer is already serving {data.path}: stop that server first"
                ) from None
            time.sleep(0.05)


def _open_checked_store(data: DataDirectory, log: note.Verifier) -> Connection:
    """The writer's connection, after checking that the store is whole and is the signed one."""
    head = read_head(data.path, log)
    refuse_published_without_head(data.public_log_dir / "checkpoint", head)
    refuse_missing_store(data.database_path, head)
    conn = connect(data.database_path, data.database_key(), writer=True)
    try:
        refuse_damaged_store(conn, data.database_path)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != 0:
            ensure_schema(conn)  # refuses a schema this server cannot use
        size = log_size(conn) if version != 0 else 0
        root = None
        if head is not None and size >= head.tree_size:
            root = StoredTree(conn, size).subtree_root(0, head.tree_size)
        refuse_other_log(data.database_path, head, size, root)
        ensure_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


_SYSTEM_RANDOM = secrets.SystemRandom()
#: The size of each job's random sort key in :func:`integration_order`.
SHUFFLE_KEY_BYTES = 16


def next_tick(now: float, interval: float) -> float:
    """The first multiple of ``interval`` after ``now`` (both in seconds, monotonic clock)."""
    return (math.floor(now / interval) + 1) * interval


def integration_order(batch: list[Job], rng: random.Random) -> list[Job]:
    """The order in which a batch gets its leaf indices: shuffled, never the arrival order.

    One constraint survives the shuffle: events of one petition keep their relative order, since
    each is judged on the history before it (and its reply must carry the next sequence number).
    They are put back, in arrival order, into the places the shuffle gave them, so they are
    spread among the rest of the batch all the same.

    The shuffle sorts the jobs by 128-bit random keys taken in one read from ``rng``: a
    uniformly random order (two equal keys among a batch's jobs: below 1 in 2**110), for
    one call to the operating system's generator per batch where ``random.shuffle`` on
    :class:`secrets.SystemRandom` made one per job (docs/performance.md).
    """
    keys = rng.randbytes(SHUFFLE_KEY_BYTES * len(batch))
    places = sorted(
        range(len(batch)),
        key=lambda i: keys[i * SHUFFLE_KEY_BYTES : (i + 1) * SHUFFLE_KEY_BYTES],
    )
    order = [batch[place] for place in places]
    replies: dict[str, list[Job]] = {}
    for job in batch:
        if job.op in ("event", "review"):
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

    def __init__(self, conn: Connection, size: int, day: date, nodes: NodeCache) -> None:
        self._conn = conn
        self.size = size
        self._day = day
        self._nodes = nodes
        self._log = LogAppender(conn, nodes)
        self._new_petitions: dict[str, dict[str, Any]] = {}
        self._stored: dict[str, tuple[bytes, int]] = {}

    def apply(self, batch: list[Job]) -> list[Decision]:
        decisions = []
        self._stored = self._stored_petitions(
            [str(job.header.get("petition_id")) for job in batch if job.op == "submit"]
        )
        for job in batch:
            if job.op == "submit":
                decisions.append(self._submit(job))
            else:
                try:
                    if job.op == "review":
                        decisions.append(self._review(job))
                    else:
                        decisions.append(self._event(job))
                except (MalformedInput, KeyError, TypeError, ValueError, AttributeError):
                    # The worker sends only what it parsed; never one job's fault for the batch.
                    log.warning("refused a malformed %s job", job.op)
                    decisions.append(({"result": "malformed"}, None))
        self._log.flush()
        if self._new_petitions:
            self._conn.executemany(
                "INSERT INTO petitions (petition_id, bureau_id, envelope, envelope_hash, "
                "lookup_key_hash, day, event, handler, leaf_index) "
                "VALUES (:petition_id, :bureau_id, :envelope, :envelope_hash, "
                ":lookup_key_hash, :day, :event, :bureau_id, :leaf_index)",
                self._new_petitions.values(),
            )
        return decisions

    def _stored_petitions(self, petition_ids: list[str]) -> dict[str, tuple[bytes, int]]:
        """The batch's submissions already stored (lookup key hash, leaf), in one query per 200.

        Nothing in a batch inserts a petition before its end, so this stays true while it runs.
        """
        stored: dict[str, tuple[bytes, int]] = {}
        unique = sorted(set(petition_ids))
        for start in range(0, len(unique), 200):
            chunk = unique[start : start + 200]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn.execute(
                # Only placeholders are formatted in: one per id.
                "SELECT petition_id, lookup_key_hash, leaf_index FROM petitions "  # noqa: S608
                f"WHERE petition_id IN ({marks})",
                chunk,
            ).fetchall()
            for petition_id, key_hash, leaf_index in rows:
                stored[str(petition_id)] = (bytes(key_hash), int(leaf_index))
        return stored

    def _append(self, entry: LogEntry) -> int:
        index = self.size
        self._log.append(index, entry.leaf())
        self.size += 1
        return index

    def _submit(self, job: Job) -> Decision:
        header = job.header
        petition_id = str(header["petition_id"])
        lookup_key_hash = bytes.fromhex(header["lookup_key_hash"])
        pending = self._new_petitions.get(petition_id)
        if pending is not None:
            if pending["lookup_key_hash"] != lookup_key_hash:
                return {"result": "conflict"}, None
            return {"result": "existing"}, int(pending["leaf_index"])
        existing = self._stored.get(petition_id)
        if existing is not None:
            if existing[0] != lookup_key_hash:
                return {"result": "conflict"}, None
            return {"result": "existing"}, existing[1]
        envelope_hash = bytes.fromhex(header["envelope_hash"])
        bureau_id = str(header["bureau_id"])
        entry = LogEntry(petition_id, bureau_id, envelope_hash, Event.RECEIVED, self._day)
        index = self._append(entry)
        self._new_petitions[petition_id] = {
            "petition_id": petition_id,
            "bureau_id": bureau_id,
            "envelope": job.blob,
            "envelope_hash": envelope_hash,
            "lookup_key_hash": lookup_key_hash,
            "day": format_day(self._day),
            "event": Event.RECEIVED.value,
            "leaf_index": index,
        }
        return {"result": "created"}, index

    def _event(self, job: Job) -> Decision:
        """A bureau's case event: every check that depends on the stored history is made here,
        inside the transaction, so that no other event can slip in between check and write.

        The worker has already checked what needs no history (the bureau's signature on the
        entry and on the reply, the reply's hash, the destination, the copy's header).
        """
        self._log.flush()  # the history below joins the leaves appended so far
        header = job.header
        leaf = str(header["leaf"]).encode("utf-8")
        entry = LogEntry.from_leaf(leaf)
        petition_id, bureau_id = entry.petition_id, entry.bureau_id
        petition = self._conn.execute(
            "SELECT bureau_id, envelope_hash, handler FROM petitions WHERE petition_id = ?",
            (petition_id,),
        ).fetchone()
        if petition is None:
            return {"result": "not_found"}, None
        first_bureau, stored_hash, handler = str(petition[0]), bytes(petition[1]), str(petition[2])
        had_it = first_bureau == bureau_id or (
            self._conn.execute(
                "SELECT 1 FROM deliveries WHERE petition_id = ? AND bureau_id = ? LIMIT 1",
                (petition_id, bureau_id),
            ).fetchone()
            is not None
        )
        if not had_it:
            return {"result": "not_found"}, None
        history = petition_events(self._conn, petition_id)
        for index, stored_leaf in history:
            if stored_leaf == leaf:  # an identical retry: the same answer, nothing new
                return {"result": "existing", "leaf_index": index}, index
        if entry.envelope_hash != stored_hash:
            return {"result": "envelope_mismatch"}, None
        if entry.day != self._day:
            return {"result": "wrong_day", "day": format_day(self._day)}, None
        if handler != bureau_id:
            return {"result": "not_handling"}, None
        try:
            steps = [to_step(LogEntry.from_leaf(stored)) for _, stored in history]
            deadlines([*steps, to_step(entry)])
        except MalformedInput as exc:
            return {"result": "impossible_event", "message": exc.message}, None
        reply_length = int(header["reply_length"])
        reply_wire, envelope = job.blob[:reply_length], job.blob[reply_length:]
        sequence: int | None = None
        if reply_length:
            sequence = int(
                self._conn.execute(
                    "SELECT count(*) FROM replies WHERE petition_id = ?", (petition_id,)
                ).fetchone()[0]
            )
            if int(header["sequence"]) != sequence:
                return {"result": "out_of_order", "expected": sequence}, None
        index = self._append(entry)
        self._conn.execute(
            "INSERT INTO events (leaf_index, petition_id) VALUES (?, ?)", (index, petition_id)
        )
        if sequence is not None:
            self._conn.execute(
                "INSERT INTO replies (petition_id, sequence, event, signed_reply, reply_hash, "
                "day, leaf_index) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    petition_id,
                    sequence,
                    entry.event.value,
                    reply_wire,
                    entry.reply_hash,
                    format_day(self._day),
                    index,
                ),
            )
        new_handler = handler
        if envelope:
            new_handler = str(entry.detail.to)
            self._conn.execute(
                "INSERT INTO deliveries (petition_id, bureau_id, envelope, leaf_index) "
                "VALUES (?, ?, ?, ?)",
                (petition_id, new_handler, envelope, index),
            )
        self._conn.execute(
            "UPDATE petitions SET event = ?, handler = ? WHERE petition_id = ?",
            (entry.event.value, new_handler, petition_id),
        )
        return {"result": "created", "leaf_index": index}, index

    def _review(self, job: Job) -> Decision:
        """A petitioner's request for review (or re-review) by the next level (protocol §15.5).

        Decided here, inside the transaction, like a case event: which request it is, whose
        answer it contests, which bureau is one level above that one, and whether the history
        allows it today (Art. 19: not while a body is within its time). Two requests racing
        for one petition are judged one after the other. The entry is the server's own
        (unsigned): the petitioner asked, and the log records that it did.
        """
        self._log.flush()  # the history below joins the leaves appended so far
        header = job.header
        petition_id = str(header["petition_id"])
        key_hash = bytes.fromhex(str(header["lookup_key_hash"]))
        target = str(header["bureau_id"])
        parents: dict[str, str | None] = {
            str(bureau): None if parent is None else str(parent)
            for bureau, parent in dict(header["parents"]).items()
        }
        envelope = job.blob
        petition = self._conn.execute(
            "SELECT envelope_hash, handler, lookup_key_hash FROM petitions WHERE petition_id = ?",
            (petition_id,),
        ).fetchone()
        if petition is None or not hmac.compare_digest(bytes(petition[2]), key_hash):
            return {"result": "not_found"}, None
        stored_hash, handler = bytes(petition[0]), str(petition[1])
        again = self._conn.execute(
            "SELECT leaf_index FROM deliveries WHERE petition_id = ? AND envelope = ? LIMIT 1",
            (petition_id, envelope),
        ).fetchone()
        if again is not None:  # an identical retry: the same answer, nothing new
            return {"result": "existing", "leaf_index": int(again[0])}, int(again[0])
        entries = [LogEntry.from_leaf(leaf) for _, leaf in petition_events(self._conn, petition_id)]
        event, contested = review_request(entries, handler)
        steps = [to_step(entry) for entry in entries]
        try:
            deadlines([*steps, Step(event, self._day)])
        except MalformedInput as exc:
            message = refusal_reason(steps, self._day, event, exc.message)
            return {"result": "impossible_event", "message": message}, None
        expected = parents.get(contested)
        if expected is None:
            return {"result": "no_next_level", "contested": contested}, None
        if target != expected:
            return {"result": "wrong_level", "expected": expected, "contested": contested}, None
        entry = LogEntry(petition_id, target, stored_hash, event, self._day)
        index = self._append(entry)
        self._conn.execute(
            "INSERT INTO events (leaf_index, petition_id) VALUES (?, ?)", (index, petition_id)
        )
        self._conn.execute(
            "INSERT INTO deliveries (petition_id, bureau_id, envelope, leaf_index) "
            "VALUES (?, ?, ?, ?)",
            (petition_id, target, envelope, index),
        )
        self._conn.execute(
            "UPDATE petitions SET event = ?, handler = ? WHERE petition_id = ?",
            (event.value, target, petition_id),
        )
        return {"result": "created", "leaf_index": index, "event": event.value}, index


def refusal_reason(steps: list[Step], today: date, event: Event, detail: str) -> str:
    """Why a review cannot be asked today, in plain words (the articles that say so)."""
    what = "a re-review" if event is Event.RE_REVIEW_REQUESTED else "a review"
    try:
        clock = status(steps, today)
    except MalformedInput:
        return f"{what} cannot follow the petition's history: {detail}"
    deadline = clock.deadline
    if clock.parallel_petition_barred and deadline is not None:
        return (
            f"Art. 19: the case is still within its time limit (due {deadline.due.isoformat()},"
            f" {deadline.article}); the next level does not take up a petition while the body"
            " handling it is within its time. Ask again once it has answered or the due day"
            " has passed."
        )
    if clock.action is not None and clock.action.code == "final":
        return (
            "Art. 36: the case has been re-reviewed; a request on the same facts and reasons"
            " is not taken up again."
        )
    if deadline is not None and deadline.kind is Kind.PETITIONER_RIGHT and clock.overdue:
        return (
            f"{deadline.article}: the 30 days to ask for {what} ended on"
            f" {deadline.due.isoformat()}; the answer stands."
        )
    return f"{what} cannot follow the petition's history: {detail}"


def _listen(data: DataDirectory) -> socket.socket:
    """The writer's socket. The lock is held, so a socket left there is a dead writer's."""
    path = data.socket_path
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(1024)
    return listener


#: The first line the writer prints: this, or ``error: `` and one line saying why it did not.
READY_LINE = "ready"
_REFUSAL_PREFIX = "error: "


def start_failure(line: bytes) -> str | None:
    """The one-line reason in the writer's first line of output, if it refused to start.

    For ``petition serve`` (server/serve.py), which reads that line: it raises this message
    as its own error, so the operator sees one line, not two.
    """
    text = line.decode("utf-8", errors="replace").strip()
    if text.startswith(_REFUSAL_PREFIX):
        return text[len(_REFUSAL_PREFIX) :]
    return None


def _die_with_parent(signum: int) -> None:
    """Ask Linux to send ``signum`` when the parent dies (PR_SET_PDEATHSIG).

    Elsewhere (or if it fails) the I/O thread's periodic ``os.getppid()`` check does the same,
    a little later.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signum, 0, 0, 0)  # PR_SET_PDEATHSIG


def _watch_signals(writer: Writer, parent: int) -> None:
    """Route SIGTERM and SIGINT to the writer, knowing who sent them (Linux: sigwaitinfo).

    Both are blocked in every thread (the mask is set before any thread starts) and taken here,
    so the sender's pid is known: ``petition serve`` itself means stop now, anyone else (a
    service manager signalling the whole group) means drain.
    """
    waited = {signal.SIGTERM, signal.SIGINT}
    if hasattr(signal, "sigwaitinfo"):

        def wait() -> None:
            while True:
                info = signal.sigwaitinfo(waited)
                writer.on_signal(info.si_pid, parent)

        threading.Thread(target=wait, name="signals", daemon=True).start()
        return

    def handle(signum: int, frame: object) -> None:
        writer.stop()  # no sender known: every signal is the final stop

    signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)
    for signum in waited:
        signal.signal(signum, handle)


def main(argv: list[str] | None = None) -> int:
    """``python -m server.writer CONFIG_JSON``: started by ``petition serve``, not by people.

    Exit status 0 means it was told to stop (or its server is gone) and everything it took was
    answered; anything else is a failure.
    """
    parser = argparse.ArgumentParser(prog="python -m server.writer")
    parser.add_argument("config_json")
    args = parser.parse_args(argv)
    configure_logging()
    os.umask(0o077)
    parent = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    _die_with_parent(signal.SIGTERM)
    try:
        config = ServerConfig.from_json(args.config_json)
        writer = Writer(config, DataDirectory.open_existing(config.data_dir))
    except SealedPetitionError as exc:
        message = " ".join(exc.message.split())
        sys.stdout.write(f"{_REFUSAL_PREFIX}{message}\n")
        sys.stdout.flush()
        return 1
    _watch_signals(writer, parent)
    if os.getppid() != parent:
        writer.stop()  # the server died while this one was starting

    def ready() -> None:
        sys.stdout.write(READY_LINE + "\n")
        sys.stdout.flush()

    writer.serve(ready, parent=parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
