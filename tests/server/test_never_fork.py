"""The log key never signs two histories (issue 16, "Done when"; protocol §13.2; T-TAMP-2).

``log.key`` outlives the database. Whatever happens to ``petitions.db``, ``log.head`` or the
published ``public/log/checkpoint``, the server must either continue the one log its key signed
or refuse, in one line, to start; and a ``log.head`` that changes under a running server (a
second process signing with a copy of the key, a backup restored over a live log) stops all
signing, so nothing more is acknowledged. Each test runs with the defence (the attack fails)
and without it (the guard's inputs removed too, or the check sidestepped), where a second
history then really is signed under the same key: that is what the defence prevents, and it
shows the test can fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from adversary import Defence
from harness import (
    PETITION,
    Client,
    RunningServer,
    free_port,
    start_server,
    stop_server,
)

from crypto import note
from crypto.checkpoint import Checkpoint, open_checkpoint, sign
from crypto.keyfile import read_log_key_file
from server.store_guard import HEAD_FILE, write_head

#: Kills, stops or starves real processes: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.fault

DB_FILES = ("petitions.db", "petitions.db-wal", "petitions.db-shm")
PETITIONS = 3


@pytest.fixture(params=[True, False], ids=["defence-on", "defence-off"])
def defence(request: pytest.FixtureRequest) -> Defence:
    return Defence(on=bool(request.param))


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[RunningServer]:
    """A server that took three petitions and was stopped cleanly."""
    server = start_server(tmp_path)
    try:
        for _ in range(PETITIONS):
            assert server.client.post("/v1/petitions", server.seal("national").body()).status == 201
    finally:
        stop_server(server)
    try:
        yield server
    finally:
        stop_server(server)


@dataclass(frozen=True)
class Started:
    """``petition serve`` either served (``client``) or refused (its status and stderr)."""

    client: Client | None
    status: int | None
    lines: list[str]


def serve(server: RunningServer) -> Started:
    """Run ``petition serve`` on the data directory as an operator would after the damage."""
    port = free_port()
    errors = server.log_path.with_name(f"serve-{port}.stderr")
    with server.log_path.open("ab") as log, errors.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603
            [*PETITION, "serve", "--data", str(server.data_dir), "--port", str(port),
             "--workers", "2"],
            stdout=log,
            stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if client.get("/healthz").status == 200:
                server.process = process  # the fixture stops it
                server.client = client
                return Started(client, None, [])
        except OSError:
            pass
        time.sleep(0.1)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return Started(None, process.returncode, errors.read_text().splitlines())


def snapshot(data: Path) -> dict[str, bytes]:
    """What the key has signed and published: log.head and every file of the static log."""
    files = {HEAD_FILE: (data / HEAD_FILE).read_bytes()} if (data / HEAD_FILE).exists() else {}
    public = data / "public" / "log"
    for path in sorted(public.rglob("*")):
        if path.is_file():
            files[path.relative_to(data).as_posix()] = path.read_bytes()
    return files


def log_verifier(data: Path) -> note.Verifier:
    return note.Verifier.from_vkey((data / "log.pub").read_text().strip())


def published(data: Path) -> Checkpoint:
    checkpoint, _ = open_checkpoint(
        (data / "public" / "log" / "checkpoint").read_bytes(), [log_verifier(data)]
    )
    return checkpoint


def second_history(server: RunningServer, started: Started) -> Checkpoint | None:
    """If the server started: grow a new log to the old size and return its checkpoint, which
    the log key signed (None when the server refused, as it must with the defence on)."""
    if started.client is None:
        return None
    for _ in range(PETITIONS):
        answer = started.client.post("/v1/petitions", server.seal("guangdong").body())
        assert answer.status == 201, answer.raw
    stop_server(server)
    return published(server.data_dir)


def test_a_deleted_store_is_refused_and_no_other_history_is_signed(
    stopped: RunningServer, defence: Defence
) -> None:
    """Deleting petitions.db (and its -wal/-shm) and restarting: refused in one line, twice,
    with nothing created or signed. Without the guard's own files (log.head and the published
    log gone too) the same key starts a new log and signs a checkpoint of the old size with
    another root: a fork."""
    first = published(stopped.data_dir)
    assert first.size == PETITIONS
    before = snapshot(stopped.data_dir)
    for name in DB_FILES:
        (stopped.data_dir / name).unlink(missing_ok=True)
    if defence.off:
        (stopped.data_dir / HEAD_FILE).unlink()
        shutil.rmtree(stopped.data_dir / "public")
    attempts = [serve(stopped)]
    if attempts[0].client is None:
        attempts.append(serve(stopped))  # an operator who simply tries again
    for attempt in attempts:
        if attempt.client is not None:
            break
        assert attempt.status not in (None, 0)
        assert len(attempt.lines) == 1, attempt.lines
        assert (
            f"petitions.db holds no log but log.key has signed a checkpoint of size {PETITIONS}"
            in attempt.lines[0]
        )
        assert "restore the database from a backup" in attempt.lines[0]
        assert not (stopped.data_dir / "petitions.db").exists()
        assert snapshot(stopped.data_dir) == before  # nothing signed, nothing published
    other = second_history(stopped, attempts[-1])
    forked = other is not None and other.size == first.size and other.root_hash != first.root_hash
    if other is not None:
        assert other.origin == first.origin  # the same log, as far as anyone can tell
    defence.judge(forked, "a second history signed under the log key")


def test_deleting_the_store_and_log_head_is_refused_while_a_checkpoint_is_published(
    stopped: RunningServer, defence: Defence
) -> None:
    """With both petitions.db and log.head gone nothing local remembers the log, but the
    published checkpoint does: the server refuses to start. Without it (the operator deleted
    public/log/checkpoint too) the key signs a new log over the old one, tiles included."""
    first = published(stopped.data_dir)
    before = snapshot(stopped.data_dir)
    for name in (*DB_FILES, HEAD_FILE):
        (stopped.data_dir / name).unlink(missing_ok=True)
    if defence.off:
        (stopped.data_dir / "public" / "log" / "checkpoint").unlink()
    started = serve(stopped)
    if started.client is None:
        assert started.status not in (None, 0)
        assert len(started.lines) == 1, started.lines
        assert (
            f"public/log/checkpoint shows a published log of size {PETITIONS} but log.head is "
            "missing" in started.lines[0]
        )
        assert "restore log.head and petitions.db from a backup" in started.lines[0]
        assert not (stopped.data_dir / HEAD_FILE).exists()
        assert not (stopped.data_dir / "petitions.db").exists()
        remaining = {k: v for k, v in before.items() if k != HEAD_FILE}
        assert snapshot(stopped.data_dir) == remaining
    other = second_history(stopped, started)
    forked = other is not None and other.size == first.size and other.root_hash != first.root_hash
    if other is not None:
        # What a client holding the old checkpoint's tiles would now be served under the same
        # immutable paths: other bytes.
        path = f"public/log/tile/0/000.p/{PETITIONS}"
        assert (stopped.data_dir / path).read_bytes() != before[path]
    defence.judge(forked, "a second history signed under the log key")


def _sign_as_intruder(data: Path, size: int, seed: bytes) -> bytes:
    """A checkpoint of another history, signed with a copy of log.key (a second integrator)."""
    log = log_verifier(data)
    signer = note.Signer(log.name, read_log_key_file(data / "log.key"))
    assert signer.verifier() == log
    root = bytes(b ^ 0x5A for b in seed)
    return sign(Checkpoint(log.name, size, root), [signer])


def test_a_log_head_replaced_under_a_running_server_stops_all_signing(
    tmp_path: Path, defence: Defence
) -> None:
    """Another process with a copy of log.key signs a checkpoint of its own history and puts it
    in log.head. The writer compares log.head with what it signed last before every signature:
    it refuses to sign (503 unavailable, nothing acknowledged, readiness down, and the restart
    refused), so the key never signs two checkpoints of one size with different roots. Without
    the comparison (the intruder's file put back before the writer looks) the writer signs the
    same size with another root."""
    server = start_server(tmp_path)
    try:
        assert server.client.post("/v1/petitions", server.seal("national").body()).status == 201
        data = server.data_dir
        # A byte-identical rewrite (a backup tool restoring the same file) is not an alarm: the
        # comparison is by content, so the refusal below comes from the other history alone.
        write_head(data, (data / HEAD_FILE).read_bytes())
        assert server.client.post("/v1/petitions", server.seal("national").body()).status == 201
        ours = (data / HEAD_FILE).read_bytes()
        current, _ = open_checkpoint(ours, [log_verifier(data)])
        intruder = _sign_as_intruder(data, current.size + 1, current.root_hash)
        signed: dict[int, set[bytes]] = {current.size: {current.root_hash}}
        intruding, _ = open_checkpoint(intruder, [log_verifier(data)])
        signed.setdefault(intruding.size, set()).add(intruding.root_hash)

        write_head(data, intruder)
        if defence.off:
            # The check removed: the intruder's file is gone again before the writer compares.
            write_head(data, ours)
        submission = server.seal("guangdong")
        answer = server.client.post("/v1/petitions", submission.body())
        acknowledged = answer.status == 201
        if acknowledged:
            receipt = server.receipt(answer.json["receipt"])
            signed.setdefault(receipt.checkpoint.size, set()).add(receipt.checkpoint.root_hash)
        else:
            assert (answer.status, answer.error_code) == (503, "unavailable"), answer.raw
            assert "Retry-After" in answer.headers
            # Latched: later batches are refused too, and readiness takes it out of rotation.
            again = [
                server.client.post("/v1/petitions", server.seal("national").body())
                for _ in range(2)
            ]
            assert [a.status for a in again] == [503, 503]
            ready = server.client.get("/v1/admin/readiness")
            assert (ready.status, ready.error_code) == (503, "unavailable")
            assert (data / HEAD_FILE).read_bytes() == intruder  # not overwritten
            assert published(data) == current  # nothing new published
            # The retry of the refused petition is still not acknowledged.
            retry = server.client.post("/v1/petitions", submission.body())
            assert retry.status == 503
        shown = server.checkpoint()
        signed.setdefault(shown.size, set()).add(shown.root_hash)
        forks = {size: roots for size, roots in signed.items() if len(roots) > 1}
        defence.judge(bool(forks), "two checkpoints of one size with different roots")
        if defence.on:
            assert not acknowledged
            assert shown == current
    finally:
        stop_server(server)
    if defence.on:
        # The next start sees a log.head the store cannot reproduce: refused, in one line.
        restart = serve(server)
        if restart.client is not None:
            stop_server(server)
        assert restart.client is None, "the server started on another history's log.head"
        assert len(restart.lines) == 1, restart.lines
        assert "Traceback" not in "\n".join(restart.lines)


def test_concurrent_batches_under_a_replaced_log_head_acknowledge_nothing(
    tmp_path: Path,
) -> None:
    """Many petitions in flight when log.head changes: not one of them is acknowledged after
    the change, and every 201 from before it carries a checkpoint the store still proves."""
    server = start_server(tmp_path)
    try:
        data = server.data_dir
        assert server.client.post("/v1/petitions", server.seal("national").body()).status == 201
        ours, _ = open_checkpoint((data / HEAD_FILE).read_bytes(), [log_verifier(data)])
        write_head(data, _sign_as_intruder(data, ours.size + 2, ours.root_hash))
        answers = []
        lock = threading.Lock()

        def send() -> None:
            answer = server.client.post("/v1/petitions", server.seal("national").body())
            with lock:
                answers.append(answer)

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted({a.status for a in answers}) == [503], [a.raw for a in answers]
        assert {a.error_code for a in answers} == {"unavailable"}
        assert published(data) == ours
    finally:
        stop_server(server)
    assert "Traceback" not in server.log_text()
