"""A lost, emptied, rolled-back or damaged store: the server refuses to start, in one line.

The log key outlives the database, so a server that started on whatever ``petitions.db`` it
found would sign a second log under the same key (issue 15, items 3 and 4). These tests break
the store of a real server the way an operator or a disk would, and run ``petition serve``
again: it must exit non-zero with one line that says what is wrong and what to restore, and
must not have created or written anything in the store. Reads that meet a damaged page while
running answer ``503 unavailable``, never 500.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from harness import (
    PETITION,
    RunningServer,
    free_port,
    launch,
    run_petition,
    start_server,
    stop_server,
)

from crypto import cjson
from crypto.wire import LOOKUP_KEY_HEADER
from server import store_guard
from server.app import create_app
from server.config import ServerConfig
from server.datadir import DataDirectory
from server.services import EXTENSION_NAME, Services
from server.store_guard import HEAD_FILE, read_head
from server.writer import Job, Writer

#: Kills, stops or starves real processes: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.fault

DB_FILES = ("petitions.db", "petitions.db-wal", "petitions.db-shm")


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[RunningServer]:
    """A server that took five petitions and was stopped cleanly (stopped again at the end,
    should a test have started it and failed before stopping it)."""
    server = start_server(tmp_path)
    try:
        for _ in range(5):
            assert server.client.post("/v1/petitions", server.seal("national").body()).status == 201
    finally:
        stop_server(server)
    try:
        yield server
    finally:
        stop_server(server)


def serve_once(server: RunningServer) -> tuple[int | None, list[str]]:
    """``petition serve`` on the broken store: its status and stderr lines (None: it served)."""
    process = subprocess.Popen(  # noqa: S603
        [*PETITION, "serve", "--data", str(server.data_dir), "--port", str(free_port())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # it started on a store it should refuse
        _, stderr = process.communicate()
        return None, stderr.decode().splitlines()
    return process.returncode, stderr.decode().splitlines()


def test_a_deleted_database_is_refused_with_one_line(stopped: RunningServer) -> None:
    for name in DB_FILES:
        (stopped.data_dir / name).unlink(missing_ok=True)
    status, lines = serve_once(stopped)
    assert status is not None, "the server started"
    assert status != 0
    assert len(lines) == 1, lines
    assert "petitions.db holds no log but log.key has signed a checkpoint of size 5" in lines[0]
    assert "restore the database from a backup" in lines[0]
    assert not (stopped.data_dir / "petitions.db").exists()  # nothing created in its place


def test_an_emptied_database_is_refused_with_one_line(stopped: RunningServer) -> None:
    for name in DB_FILES:
        (stopped.data_dir / name).unlink(missing_ok=True)
    (stopped.data_dir / "petitions.db").write_bytes(b"")
    status, lines = serve_once(stopped)
    assert status is not None, "the server started"
    assert status != 0
    assert len(lines) == 1, lines
    assert "holds no log but log.key has signed a checkpoint of size 5" in lines[0]
    assert (stopped.data_dir / "petitions.db").stat().st_size == 0  # not written into


def test_an_older_backup_is_refused_and_the_matching_one_is_served(
    stopped: RunningServer, tmp_path: Path
) -> None:
    """A backup from before the last checkpoint is a shorter log: refused, the log would fork."""
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy2(stopped.data_dir / "petitions.db", backup / "petitions.db")
    shutil.copy2(stopped.data_dir / HEAD_FILE, backup / HEAD_FILE)
    process, client, _ = launch(stopped.data_dir, stopped.log_path)
    stopped.client = client
    stopped.process = process
    assert client.post("/v1/petitions", stopped.seal("national").body()).status == 201
    stop_server(stopped)

    current = tmp_path / "current.db"
    shutil.copy2(stopped.data_dir / "petitions.db", current)
    shutil.copy2(backup / "petitions.db", stopped.data_dir / "petitions.db")
    status, lines = serve_once(stopped)
    assert status is not None, "the server started"
    assert status != 0
    assert len(lines) == 1, lines
    assert "holds a log of only 5 entries but log.key has signed a checkpoint of size 6" in lines[0]
    audit = run_petition("audit", "store", "--data", str(stopped.data_dir))
    assert audit.returncode == 1
    assert (
        "FAIL log-intact: log.head holds a checkpoint of size 6 but the store has only 5 leaves"
        in audit.stdout
    )
    assert (
        "FAIL log-intact: public/log/checkpoint holds a checkpoint of size 6 but the store has "
        "only 5 leaves" in audit.stdout
    )

    # Restoring the newest database (the one log.head describes) is served again.
    shutil.copy2(current, stopped.data_dir / "petitions.db")
    process, client, _ = launch(stopped.data_dir, stopped.log_path)
    stopped.process = process
    assert client.get("/log/checkpoint").status == 200
    stop_server(stopped)
    assert run_petition("audit", "store", "--data", str(stopped.data_dir)).returncode == 0


def test_a_lost_log_head_is_refused_while_the_published_log_remembers(
    stopped: RunningServer, tmp_path: Path
) -> None:
    """Without log.head nothing local says which log the key signed; the published checkpoint
    still does, so the server refuses to start and the audit says what is missing."""
    log = DataDirectory.open_existing(stopped.data_dir).log_verifier()
    before = read_head(stopped.data_dir, log)
    assert before is not None
    assert before.tree_size == 5
    kept = tmp_path / HEAD_FILE
    shutil.copy2(stopped.data_dir / HEAD_FILE, kept)
    (stopped.data_dir / HEAD_FILE).unlink()
    status, lines = serve_once(stopped)
    assert status is not None, "the server started"
    assert status != 0
    assert len(lines) == 1, lines
    assert "log.head is missing" in lines[0]
    assert not (stopped.data_dir / HEAD_FILE).exists()  # not recreated
    audit = run_petition("audit", "store", "--data", str(stopped.data_dir))
    assert audit.returncode == 1
    assert (
        "FAIL log-intact: there is no log.head, yet the store holds 5 leaves: nothing keeps the "
        "last checkpoint the log key signed"
    ) in audit.stdout.splitlines()

    # The restored file is the last checkpoint again: audited clean, and served.
    shutil.copy2(kept, stopped.data_dir / HEAD_FILE)
    audit = run_petition("audit", "store", "--data", str(stopped.data_dir))
    assert audit.returncode == 0, audit.stdout
    assert "the store reproduces the checkpoint kept in log.head (size 5)" in audit.stdout
    process, client, _ = launch(stopped.data_dir, stopped.log_path)
    stopped.process = process
    try:
        assert client.get("/log/checkpoint").status == 200
        assert read_head(stopped.data_dir, log) == before
        assert (stopped.data_dir / HEAD_FILE).stat().st_mode & 0o777 == 0o600
    finally:
        stop_server(stopped)


def damage(path: Path, *, start: float, end: float) -> None:
    """Overwrite the pages between two fractions of the file (page 1, the header, is kept)."""
    size = path.stat().st_size
    first, last = max(4096, int(size * start) // 4096 * 4096), int(size * end) // 4096 * 4096
    with path.open("r+b") as stream:
        for offset in range(first, last, 4096):
            stream.seek(offset + 100)
            stream.write(os.urandom(64))


def test_a_damaged_page_is_refused_at_start(stopped: RunningServer) -> None:
    damage(stopped.data_dir / "petitions.db", start=0.4, end=0.6)
    status, lines = serve_once(stopped)
    assert status is not None, "the server started"
    assert status != 0
    assert len(lines) == 1, lines
    assert "petitions.db is damaged (HMAC verification failed for page" in lines[0]
    assert "restore the database" in lines[0]


def test_reads_of_a_damaged_page_answer_503_while_running(tmp_path: Path) -> None:
    """Damage under a running server: no 500, the damaged reads say ``unavailable``."""
    server = start_server(tmp_path)
    try:
        submissions = [server.seal("national") for _ in range(30)]
        ids = []
        for submission in submissions:
            answer = server.client.post("/v1/petitions", submission.body())
            assert answer.status == 201
            ids.append(answer.json["petition_id"])
        time.sleep(1.5)  # the checkpointer copies the WAL into the file
        server.client.post("/v1/petitions", server.seal("national").body())  # restarts the WAL
        time.sleep(1.5)
        damage(server.data_dir / "petitions.db", start=0.05, end=0.9)
        server.client.post("/v1/petitions", server.seal("national").body())  # new WAL: caches go
        statuses = []
        for submission, petition_id in zip(submissions, ids, strict=True):
            key = cjson.b64encode(submission.secret.lookup_key())
            answer = server.client.get(
                f"/v1/petitions/{petition_id}/status", headers={LOOKUP_KEY_HEADER: key}
            )
            statuses.append(answer.status)
            if answer.status == 503:
                assert answer.error_code == "unavailable"
                assert "Retry-After" in answer.headers
        assert 500 not in statuses
        assert 503 in statuses
        assert "Traceback" not in server.log_text()
    finally:
        stop_server(server)


def test_the_writer_stops_acknowledging_once_a_commit_meets_damage(tmp_path: Path) -> None:
    """A commit that meets a damaged page latches the writer: unavailable, readiness not ok."""
    server = start_server(tmp_path)
    stop_server(server)
    config = ServerConfig(data_dir=server.data_dir)
    data = DataDirectory.open_existing(server.data_dir)
    writer = Writer(config, data)
    try:
        committer_meets_damage(writer, data)
    finally:
        writer.close()


def committer_meets_damage(writer: Writer, data: DataDirectory) -> None:
    ok = Job("submit", _submit_header(1), b"envelope")
    writer._commit([ok])
    assert ok.outcome[0]["result"] == "created"
    for number in range(2, 40):
        writer._commit([Job("submit", _submit_header(number), os.urandom(3000))])
    writer._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the file
    damage(data.database_path, start=0.05, end=0.95)
    writer._conn.execute("PRAGMA shrink_memory")
    again = Job("submit", _submit_header(1), b"envelope")  # reads the damaged rows
    writer._commit([again])
    assert again.outcome[0]["result"] == "unavailable"
    assert writer.damaged
    later = Job("submit", _submit_header(99), b"envelope")
    writer._commit([later])
    assert later.outcome[0]["result"] == "unavailable"


def _submit_header(number: int) -> dict[str, str]:
    return {
        "op": "submit",
        "petition_id": f"{number:032x}",
        "bureau_id": "national",
        "envelope_hash": f"{number:064x}",
        "lookup_key_hash": f"{number:064x}",
    }


def test_readiness_is_503_when_the_disk_is_nearly_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the free-space floor readiness is 503 (the floor is raised, not the disk filled)."""
    server = start_server(tmp_path)
    stop_server(server)
    config = ServerConfig(data_dir=server.data_dir)
    writer = Writer(config, DataDirectory.open_existing(server.data_dir))
    ready = threading.Event()
    thread = threading.Thread(target=writer.serve, args=(ready.set,), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        client: FlaskClient = create_app(config).test_client()
        assert client.get("/v1/admin/readiness").status_code == 200
        monkeypatch.setattr(store_guard, "DISK_FLOOR_BYTES", 1 << 62)
        answer = client.get("/v1/admin/readiness")
        assert answer.status_code == 503
        assert answer.json is not None
        assert answer.json["error"]["code"] == "unavailable"
        assert "disk" in answer.json["error"]["message"]
    finally:
        services_of(client).writer.close()
        writer.stop()
        thread.join(timeout=10)


def services_of(client: FlaskClient) -> Services:
    found: Services = client.application.extensions[EXTENSION_NAME]
    return found
