"""Tests of crypto.envelope: layout, length hiding, context binding, tamper evidence, opacity.

The layout and lengths are checked against numbers written out by hand from the byte table in the
module docstring, and the HPKE binding is checked by decrypting with ``cryptography``'s HPKE
directly, with the ``info`` string spelled out here rather than taken from ``crypto.labels``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hpke
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crypto import envelope
from crypto.envelope import EnvelopeHeader, open_envelope, parse_header, seal
from crypto.errors import DecryptionError, MalformedInput
from crypto.keys import EncryptionPrivateKey

BUREAU = "national"
OTHER_BUREAU = "guangdong"
BUREAU_KEY = EncryptionPrivateKey.generate()
OTHER_KEY = EncryptionPrivateKey.generate()
TOKEN = bytes(range(64))
OTHER_TOKEN = bytes(range(64, 128))

ENVELOPE_INFO = b"sealed-petition/v1/hpke/envelope\x00"
ENC_LENGTH = 1120  # ML-KEM-768 ciphertext (1088) + X25519 public key (32)
TAG_LENGTH = 16
KIB = 1024
BUCKETS = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1024 * KIB, 4096 * KIB, 16384 * KIB]
RAW_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

DOCUMENT = "关于拖欠工资的投诉\n张三".encode()
SEALED = seal(DOCUMENT, BUREAU_KEY.public_key(), BUREAU, TOKEN)
HEADER_LENGTH = 3 + 1 + 1 + len(BUREAU) + 32 + 64  # 109 for "national"
EXPECTED_MESSAGE = DecryptionError().message


def expected_length(bucket: int, bureau_id: str) -> int:
    return 5 + len(bureau_id) + 32 + 64 + ENC_LENGTH + bucket + TAG_LENGTH


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def expect_decryption_error(action: Callable[[], object]) -> DecryptionError:
    """``action`` must raise exactly DecryptionError, with the one fixed message, hiding causes."""
    with pytest.raises(DecryptionError) as caught:
        action()
    error = caught.value
    assert type(error) is DecryptionError
    assert error.message == EXPECTED_MESSAGE
    assert str(error) == EXPECTED_MESSAGE
    assert error.code == "decryption_failed"
    # No chained exception that would tell a log reader which check failed.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


def expect_open_fails(
    data: bytes, key: EncryptionPrivateKey = BUREAU_KEY, bureau: str = BUREAU
) -> str:
    return expect_decryption_error(lambda: open_envelope(data, key, bureau)).message


def rewrite_header(data: bytes, *, bureau_id: str, key_id: bytes, token: bytes) -> bytes:
    """Keep the HPKE part of ``data`` and put a different, well-formed header in front of it."""
    _, offset = parse_header(data)
    header = b"SPE\x01" + bytes([len(bureau_id)]) + bureau_id.encode() + key_id + token
    return header + data[offset:]


# --- layout and lengths --------------------------------------------------------------------------


def test_layout_matches_the_byte_table() -> None:
    assert SEALED[:3] == b"SPE"
    assert SEALED[3] == 1
    assert SEALED[4] == len(BUREAU)
    assert SEALED[5:13] == b"national"
    assert SEALED[13:45] == BUREAU_KEY.public_key().key_id
    assert SEALED[45:109] == TOKEN
    assert len(SEALED) == 109 + ENC_LENGTH + 4 * KIB + TAG_LENGTH == 5341


def test_hpke_part_decrypts_with_the_documented_info_and_padding() -> None:
    padded = RAW_SUITE.decrypt(
        SEALED[HEADER_LENGTH:], BUREAU_KEY.hpke_key(), info=ENVELOPE_INFO + SEALED[:HEADER_LENGTH]
    )
    assert len(padded) == 4 * KIB
    assert padded == len(DOCUMENT).to_bytes(4, "big") + DOCUMENT + bytes(
        4 * KIB - 4 - len(DOCUMENT)
    )


def test_header_encoding_is_the_documented_one() -> None:
    header = EnvelopeHeader(OTHER_BUREAU, OTHER_KEY.public_key().key_id, OTHER_TOKEN)
    assert header.encode() == (
        b"SPE\x01\x09guangdong" + OTHER_KEY.public_key().key_id + OTHER_TOKEN
    )


@pytest.mark.parametrize("bureau_id", ["a", BUREAU, OTHER_BUREAU, "x" * 64])
@pytest.mark.parametrize("bucket", BUCKETS[:3])
def test_envelope_length_is_exact(bureau_id: str, bucket: int) -> None:
    assert envelope.envelope_length(bucket, bureau_id) == expected_length(bucket, bureau_id)
    sealed = seal(b"\x07" * (bucket - 4), BUREAU_KEY.public_key(), bureau_id, TOKEN)
    assert len(sealed) == expected_length(bucket, bureau_id)


@settings(deadline=None, max_examples=40)
@given(
    st.sampled_from(BUCKETS[:3]),
    st.data(),
)
def test_two_plaintexts_in_one_bucket_give_envelopes_of_equal_length(
    bucket: int, data: st.DataObject
) -> None:
    low = 0 if bucket == BUCKETS[0] else bucket // 4 - 3
    first = data.draw(st.integers(min_value=low, max_value=bucket - 4))
    second = data.draw(
        st.integers(min_value=low, max_value=bucket - 4).filter(lambda n: n != first)
    )
    a = seal(b"a" * first, BUREAU_KEY.public_key(), BUREAU, TOKEN)
    b = seal(os.urandom(second), BUREAU_KEY.public_key(), BUREAU, OTHER_TOKEN)
    assert len(a) == len(b) == expected_length(bucket, BUREAU)


def test_sealing_is_randomised() -> None:
    again = seal(DOCUMENT, BUREAU_KEY.public_key(), BUREAU, TOKEN)
    assert again[:HEADER_LENGTH] == SEALED[:HEADER_LENGTH]
    assert again[HEADER_LENGTH:] != SEALED[HEADER_LENGTH:]


# --- round trip ----------------------------------------------------------------------------------


def test_round_trip_returns_header_and_document() -> None:
    header, document = open_envelope(SEALED, BUREAU_KEY, BUREAU)
    assert document == DOCUMENT
    assert header == EnvelopeHeader(BUREAU, BUREAU_KEY.public_key().key_id, TOKEN)


@settings(deadline=None, max_examples=150)
@given(st.binary(max_size=6 * KIB), st.binary(min_size=64, max_size=64))
@example(b"", bytes(64))
def test_round_trip_of_arbitrary_documents(document: bytes, token: bytes) -> None:
    sealed = seal(document, BUREAU_KEY.public_key(), BUREAU, token)
    header, opened = open_envelope(sealed, BUREAU_KEY, BUREAU)
    assert opened == document
    assert header.token == token
    assert len(sealed) == expected_length(
        4 * KIB if len(document) <= 4 * KIB - 4 else 16 * KIB, BUREAU
    )


@settings(deadline=None, max_examples=40)
@given(st.integers(min_value=0, max_value=64 * KIB - 4), st.binary(min_size=1, max_size=32))
@example(4 * KIB - 4, b"z")
@example(4 * KIB - 3, b"z")
@example(16 * KIB - 4, b"z")
@example(16 * KIB - 3, b"z")
@example(64 * KIB - 4, b"z")
def test_round_trip_across_three_buckets(length: int, pattern: bytes) -> None:
    document = (pattern * (length // len(pattern) + 1))[:length]
    sealed = seal(document, OTHER_KEY.public_key(), OTHER_BUREAU, OTHER_TOKEN)
    bucket = min(b for b in BUCKETS if length + 4 <= b)
    assert len(sealed) == expected_length(bucket, OTHER_BUREAU)
    assert open_envelope(sealed, OTHER_KEY, OTHER_BUREAU)[1] == document


@pytest.mark.parametrize("token", [b"", bytes(63), bytes(65)])
def test_seal_rejects_a_token_of_the_wrong_length(token: bytes) -> None:
    with pytest.raises(MalformedInput):
        seal(b"x", BUREAU_KEY.public_key(), BUREAU, token)


@pytest.mark.parametrize("bureau_id", ["", "National", "-national", "na tional", "x" * 65, "北京"])
def test_seal_rejects_an_invalid_bureau_id(bureau_id: str) -> None:
    with pytest.raises(MalformedInput):
        seal(b"x", BUREAU_KEY.public_key(), bureau_id, TOKEN)


# --- tampering -----------------------------------------------------------------------------------


@settings(deadline=None, max_examples=300)
@given(st.integers(min_value=0, max_value=len(SEALED) * 8 - 1))
@example(0)
@example(len(SEALED) * 8 - 1)
@example(HEADER_LENGTH * 8)  # first bit of the encapsulated key
@example((HEADER_LENGTH + ENC_LENGTH) * 8 - 1)  # last bit of the encapsulated key
@example((HEADER_LENGTH + ENC_LENGTH) * 8)  # first bit of the AEAD ciphertext
@example((len(SEALED) - TAG_LENGTH) * 8)  # first bit of the tag
def test_any_single_bit_flip_is_detected(bit: int) -> None:
    expect_open_fails(flip(SEALED, bit))


def test_every_bit_flip_in_the_header_is_detected() -> None:
    for bit in range(HEADER_LENGTH * 8):
        expect_open_fails(flip(SEALED, bit))


def test_every_bit_flip_in_a_longer_bureau_header_is_detected() -> None:
    sealed = seal(b"", OTHER_KEY.public_key(), OTHER_BUREAU, OTHER_TOKEN)
    for bit in range((5 + len(OTHER_BUREAU)) * 8):
        expect_open_fails(flip(sealed, bit), OTHER_KEY, OTHER_BUREAU)


def test_truncation_and_extension_by_one_byte_are_detected() -> None:
    expect_open_fails(SEALED[:-1])
    expect_open_fails(SEALED + b"\x00")
    expect_open_fails(SEALED[1:])
    expect_open_fails(SEALED[:HEADER_LENGTH])
    expect_open_fails(b"")


def test_moving_to_another_bucket_length_is_detected() -> None:
    # Same header, an HPKE part padded out to the next bucket's size: lengths agree, tag does not.
    extended = SEALED + bytes(16 * KIB - 4 * KIB)
    assert parse_header(extended)[1] == HEADER_LENGTH
    expect_open_fails(extended)


def hand_sealed(padded: bytes) -> bytes:
    """An envelope whose HPKE part is a correct encryption of ``padded``, whatever it holds."""
    header = SEALED[:HEADER_LENGTH]
    return header + RAW_SUITE.encrypt(
        padded, BUREAU_KEY.public_key().hpke_key(), info=ENVELOPE_INFO + header
    )


def test_hand_sealed_envelope_opens() -> None:
    # Control for the test below: a correctly padded, hand-sealed envelope is accepted.
    padded = len(DOCUMENT).to_bytes(4, "big") + DOCUMENT + bytes(4 * KIB - 4 - len(DOCUMENT))
    assert open_envelope(hand_sealed(padded), BUREAU_KEY, BUREAU)[1] == DOCUMENT


@pytest.mark.parametrize(
    "padded",
    [
        (4 * KIB - 3).to_bytes(4, "big") + bytes(4 * KIB - 4),  # declares more than it holds
        b"\xff\xff\xff\xff" + bytes(4 * KIB - 4),
        (3).to_bytes(4, "big") + b"abc" + bytes(4 * KIB - 8) + b"\x01",  # non-zero padding
    ],
)
def test_authentic_but_badly_padded_plaintext_is_a_decryption_error(padded: bytes) -> None:
    assert len(padded) == 4 * KIB
    expect_open_fails(hand_sealed(padded))


# --- context binding -----------------------------------------------------------------------------


def test_another_bureaus_private_key_cannot_open() -> None:
    expect_open_fails(SEALED, OTHER_KEY, BUREAU)


def test_right_key_but_another_expected_bureau_cannot_open() -> None:
    expect_open_fails(SEALED, BUREAU_KEY, OTHER_BUREAU)


def test_unchanged_header_rewrite_still_opens() -> None:
    # Control for the tests below: rewrite_header itself does not break a valid envelope.
    same = rewrite_header(
        SEALED, bureau_id=BUREAU, key_id=BUREAU_KEY.public_key().key_id, token=TOKEN
    )
    assert same == SEALED
    assert open_envelope(same, BUREAU_KEY, BUREAU)[1] == DOCUMENT


def test_ciphertext_moved_to_another_bureau_id_cannot_open() -> None:
    moved = rewrite_header(
        SEALED, bureau_id=OTHER_BUREAU, key_id=BUREAU_KEY.public_key().key_id, token=TOKEN
    )
    header, _ = parse_header(moved)
    assert header.bureau_id == OTHER_BUREAU
    expect_open_fails(moved, BUREAU_KEY, OTHER_BUREAU)


def test_ciphertext_moved_to_another_token_cannot_open() -> None:
    moved = rewrite_header(
        SEALED, bureau_id=BUREAU, key_id=BUREAU_KEY.public_key().key_id, token=OTHER_TOKEN
    )
    assert parse_header(moved)[0].token == OTHER_TOKEN
    expect_open_fails(moved)


def test_ciphertext_relabelled_with_another_key_id_cannot_open() -> None:
    moved = rewrite_header(
        SEALED, bureau_id=BUREAU, key_id=OTHER_KEY.public_key().key_id, token=TOKEN
    )
    expect_open_fails(moved, OTHER_KEY, BUREAU)
    expect_open_fails(moved, BUREAU_KEY, BUREAU)


def test_replaced_encapsulated_key_cannot_open() -> None:
    for enc in (bytes(ENC_LENGTH), b"\xff" * ENC_LENGTH, SEALED[HEADER_LENGTH:][::-1][:ENC_LENGTH]):
        replaced = SEALED[:HEADER_LENGTH] + enc + SEALED[HEADER_LENGTH + ENC_LENGTH :]
        expect_open_fails(replaced)


def test_hpke_part_of_one_envelope_under_another_envelopes_header_cannot_open() -> None:
    other = seal(b"other", BUREAU_KEY.public_key(), BUREAU, OTHER_TOKEN)
    spliced = other[:HEADER_LENGTH] + SEALED[HEADER_LENGTH:]
    expect_open_fails(spliced)


def test_error_message_is_identical_in_every_failure_case() -> None:
    cases: list[tuple[bytes, EncryptionPrivateKey, str]] = [
        (b"garbage", BUREAU_KEY, BUREAU),
        (SEALED[:-1], BUREAU_KEY, BUREAU),
        (flip(SEALED, 0), BUREAU_KEY, BUREAU),  # magic
        (flip(SEALED, 3 * 8), BUREAU_KEY, BUREAU),  # version
        (flip(SEALED, 20 * 8), BUREAU_KEY, BUREAU),  # key id
        (flip(SEALED, 60 * 8), BUREAU_KEY, BUREAU),  # token
        (flip(SEALED, 500 * 8), BUREAU_KEY, BUREAU),  # encapsulated key
        (flip(SEALED, 4000 * 8), BUREAU_KEY, BUREAU),  # ciphertext
        (SEALED, OTHER_KEY, BUREAU),
        (SEALED, BUREAU_KEY, OTHER_BUREAU),
    ]
    messages = {expect_open_fails(*case) for case in cases}
    assert messages == {EXPECTED_MESSAGE}
    assert "national" not in EXPECTED_MESSAGE


# --- parse_header --------------------------------------------------------------------------------


def test_parse_header_returns_the_fields_and_offset() -> None:
    header, offset = parse_header(SEALED)
    assert header.bureau_id == BUREAU
    assert header.key_id == BUREAU_KEY.public_key().key_id
    assert header.token == TOKEN
    assert offset == HEADER_LENGTH

    other = seal(b"", OTHER_KEY.public_key(), OTHER_BUREAU, OTHER_TOKEN)
    header, offset = parse_header(other)
    assert (header.bureau_id, header.key_id, header.token) == (
        OTHER_BUREAU,
        OTHER_KEY.public_key().key_id,
        OTHER_TOKEN,
    )
    assert offset == 5 + 9 + 32 + 64


def test_parse_header_does_not_need_the_private_key() -> None:
    # Whatever the HPKE part holds, the header parses as long as the lengths are right.
    forged = SEALED[:HEADER_LENGTH] + bytes(ENC_LENGTH + 4 * KIB + TAG_LENGTH)
    assert parse_header(forged)[0].token == TOKEN


def with_byte(data: bytes, index: int, value: int) -> bytes:
    changed = bytearray(data)
    changed[index] = value
    return bytes(changed)


MALFORMED = {
    "empty": b"",
    "garbage": b"\x00\x01garbage" * 700,
    "magic only": b"SPE",
    "magic and version only": b"SPE\x01",
    "bad magic": b"SPF" + SEALED[3:],
    "lower-case magic": b"spe" + SEALED[3:],
    "version 0": with_byte(SEALED, 3, 0),
    "version 2": with_byte(SEALED, 3, 2),
    "bureau length 0": with_byte(SEALED, 4, 0),
    "bureau length 65": with_byte(SEALED, 4, 65),
    "bureau length 255": with_byte(SEALED, 4, 255),
    "bureau length off by one": with_byte(SEALED, 4, len(BUREAU) + 1),
    "upper-case bureau": SEALED[:5] + b"NATIONAL" + SEALED[13:],
    "non-ASCII bureau": SEALED[:5] + b"nation\xc3\xa9" + SEALED[13:],
    "truncated in the token": SEALED[:100],
    "header only": SEALED[:HEADER_LENGTH],
    "one byte short": SEALED[:-1],
    "one byte long": SEALED + b"\x00",
    "no HPKE tag": SEALED[:-TAG_LENGTH],
    "between buckets": SEALED + bytes(5000),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_parse_header_rejects_malformed_input(name: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_header(MALFORMED[name])
    assert not isinstance(caught.value, DecryptionError)


def test_parse_header_rejects_an_envelope_beyond_the_largest_bucket() -> None:
    too_long = SEALED[:HEADER_LENGTH] + bytes(ENC_LENGTH + 16384 * KIB + TAG_LENGTH + 1)
    with pytest.raises(MalformedInput):
        parse_header(too_long)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=300))
def test_parse_header_rejects_arbitrary_short_bytes(data: bytes) -> None:
    # Nothing this short can be an envelope: the smallest is 1 + 105 + 1120 + 4096 + 16 bytes.
    with pytest.raises(MalformedInput):
        parse_header(data)
    expect_open_fails(data)


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=HEADER_LENGTH - 4))
def test_a_garbage_header_with_a_valid_length_never_opens(garbage: bytes) -> None:
    data = b"SPE\x01" + garbage.ljust(HEADER_LENGTH - 4, b"\x00") + SEALED[HEADER_LENGTH:]
    if data[:HEADER_LENGTH] != SEALED[:HEADER_LENGTH]:
        try:
            header, _ = parse_header(data)
        except MalformedInput:
            pass
        else:  # it parsed (which is fine), so it must describe a 4 KiB envelope
            assert len(data) == expected_length(4 * KIB, header.bureau_id)
        expect_open_fails(data)
