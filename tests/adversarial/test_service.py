"""Denial of service and crashes (STRIDE): a flood against the writer, and a kill -9 under load.

Both attacks run against a real server (``petition serve`` under gunicorn, the writer process,
SQLCipher on disk) started by tests/support/harness.py and shared by the tests of this module;
it is relaunched on the same data directory when a test needs another queue setting, as an
operator would restart it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3
from adversary import Defence
from harness import (
    Answer,
    Client,
    RunningServer,
    Submission,
    kill_server,
    launch,
    log_checkpoint,
    open_submission_receipt,
    settled_checkpoint,
    start_server,
    stop_server,
    verified_directory,
)

from crypto import cjson, merkle
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint, open_checkpoint
from crypto.errors import InvalidProof
from crypto.log_receipt import VerifiedReceipt
from crypto.objects import Directory
from crypto.statutory import Event
from server import store_guard
from server.database import PAGE_MAC

SHEDDING = ("--queue-capacity", "1")
# Effectively unbounded for this flood: every submission is queued (by the writer and at the
# front door), none is shed.
UNBOUNDED = ("--queue-capacity", "100000", "--max-queue-delay", "600")

FLOOD = 32  # concurrent submissions: more than the 2 workers x 8 threads can hold
STALL = 3.0  # seconds the writer cannot commit (below SQLite's 10 s busy timeout)
PROMPT = 1.5  # an answer within this is prompt; the shed threshold of this test


@dataclass
class Service:
    """One real server for the module, relaunched on the same data directory when a test needs
    other settings (a relaunch costs a second; a new deployment several)."""

    server: RunningServer
    flags: tuple[str, ...]

    def serving(self, flags: tuple[str, ...]) -> RunningServer:
        if flags != self.flags:
            stop_server(self.server)
            self.relaunch(flags)
        return self.server

    def relaunch(self, flags: tuple[str, ...]) -> None:
        process, client, _ = launch(self.server.data_dir, self.server.log_path, extra=flags)
        self.server.process, self.server.client = process, client
        self.flags = flags


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    running = Service(start_server(tmp_path_factory.mktemp("service"), extra=SHEDDING), SHEDDING)
    try:
        yield running
    finally:
        stop_server(running.server)


@contextmanager
def database(data_dir: Path, *, exclusive: bool = False) -> Iterator[Any]:
    """A connection of our own to the server's database (the key is in the data directory)."""
    key = (data_dir / "db.key").read_text().strip()
    conn = sqlcipher3.connect(str(data_dir / "petitions.db"), isolation_level=None)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key}'\"")
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("BEGIN EXCLUSIVE" if exclusive else "BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("ROLLBACK" if exclusive else "COMMIT")
    finally:
        conn.close()


def current_head(client: Client, directory: Directory) -> Checkpoint:
    """``/log/checkpoint``, verified with the log key of the directory (as a client does)."""
    return log_checkpoint(client, directory)


def lookup(client: Client, submission: Submission) -> Answer:
    return client.get(
        "/v1/lookup",
        headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
    )


def submission_leaves(client: Client, size: int) -> dict[str, int]:
    """How many submission leaves the log holds for each petition id."""
    counts: dict[str, int] = {}
    for start in range(0, size, 1000):
        page = client.get(f"/v1/log/entries?start={start}&end={min(start + 1000, size)}").json
        for item in page["entries"]:
            entry = LogEntry.from_leaf(cjson.b64decode(item))
            if entry.event is Event.RECEIVED:
                counts[entry.petition_id] = counts.get(entry.petition_id, 0) + 1
    return counts


# --- T-DOS-1 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    answer: Answer | None  # None: no answer at all (connection failed)
    seconds: float


@pytest.mark.threat("T-DOS-1")
def test_a_flood_is_shed_at_once_while_reads_keep_answering(
    defence: Defence, service: Service
) -> None:
    """A flood of valid-looking submissions arrives while the writer cannot keep up.

    The writer is stalled the way a slow disk stalls it: another connection holds the
    database's write lock for a few seconds. Meanwhile ``FLOOD`` submissions arrive at once and
    the status page and the directory are read. With the bounded queue, all but the couple the
    writer holds are refused promptly with 503 ``busy`` and ``Retry-After``, the reads answer
    promptly, and afterwards every acknowledged submission is stored exactly once and the
    refused ones not at all.

    ``defence-off``: a server whose queue is effectively unbounded: nothing is shed, the whole
    flood waits for the writer and occupies every HTTP worker thread, so the submissions (and
    whatever else arrives) wait instead of being told to come back.
    """
    server = service.serving(SHEDDING if defence.on else UNBOUNDED)
    submissions = [server.seal("national") for _ in range(FLOOD)]
    timed: dict[int, Timed] = {}

    def send(position: int) -> None:
        started = time.monotonic()
        try:
            answer: Answer | None = server.client.post(
                "/v1/petitions", submissions[position].body()
            )
        except OSError:
            answer = None
        timed[position] = Timed(answer, time.monotonic() - started)

    reads: dict[str, float] = {}

    def read() -> None:
        time.sleep(0.5)  # into the flood
        for target in ("/healthz", "/v1/directory"):
            started = time.monotonic()
            assert server.client.get(target).status == 200
            reads[target] = time.monotonic() - started

    flood = [threading.Thread(target=send, args=(i,)) for i in range(FLOOD)]
    flood.append(threading.Thread(target=read))
    with database(server.data_dir, exclusive=True):
        for thread in flood:
            thread.start()
        time.sleep(STALL)
    for thread in flood:
        thread.join(timeout=60)
    assert len(reads) == 2
    assert len(timed) == FLOOD

    held = sorted(i for i, t in timed.items() if t.seconds >= PROMPT)
    created = [i for i, t in timed.items() if t.answer is not None and t.answer.status == 201]
    refused = [i for i in timed if i not in created]
    if defence.on:
        for i in refused:
            answer = timed[i].answer
            assert answer is not None
            assert (answer.status, answer.error_code) == (503, "busy")
            assert int(answer.headers["Retry-After"]) >= 1
            assert timed[i].seconds < PROMPT
            assert lookup(server.client, submissions[i]).status == 404  # nothing was stored
        assert max(reads.values()) < PROMPT, reads
        assert created
    # Every acknowledged submission is stored, and stored once.
    size = settled_checkpoint(server)[1].size
    leaves = submission_leaves(server.client, size)
    for i in created:
        answer = timed[i].answer
        assert answer is not None
        assert lookup(server.client, submissions[i]).status == 200
        assert leaves[answer.json["petition_id"]] == 1
    defence.judge(
        len(held) > FLOOD // 4,
        f"{len(held)} of {FLOOD} flooding submissions held for {PROMPT} s or more "
        f"(reads took {reads})",
    )
    if defence.off:
        assert len(held) == FLOOD
        assert min(timed[i].seconds for i in held) >= STALL - 1.0


# --- T-REP-2 ------------------------------------------------------------------------------------


@dataclass
class Load:
    """What the concurrent petitioners (and one onlooker polling the checkpoint) were handed:
    receipts, and every checkpoint seen (as the signed notes, by size)."""

    acknowledged: list[tuple[Submission, VerifiedReceipt]]
    heads: list[Checkpoint]
    notes: dict[int, bytes]
    lock: threading.Lock
    stop: threading.Event


def run_load_and_kill(server: RunningServer, directory: Directory, writers: int = 6) -> Load:
    """Submit from ``writers`` threads, then SIGKILL the whole server at a random moment."""
    load = Load([], [], {}, threading.Lock(), threading.Event())

    def petitioner() -> None:
        while not load.stop.is_set():
            submission = server.seal("national")
            try:
                answer = server.client.post("/v1/petitions", submission.body())
            except OSError:
                return  # the server died under this request: no acknowledgement
            if answer.status == 201:
                receipt = open_submission_receipt(
                    answer.json["receipt"], directory, petition_id=answer.json["petition_id"]
                )
                with load.lock:
                    load.acknowledged.append((submission, receipt))
                    load.heads.append(receipt.checkpoint)
                    load.notes[receipt.checkpoint.size] = receipt.checkpoint_note

    def onlooker() -> None:
        while not load.stop.is_set():
            try:
                answer = server.client.get("/log/checkpoint")
            except OSError:
                return
            head, _ = open_checkpoint(answer.raw, [directory.log_vkey])
            with load.lock:
                load.heads.append(head)
                load.notes[head.size] = answer.raw

    threads = [threading.Thread(target=petitioner) for _ in range(writers)]
    threads.append(threading.Thread(target=onlooker))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(load.acknowledged) < 15:
        assert time.monotonic() < deadline, "the load did not get going"
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 0.6))  # a random moment in the middle of the load
    kill_server(server)
    load.stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return load


