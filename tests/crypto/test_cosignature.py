"""Tests for crypto.cosignature: tlog-cosignature Ed25519 (type 0x04) keys and signature lines.

The specification's example cosignature comes without its witness key, so it is checked for
structure (key ID, timestamp, the signed message); signatures are checked with our own keys, and
independently by Go in tests/interop/test_go_note.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import checkpoint, cosignature, note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import MAX_TIMESTAMP, CosignatureVerifier, Cosigner
from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import SigningKey

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "c2sp-tlog.json").read_text(
        encoding="utf-8"
    )
)
SPEC = VECTORS["cosigned_checkpoint"]
SPEC_MESSAGE = VECTORS["cosignature_signed_message"]

LOG = note.Signer("example.org/log", SigningKey(bytes(range(32))))
WITNESS = Cosigner("example.org/witness", SigningKey(bytes(range(1, 33))))
CHECKPOINT = Checkpoint("example.org/log", 7, bytes(range(32)))
TEXT = CHECKPOINT.to_text()
TIME = 1_700_000_000
SIGNED = checkpoint.sign(CHECKPOINT, [LOG])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _signature(line: str) -> bytes:
    """The signature bytes of a line (key ID stripped)."""
    return note.parse_signature_line(line.rstrip("\n")).signature


def _line(cosigner: Cosigner, blob: bytes) -> bytes:
    return f"— {cosigner.name} {_b64(cosigner.key_id.to_bytes(4, 'big') + blob)}\n".encode()


# --------------------------------------------------------------------------------------------
# The specification's example


def test_spec_example_cosignature_has_the_published_key_id_and_timestamp() -> None:
    _text, signatures = note.split(SPEC["note"].encode("utf-8"))
    witness = next(s for s in signatures if s.name == SPEC["witness_name"])
    assert f"{witness.key_id:08x}" == SPEC["witness_key_id"]
    assert len(witness.signature) == cosignature.COSIGNATURE_LENGTH == 72
    # Any key reads the timestamp: it is in the clear, before the Ed25519 signature.
    assert WITNESS.verifier().timestamp(witness.signature) == SPEC["timestamp"]


def test_spec_signed_message_is_header_time_line_and_checkpoint_text() -> None:
    text = SPEC["checkpoint_text"].encode("utf-8")
    expected = SPEC_MESSAGE["message"].encode("utf-8")
    assert cosignature.signed_message(text, SPEC_MESSAGE["timestamp"]) == expected


def test_spec_cosigned_checkpoint_ignores_the_witness_line_for_a_reader_without_its_key() -> None:
    """The log key is not published either: a stand-in with the log's name shows the witness
    line is parsed and left unverified rather than refused."""
    message = SPEC["note"].encode("utf-8")
    stand_in = CosignatureVerifier(SPEC["witness_name"], WITNESS.key.public_key())
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        note.open_note(message, [stand_in])


def test_spec_response_lines_with_timestamps_above_2_63_are_refused() -> None:
    """The tlog-witness example response is random bytes; two of its timestamp fields exceed
    2^63 - 1, which a verifier MUST refuse."""
    response = VECTORS["add_checkpoint_response"]
    lines = response["body"].splitlines()
    for line, field in zip(lines, response["timestamp_fields"], strict=True):
        signature = _signature(line)
        if field > MAX_TIMESTAMP:
            with pytest.raises(InvalidSignature, match="2\\^63"):
                WITNESS.verifier().timestamp(signature)
        else:
            assert WITNESS.verifier().timestamp(signature) == field


# --------------------------------------------------------------------------------------------
# Keys


def test_key_id_uses_the_cosignature_type_byte() -> None:
    public = WITNESS.key.public_key().to_bytes()
    digest = hashlib.sha256(b"example.org/witness\n\x04" + public).digest()
    assert WITNESS.key_id == int.from_bytes(digest[:4], "big")
    assert WITNESS.key_id != note.Verifier(WITNESS.name, WITNESS.key.public_key()).key_id


def test_vkey_layout_and_round_trip() -> None:
    vkey = WITNESS.verifier().to_vkey()
    name, key_id, material = vkey.split("+", 2)
    assert (name, key_id) == (WITNESS.name, f"{WITNESS.key_id:08x}")
    assert base64.b64decode(material) == b"\x04" + WITNESS.key.public_key().to_bytes()
    assert CosignatureVerifier.from_vkey(vkey) == WITNESS.verifier()


def test_skey_layout_and_round_trip() -> None:
    skey = WITNESS.to_skey()
    assert skey.startswith(f"PRIVATE+KEY+{WITNESS.name}+{WITNESS.key_id:08x}+")
    assert base64.b64decode(skey.rsplit("+", 1)[1]) == b"\x04" + bytes(range(1, 33))
    again = Cosigner.from_skey(skey)
    assert again.key.to_bytes() == WITNESS.key.to_bytes()
    assert again.verifier() == WITNESS.verifier()


def test_generated_cosigner_round_trips() -> None:
    cosigner = Cosigner.generate("example.org/fresh")
    again = Cosigner.from_skey(cosigner.to_skey())
    assert again.verifier() == cosigner.verifier()
    assert CosignatureVerifier.from_vkey(cosigner.verifier().to_vkey()) == cosigner.verifier()


VKEY = WITNESS.verifier().to_vkey()
NAME, KEY_ID, MATERIAL = VKEY.split("+", 2)
PUBLIC = WITNESS.key.public_key().to_bytes()
ML_DSA = _b64(bytes([0x06]) + bytes(1312))
OTHER_TYPE = _b64(bytes([0x02]) + PUBLIC)
SHORT = _b64(bytes([0x04]) + PUBLIC[:31])
LONG = _b64(bytes([0x04]) + PUBLIC + b"x")
ID_AS_LOG_KEY = f"{note.Verifier(NAME, WITNESS.key.public_key()).key_id:08x}"

MALFORMED_VKEYS: list[tuple[str, str, str]] = [
    ("log-key", LOG.verifier().to_vkey(), "it is a log \\(checkpoint\\) key, not a witness key"),
    ("ml-dsa", f"{NAME}+{KEY_ID}+{ML_DSA}", "ML-DSA-44"),
    ("other-type", f"{NAME}+{KEY_ID}+{OTHER_TYPE}", "type 0x02"),
    ("short-key", f"{NAME}+{KEY_ID}+{SHORT}", "0x04 and 32 bytes"),
    ("long-key", f"{NAME}+{KEY_ID}+{LONG}", "0x04 and 32 bytes"),
    ("empty-material", f"{NAME}+{KEY_ID}+", "type byte and a key"),
    ("wrong-id", f"{NAME}+00000000+{MATERIAL}", "does not match"),
    ("id-of-the-0x01-key", f"{NAME}+{ID_AS_LOG_KEY}+{MATERIAL}", "does not match"),
    ("other-name", f"example.org/other+{KEY_ID}+{MATERIAL}", "does not match"),
    ("upper-case-id", f"{NAME}+{KEY_ID.upper()}+{MATERIAL}", "8 lower-case"),
    ("two-parts", f"{NAME}+{KEY_ID}", "name\\+keyid\\+key"),
    ("space-in-name", f"a b+{KEY_ID}+{MATERIAL}", "spaces"),
    ("bad-base64", f"{NAME}+{KEY_ID}+***", "not valid base64"),
    ("signer-key", WITNESS.to_skey(), "8 lower-case"),
]


@pytest.mark.parametrize(
    ("vkey", "reason"), [c[1:] for c in MALFORMED_VKEYS], ids=[c[0] for c in MALFORMED_VKEYS]
)
def test_malformed_witness_vkey_is_refused(vkey: str, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        CosignatureVerifier.from_vkey(vkey)


def test_witness_signer_key_refusals() -> None:
    with pytest.raises(MalformedInput, match="PRIVATE"):
        Cosigner.from_skey(WITNESS.to_skey().removeprefix("PRIVATE+KEY+"))
    with pytest.raises(MalformedInput, match="log \\(checkpoint\\) key"):
        Cosigner.from_skey(LOG.to_skey())
    with pytest.raises(MalformedInput, match="does not match"):
        Cosigner.from_skey(WITNESS.to_skey().replace(KEY_ID, "00000000"))


def test_log_verifier_refuses_a_witness_vkey() -> None:
    with pytest.raises(MalformedInput, match="not an Ed25519 key"):
        note.Verifier.from_vkey(VKEY)


# --------------------------------------------------------------------------------------------
# Cosigning and verifying


def test_cosignature_line_layout() -> None:
    line = WITNESS.cosign(TEXT, TIME)
    assert line.startswith(f"— {WITNESS.name} ")
    assert line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert int.from_bytes(blob[:4], "big") == WITNESS.key_id
    assert int.from_bytes(blob[4:12], "big") == TIME
    expected = WITNESS.key.sign(b"cosignature/v1\ntime 1700000000\n" + TEXT.encode())
    assert blob[12:] == expected


def test_cosignature_verifies_and_reports_its_timestamp() -> None:
    signature = _signature(WITNESS.cosign(TEXT, TIME))
    WITNESS.verifier().verify(TEXT.encode(), signature)
    assert WITNESS.verifier().timestamp(signature) == TIME


def test_cosigned_checkpoint_opens_with_the_log_key_alone() -> None:
    message = SIGNED + WITNESS.cosign(TEXT, TIME).encode()
    cp, opened = checkpoint.open_checkpoint(message, [LOG.verifier()])
    assert cp == CHECKPOINT
    assert opened.verified_by == (LOG.verifier(),)
    assert [(s.name, s.key_id) for s in opened.unverified] == [(WITNESS.name, WITNESS.key_id)]


def test_cosigned_checkpoint_opens_with_log_and_witness_keys() -> None:
    message = SIGNED + WITNESS.cosign(TEXT, TIME).encode()
    opened = note.open_note(message, [LOG.verifier(), WITNESS.verifier()])
    assert opened.verified_by == (LOG.verifier(), WITNESS.verifier())
    assert opened.unverified == ()


def test_a_log_key_does_not_pick_up_a_cosignature_by_the_same_key_and_name() -> None:
    """Same name, same Ed25519 key, other type byte: another key ID, so the line is ignored."""
    same = note.Verifier(WITNESS.name, WITNESS.key.public_key())
    message = SIGNED + WITNESS.cosign(TEXT, TIME).encode()
    assert note.open_note(message, [LOG.verifier(), same]).verified_by == (LOG.verifier(),)


def test_cosignature_is_not_a_plain_signature_over_the_text() -> None:
    """Domain separation: the 64 signature bytes do not verify as an ordinary note signature."""
    signature = _signature(WITNESS.cosign(TEXT, TIME))
    with pytest.raises(InvalidSignature):
        note.Verifier(WITNESS.name, WITNESS.key.public_key()).verify(TEXT.encode(), signature[8:])


def test_timestamp_bounds_are_inclusive() -> None:
    for timestamp in (1, MAX_TIMESTAMP):
        signature = _signature(WITNESS.cosign(TEXT, timestamp))
        WITNESS.verifier().verify(TEXT.encode(), signature)
        assert WITNESS.verifier().timestamp(signature) == timestamp


def _forged_with_timestamp(timestamp: int) -> bytes:
    """A genuine Ed25519 signature by the witness over a time line with ``timestamp``, however
    large: only the timestamp rule can refuse it."""
    raw = WITNESS.key.sign(cosignature.signed_message(TEXT.encode(), timestamp))
    return timestamp.to_bytes(8, "big") + raw


@pytest.mark.parametrize("timestamp", [2**63, 2**64 - 1])
def test_timestamp_above_2_63_minus_1_is_refused_even_if_signed(timestamp: int) -> None:
    signature = _forged_with_timestamp(timestamp)
    with pytest.raises(InvalidSignature, match="2\\^63-1"):
        WITNESS.verifier().verify(TEXT.encode(), signature)
    message = SIGNED + _line(WITNESS, signature)
    with pytest.raises(InvalidSignature, match="2\\^63-1"):
        note.open_note(message, [LOG.verifier(), WITNESS.verifier()])


def test_zero_timestamp_verifies_but_is_never_produced() -> None:
    """The cosignature format allows it; tlog-witness forbids witnesses to send it."""
    WITNESS.verifier().verify(TEXT.encode(), _forged_with_timestamp(0))
    with pytest.raises(MalformedInput, match="between 1 and 2\\^63-1"):
        WITNESS.cosign(TEXT, 0)


@pytest.mark.parametrize("timestamp", [-1, 2**63])
def test_cosign_refuses_timestamps_out_of_range(timestamp: int) -> None:
    with pytest.raises(MalformedInput, match="between 1 and 2\\^63-1"):
        WITNESS.cosign(TEXT, timestamp)


@pytest.mark.parametrize(
    "text", ["not a checkpoint\n", "example.org/log\n7\n", TEXT[:-1], TEXT + "\n"]
)
def test_cosign_refuses_what_is_not_a_checkpoint(text: str) -> None:
    with pytest.raises(MalformedInput):
        WITNESS.cosign(text, TIME)


def _good() -> bytes:
    return _signature(WITNESS.cosign(TEXT, TIME))


BAD_COSIGNATURES: list[tuple[str, bytes, str]] = [
    ("zeroed", bytes(72), "does not verify"),
    ("short", _good()[:-1], "not 72 bytes"),
    ("long", _good() + b"\x00", "not 72 bytes"),
    ("no-timestamp", _good()[8:], "not 72 bytes"),
    ("timestamp-changed", (TIME + 1).to_bytes(8, "big") + _good()[8:], "does not verify"),
    ("signature-flipped", _good()[:-1] + bytes([_good()[-1] ^ 1]), "does not verify"),
    ("other-checkpoint", _signature(WITNESS.cosign(
        Checkpoint("example.org/log", 8, bytes(range(32))).to_text(), TIME)), "does not verify"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("signature", "reason"), [c[1:] for c in BAD_COSIGNATURES], ids=[c[0] for c in BAD_COSIGNATURES]
)
def test_bad_cosignature_is_refused(signature: bytes, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        WITNESS.verifier().verify(TEXT.encode(), signature)


@pytest.mark.parametrize(
    ("signature", "reason"), [c[1:] for c in BAD_COSIGNATURES], ids=[c[0] for c in BAD_COSIGNATURES]
)
def test_bad_cosignature_by_a_known_witness_rejects_the_note(signature: bytes, reason: str) -> None:
    message = SIGNED + _line(WITNESS, signature)
    with pytest.raises(InvalidSignature, match=reason):
        note.open_note(message, [LOG.verifier(), WITNESS.verifier()])
    # ...and is ignored by a reader who does not know the witness.
    assert note.open_note(message, [LOG.verifier()]).verified_by == (LOG.verifier(),)


def test_altered_checkpoint_fails_the_cosignature() -> None:
    message = SIGNED + WITNESS.cosign(TEXT, TIME).encode()
    altered = message.replace(b"\n7\n", b"\n8\n", 1)
    with pytest.raises(InvalidSignature, match="does not verify"):
        note.open_note(altered, [WITNESS.verifier()])


def test_cosignature_over_extension_lines_covers_them() -> None:
    extended = Checkpoint("example.org/log", 7, bytes(range(32)), ("ext",)).to_text()
    signature = _signature(WITNESS.cosign(extended, TIME))
    WITNESS.verifier().verify(extended.encode(), signature)
    with pytest.raises(InvalidSignature):
        WITNESS.verifier().verify(TEXT.encode(), signature)
