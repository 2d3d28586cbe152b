"""A full writer queue answers 503 with Retry-After at once, and nothing is acknowledged early.

The writer is stalled the way a slow disk would stall it: another connection holds the
database's write lock, so the writer's commit waits. With a queue of one, the first submission
is being committed, the second waits in the queue, and the rest must be refused immediately.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlcipher3
from harness import Answer, RunningServer, Submission, start_server, stop_server

from crypto import cjson


@pytest.fixture(scope="module")
def small_queue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("backpressure"), extra=("--queue-capacity", "1"))
    try:
        yield server
    finally:
        stop_server(server)


def _lock_database(data_dir: Path) -> sqlcipher3.Connection:
    key = (data_dir / "db.key").read_text().strip()
    conn = sqlcipher3.connect(str(data_dir / "petitions.db"), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key}'\"")
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_full_queue_sheds_load_with_503_and_keeps_serving(small_queue: RunningServer) -> None:
    submissions = [small_queue.seal("national") for _ in range(8)]
    answers: dict[int, Answer] = {}

    def send(position: int, submission: Submission) -> None:
        answers[position] = small_queue.client.post("/v1/petitions", submission.body())

    lock = _lock_database(small_queue.data_dir)
    threads = [
        threading.Thread(target=send, args=(position, submission))
        for position, submission in enumerate(submissions)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(2.0)
    shed = dict(answers)
    # While the writer cannot commit, nothing may be acknowledged...
    assert all(answer.status == 503 for answer in shed.values())
    # ...the excess is refused at once, with advice on when to come back...
    assert len(shed) >= len(submissions) - 2
    for answer in shed.values():
        assert answer.error_code == "busy"
        assert int(answer.headers["Retry-After"]) >= 1
    # ...and the server keeps answering everything else.
    assert small_queue.client.get("/healthz").status == 200
    assert small_queue.client.get("/v1/directory").status == 200
    lock.execute("ROLLBACK")
    lock.close()
    for thread in threads:
        thread.join(timeout=30)
    assert time.monotonic() - started < 30
    waited = {position: answers[position] for position in answers if position not in shed}
    assert waited
    assert all(answer.status == 201 for answer in waited.values())

    # The petitioners who were turned away send the same envelope again and are stored once.
    for position in shed:
        again = small_queue.client.post("/v1/petitions", submissions[position].body())
        assert again.status == 201, again.raw
    for submission in submissions:
        body = small_queue.client.post("/v1/petitions", submission.body())
        assert body.status == 200
        status = small_queue.client.get(
            f"/v1/petitions/{body.json['petition_id']}/status",
            headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
        )
        assert status.json["status"] == "received"
