"""Tests for crypto.witness_wire: the tlog-witness add-checkpoint request and answers.

The specification's example request and response bodies are parsed and re-encoded byte for byte;
everything else the specification answers with 400 Bad Request is refused here, rule by rule.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import checkpoint, merkle, note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import Cosigner
from crypto.errors import MalformedInput
from crypto.keys import SigningKey
from crypto.witness_wire import (
    MAX_PROOF_LINES,
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpoint,
    encode_cosignatures,
    encode_size,
    parse_cosignatures,
    parse_size,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "c2sp-tlog.json").read_text(
        encoding="utf-8"
    )
)
REQUEST = VECTORS["add_checkpoint_request"]
RESPONSE = VECTORS["add_checkpoint_response"]

LOG = note.Signer("example.org/log", SigningKey(bytes(range(32))))
WITNESS = Cosigner("example.org/witness", SigningKey(bytes(range(1, 33))))
TREE = merkle.LeafHashList([merkle.leaf_hash(b"entry %d" % i) for i in range(9)])


def _checkpoint(size: int) -> Checkpoint:
    return Checkpoint(LOG.name, size, TREE.subtree_root(0, size))


def _signed(size: int) -> bytes:
    return checkpoint.sign(_checkpoint(size), [LOG])


def _b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


PROOF = tuple(merkle.consistency_proof(TREE, 5, 9))
VALID = AddCheckpoint(5, PROOF, _signed(9)).encode()


# --------------------------------------------------------------------------------------------
# The specification's examples


def test_spec_request_parses() -> None:
    request = AddCheckpoint.parse(REQUEST["body"].encode("utf-8"))
    assert request.old_size == REQUEST["old_size"]
    assert len(request.proof) == REQUEST["proof_lines"]
    claimed = request.claimed_checkpoint()
    assert (claimed.origin, claimed.size) == (REQUEST["origin"], REQUEST["size"])
    assert request.checkpoint.startswith(f"{REQUEST['origin']}\n".encode())


def test_spec_request_round_trips_byte_for_byte() -> None:
    body = REQUEST["body"].encode("utf-8")
    assert AddCheckpoint.parse(body).encode() == body


def test_spec_response_parses_into_its_lines() -> None:
    body = RESPONSE["body"].encode("utf-8")
    lines = parse_cosignatures(body)
    assert [note.parse_signature_line(line[:-1]).name for line in lines] == RESPONSE["names"]
    assert all(line.endswith("\n") for line in lines)
    assert encode_cosignatures(lines) == body


def test_size_content_type() -> None:
    assert TLOG_SIZE_CONTENT_TYPE == "text/x.tlog.size"


# --------------------------------------------------------------------------------------------
# Round trips and the exchange end to end


def test_request_layout() -> None:
    request = AddCheckpoint(5, PROOF, _signed(9))
    lines = [b"old 5"] + [_b64(h) for h in PROOF]
    assert request.encode() == b"\n".join(lines) + b"\n\n" + _signed(9)
    assert AddCheckpoint.parse(request.encode()) == request


def test_request_from_an_empty_old_tree_has_no_proof_lines() -> None:
    request = AddCheckpoint(0, (), _signed(3))
    assert request.encode() == b"old 0\n\n" + _signed(3)
    assert AddCheckpoint.parse(request.encode()) == request


def test_request_for_an_unchanged_tree() -> None:
    assert AddCheckpoint.parse(AddCheckpoint(9, (), _signed(9)).encode()).old_size == 9


def test_request_with_63_proof_lines_is_accepted() -> None:
    proof = tuple(bytes([i]) * 32 for i in range(MAX_PROOF_LINES))
    assert AddCheckpoint.parse(AddCheckpoint(1, proof, _signed(9)).encode()).proof == proof


def test_request_keeps_every_signature_of_the_note() -> None:
    other = note.Signer.generate("example.org/other")
    cosigned = note.add_signatures(_signed(9), [other])
    assert AddCheckpoint.parse(AddCheckpoint(5, PROOF, cosigned).encode()).checkpoint == cosigned


def test_the_whole_exchange_with_a_real_consistency_proof() -> None:
    """Log -> witness -> log: what each side parses is what the other wrote, and it verifies."""
    request = AddCheckpoint.parse(VALID)
    claimed = request.claimed_checkpoint()
    merkle.verify_consistency(
        request.old_size, claimed.size, _checkpoint(5).root_hash, claimed.root_hash, request.proof
    )
    cp, _ = checkpoint.open_checkpoint(request.checkpoint, [LOG.verifier()])
    response = encode_cosignatures([WITNESS.cosign(cp.to_text(), 1_700_000_000)])
    lines = parse_cosignatures(response)
    cosigned = request.checkpoint + "".join(lines).encode()
    opened = note.open_note(cosigned, [LOG.verifier(), WITNESS.verifier()])
    assert opened.verified_by == (LOG.verifier(), WITNESS.verifier())


@pytest.mark.parametrize("size", [0, 1, 409, 2**63 - 1])
def test_size_body_round_trips(size: int) -> None:
    assert encode_size(size) == f"{size}\n".encode()
    assert parse_size(encode_size(size)) == size


# --------------------------------------------------------------------------------------------
# Refusals

CHECKPOINT_9 = _signed(9)
HASH = _b64(PROOF[0])

MALFORMED_REQUESTS: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty line before the checkpoint"),
    ("no-empty-line", b"old 0\n" + CHECKPOINT_9.replace(b"\n\n", b"\n"), "empty line"),
    ("no-old-line", b"\n" + CHECKPOINT_9, "starts with 'old <size>'"),
    ("capital-old", VALID.replace(b"old 5", b"Old 5"), "starts with 'old <size>'"),
    ("two-spaces", VALID.replace(b"old 5", b"old  5"), "without leading zeros"),
    ("tab", VALID.replace(b"old 5", b"old\t5"), "starts with 'old <size>'"),
    ("leading-zero", VALID.replace(b"old 5", b"old 05"), "without leading zeros"),
    ("negative", VALID.replace(b"old 5", b"old -5"), "without leading zeros"),
    ("plus", VALID.replace(b"old 5", b"old +5"), "without leading zeros"),
    ("non-ascii-digit", VALID.replace(b"old 5", "old ٥".encode()), "without leading zeros"),
    ("empty-size", VALID.replace(b"old 5", b"old "), "without leading zeros"),
    ("trailing-space", VALID.replace(b"old 5", b"old 5 "), "without leading zeros"),
    ("too-large", VALID.replace(b"old 5", b"old 9223372036854775808"), "at most 2\\^63-1"),
    ("old-above-size", VALID.replace(b"old 5", b"old 10"), "larger than the checkpoint's size"),
    ("crlf", VALID.replace(b"old 5\n", b"old 5\r\n"), "without leading zeros"),
    ("bad-base64", VALID.replace(HASH, b"!" * 44), "not valid base64"),
    ("unpadded", VALID.replace(HASH, HASH.rstrip(b"=")), "base64"),
    ("short-hash", VALID.replace(HASH, _b64(PROOF[0][:31])), "not a 32-byte hash"),
    ("long-hash", VALID.replace(HASH, _b64(PROOF[0] + b"x")), "not a 32-byte hash"),
    ("hash-with-space", VALID.replace(HASH, HASH + b" "), "base64"),
    ("non-ascii-proof", VALID.replace(HASH, "é".encode() * 22), "not valid base64"),
    (
        "64-proof-lines",
        b"old 1\n" + b"".join(_b64(bytes(32)) + b"\n" for _ in range(64)) + b"\n" + CHECKPOINT_9,
        "at most 63",
    ),
    ("unsigned-checkpoint", b"old 0\n\n" + _checkpoint(9).to_text().encode(), "blank line"),
    ("not-a-checkpoint", b"old 0\n\n" + note.sign("hello\n", [LOG]), "at least three lines"),
    # The first empty line ends the proof: the remaining hashes become a "checkpoint" text.
    ("empty-line-among-proof-lines", VALID.replace(HASH + b"\n", HASH + b"\n\n", 1), "tree size"),
    ("no-final-newline", VALID[:-1], "ends with a newline"),
]


@pytest.mark.parametrize(
    ("body", "reason"), [c[1:] for c in MALFORMED_REQUESTS], ids=[c[0] for c in MALFORMED_REQUESTS]
)
def test_malformed_request_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        AddCheckpoint.parse(body)


def test_valid_request_used_above_does_parse() -> None:
    """The refusals above are edits of this body, so each fails for its own edit."""
    assert AddCheckpoint.parse(VALID).proof == PROOF


@pytest.mark.parametrize(
    ("old_size", "proof", "reason"),
    [
        (-1, (), "between 0 and 2\\^63-1"),
        (True, (), "between 0 and 2\\^63-1"),
        (10, (), "larger than the checkpoint's size"),
        (5, (bytes(31),), "32 bytes"),
        (5, tuple(bytes(32) for _ in range(64)), "at most 63"),
    ],
)
def test_request_object_refuses_what_could_not_be_sent(
    old_size: int, proof: tuple[bytes, ...], reason: str
) -> None:
    with pytest.raises(MalformedInput, match=reason):
        AddCheckpoint(old_size, proof, CHECKPOINT_9)


@pytest.mark.parametrize(
    "body",
    [b"", b"5", b"05\n", b"-1\n", b"+1\n", b" 5\n", b"5 \n", b"5\n\n", b"5\r\n", b"0x5\n",
     "٥\n".encode(), b"9223372036854775808\n"],
)  # fmt: skip
def test_malformed_size_body_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedInput):
        parse_size(body)


@pytest.mark.parametrize("size", [-1, 2**63])
def test_encode_size_refuses_impossible_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        encode_size(size)


LINE = WITNESS.cosign(_checkpoint(9).to_text(), 1_700_000_000).encode()

MALFORMED_RESPONSES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "at least one signature line"),
    ("no-final-newline", LINE[:-1], "ends with a newline"),
    ("blank-line", LINE + b"\n" + LINE, "em dash"),
    ("trailing-blank-line", LINE + b"\n", "em dash"),
    ("hyphen", LINE.replace("—".encode(), b"-"), "em dash"),
    ("crlf", LINE[:-1] + b"\r\n", "control characters"),
    ("not-utf8", b"\xff" + LINE, "valid UTF-8"),
    ("bad-base64", LINE[:-3] + b"!!\n", "base64"),
    ("key-id-only", "— w AAAAAA==\n".encode(), "at least one byte"),
    ("three-fields", LINE[:-1] + b" extra\n", "'— <key name> <base64 signature>'"),
    ("101-lines", LINE * 101, "at most 100"),
]


@pytest.mark.parametrize(
    ("body", "reason"),
    [c[1:] for c in MALFORMED_RESPONSES],
    ids=[c[0] for c in MALFORMED_RESPONSES],
)
def test_malformed_cosignature_response_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        parse_cosignatures(body)


def test_one_hundred_cosignature_lines_are_accepted() -> None:
    assert len(parse_cosignatures(LINE * 100)) == 100


@pytest.mark.parametrize(
    "lines",
    [[], [LINE.decode()[:-1]], [LINE.decode() * 2], [LINE.decode() + "\n"], ["— w x\n"]],
)
def test_encode_cosignatures_refuses_anything_but_whole_single_lines(lines: list[str]) -> None:
    with pytest.raises(MalformedInput):
        encode_cosignatures(lines)
