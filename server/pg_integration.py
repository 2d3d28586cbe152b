"""Integration on PostgreSQL: one elected integrator per log, and answers that wait for it.

With the SQLCipher store the one writer sequences and integrates. On PostgreSQL every front end
has a writer that *sequences* (its group commits give entries their leaf indices), and exactly
one process *integrates*: the writer whose :class:`IntegratorElection` holds the advisory lock
:data:`server.postgres.INTEGRATOR_LOCK`. It signs one checkpoint for everything sequenced since
the last (compare-and-swap on ``log_head``), writes the tiles into ``log_files``, asks the
witnesses, publishes, and notifies. PostgreSQL releases the lock when the leader's session ends,
however it ends (kill -9, a lost host, a restarted database), and another writer's election,
which retries every :data:`ELECTION_RETRY` seconds, takes over where the head says the log is.
The compare-and-swap makes a deposed leader that does not know it yet harmless: its next
signature is refused, and its publication changes nothing.

A writer answers a job only when the published checkpoint covers the job's leaf
(:class:`ReceiptWaiter`): the receipt is a tlog-proof against that checkpoint, exactly as with
the SQLCipher store, and nothing is acknowledged that is not durable, signed and published.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from crypto import note
from crypto.checkpoint import Checkpoint
from crypto.errors import SealedPetitionError
from server.datadir import DataDirectory
from server.errors import StorageError
from server.integrator import Integrator
from server.merkle_store import NodeCache, log_size
from server.postgres import (
    INTEGRATOR_LOCK,
    PostgresConnection,
    PostgresLogFiles,
    PostgresLogState,
    describe_postgres_error,
    is_postgres_error,
)
from server.published_log import receipt_for
from server.store_guard import ForkRefused

log = logging.getLogger("sealed_petition.pg_integration")

#: How often a writer that is not the integrator tries to become it.
ELECTION_RETRY = 0.5
#: How long the integrator waits for a sequencing notification before looking anyway.
INTEGRATION_POLL = 0.05
#: How long a writer waiting for a checkpoint sleeps between looks (a notification wakes it).
RECEIPT_POLL = 0.02
#: The notification channels: sequenced entries are waiting; a checkpoint was published.
SEQUENCED = "sealed_petition_sequenced"
PUBLISHED = "sealed_petition_published"


class IntegratorElection:
    """Runs in every PostgreSQL writer; integrates while it holds the advisory lock.

    The leader integrates in two places, one at a time (:attr:`_mutex`): right after its own
    writer's commit (:meth:`integrate_now`, so a single front end pays no notification round
    trip), and in its thread, for what the other front ends sequenced (it listens for their
    commits on a connection of its own, so waiting never holds the integrator's).
    """

    def __init__(
        self,
        url: str,
        data: DataDirectory,
        nodes: NodeCache,
        *,
        today: Callable[[], date],
        witness_timeout: float,
        on_fork: Callable[[BaseException], None],
    ) -> None:
        self._url = url
        self._data = data
        self._nodes = nodes
        self._today = today
        self._witness_timeout = witness_timeout
        self._on_fork = on_fork
        self._stopping = threading.Event()
        self._mutex = threading.Lock()
        self._integrator: Integrator | None = None
        self._conn: PostgresConnection | None = None
        self._thread = threading.Thread(target=self._run, name="integrator", daemon=True)

    @property
    def leading(self) -> bool:
        return self._integrator is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    # --- the committer's fast path ----------------------------------------------------------

    def integrate_now(
        self, size: int, decisions: list[tuple[dict[str, Any], int | None]]
    ) -> list[tuple[dict[str, Any], bytes]] | None:
        """If this writer leads: integrate through ``size`` and build the batch's receipts.

        None when it does not lead (or stopped leading on the way): the caller then waits for
        the leader's checkpoint (:class:`ReceiptWaiter`). A refused compare-and-swap is
        :class:`ForkRefused`, for the caller to stop on.
        """
        with self._mutex:
            integrator, conn = self._integrator, self._conn
            if integrator is None or conn is None:
                return None
            try:
                if size > integrator.signed_size:
                    integrator.integrate(size)
                    conn.execute(f"NOTIFY {PUBLISHED}")
                return [
                    (header, b"" if index is None else integrator.receipt(index))
                    for header, index in decisions
                ]
            except ForkRefused:
                raise
            except Exception as exc:
                if not (isinstance(exc, StorageError | OSError) or is_postgres_error(exc)):
                    raise
                log.warning("integration after a commit failed (%s)", describe_error(exc))
                self._integrator = None  # the thread notices and stands again
                return None

    # --- the election -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            conn: PostgresConnection | None = None
            listener: PostgresConnection | None = None
            try:
                conn = PostgresConnection.open(self._url, application="sealed-petition-integrator")
                won = conn.execute("SELECT pg_try_advisory_lock(?)", (INTEGRATOR_LOCK,)).fetchone()
                if not won[0]:
                    conn.close()
                    self._stopping.wait(ELECTION_RETRY)
                    continue
                listener = PostgresConnection.open(self._url, application="sealed-petition-listen")
                listener.execute(f"LISTEN {SEQUENCED}")
                log.warning("this front end now integrates the log")
                self._lead(conn, listener)
            except ForkRefused as exc:
                self._on_fork(exc)
                return
            except Exception as exc:
                if not (
                    isinstance(exc, StorageError | SealedPetitionError | OSError)
                    or is_postgres_error(exc)
                ):
                    raise
                log.warning("the integrator stopped (%s); it will try again", describe_error(exc))
                self._stopping.wait(1.0)
            finally:
                with self._mutex:
                    self._integrator = self._conn = None
                for used in (listener, conn):
                    if used is not None:
                        used.close()

    def _lead(self, conn: PostgresConnection, listener: PostgresConnection) -> None:
        integrator = Integrator(
            self._data,
            conn,
            self._nodes,
            today=self._today,
            witness_timeout=self._witness_timeout,
            state=PostgresLogState(conn, self._data.log_verifier()),
            files=PostgresLogFiles(conn),
        )
        with self._mutex:
            integrator.start(log_size(conn))
            conn.execute(f"NOTIFY {PUBLISHED}")
            self._integrator, self._conn = integrator, conn
        while not self._stopping.is_set():
            with self._mutex:
                if self._integrator is not integrator:
                    return  # the fast path failed: stand for election again
                size = log_size(conn)
                if size > integrator.signed_size:
                    integrator.integrate(size)
                    conn.execute(f"NOTIFY {PUBLISHED}")
            for _ in listener.raw.notifies(timeout=INTEGRATION_POLL, stop_after=1):
                pass


@dataclass
class Waiting:
    """A committed batch whose answers wait for a published checkpoint of ``size``."""

    size: int
    answers: list[tuple[dict[str, Any], int | None]]
    finish: Callable[[list[tuple[dict[str, Any], bytes]]], None]
    deadline: float


class ReceiptWaiter:
    """Answers committed batches once the published checkpoint covers them.

    One thread with its own connection: it listens for publications, reads the published
    checkpoint, and builds each job's receipt against it. A batch still uncovered after
    ``timeout`` seconds (no integrator: PostgreSQL is down, or every writer lost it) is
    answered ``unavailable``; it is stored, so the petitioner's retry finds it and gets its
    receipt then.
    """

    def __init__(self, url: str, verifier: note.Verifier, timeout: float) -> None:
        self._url = url
        self._verifier = verifier
        self._timeout = timeout
        self._queue: queue.Queue[Waiting | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="receipts", daemon=True)
        self._conn: PostgresConnection | None = None
        self._nodes = NodeCache()  # committed nodes never change: proofs mostly skip the database

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Answer what is queued (waiting up to its deadline), then end."""
        self._queue.put(None)
        self._thread.join()

    def wait_for(
        self,
        size: int,
        answers: list[tuple[dict[str, Any], int | None]],
        finish: Callable[[list[tuple[dict[str, Any], bytes]]], None],
    ) -> None:
        self._queue.put(Waiting(size, answers, finish, time.monotonic() + self._timeout))

    def _run(self) -> None:
        pending: list[Waiting] = []
        stopping = False
        while not stopping or pending:
            try:
                item = self._queue.get(timeout=RECEIPT_POLL if pending else 0.5)
                if item is None:
                    stopping = True
                else:
                    pending.append(item)
                while True:
                    more = self._queue.get_nowait()
                    if more is None:
                        stopping = True
                    else:
                        pending.append(more)
            except queue.Empty:
                pass
            if pending:
                pending = self._answer(pending)

    def _answer(self, pending: list[Waiting]) -> list[Waiting]:
        published = self._published()
        still: list[Waiting] = []
        now = time.monotonic()
        for waiting in pending:
            if published is not None and published[1].size >= waiting.size:
                waiting.finish(self._receipts(waiting, published))
            elif now >= waiting.deadline:
                waiting.finish([({"result": "unavailable"}, b"") for _ in waiting.answers])
            else:
                still.append(waiting)
        if still and published is not None:
            self._sleep_until_published()
        return still

    def _connection(self) -> PostgresConnection:
        if self._conn is None or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = PostgresConnection.open(self._url, application="sealed-petition-receipts")
            self._conn.execute(f"LISTEN {PUBLISHED}")
        return self._conn

    def _published(self) -> tuple[bytes, Checkpoint] | None:
        try:
            row = self._connection().execute("SELECT published FROM log_head WHERE id = 1")
            found = row.fetchone()
        except Exception as exc:
            if not (isinstance(exc, StorageError) or is_postgres_error(exc)):
                raise
            self._drop()
            return None
        if found is None or found[0] is None:
            return None
        message = bytes(found[0])
        try:
            text, _ = note.split(message)
            return message, Checkpoint.from_text(text)
        except SealedPetitionError:
            return None

    def _receipts(
        self, waiting: Waiting, published: tuple[bytes, Checkpoint]
    ) -> list[tuple[dict[str, Any], bytes]]:
        outcomes: list[tuple[dict[str, Any], bytes]] = []
        try:
            conn = self._connection()
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                for header, index in waiting.answers:
                    receipt = (
                        b"" if index is None else receipt_for(conn, index, published, self._nodes)
                    )
                    outcomes.append((header, receipt))
            finally:
                if not conn.broken:
                    conn.execute("COMMIT")
        except Exception as exc:
            if not (isinstance(exc, StorageError) or is_postgres_error(exc)):
                raise
            log.error("could not build receipts (%s)", describe_error(exc))
            self._drop()
            return [({"result": "unavailable"}, b"") for _ in waiting.answers]
        return outcomes

    def _sleep_until_published(self) -> None:
        conn = self._conn
        if conn is None:
            return
        with contextlib.suppress(Exception):
            for _ in conn.raw.notifies(timeout=RECEIPT_POLL, stop_after=1):
                pass

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def describe_error(exc: BaseException) -> str:
    """One line for the server log: our error's message, or psycopg's (never a password)."""
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        return message
    return describe_postgres_error(exc)
