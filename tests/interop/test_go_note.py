"""Signed notes and checkpoints checked by code this project did not write.

``note_interop.go`` wraps Go's ``golang.org/x/mod/sumdb/note`` (the reference implementation of
signed notes). It is built here, offline, from Debian's ``golang-golang-x-mod-dev`` sources; a
machine without Go fails these tests rather than skipping them, because a conformance check that
silently disappears proves nothing (``./dev.sh test`` installs Go).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from crypto import checkpoint, note
from crypto.checkpoint import Checkpoint
from crypto.errors import InvalidSignature

SOURCE = Path(__file__).resolve().parent / "note_interop.go"
GO_NOTE = Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/note")
TEXT = "Ognuno sta solo sul cuor della terra\n\ned è subito sera — 请愿\n"


@pytest.fixture(scope="module")
def go_note(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go program, built offline in GOPATH mode against Debian's packaged sources."""
    go = shutil.which("go")
    if go is None or not GO_NOTE.is_dir():
        pytest.fail("the interop tests need: apt-get install golang-go golang-golang-x-mod-dev")
    build = tmp_path_factory.mktemp("go")
    env = os.environ | {
        "GO111MODULE": "off",
        "GOPATH": "/usr/share/gocode",
        "GOCACHE": str(build / "cache"),
        "GOFLAGS": "",
    }
    binary = build / "note_interop"
    command = [go, "build", "-o", str(binary), str(SOURCE)]
    subprocess.run(command, env=env, check=True, cwd=build)  # noqa: S603
    return binary


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
