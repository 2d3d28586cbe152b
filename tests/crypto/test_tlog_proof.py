"""Tests for crypto.tlog_proof: the tlog-proof@v1 text format and its verification (policy, then
inclusion), with real Merkle trees and every parsing refusal."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import checkpoint, merkle, note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import Cosigner
from crypto.errors import InvalidProof, InvalidSignature, MalformedInput, PolicyNotSatisfied
from crypto.keys import SigningKey
from crypto.tlog_policy import Policy
from crypto.tlog_proof import FILE_SUFFIX, HEADER, TlogProof, verify_proof

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "c2sp-tlog.json").read_text(
        encoding="utf-8"
    )
)
SPEC = VECTORS["tlog_proof"]

LOG = note.Signer("example.org/log", SigningKey(bytes(range(32))))
WITNESSES = [Cosigner(f"witness.example/w{i}", SigningKey(bytes([i + 1]) * 32)) for i in range(3)]
POLICY = Policy.single_log(LOG.verifier(), [(c.name, c.verifier(), None) for c in WITNESSES], 2)
LEAVES = [b"entry %d" % i for i in range(11)]
TREE = merkle.LeafHashList([merkle.leaf_hash(leaf) for leaf in LEAVES])
CHECKPOINT = Checkpoint(LOG.name, TREE.size, TREE.subtree_root(0, TREE.size))
TIME = 1_700_000_000


def _cosigned(cp: Checkpoint = CHECKPOINT, witnesses: int = 2) -> bytes:
    lines = "".join(w.cosign(cp.to_text(), TIME) for w in WITNESSES[:witnesses])
    return checkpoint.sign(cp, [LOG]) + lines.encode()


NOTE = _cosigned()


def _proof(index: int, *, extra: bytes | None = None, message: bytes = NOTE) -> TlogProof:
    path = tuple(merkle.inclusion_proof(TREE, index, TREE.size))
    return TlogProof(index, path, message, extra)


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


# --------------------------------------------------------------------------------------------
# The specification's example


def _spec_with_our_checkpoint() -> bytes:
    """The example's lines before the checkpoint, then the example's checkpoint text signed by
    our log key (the specification elides its signatures with '[...]')."""
    head: bytes = SPEC["text"].encode("utf-8").split(b"\n\n", 1)[0]
    cp = Checkpoint.from_text(SPEC["checkpoint_text"])
    fancy = note.Signer(cp.origin, SigningKey(bytes(range(32))))
    return head + b"\n\n" + checkpoint.sign(cp, [fancy])


def test_spec_example_parses() -> None:
    proof = TlogProof.parse(_spec_with_our_checkpoint())
    assert proof.index == SPEC["index"]
    assert len(proof.proof) == SPEC["proof_lines"]
    assert proof.extra is not None
    assert proof.extra.startswith(SPEC["extra_prefix"].encode())
    assert proof.checkpoint.startswith(SPEC["checkpoint_text"].encode() + b"\n")


def test_spec_example_round_trips_byte_for_byte() -> None:
    data = _spec_with_our_checkpoint()
    assert TlogProof.parse(data).to_text() == data


def test_spec_example_with_its_elided_signatures_is_refused() -> None:
    """The checkpoint is read as a signed note: '[...]' is not base64."""
    with pytest.raises(MalformedInput, match="base64"):
        TlogProof.parse(SPEC["text"].encode("utf-8"))


def test_file_suffix() -> None:
    assert FILE_SUFFIX == ".tlog-proof"


# --------------------------------------------------------------------------------------------
# Layout and round trips


def test_layout_with_extra() -> None:
    proof = _proof(3, extra=b"the leaf")
    path = merkle.inclusion_proof(TREE, 3, TREE.size)
    expected = (
        b"c2sp.org/tlog-proof@v1\n"
        + b"extra "
        + _b64(b"the leaf")
        + b"\nindex 3\n"
        + b"".join(_b64(h) + b"\n" for h in path)
        + b"\n"
        + NOTE
    )
    assert proof.to_text() == expected
    assert TlogProof.parse(expected) == proof


def test_layout_without_extra() -> None:
    proof = _proof(10)
    assert proof.to_text().startswith(b"c2sp.org/tlog-proof@v1\nindex 10\n")
    assert TlogProof.parse(proof.to_text()) == proof


def test_single_leaf_tree_has_no_proof_lines() -> None:
    cp = Checkpoint(LOG.name, 1, merkle.leaf_hash(b"only"))
    proof = TlogProof(0, (), _cosigned(cp))
    assert proof.to_text() == b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + _cosigned(cp)
    assert TlogProof.parse(proof.to_text()) == proof
    verify_proof(proof, merkle.leaf_hash(b"only"), POLICY)


def test_sixty_three_proof_lines_parse() -> None:
    proof = TlogProof(0, tuple(bytes([i]) * 32 for i in range(63)), NOTE)
    assert TlogProof.parse(proof.to_text()) == proof


# --------------------------------------------------------------------------------------------
# Verification


@pytest.mark.parametrize("index", range(len(LEAVES)))
def test_every_leaf_verifies(index: int) -> None:
    proof = TlogProof.parse(_proof(index, extra=LEAVES[index]).to_text())
    assert proof.extra is not None
    verified = verify_proof(proof, merkle.leaf_hash(proof.extra), POLICY, origin=LOG.name)
    assert verified.checkpoint == CHECKPOINT
    assert verified.message == NOTE
    assert verified.witnesses == ("witness.example/w0", "witness.example/w1")


def test_another_leaf_is_refused() -> None:
    with pytest.raises(InvalidProof, match="different root"):
        verify_proof(_proof(3), merkle.leaf_hash(LEAVES[4]), POLICY)


def test_another_index_is_refused() -> None:
    proof = _proof(3)
    moved = TlogProof(2, proof.proof, proof.checkpoint)
    with pytest.raises(InvalidProof):
        verify_proof(moved, merkle.leaf_hash(LEAVES[3]), POLICY)


def test_index_outside_the_tree_is_refused() -> None:
    proof = TlogProof(TREE.size, (), NOTE)
    with pytest.raises(InvalidProof, match="not in a tree of 11 leaves"):
        verify_proof(proof, merkle.leaf_hash(LEAVES[0]), POLICY)


@pytest.mark.parametrize("position", range(4))
def test_altered_proof_hash_is_refused(position: int) -> None:
    proof = _proof(5)
    hashes = list(proof.proof)
    hashes[position] = bytes([hashes[position][0] ^ 1]) + hashes[position][1:]
    altered = TlogProof(5, tuple(hashes), NOTE)
    with pytest.raises(InvalidProof):
        verify_proof(altered, merkle.leaf_hash(LEAVES[5]), POLICY)


def test_missing_or_extra_proof_hash_is_refused() -> None:
    proof = _proof(5)
    for hashes in (proof.proof[:-1], (*proof.proof, bytes(32))):
        with pytest.raises(InvalidProof):
            verify_proof(TlogProof(5, hashes, NOTE), merkle.leaf_hash(LEAVES[5]), POLICY)


def test_proof_under_a_checkpoint_of_another_size_is_refused() -> None:
    """The proof for a tree of 11 against a validly signed head of size 10: a size mismatch."""
    cp = Checkpoint(LOG.name, 10, TREE.subtree_root(0, 10))
    proof = TlogProof(5, _proof(5).proof, _cosigned(cp))
    with pytest.raises(InvalidProof):
        verify_proof(proof, merkle.leaf_hash(LEAVES[5]), POLICY)


def test_altered_checkpoint_is_refused() -> None:
    forged = NOTE.replace(b"\n11\n", b"\n12\n", 1)
    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_proof(_proof(5, message=forged), merkle.leaf_hash(LEAVES[5]), POLICY)


def test_checkpoint_with_a_substituted_root_is_refused() -> None:
    """A head whose root is made to match a forged tree carries no valid signature."""
    root = _b64(CHECKPOINT.root_hash)
    forged = NOTE.replace(root, _b64(bytes(32)), 1)
    with pytest.raises(InvalidSignature):
        verify_proof(_proof(5, message=forged), merkle.leaf_hash(LEAVES[5]), POLICY)


def test_too_few_cosignatures_is_policy_not_satisfied() -> None:
    proof = _proof(5, message=_cosigned(witnesses=1))
    with pytest.raises(PolicyNotSatisfied, match="needs 1 more"):
        verify_proof(proof, merkle.leaf_hash(LEAVES[5]), POLICY)


def test_wrong_origin_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="not the expected"):
        verify_proof(_proof(5), merkle.leaf_hash(LEAVES[5]), POLICY, origin="example.org/x")


def test_future_cosignature_is_refused_when_the_time_is_given() -> None:
    verify_proof(_proof(5), merkle.leaf_hash(LEAVES[5]), POLICY, now=TIME)
    with pytest.raises(InvalidSignature, match="after the current time"):
        verify_proof(_proof(5), merkle.leaf_hash(LEAVES[5]), POLICY, now=TIME - 60)


def test_extra_data_is_not_authenticated_by_the_proof() -> None:
    """Changing the extra line leaves the proof valid for the original leaf: the application
    must derive the leaf hash from data it trusts, or (as receipts do) from the extra itself."""
    proof = TlogProof.parse(_proof(5, extra=b"anything").to_text())
    verify_proof(proof, merkle.leaf_hash(LEAVES[5]), POLICY)
    assert proof.extra is not None
    with pytest.raises(InvalidProof):
        verify_proof(proof, merkle.leaf_hash(proof.extra), POLICY)


# --------------------------------------------------------------------------------------------
# Refusals

VALID = _proof(5, extra=b"leaf").to_text()
HASH = _b64(_proof(5).proof[0])

MALFORMED_PROOFS: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty line before its checkpoint"),
    # Without it the note's own blank line ends the proof, and the origin reads as a hash.
    ("no-empty-line", VALID.replace(b"\n\n", b"\n", 1), "proof line is not valid base64"),
    ("no-empty-line-anywhere", VALID.replace(b"\n\n", b"\n"), "empty line before its"),
    ("no-header", VALID.replace(HEADER + b"\n", b""), "starts with the line"),
    ("other-version", VALID.replace(b"@v1", b"@v2"), "starts with the line"),
    ("header-trailing-space", VALID.replace(HEADER, HEADER + b" "), "starts with the line"),
    ("header-crlf", VALID.replace(HEADER + b"\n", HEADER + b"\r\n"), "starts with the line"),
    ("no-index", VALID.replace(b"index 5\n", b""), "'index <n>' line"),
    ("index-before-extra", VALID.replace(b"extra " + _b64(b"leaf") + b"\nindex 5",
     b"index 5\nextra " + _b64(b"leaf")), "base64"),
    ("two-extras", VALID.replace(b"extra", b"extra " + _b64(b"x") + b"\nextra", 1),
     "'index <n>' line"),
    ("empty-extra", VALID.replace(b"extra " + _b64(b"leaf"), b"extra "), "at least one byte"),
    ("extra-bad-base64", VALID.replace(_b64(b"leaf"), b"!!!!"), "extra data is not valid"),
    ("extra-unpadded", VALID.replace(_b64(b"leaf"), _b64(b"leaf").rstrip(b"=")), "extra data"),
    ("extra-non-ascii", VALID.replace(_b64(b"leaf"), "ĺeaf".encode()), "not valid base64"),
    ("extra-no-space", VALID.replace(b"extra ", b"extra"), "'index <n>' line"),
    ("index-leading-zero", VALID.replace(b"index 5", b"index 05"), "without leading zeros"),
    ("index-negative", VALID.replace(b"index 5", b"index -5"), "without leading zeros"),
    ("index-empty", VALID.replace(b"index 5", b"index "), "without leading zeros"),
    ("index-two-spaces", VALID.replace(b"index 5", b"index  5"), "without leading zeros"),
    ("index-trailing-space", VALID.replace(b"index 5", b"index 5 "), "without leading zeros"),
    ("index-non-ascii", VALID.replace(b"index 5", "index ٥".encode()), "without leading zeros"),
    ("index-too-large", VALID.replace(b"index 5", b"index 9223372036854775807"), "2\\^63-2"),
    ("index-huge", VALID.replace(b"index 5", b"index " + b"9" * 5000), "without leading zeros"),
    ("index-capital", VALID.replace(b"index 5", b"Index 5"), "'index <n>' line"),
    ("hash-bad-base64", VALID.replace(HASH, b"*" * 44), "not valid base64"),
    ("hash-short", VALID.replace(HASH, _b64(bytes(31))), "not a 32-byte hash"),
    ("hash-long", VALID.replace(HASH, _b64(bytes(33))), "not a 32-byte hash"),
    ("hash-trailing-space", VALID.replace(HASH, HASH + b" "), "base64"),
    ("64-hashes", b"c2sp.org/tlog-proof@v1\nindex 0\n" + (_b64(bytes(32)) + b"\n") * 64 + b"\n"
     + NOTE, "at most 63"),
    ("unsigned-checkpoint", VALID.split(b"\n\n")[0] + b"\n\n" + CHECKPOINT.to_text().encode(),
     "blank line"),
    ("not-a-checkpoint", VALID.split(b"\n\n")[0] + b"\n\n" + note.sign("hi\n", [LOG]),
     "three lines"),
    ("no-final-newline", VALID[:-1], "ends with a newline"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in MALFORMED_PROOFS], ids=[c[0] for c in MALFORMED_PROOFS]
)
def test_malformed_proof_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        TlogProof.parse(data)


def test_valid_proof_used_above_does_parse() -> None:
    """The refusals above are edits of this text, so each fails for its own edit."""
    assert TlogProof.parse(VALID).extra == b"leaf"


@pytest.mark.parametrize(
    ("index", "proof", "extra", "reason"),
    [
        (-1, (), None, "between 0 and"),
        (2**63 - 1, (), None, "between 0 and"),
        (True, (), None, "between 0 and"),
        (0, (bytes(31),), None, "32 bytes"),
        (0, tuple(bytes(32) for _ in range(64)), None, "at most 63"),
        (0, (), b"", "at least one byte"),
    ],
)
def test_proof_object_refuses_what_could_not_be_written(
    index: int, proof: tuple[bytes, ...], extra: bytes | None, reason: str
) -> None:
    with pytest.raises(MalformedInput, match=reason):
        TlogProof(index, proof, NOTE, extra)


def test_proof_object_refuses_a_checkpoint_that_is_not_a_signed_note() -> None:
    with pytest.raises(MalformedInput):
        TlogProof(0, (), CHECKPOINT.to_text().encode())