def forget_the_last_commit(data_dir: Path, load: Load) -> None:
    """Plant what acknowledging before committing leaves after a crash.

    The newest acknowledged petition, and everything after it in the log, never reached the
    disk: its row, its leaf and the Merkle nodes over it. Nor did the checkpoints that counted
    it: the copy kept outside the database (``log.head``), which is written only after a commit,
    still holds the last checkpoint whose entries did reach the disk.
    """
    newest = max(receipt.index for _, receipt in load.acknowledged)
    with database(data_dir) as conn:
        conn.execute("DELETE FROM events WHERE leaf_index >= ?", (newest,))
        conn.execute("DELETE FROM petitions WHERE leaf_index >= ?", (newest,))
        conn.execute("DELETE FROM log_leaves WHERE leaf_index >= ?", (newest,))
        conn.execute("DELETE FROM log_nodes WHERE ((position + 1) << level) > ?", (newest,))
    last_head = load.notes[max(size for size in load.notes if size <= newest)]
    store_guard.write_head(data_dir, last_head.split(b"\n\n")[0] + b"\n\n" + _log_line(last_head))


def _log_line(note_bytes: bytes) -> bytes:
    """The log's own signature line of a checkpoint note (what log.head keeps: no cosignature)."""
    return note_bytes.split(b"\n\n", 1)[1].splitlines(keepends=True)[0]


