"""The witness directory, its state and the protocol checks, in-process; and the CLI around them.

The race test drives :class:`server.witness.app.Witness` from threads with a clock that sleeps
inside the transaction: if the check and the update were not one transaction, both submissions
would pass the check and the later write would roll the tree back.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto import note
from crypto.cosignature import Cosigner
from crypto.witness_wire import AddCheckpoint
from server.errors import DataDirectoryError
from server.witness.app import Refusal, Witness
from server.witness.store import AlreadyTrusted, WitnessDirectory, WitnessStore
from tests.witness.conftest import FakeLog, init_witness, witness_command


def _witness(
    tmp_path: Path, clock: Callable[[], float] = time.time
) -> tuple[Witness, WitnessDirectory]:
    directory = WitnessDirectory.create(tmp_path / "w", "witness.example.org/w1")
    return Witness(directory.cosigner(), directory.store(), clock), directory


def test_init_creates_an_owner_only_directory_key_and_state(tmp_path: Path) -> None:
    verifier = init_witness(tmp_path / "w", "witness.example.org/w7")
    data = tmp_path / "w"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    key = data / "witness.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    cosigner = Cosigner.from_skey(key.read_text().strip())
    assert cosigner.verifier() == verifier
    assert verifier.name == "witness.example.org/w7"
    printed = witness_command("vkey", "--data", str(data))
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == verifier.to_vkey()
    with sqlite3.connect(data / "state.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_init_refuses_an_existing_witness_and_a_foreign_directory(tmp_path: Path) -> None:
    init_witness(tmp_path / "w")
    key_before = (tmp_path / "w" / "witness.key").read_bytes()
    again = witness_command("init", "--data", str(tmp_path / "w"), "--name", "other.example/w")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"petition: error: {tmp_path / 'w'} is a witness directory already"
    ]
    assert (tmp_path / "w" / "witness.key").read_bytes() == key_before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = witness_command("init", "--data", str(foreign), "--name", "w.example/w")
    assert refused.returncode == 1
    assert "not empty" in refused.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_a_name_that_is_not_a_key_name_is_one_line(tmp_path: Path) -> None:
    result = witness_command("init", "--data", str(tmp_path / "w"), "--name", "has space")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "w").exists()


def test_add_log_and_logs_through_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "w"
    init_witness(data)
    log = FakeLog.new("example.org/petition-log")
    added = witness_command("add-log", "--data", str(data), log.verifier.to_vkey())
    assert added.returncode == 0, added.stderr
    assert "example.org/petition-log" in added.stdout
    duplicate = witness_command("add-log", "--data", str(data), log.verifier.to_vkey())
    assert duplicate.returncode == 1
    assert "trusted already" in duplicate.stderr
    witness_key = Cosigner.generate("w.example/x").verifier().to_vkey()
    wrong_type = witness_command("add-log", "--data", str(data), witness_key)
    assert wrong_type.returncode == 1
    assert len(wrong_type.stderr.strip().splitlines()) == 1
    assert "not a signed-note vkey" in wrong_type.stderr
    other = FakeLog.new("example.org/other-log")
    directory = WitnessDirectory.open(data)
    directory.store().add_log(other.verifier)
    Witness(directory.cosigner(), directory.store()).add_checkpoint(log.body(0, 5))
    listed = witness_command("logs", "--data", str(data)).stdout.splitlines()
    assert listed == [
        "example.org/other-log  cosigned size: nothing cosigned yet",
        f"  {other.verifier.to_vkey()}",
        "example.org/petition-log  cosigned size: 5",
        f"  {log.verifier.to_vkey()}",
    ]


def test_commands_refuse_a_directory_that_is_not_a_witness(tmp_path: Path) -> None:
    result = witness_command("logs", "--data", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"petition: error: {tmp_path / 'nothing'} is not a witness directory "
        "(create one with `petition witness init`)"
    ]


def test_a_store_refuses_a_duplicate_key_and_keeps_several_keys_per_origin(
    tmp_path: Path,
) -> None:
    _, directory = _witness(tmp_path)
    store = directory.store()
    first = note.Signer.generate("example.org/log")
    rotated = note.Signer.generate("example.org/log")
    store.add_log(first.verifier())
    with pytest.raises(AlreadyTrusted):
        store.add_log(first.verifier())
    store.add_log(rotated.verifier())
    assert set(store.verifiers("example.org/log")) == {first.verifier(), rotated.verifier()}
    assert store.verifiers("example.org/other") == ()


def test_a_missing_state_file_is_an_error_not_a_new_witness(tmp_path: Path) -> None:
    _, directory = _witness(tmp_path)
    directory.state_path.unlink()
    with pytest.raises(Exception, match="cannot"):
        WitnessDirectory.open(directory.path)
    assert not directory.state_path.exists()


def test_a_loose_key_file_is_refused(tmp_path: Path) -> None:
    _, directory = _witness(tmp_path)
    directory.key_path.chmod(0o644)
    with pytest.raises(DataDirectoryError, match="accessible by other users"):
        directory.cosigner()


def test_the_stored_note_keeps_only_the_signatures_the_witness_verified(tmp_path: Path) -> None:
    witness, directory = _witness(tmp_path)
    log = FakeLog.new()
    directory.store().add_log(log.verifier)
    stranger = note.Signer.generate("someone.example/else")
    other_witness = Cosigner.generate("other-witness.example/w")
    signed = note.add_signatures(log.checkpoint(3), [stranger])
    signed += other_witness.cosign(log.text(3), int(time.time())).encode()
    witness.add_checkpoint(AddCheckpoint(0, (), signed).encode())
    latest = directory.store().latest(log.origin)
    assert latest is not None
    assert latest.checkpoint == log.checkpoint(3)  # Ed25519 is deterministic: same bytes
    assert latest.size == 3
    assert latest.root == log.root(3)


def test_two_racing_submissions_never_roll_the_tree_back(tmp_path: Path) -> None:
    """Each thread's clock (read inside the transaction) sleeps: without one transaction both
    would pass the old-size check, and the second write could store the smaller tree."""

    def slow_clock() -> float:
        time.sleep(0.05)
        return time.time()

    witness, directory = _witness(tmp_path, slow_clock)
    log = FakeLog.new()
    directory.store().add_log(log.verifier)
    witness.add_checkpoint(log.body(0, 4))
    base = 4
    for round_number in range(4):
        sizes = (base + 3, base + 9)
        outcomes: dict[int, int] = {}

        def submit(size: int, base: int = base, outcomes: dict[int, int] = outcomes) -> None:
            try:
                witness.add_checkpoint(log.body(base, size))
                outcomes[size] = 200
            except Refusal as refusal:
                outcomes[size] = refusal.status

        threads = [threading.Thread(target=submit, args=(size,)) for size in sizes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes.values()) == [200, 409], (round_number, outcomes)
        winner = next(size for size, status in outcomes.items() if status == 200)
        latest = directory.store().latest(log.origin)
        assert latest is not None
        assert latest.size == winner
        base = winner


def test_refusals_in_process(tmp_path: Path) -> None:
    witness, directory = _witness(tmp_path)
    log = FakeLog.new()
    directory.store().add_log(log.verifier)
    witness.add_checkpoint(log.body(0, 10))
    cases = [
        (log.body(10, 5), 400),  # old > size: a rollback asked for
        (log.body(5, 8), 409),
        (log.body(10, 10), 200),
        (log.body(10, 12, proof=log.prove(9, 12)), 422),
    ]
    for body, status in cases:
        try:
            witness.add_checkpoint(body)
            got = 200
        except Refusal as refusal:
            got = refusal.status
        assert got == status, body
    latest = WitnessStore(directory.state_path).latest(log.origin)
    assert latest is not None
    assert latest.size == 10
