"""Signed notes and checkpoints checked by code this project did not write.

``note_interop.go`` wraps Go's ``golang.org/x/mod/sumdb/note`` (the reference implementation of
signed notes), with a tlog-cosignature (type 0x04) verifier and signer written in Go from the
specification and plugged into that package's interfaces: an independent check of
crypto/cosignature.py. It is built offline from Debian's ``golang-golang-x-mod-dev`` sources by the
``go_build`` fixture (conftest.py); a machine without Go fails these tests rather than skipping
them, because a conformance check that silently disappears proves nothing.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto import checkpoint, note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import Cosigner
from crypto.errors import InvalidSignature

SOURCE = Path(__file__).resolve().parent / "note_interop.go"
TEXT = "Ognuno sta solo sul cuor della terra\n\ned è subito sera — 请愿\n"


@pytest.fixture(scope="module")
def go_note(go_build: Callable[[Path], Path]) -> Path:
    """The Go program, built offline in GOPATH mode against Debian's packaged sources."""
    return go_build(SOURCE)


def _run(
    binary: Path, command: str, keys: list[str], data: bytes
) -> subprocess.CompletedProcess[bytes]:
    argv = [str(binary), command, *keys]
    return subprocess.run(argv, input=data, capture_output=True, check=False)  # noqa: S603


def test_go_opens_a_note_we_sign(go_note: Path) -> None:
    signer = note.Signer.generate("example.org/log")
    result = _run(go_note, "verify", [signer.verifier().to_vkey()], note.sign(TEXT, [signer]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == TEXT


def test_go_opens_a_cosigned_checkpoint_ignoring_the_unknown_witness(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    witness = note.Signer.generate("example.org/witness")
    cp = Checkpoint("example.org/log", 123456, bytes(range(32)), ("extension",))
    message = note.add_signatures(checkpoint.sign(cp, [log]), [witness])
    result = _run(go_note, "verify", [log.verifier().to_vkey()], message)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == cp.to_text()


def test_go_opens_with_every_key_we_name(go_note: Path) -> None:
    signers = [note.Signer.generate(f"example.org/w{i}") for i in range(3)]
    vkeys = [s.verifier().to_vkey() for s in signers]
    assert _run(go_note, "verify", vkeys, note.sign(TEXT, signers)).returncode == 0


def test_go_refuses_a_note_we_sign_then_alter(go_note: Path) -> None:
    """The harness can fail: a changed byte is caught by Go too."""
    signer = note.Signer.generate("example.org/log")
    altered = note.sign(TEXT, [signer]).replace(b"terra", b"Terra")
    result = _run(go_note, "verify", [signer.verifier().to_vkey()], altered)
    assert result.returncode == 1
    assert b"invalid signature" in result.stderr


def test_we_open_a_note_go_signs_with_our_key_string(go_note: Path) -> None:
    signer = note.Signer.generate("example.org/log")
    result = _run(go_note, "sign", [signer.to_skey()], TEXT.encode("utf-8"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == note.sign(TEXT, [signer])  # Ed25519 is deterministic
    opened = note.open_note(result.stdout, [signer.verifier()])
    assert opened.text == TEXT


def test_we_open_a_checkpoint_go_signs(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    cp = Checkpoint("example.org/log", 0, bytes(32))
    result = _run(go_note, "sign", [log.to_skey()], cp.to_text().encode("utf-8"))
    assert result.returncode == 0, result.stderr
    assert checkpoint.open_checkpoint(result.stdout, [log.verifier()])[0] == cp


def test_we_refuse_a_go_signed_note_under_another_key(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    impostor = note.Signer.generate("example.org/log")
    result = _run(go_note, "sign", [impostor.to_skey()], TEXT.encode("utf-8"))
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        note.open_note(result.stdout, [log.verifier()])


# --------------------------------------------------------------------------------------------
# Witness cosignatures (c2sp.org/tlog-cosignature, Ed25519, type 0x04)

COSIGNED_CHECKPOINT = Checkpoint("example.org/log", 987654, bytes(range(32)), ("extension",))
TIME = 1_700_000_000


def _cosigned(log: note.Signer, *witnesses: Cosigner, timestamp: int = TIME) -> bytes:
    text = COSIGNED_CHECKPOINT.to_text()
    lines = "".join(w.cosign(text, timestamp) for w in witnesses)
    return checkpoint.sign(COSIGNED_CHECKPOINT, [log]) + lines.encode("utf-8")


def test_go_verifies_our_cosignatures(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    witnesses = [Cosigner.generate(f"witness.example/w{i}") for i in range(2)]
    vkeys = [log.verifier().to_vkey()] + [w.verifier().to_vkey() for w in witnesses]
    result = _run(go_note, "signers", vkeys, _cosigned(log, *witnesses))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8").splitlines() == [
        "example.org/log",
        "witness.example/w0",
        "witness.example/w1",
    ]


def test_go_ignores_our_cosignature_without_the_witness_key(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    message = _cosigned(log, Cosigner.generate("witness.example/w"))
    result = _run(go_note, "signers", [log.verifier().to_vkey()], message)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"example.org/log\n"


def test_go_refuses_our_cosignature_with_an_altered_timestamp(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    witness = Cosigner.generate("witness.example/w")
    line = witness.cosign(COSIGNED_CHECKPOINT.to_text(), TIME)
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[11] ^= 1  # the last byte of the timestamp
    altered = line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(blob)).decode() + "\n"
    message = checkpoint.sign(COSIGNED_CHECKPOINT, [log]) + altered.encode("utf-8")
    vkeys = [log.verifier().to_vkey(), witness.verifier().to_vkey()]
    result = _run(go_note, "signers", vkeys, message)
    assert result.returncode == 1
    assert b"invalid signature" in result.stderr


def test_go_and_we_both_refuse_a_timestamp_above_2_63(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    witness = Cosigner.generate("witness.example/w")
    text = COSIGNED_CHECKPOINT.to_text().encode("utf-8")
    timestamp = 2**63
    signature = witness.key.sign(b"cosignature/v1\ntime %d\n" % timestamp + text)
    blob = witness.key_id.to_bytes(4, "big") + timestamp.to_bytes(8, "big") + signature
    line = f"— {witness.name} {base64.b64encode(blob).decode()}\n"
    message = checkpoint.sign(COSIGNED_CHECKPOINT, [log]) + line.encode("utf-8")
    verifiers = [log.verifier().to_vkey(), witness.verifier().to_vkey()]
    assert _run(go_note, "signers", verifiers, message).returncode == 1
    with pytest.raises(InvalidSignature, match="2\\^63-1"):
        note.open_note(message, [log.verifier(), witness.verifier()])


def test_we_verify_cosignatures_go_makes_with_our_key_string(go_note: Path) -> None:
    log = note.Signer.generate("example.org/log")
    witness = Cosigner.generate("witness.example/w")
    signed = checkpoint.sign(COSIGNED_CHECKPOINT, [log])
    result = _run(go_note, "cosign", [str(TIME), witness.to_skey()], signed)
    assert result.returncode == 0, result.stderr
    assert result.stdout == _cosigned(log, witness)  # Ed25519 is deterministic
    opened = note.open_note(result.stdout, [log.verifier(), witness.verifier()])
    assert opened.verified_by == (log.verifier(), witness.verifier())
    assert witness.verifier().timestamp(_signature_by(result.stdout, witness)) == TIME


def _signature_by(message: bytes, witness: Cosigner) -> bytes:
    _text, signatures = note.split(message)
    return next(s.signature for s in signatures if s.key_id == witness.key_id)
