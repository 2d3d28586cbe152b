"""Killing the whole server with SIGKILL loses nothing it acknowledged.

Submissions run in several threads while the server (master, workers and writer) is killed at
once. After a restart on the same data directory, every petition that got a 201 is there, its
receipt's inclusion proof verifies against the new head, that head is consistent with every
head handed out before the crash, and the server takes new petitions again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness import RunningServer, Submission, kill_server, launch, start_server, stop_server

from crypto import cjson, merkle
from crypto.labels import SignedKind
from crypto.objects import Directory, Receipt, TreeHead
from crypto.signing import SignedObject


def _head(server: RunningServer) -> TreeHead:
    key = Directory.from_json(
        SignedObject.decode(server.client.get("/v1/directory").raw, SignedKind.DIRECTORY).body
    ).log_key
    wire = server.client.get("/v1/log/head").json
    return TreeHead.from_json(SignedObject.from_json(wire, SignedKind.TREE_HEAD).verify(key))


def test_nothing_acknowledged_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    acknowledged: list[tuple[Submission, Receipt]] = []
    lock = threading.Lock()
    stop = threading.Event()
    key = Directory.from_json(
        SignedObject.decode(server.client.get("/v1/directory").raw, SignedKind.DIRECTORY).body
    ).log_key

    def submit_until_killed() -> None:
        while not stop.is_set():
            submission = server.seal("national")
            try:
                answer = server.client.post("/v1/petitions", submission.body())
            except OSError:
                return  # the connection died with the server: not acknowledged
            if answer.status == 201:
                signed = SignedObject.from_json(answer.json["receipt"], SignedKind.RECEIPT)
                with lock:
                    acknowledged.append((submission, Receipt.from_json(signed.verify(key))))

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
        heads_before = [TreeHead.from_json(r.tree_head.body) for _, r in acknowledged]

        process, client, _ = launch(server.data_dir, server.log_path)
        server.process, server.client = process, client
        head = _head(server)
        for old in heads_before:
            proof = client.get(
                f"/v1/log/proof/consistency?first={old.tree_size}&second={head.tree_size}"
            ).json["proof"]
            merkle.verify_consistency(
                old.tree_size,
                head.tree_size,
                old.root_hash,
                head.root_hash,
                [cjson.b64decode(p) for p in proof],
            )
        for submission, receipt in acknowledged:
            status = client.get(
                f"/v1/petitions/{receipt.petition_id}/status",
                headers={"Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key())},
            )
            assert status.status == 200, receipt.petition_id
            proof = client.get(
                f"/v1/log/proof/inclusion?index={receipt.leaf_index}&tree_size={head.tree_size}"
            ).json["proof"]
            merkle.verify_inclusion(
                merkle.leaf_hash(receipt.submission_entry().leaf()),
                receipt.leaf_index,
                head.tree_size,
                [cjson.b64decode(p) for p in proof],
                head.root_hash,
            )
        assert client.post("/v1/petitions", server.seal("guangdong").body()).status == 201
    finally:
        stop.set()
        stop_server(server)


def test_a_clean_stop_and_restart_keeps_the_log(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        for _ in range(3):
            assert server.client.post("/v1/petitions", server.seal("national").body()).status == 201
        before = _head(server)
        stop_server(server)
        process, client, _ = launch(server.data_dir, server.log_path)
        server.process, server.client = process, client
        after = _head(server)
        assert (after.tree_size, after.root_hash) == (before.tree_size, before.root_hash)
        assert "Traceback" not in server.log_text()
    finally:
        stop_server(server)
