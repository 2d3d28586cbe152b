"""``petition witness serve`` over HTTP: every status of c2sp.org/tlog-witness add-checkpoint.

One witness process serves the module; each test feeds it its own log (origin), so the tests
do not depend on each other's state. Cosignatures are checked with crypto.cosignature (no Go).
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path

from harness import free_port

from crypto import note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import CosignatureVerifier
from crypto.merkle import EMPTY_ROOT
from crypto.witness_wire import parse_cosignatures
from tests.witness.conftest import (
    FakeLog,
    RunningWitness,
    init_witness,
    raw_body,
    start_witness,
    stop_witness,
    witness_command,
)

TEXT = "text/plain; charset=utf-8"


def _assert_cosigns(
    verifier: CosignatureVerifier, log: FakeLog, size: int, body: bytes
) -> list[str]:
    lines = parse_cosignatures(body)
    assert len(lines) == 1
    signature = note.parse_signature_line(lines[0][:-1])
    assert (signature.name, signature.key_id) == (verifier.name, verifier.key_id)
    text = log.text(size).encode()
    verifier.verify(text, signature.signature)
    assert abs(verifier.timestamp(signature.signature) - time.time()) < 60
    # The whole cosigned note opens with the log's key and the witness's key together.
    opened = note.open_note(log.checkpoint(size) + lines[0].encode(), [log.verifier, verifier])
    assert {v.name for v in opened.verified_by} == {log.origin, verifier.name}
    return lines


def test_first_contact_then_growth_with_proofs(witness: RunningWitness) -> None:
    log = witness.new_log()
    first = witness.add(log.body(0, 5))
    assert first.status == 200, first.text
    assert first.content_type == TEXT
    _assert_cosigns(witness.verifier, log, 5, first.body)
    for old, new in [(5, 8), (8, 16), (16, 17), (17, 100)]:
        answer = witness.add(log.body(old, new))
        assert answer.status == 200, (old, new, answer.text)
        _assert_cosigns(witness.verifier, log, new, answer.body)


def test_the_same_checkpoint_is_cosigned_again(witness: RunningWitness) -> None:
    log = witness.new_log()
    assert witness.add(log.body(0, 7)).status == 200
    again = witness.add(log.body(7, 7))
    assert again.status == 200, again.text
    _assert_cosigns(witness.verifier, log, 7, again.body)
    assert witness.add(log.body(7, 9)).status == 200  # still at 7 before this


def test_a_log_may_start_empty(witness: RunningWitness) -> None:
    log = witness.new_log()
    assert witness.add(log.body(0, 0)).status == 200
    assert witness.add(log.body(0, 3)).status == 200


def test_unknown_origin_is_404(witness: RunningWitness) -> None:
    stranger = FakeLog.new()
    answer = witness.add(stranger.body(0, 3))
    assert answer.status == 404
    assert answer.content_type == TEXT
    assert answer.text.count("\n") == 1


def test_no_trusted_signature_is_403(witness: RunningWitness) -> None:
    log = witness.new_log()
    impostor = FakeLog(note.Signer.generate(log.origin))  # same name, another key
    answer = witness.add(impostor.body(0, 3))
    assert answer.status == 403, answer.text
    assert "no signature by a known key" in answer.text


def test_a_bad_signature_by_the_trusted_key_is_403(witness: RunningWitness) -> None:
    log = witness.new_log()
    signed = log.checkpoint(3)
    text, signatures = note.split(signed)
    (signature,) = signatures
    blob = signature.key_id.to_bytes(4, "big") + bytes(64)  # right name and ID, wrong bytes
    forged = f"{text}\n— {signature.name} {note.encode_base64(blob)}\n".encode()
    answer = witness.add(raw_body(0, [], forged))
    assert answer.status == 403, answer.text
    assert "does not verify" in answer.text
    assert witness.latest(log).status == 404  # nothing stored


def test_unknown_signatures_are_ignored_and_not_served(witness: RunningWitness) -> None:
    log = witness.new_log()
    stranger = note.Signer.generate("stranger.example/key")
    signed = note.add_signatures(log.checkpoint(4), [stranger])
    assert witness.add(raw_body(0, [], signed)).status == 200
    served = witness.latest(log)
    assert served.status == 200
    assert b"stranger.example" not in served.body


def test_malformed_bodies_are_400_never_500(witness: RunningWitness) -> None:
    log = witness.new_log()
    signed = log.checkpoint(3)
    bodies = [
        b"",
        b"garbage",
        b"old 0\n" + signed,  # no empty line
        raw_body("00", [], signed),  # leading zero
        raw_body("-1", [], signed),
        raw_body(0, [b"short"], signed),
        b"old 0\n\nnot a note\n",
        b"old 0\n\n" + signed.replace(b"\n\n", b"\n"),
        raw_body(0, [bytes(32)] * 64, signed),  # more than 63 proof lines
        b"old 0\n\n\xff\xfe\n\n",
        bytes(range(256)) * 4,
    ]
    for body in bodies:
        answer = witness.add(body)
        assert answer.status == 400, (body[:40], answer.status, answer.text)
        assert answer.content_type == TEXT
        assert "Traceback" not in answer.text
        assert answer.text.endswith("\n")
        assert answer.text.count("\n") == 1


def test_old_size_larger_than_the_checkpoint_is_400(witness: RunningWitness) -> None:
    log = witness.new_log()
    assert witness.add(log.body(0, 10)).status == 200
    answer = witness.add(log.body(10, 6))  # a rollback, asked for openly
    assert answer.status == 400
    assert witness.latest(log).body.startswith(log.checkpoint(10).split(b"\n\n")[0])


def test_a_stale_old_size_is_409_with_the_witness_size(witness: RunningWitness) -> None:
    log = witness.new_log()
    assert witness.add(log.body(0, 10)).status == 200
    for body in (log.body(0, 12), log.body(4, 12), log.body(4, 6)):
        answer = witness.add(body)
        assert answer.status == 409
        assert answer.content_type == "text/x.tlog.size"
        assert answer.body == b"10\n"
    latest = witness.latest(log)
    assert Checkpoint.from_text(note.split(latest.body)[0]).size == 10


def test_inconsistent_checkpoints_are_422(witness: RunningWitness) -> None:
    log = witness.new_log()
    assert witness.add(log.body(0, 10)).status == 200
    fork = FakeLog(log.signer, list(log.leaves[:6]))  # same key, history diverging at leaf 6
    fork.grow(12)
    cases = {
        "bad proof": log.body(10, 12, proof=log.prove(9, 12)),
        "fork, proved by the fork": fork.body(10, 12, proof=fork.prove(10, 12)),
        "same size, other root": fork.body(10, 10),
        "wrong proof length": log.body(10, 12, proof=log.prove(10, 12)[:-1]),
    }
    for case, body in cases.items():
        answer = witness.add(body)
        assert answer.status == 422, (case, answer.text)
        assert answer.content_type == TEXT
    assert "inconsistent with the cosigned size 10" in witness.log_text()
    other = witness.new_log()
    nonempty_from_zero = raw_body(0, [bytes(32)], other.checkpoint(5))
    assert witness.add(nonempty_from_zero).status == 422
    empty_with_root = other.checkpoint(0, root=hashlib.sha256(b"x").digest())
    assert witness.add(raw_body(0, [], empty_with_root)).status == 422
    assert witness.add(raw_body(0, [], other.checkpoint(0, root=EMPTY_ROOT))).status == 200


def test_racing_submissions_never_roll_back(witness: RunningWitness) -> None:
    """Sizes N and N+K from the same old size at once, many rounds: one wins, the other gets
    409, and the stored size is always the winner's."""
    log = witness.new_log()
    assert witness.add(log.body(0, 2)).status == 200
    current = 2
    log.grow(current + 20 * 12)
    for _ in range(20):
        small, large = current + 3, current + 12
        bodies = {size: log.body(current, size) for size in (small, large)}
        statuses: dict[int, int] = {}
        barrier = threading.Barrier(2)

        def send(
            size: int,
            bodies: dict[int, bytes] = bodies,
            statuses: dict[int, int] = statuses,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            statuses[size] = witness.add(bodies[size]).status

        threads = [threading.Thread(target=send, args=(size,)) for size in (large, small)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses.values()) == [200, 409], statuses
        winner = max(size for size, status in statuses.items() if status == 200)
        served = witness.latest(log)
        assert Checkpoint.from_text(note.split(served.body)[0]).size == winner
        current = winner


def test_monitoring_serves_the_latest_checkpoint_freshly_cosigned(
    witness: RunningWitness,
) -> None:
    log = witness.new_log()
    assert witness.latest(log).status == 404
    assert witness.add(log.body(0, 6)).status == 200
    served = witness.latest(log)
    assert served.status == 200
    assert served.content_type == TEXT
    opened = note.open_note(served.body, [log.verifier, witness.verifier])
    assert len(opened.verified_by) == 2
    assert opened.text == log.text(6)
    assert served.body.startswith(log.checkpoint(6))
    for path in ("/" + "A" * 64 + "/checkpoint", "/abc/checkpoint", "/add-checkpoint/x"):
        answer = witness.request("GET", path)
        assert answer.status == 404
        assert answer.content_type == TEXT


def test_wrong_methods_and_large_bodies_are_short_text(witness: RunningWitness) -> None:
    log = witness.new_log()
    wrong = witness.request("GET", "/add-checkpoint")
    assert wrong.status == 405
    assert wrong.content_type == TEXT
    assert b"<" not in wrong.body
    large = witness.add(log.body(0, 3) + b"x" * (100 * 1024))
    assert large.status == 413
    assert large.content_type == TEXT
    assert witness.latest(log).status == 404


def test_a_log_added_while_serving_is_trusted_at_once(witness: RunningWitness) -> None:
    log = FakeLog.new()
    assert witness.add(log.body(0, 2)).status == 404
    added = witness_command("add-log", "--data", str(witness.data), log.verifier.to_vkey())
    assert added.returncode == 0, added.stderr
    assert witness.add(log.body(0, 2)).status == 200


def test_no_access_log_and_no_addresses(witness: RunningWitness) -> None:
    log = witness.new_log()
    witness.add(log.body(0, 1))
    witness.add(b"garbage")
    output = witness.log_text()
    assert "listening on http://127.0.0.1:" in output
    assert "POST" not in output
    assert "GET" not in output
    assert output.count("127.0.0.1") == 1  # the announcement, nothing per request


def test_state_survives_a_restart_and_sigterm_exits_0(tmp_path: Path) -> None:
    verifier = init_witness(tmp_path / "w")
    first = start_witness(tmp_path / "w", verifier, tmp_path / "first.out")
    try:
        log = first.new_log()
        assert first.add(log.body(0, 9)).status == 200
    finally:
        assert stop_witness(first) == 0
    second = start_witness(tmp_path / "w", verifier, tmp_path / "second.out")
    try:
        assert second.latest(log).body.startswith(log.checkpoint(9))
        assert second.add(log.body(0, 12)).body == b"9\n"
        assert second.add(log.body(9, 12)).status == 200
    finally:
        assert stop_witness(second) == 0


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    init_witness(tmp_path / "w")
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = witness_command("serve", "--data", str(tmp_path / "w"), "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"petition: error: cannot listen on 127.0.0.1:{port}: the port is in use (another "
        "server is running there; stop it or choose another --port)"
    ]
