"""Killing the whole server with SIGKILL loses nothing it acknowledged.

Submissions run in several threads while the server (master, workers and writer) is killed at
once. After a restart on the same data directory, every petition that got a 201 is there, its
receipt's entry is proved in the new checkpoint, that checkpoint is consistent with every
checkpoint handed out (in a receipt) before the crash, and the server takes new petitions again.

Both stores: the SQLCipher file in the data directory, and a PostgreSQL database (a fresh one in
the suite's cluster; only the server is killed here, never PostgreSQL).
"""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import pytest
from harness import (
    RunningServer,
    Submission,
    kill_server,
    launch,
    open_submission_receipt,
    start_server,
    stop_server,
)

from crypto import cjson, merkle
from crypto.checkpoint import Checkpoint
from crypto.log_receipt import VerifiedReceipt
from tests.server.conftest import store_options

#: Kills, stops or starves real processes: slow; CI runs it (README, Tests).
pytestmark = pytest.mark.fault

#: Run against the SQLCipher store and against PostgreSQL (tests/server/conftest.py).
BOTH_STORES = True


def _head(server: RunningServer) -> Checkpoint:
    return server.checkpoint()


def test_nothing_acknowledged_is_lost_when_the_server_is_killed(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    extra = store_options(store, request)
    server = start_server(tmp_path, extra=extra)
    acknowledged: list[tuple[Submission, VerifiedReceipt]] = []
    lock = threading.Lock()
    stop = threading.Event()
    directory = server.directory()

    def submit_until_killed() -> None:
        while not stop.is_set():
            submission = server.seal("national")
            try:
                answer = server.client.post("/v1/petitions", submission.body())
            except (OSError, http.client.HTTPException):
                # The connection died with the server, before the status line (RemoteDisconnected,
                # an OSError) or inside the body (IncompleteRead): not acknowledged either way.
                return
            if answer.status == 201:
                receipt = open_submission_receipt(
                    answer.json["receipt"], directory, petition_id=answer.json["petition_id"]
                )
                with lock:
                    acknowledged.append((submission, receipt))

    threads = [threading.Thread(target=submit_until_killed) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        kill_server(server)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert len(acknowledged) > 10
        heads_before = {r.checkpoint for _, r in acknowledged}

        process, client, _ = launch(server.data_dir, server.log_path, extra=extra)
        server.process, server.client = process, client
        head = _head(server)
        for old in heads_before:
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
        for submission, receipt in acknowledged:
            petition_id = receipt.entry.petition_id
            status = client.get(
                f"/v1/petitions/{petition_id}/status",
                headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
            )
            assert status.status == 200, petition_id
            proof = client.get(
                f"/v1/log/proof/inclusion?index={receipt.index}&tree_size={head.size}"
            ).json["proof"]
            merkle.verify_inclusion(
                merkle.leaf_hash(receipt.entry.leaf()),
                receipt.index,
                head.size,
                [cjson.b64decode(p) for p in proof],
                head.root_hash,
            )
        assert client.post("/v1/petitions", server.seal("guangdong").body()).status == 201
    finally:
        stop.set()
        stop_server(server)


def test_a_clean_stop_and_restart_keeps_the_log(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    extra = store_options(store, request)
    server = start_server(tmp_path, extra=extra)
    try:
        for _ in range(3):
            assert server.client.post("/v1/petitions", server.seal("national").body()).status == 201
        before = _head(server)
        stop_server(server)
        process, client, _ = launch(server.data_dir, server.log_path, extra=extra)
        server.process, server.client = process, client
        after = _head(server)
        assert after == before  # the same checkpoint text (origin, size, root)
        assert "Traceback" not in server.log_text()
    finally:
        stop_server(server)
