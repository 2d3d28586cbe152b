"""The log does not show when, or in which order, petitions arrived (issue 14, item 3).

A server started with ``--batch-interval`` commits only on a fixed schedule: petitions sent
within one interval become leaves of one batch, placed in random order, and the published
checkpoint does not move until the interval ends. The log signs one checkpoint per batch: every
receipt of a batch carries that same checkpoint and no signature of its own. (The ordering
function itself is unit-tested with fixed seeds in test_components.py; here the real writer
shows it end to end.)

The assertions about time hold whatever the machine's load: what happened before the tick is
only asserted about if the test could observe it before the tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from harness import Answer, RunningServer, checkpoint_size, start_server, stop_server

from crypto import note
from crypto.tlog_proof import TlogProof
from server.writer import next_tick

INTERVAL = 2.0
THREADS = 16  # per worker: the whole burst and the test's own head requests get a thread
BURST = 14
SPACING = 0.04  # seconds between two sends: the arrival order is the send order


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(
        tmp_path_factory.mktemp("batching"),
        extra=("--batch-interval", str(INTERVAL), "--threads", str(THREADS)),
    )
    try:
        yield server
    finally:
        stop_server(server)


def _tree_size(server: RunningServer) -> int:
    return checkpoint_size(server.client)


def test_a_burst_is_committed_on_the_schedule_in_shuffled_order(
    scheduled: RunningServer,
) -> None:
    submissions = [scheduled.seal("national") for _ in range(BURST)]
    answers: dict[int, Answer] = {}

    def send(position: int) -> None:
        answers[position] = scheduled.client.post("/v1/petitions", submissions[position].body())

    # Start just after a tick of the writer's schedule (CLOCK_MONOTONIC is system-wide), so
    # that the whole burst falls within one interval unless the machine is very slow.
    tick = next_tick(time.monotonic(), INTERVAL)
    time.sleep(max(0.0, tick - time.monotonic()) + 0.05)
    size_before = _tree_size(scheduled)
    threads = [threading.Thread(target=send, args=(n,)) for n in range(BURST)]
    for thread in threads:
        thread.start()
        time.sleep(SPACING)
    answered_early = len(answers)
    size_seen = _tree_size(scheduled)
    if time.monotonic() < tick + INTERVAL - 0.05:
        # Everything has arrived, nothing is answered, and the head has not moved: polling it
        # dates nobody's petition more finely than the interval.
        assert (answered_early, size_seen) == (0, size_before)
    for thread in threads:
        thread.join()

    assert all(answer.status == 201 for answer in answers.values()), answers
    receipts = [scheduled.receipt(answers[n].json["receipt"]) for n in range(BURST)]
    leaves = [receipt.index for receipt in receipts]
    assert sorted(leaves) == list(range(size_before, size_before + BURST))
    batches: dict[int, list[int]] = {}
    notes: dict[int, set[bytes]] = {}
    for receipt in receipts:  # in arrival order
        batches.setdefault(receipt.checkpoint.size, []).append(receipt.index)
        notes.setdefault(receipt.checkpoint.size, set()).add(receipt.checkpoint_note)
    assert len(batches) <= 2, batches  # one batch, or two if the burst straddled a tick
    # One signature per batch: the receipts of a batch carry the very same signed checkpoint,
    # with the log's one signature on it, and nothing else in a receipt is signed.
    assert all(len(same) == 1 for same in notes.values()), notes
    for n in range(BURST):
        text = answers[n].json["receipt"].encode()
        proof = TlogProof.parse(text)
        _, signatures = note.split(proof.checkpoint)
        assert len(signatures) == 1
        assert text.count("\u2014 ".encode()) == 1  # the checkpoint's line, no other
    # Arrival order is gone (by chance it would survive once in 14!, or 7! * 7! if split).
    assert any(order != sorted(order) for order in batches.values()), batches
