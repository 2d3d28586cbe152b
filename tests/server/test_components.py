"""Server components that a live server cannot show on demand: ordering, limits, refusals."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from server.config import ServerConfig
from server.errors import DataDirectoryError
from server.privatelog import scrub
from server.writer import Job, integration_order, next_tick


def submission(number: int) -> Job:
    return Job("submit", {"op": "submit", "petition_id": f"{number:032x}"}, b"")


def event(petition: int, sequence: int) -> Job:
    header = {"op": "event", "petition_id": f"{petition:032x}", "sequence": sequence}
    return Job("event", header, b"")


def test_a_batch_gets_its_leaves_in_shuffled_order_not_arrival_order() -> None:
    """Issue 14: a petitioner who knows when they submitted cannot find their leaf by order."""
    batch = [submission(n) for n in range(20)]
    orders = [integration_order(batch, random.Random(seed)) for seed in range(50)]
    assert all(sorted(map(id, order)) == sorted(map(id, batch)) for order in orders)
    assert sum(order == batch for order in orders) == 0  # 1 in 20! by chance
    first_places = {order[0].header["petition_id"] for order in orders}
    assert len(first_places) > 10  # every job can come first, not only the earliest
    # Deterministic for a given generator (the writer's is secrets.SystemRandom).
    assert integration_order(batch, random.Random(7)) == integration_order(batch, random.Random(7))
    assert integration_order(batch, random.Random(7)) is not batch  # the batch itself stays


def test_events_of_one_petition_keep_their_order_among_the_shuffled_batch() -> None:
    """Each event is judged on the history before it (and its reply on the next sequence)."""
    batch = [
        event(1, 0), submission(2), event(1, 1), submission(3), event(4, 0), event(1, 2),
        submission(5), event(4, 1),
    ]  # fmt: skip
    moved = 0
    for seed in range(100):
        order = integration_order(batch, random.Random(seed))
        for petition in (1, 4):
            sequences = [
                job.header["sequence"]
                for job in order
                if job.op == "event" and job.header["petition_id"] == f"{petition:032x}"
            ]
            assert sequences == sorted(sequences)
        moved += order != batch
    assert moved >= 95


def test_commits_start_on_a_fixed_schedule() -> None:
    assert next_tick(10.2, 1.0) == 11.0
    assert next_tick(11.0, 1.0) == 12.0  # strictly after: a commit never starts early
    assert next_tick(0.1, 0.25) == 0.25
    assert next_tick(123.456, 5.0) == 125.0


def test_the_batch_interval_is_bounded(tmp_path: Path) -> None:
    assert ServerConfig(data_dir=tmp_path, batch_interval_seconds=2.5).batch_interval_seconds == 2.5
    for wrong in (-1.0, 10.5):
        with pytest.raises(DataDirectoryError, match="batch interval"):
            ServerConfig(data_dir=tmp_path, batch_interval_seconds=wrong)
    config = ServerConfig(data_dir=tmp_path, batch_interval_seconds=0.5)
    assert ServerConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("line", "leak"),
    [
        ("Invalid request from ip=203.0.113.9: bad", "203.0.113.9"),
        ("Invalid request from ip=2001:db8::1: bad", "2001:db8::1"),
        ("Error handling request /v1/petitions/0123456789abcdef0123456789abcdef/status", "0123"),
        ("petition 0123456789abcdef0123456789abcdef failed", "0123456789abcdef"),
    ],
)
def test_log_lines_lose_addresses_paths_and_ids(line: str, leak: str) -> None:
    assert leak not in scrub(line)