def what_was_lost(client: Client, directory: Directory, load: Load) -> tuple[list[str], list[int]]:
    """The acknowledged petitions missing or unproven, and the checkpoints the log no longer
    extends."""
    head = current_head(client, directory)
    lost = []
    for submission, receipt in load.acknowledged:
        petition_id = receipt.entry.petition_id
        if lookup(client, submission).status != 200 or receipt.index >= head.size:
            lost.append(petition_id)
            continue
        proof = client.get(
            f"/v1/log/proof/inclusion?index={receipt.index}&tree_size={head.size}"
        ).json["proof"]
        try:
            merkle.verify_inclusion(
                merkle.leaf_hash(receipt.entry.leaf()),
                receipt.index,
                head.size,
                [cjson.b64decode(p) for p in proof],
                head.root_hash,
            )
        except InvalidProof:
            lost.append(petition_id)
    broken = []
    for old in {(h.size, h.root_hash): h for h in load.heads}.values():
        try:
            if old.size > head.size:
                raise InvalidProof("the log shrank")
            proof = client.get(
                f"/v1/log/proof/consistency?first={old.size}&second={head.size}"
            ).json["proof"]
            merkle.verify_consistency(
                old.size,
                head.size,
                old.root_hash,
                head.root_hash,
                [cjson.b64decode(p) for p in proof],
            )
        except InvalidProof:
            broken.append(old.size)
    return lost, sorted(broken)


@pytest.mark.threat("T-REP-2")
def test_a_kill_under_concurrent_load_loses_nothing_acknowledged(
    defence: Defence, service: Service
) -> None:
    """The adversary's view of a crash: many petitioners at once, SIGKILL at a random moment.

    Six petitioners submit as fast as they can while an onlooker keeps fetching the signed
    checkpoint; at a random moment master, workers and writer are killed together. After a
    restart on the same data directory, every petition that got a 201 must be found with its
    lookup key and proven in the new checkpoint, which must extend every checkpoint handed out
    before the kill (in receipts and to the onlooker), and the server must take petitions again.

    ``defence-off``: plant what acknowledging before committing would leave: the newest
    acknowledged petition's commit never reached the disk (its row, leaf and nodes are gone, and
    log.head holds the last checkpoint before it). The same verification reports it lost and
    the log rewound.
    """
    server = service.serving(UNBOUNDED)  # nothing shed: each request is stored or cut by the kill
    directory = verified_directory(server.client, server.authority_fingerprint)
    load = run_load_and_kill(server, directory)
    assert len(load.acknowledged) >= 15
    if defence.off:
        forget_the_last_commit(server.data_dir, load)

    service.relaunch(service.flags)
    client = server.client
    lost, broken = what_was_lost(client, directory, load)
    assert client.post("/v1/petitions", server.seal("guangdong").body()).status == 201
    defence.judge(
        bool(lost or broken),
        f"{len(lost)} of {len(load.acknowledged)} acknowledged petitions lost, "
        f"{len(broken)} heads handed out no longer extended",
    )
    if defence.off:
        newest = max(load.acknowledged, key=lambda pair: pair[1].index)
        assert newest[1].entry.petition_id in lost
        assert broken
