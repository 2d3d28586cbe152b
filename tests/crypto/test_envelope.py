"""Tests of crypto.envelope, protocol v2: layout, length hiding, binding, tamper evidence, opacity.

The offsets and lengths are written out by hand from the byte table in the module docstring
(docs/protocol.md §7), and the HPKE binding is checked by decrypting with ``cryptography``'s
HPKE directly, with the ``info`` strings spelled out here rather than taken from
``crypto.labels``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hpke
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crypto import envelope
from crypto.envelope import EnvelopeHeader, open_case, open_identity, parse_header, seal
from crypto.errors import DecryptionError, MalformedInput, TooLarge, UnsupportedVersion
from crypto.keys import EncryptionPrivateKey

BUREAU = "national"
OTHER_BUREAU = "guangdong"
IDENTITY_KEY = EncryptionPrivateKey.generate()
CASE_KEY = EncryptionPrivateKey.generate()
OTHER_KEY = EncryptionPrivateKey.generate()

IDENTITY_INFO = b"sealed-petition/v2/hpke/envelope/identity\x00"
CASE_INFO = b"sealed-petition/v2/hpke/envelope/case\x00"
ENC_LENGTH = 1120  # ML-KEM-768 ciphertext (1088) + X25519 public key (32)
TAG_LENGTH = 16
KIB = 1024
BUCKETS = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1024 * KIB, 4096 * KIB, 16384 * KIB]
RAW_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

# The byte table of docs/protocol.md §7.1, written out.
HEADER_LENGTH = 3 + 1 + 64 + 32 + 32  # 132
IDENTITY_SIZE = 2048
IDENTITY_START = HEADER_LENGTH
IDENTITY_CIPHERTEXT = IDENTITY_START + ENC_LENGTH  # 1252
CASE_START = IDENTITY_CIPHERTEXT + IDENTITY_SIZE + TAG_LENGTH  # 3316
CASE_CIPHERTEXT = CASE_START + ENC_LENGTH  # 4436

IDENTITY = "张三 11010519491231002X".encode()
CASE = "关于拖欠工资的投诉".encode()
SEALED = seal(IDENTITY, CASE, IDENTITY_KEY.public_key(), CASE_KEY.public_key(), BUREAU)
EXPECTED_MESSAGE = DecryptionError().message


def expected_length(bucket: int) -> int:
    return CASE_CIPHERTEXT + bucket + TAG_LENGTH


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def expect_decryption_error(action: Callable[[], object]) -> str:
    """``action`` must raise exactly DecryptionError, with the one fixed message, hiding causes."""
    with pytest.raises(DecryptionError) as caught:
        action()
    error = caught.value
    assert type(error) is DecryptionError
    assert error.message == EXPECTED_MESSAGE
    assert error.code == "decryption_failed"
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error.message


def case_fails(data: bytes, key: EncryptionPrivateKey = CASE_KEY, bureau: str = BUREAU) -> str:
    return expect_decryption_error(lambda: open_case(data, key, bureau))


def identity_fails(
    data: bytes, key: EncryptionPrivateKey = IDENTITY_KEY, bureau: str = BUREAU
) -> str:
    return expect_decryption_error(lambda: open_identity(data, key, bureau))


def header_bytes(bureau_id: str, identity_key_id: bytes, case_key_id: bytes) -> bytes:
    return b"SPE\x02" + bureau_id.encode().ljust(64, b"\x00") + identity_key_id + case_key_id


# --- layout and lengths --------------------------------------------------------------------------


def test_constants_match_the_byte_table() -> None:
    assert envelope.HEADER_LENGTH == HEADER_LENGTH == 132
    assert envelope.CASE_OFFSET == CASE_START == 3316
    assert envelope.IDENTITY_SECTION_LENGTH == ENC_LENGTH + IDENTITY_SIZE + TAG_LENGTH
    assert expected_length(16384 * KIB) == envelope.MAX_ENVELOPE_LENGTH


def test_layout_matches_the_byte_table() -> None:
    assert SEALED[0:3] == b"SPE"
    assert SEALED[3] == 2
    assert SEALED[4:68] == b"national" + bytes(56)
    assert SEALED[68:100] == IDENTITY_KEY.public_key().key_id
    assert SEALED[100:132] == CASE_KEY.public_key().key_id
    assert len(SEALED) == expected_length(4 * KIB) == 8548


def test_identity_section_decrypts_with_the_documented_info_and_fixed_padding() -> None:
    padded = RAW_SUITE.decrypt(
        SEALED[IDENTITY_START:CASE_START],
        IDENTITY_KEY.hpke_key(),
        info=IDENTITY_INFO + SEALED[:HEADER_LENGTH],
    )
    assert len(padded) == IDENTITY_SIZE
    assert padded == len(IDENTITY).to_bytes(4, "big") + IDENTITY + bytes(
        IDENTITY_SIZE - 4 - len(IDENTITY)
    )


def test_case_section_decrypts_with_the_documented_info_and_bucket_padding() -> None:
    info = (
        CASE_INFO
        + SEALED[:HEADER_LENGTH]
        + hashlib.sha256(SEALED[IDENTITY_START:CASE_START]).digest()
    )
    padded = RAW_SUITE.decrypt(SEALED[CASE_START:], CASE_KEY.hpke_key(), info=info)
    assert len(padded) == 4 * KIB
    assert padded == len(CASE).to_bytes(4, "big") + CASE + bytes(4 * KIB - 4 - len(CASE))


def test_header_encoding_is_the_documented_one() -> None:
    identity_id, case_id = OTHER_KEY.public_key().key_id, CASE_KEY.public_key().key_id
    header = EnvelopeHeader(OTHER_BUREAU, identity_id, case_id)
    assert header.encode() == header_bytes(OTHER_BUREAU, identity_id, case_id)
    assert len(header.encode()) == HEADER_LENGTH


@pytest.mark.parametrize("bucket", BUCKETS[:3])
def test_bureau_ids_of_length_1_and_64_give_envelopes_of_identical_length(bucket: int) -> None:
    lengths = set()
    for bureau_id in ("a", BUREAU, "x" * 64):
        sealed = seal(
            b"", b"\x07" * (bucket - 4), IDENTITY_KEY.public_key(), CASE_KEY.public_key(), bureau_id
        )
        lengths.add(len(sealed))
        assert parse_header(sealed).bureau_id == bureau_id
    assert lengths == {expected_length(bucket)} == {envelope.envelope_length(bucket)}


@settings(deadline=None, max_examples=30)
@given(st.sampled_from(BUCKETS[:3]), st.data())
def test_two_petitions_in_one_bucket_give_envelopes_of_equal_length(
    bucket: int, data: st.DataObject
) -> None:
    low = 0 if bucket == BUCKETS[0] else bucket // 4 - 3
    first = data.draw(st.integers(min_value=low, max_value=bucket - 4))
    second = data.draw(st.integers(min_value=low, max_value=bucket - 4))
    id_first = data.draw(st.integers(min_value=0, max_value=IDENTITY_SIZE - 4))
    id_second = data.draw(st.integers(min_value=0, max_value=IDENTITY_SIZE - 4))
    a = seal(b"i" * id_first, b"a" * first, IDENTITY_KEY.public_key(), CASE_KEY.public_key(), "a")
    b = seal(
        os.urandom(id_second),
        os.urandom(second),
        IDENTITY_KEY.public_key(),
        CASE_KEY.public_key(),
        "b" * 64,
    )
    assert len(a) == len(b) == expected_length(bucket)


def test_the_identity_section_has_one_size() -> None:
    for content in (b"", b"x", b"x" * (IDENTITY_SIZE - 4)):
        sealed = seal(content, CASE, IDENTITY_KEY.public_key(), CASE_KEY.public_key(), BUREAU)
        assert len(sealed) == len(SEALED)
        assert open_identity(sealed, IDENTITY_KEY, BUREAU) == content
    with pytest.raises(TooLarge):
        seal(
            b"x" * (IDENTITY_SIZE - 3),
            CASE,
            IDENTITY_KEY.public_key(),
            CASE_KEY.public_key(),
            BUREAU,
        )


def test_sealing_is_randomised() -> None:
    again = seal(IDENTITY, CASE, IDENTITY_KEY.public_key(), CASE_KEY.public_key(), BUREAU)
    assert again[:HEADER_LENGTH] == SEALED[:HEADER_LENGTH]
    assert again[IDENTITY_START:CASE_START] != SEALED[IDENTITY_START:CASE_START]
    assert again[CASE_START:] != SEALED[CASE_START:]


# --- round trip ----------------------------------------------------------------------------------


def test_round_trip_of_both_sections() -> None:
    assert open_identity(SEALED, IDENTITY_KEY, BUREAU) == IDENTITY
    assert open_case(SEALED, CASE_KEY, BUREAU) == CASE
    assert parse_header(SEALED) == EnvelopeHeader(
        BUREAU, IDENTITY_KEY.public_key().key_id, CASE_KEY.public_key().key_id
    )


@settings(deadline=None, max_examples=40)
@given(st.integers(min_value=0, max_value=64 * KIB - 4), st.binary(min_size=1, max_size=32))
@example(4 * KIB - 4, b"z")
@example(4 * KIB - 3, b"z")
@example(16 * KIB - 4, b"z")
@example(16 * KIB - 3, b"z")
@example(64 * KIB - 4, b"z")
def test_round_trip_across_three_buckets(length: int, pattern: bytes) -> None:
    case = (pattern * (length // len(pattern) + 1))[:length]
    sealed = seal(pattern, case, OTHER_KEY.public_key(), CASE_KEY.public_key(), OTHER_BUREAU)
    bucket = min(b for b in BUCKETS if length + 4 <= b)
    assert len(sealed) == expected_length(bucket)
    assert open_case(sealed, CASE_KEY, OTHER_BUREAU) == case
    assert open_identity(sealed, OTHER_KEY, OTHER_BUREAU) == pattern


@pytest.mark.parametrize("bureau_id", ["", "National", "-national", "na tional", "x" * 65, "北京"])
def test_seal_rejects_an_invalid_bureau_id(bureau_id: str) -> None:
    with pytest.raises(MalformedInput):
        seal(IDENTITY, CASE, IDENTITY_KEY.public_key(), CASE_KEY.public_key(), bureau_id)


# --- tampering -----------------------------------------------------------------------------------


def test_every_byte_flip_anywhere_stops_the_case_from_opening() -> None:
    """The case is bound to the header and, through its hash, to the whole identity section."""
    for index in range(len(SEALED)):
        case_fails(flip(SEALED, index * 8 + index % 8))


def test_every_byte_flip_in_the_header_or_identity_section_stops_the_identity() -> None:
    for index in range(CASE_START):
        identity_fails(flip(SEALED, index * 8 + index % 8))


def test_the_identity_does_not_depend_on_the_case_bytes() -> None:
    """Documented (§7.3): the identity binds the header only, so intake can read who petitioned
    even if the case was damaged; such a case never opens, and the envelope hash in the log
    covers every byte anyway."""
    damaged = flip(SEALED, (CASE_CIPHERTEXT + 10) * 8)
    assert open_identity(damaged, IDENTITY_KEY, BUREAU) == IDENTITY
    case_fails(damaged)


def test_truncation_and_extension_are_detected() -> None:
    for data in (SEALED[:-1], SEALED + b"\x00", SEALED[1:], SEALED[:HEADER_LENGTH], b""):
        case_fails(data)
        identity_fails(data)
    identity_fails(SEALED[:CASE_START])


def test_moving_to_another_bucket_length_is_detected() -> None:
    extended = SEALED + bytes(16 * KIB - 4 * KIB)
    assert parse_header(extended).bureau_id == BUREAU
    case_fails(extended)


def hand_sealed_case(padded: bytes) -> bytes:
    """An envelope whose case section correctly encrypts ``padded``, whatever it holds."""
    head = SEALED[:CASE_START]
    info = CASE_INFO + head[:HEADER_LENGTH] + hashlib.sha256(head[HEADER_LENGTH:]).digest()
    return head + RAW_SUITE.encrypt(padded, CASE_KEY.public_key().hpke_key(), info=info)


def hand_sealed_identity(padded: bytes) -> bytes:
    header = SEALED[:HEADER_LENGTH]
    sealed_identity = RAW_SUITE.encrypt(
        padded, IDENTITY_KEY.public_key().hpke_key(), info=IDENTITY_INFO + header
    )
    return header + sealed_identity + SEALED[CASE_START:]


def test_hand_sealed_sections_open() -> None:
    padded = len(CASE).to_bytes(4, "big") + CASE + bytes(4 * KIB - 4 - len(CASE))
    assert open_case(hand_sealed_case(padded), CASE_KEY, BUREAU) == CASE
    padded = len(IDENTITY).to_bytes(4, "big") + IDENTITY + bytes(IDENTITY_SIZE - 4 - len(IDENTITY))
    assert open_identity(hand_sealed_identity(padded), IDENTITY_KEY, BUREAU) == IDENTITY


@pytest.mark.parametrize(
    "padded",
    [
        (4 * KIB - 3).to_bytes(4, "big") + bytes(4 * KIB - 4),
        b"\xff\xff\xff\xff" + bytes(4 * KIB - 4),
        (3).to_bytes(4, "big") + b"abc" + bytes(4 * KIB - 8) + b"\x01",
    ],
)
def test_authentic_but_badly_padded_case_is_a_decryption_error(padded: bytes) -> None:
    case_fails(hand_sealed_case(padded))


@pytest.mark.parametrize(
    "padded",
    [
        (IDENTITY_SIZE - 3).to_bytes(4, "big") + bytes(IDENTITY_SIZE - 4),
        (3).to_bytes(4, "big") + b"abc" + bytes(IDENTITY_SIZE - 8) + b"\x01",
        (3).to_bytes(4, "big") + b"abc" + bytes(4 * KIB - 7),  # a bucket size, not 2048
    ],
)
def test_authentic_but_badly_padded_identity_is_a_decryption_error(padded: bytes) -> None:
    identity_fails(hand_sealed_identity(padded))


# --- binding -------------------------------------------------------------------------------------


def test_swapping_identity_sections_between_envelopes_stops_the_case() -> None:
    other = seal(
        "李四 110101199003074477".encode(),
        "另一件事".encode(),
        IDENTITY_KEY.public_key(),
        CASE_KEY.public_key(),
        BUREAU,
    )
    assert other[:HEADER_LENGTH] == SEALED[:HEADER_LENGTH]  # same bureau, same keys
    swapped = SEALED[:IDENTITY_START] + other[IDENTITY_START:CASE_START] + SEALED[CASE_START:]
    assert len(swapped) == len(SEALED)
    case_fails(swapped)
    # The identity section is authentic for this header, so it opens; it is the pairing that
    # fails, which a case handler without the identity key detects all the same.
    assert open_identity(swapped, IDENTITY_KEY, BUREAU) == "李四 110101199003074477".encode()
    case_fails(other[:CASE_START] + SEALED[CASE_START:])


def test_the_identity_key_cannot_open_the_case_and_back() -> None:
    case_fails(SEALED, IDENTITY_KEY)
    identity_fails(SEALED, CASE_KEY)


def test_another_key_or_another_bureau_cannot_open() -> None:
    case_fails(SEALED, OTHER_KEY)
    identity_fails(SEALED, OTHER_KEY)
    case_fails(SEALED, CASE_KEY, OTHER_BUREAU)
    identity_fails(SEALED, IDENTITY_KEY, OTHER_BUREAU)


def test_unchanged_header_rewrite_still_opens() -> None:
    header = header_bytes(BUREAU, IDENTITY_KEY.public_key().key_id, CASE_KEY.public_key().key_id)
    assert header + SEALED[HEADER_LENGTH:] == SEALED


def test_sections_moved_to_another_bureau_id_cannot_open() -> None:
    header = header_bytes(
        OTHER_BUREAU, IDENTITY_KEY.public_key().key_id, CASE_KEY.public_key().key_id
    )
    moved = header + SEALED[HEADER_LENGTH:]
    assert parse_header(moved).bureau_id == OTHER_BUREAU
    case_fails(moved, CASE_KEY, OTHER_BUREAU)
    identity_fails(moved, IDENTITY_KEY, OTHER_BUREAU)


def test_relabelled_key_ids_cannot_open() -> None:
    identity_id, case_id = IDENTITY_KEY.public_key().key_id, CASE_KEY.public_key().key_id
    swapped = header_bytes(BUREAU, case_id, identity_id) + SEALED[HEADER_LENGTH:]
    case_fails(swapped)
    case_fails(swapped, IDENTITY_KEY)
    identity_fails(swapped)
    identity_fails(swapped, CASE_KEY)
    other = header_bytes(BUREAU, identity_id, OTHER_KEY.public_key().key_id)
    case_fails(other + SEALED[HEADER_LENGTH:], OTHER_KEY)


def test_error_message_is_identical_in_every_failure_case() -> None:
    messages = {
        case_fails(b"garbage"),
        case_fails(SEALED[:-1]),
        case_fails(flip(SEALED, 0)),  # magic
        case_fails(flip(SEALED, 3 * 8)),  # version
        case_fails(flip(SEALED, 10 * 8)),  # bureau id
        case_fails(flip(SEALED, 80 * 8)),  # identity key id
        case_fails(flip(SEALED, 110 * 8)),  # case key id
        case_fails(flip(SEALED, 2000 * 8)),  # identity section
        case_fails(flip(SEALED, 5000 * 8)),  # case ciphertext
        case_fails(SEALED, OTHER_KEY),
        case_fails(SEALED, CASE_KEY, OTHER_BUREAU),
        identity_fails(flip(SEALED, 2000 * 8)),
        identity_fails(SEALED, OTHER_KEY),
    }
    assert messages == {EXPECTED_MESSAGE}
    assert "national" not in EXPECTED_MESSAGE


# --- parse_header --------------------------------------------------------------------------------


def test_parse_header_returns_only_the_header() -> None:
    header = parse_header(SEALED)
    assert isinstance(header, EnvelopeHeader)
    assert header.bureau_id == BUREAU
    assert header.identity_key_id == IDENTITY_KEY.public_key().key_id
    assert header.case_key_id == CASE_KEY.public_key().key_id
    assert header.encode() == SEALED[:HEADER_LENGTH]
    assert not hasattr(header, "token")


def test_parse_header_does_not_need_a_private_key() -> None:
    forged = SEALED[:HEADER_LENGTH] + bytes(len(SEALED) - HEADER_LENGTH)
    assert parse_header(forged).bureau_id == BUREAU


def with_byte(data: bytes, index: int, value: int) -> bytes:
    changed = bytearray(data)
    changed[index] = value
    return bytes(changed)


def with_bureau_field(field: bytes) -> bytes:
    assert len(field) == 64
    return SEALED[:4] + field + SEALED[68:]


MALFORMED = {
    "empty": b"",
    "garbage": b"\x00\x01garbage" * 700,
    "magic only": b"SPE",
    "magic and version only": b"SPE\x02",
    "bad magic": b"SPF" + SEALED[3:],
    "lower-case magic": b"spe" + SEALED[3:],
    "empty bureau field": with_bureau_field(bytes(64)),
    "byte after the NUL padding": with_bureau_field(b"national\x00x".ljust(64, b"\x00")),
    "bureau padded with a space": with_bureau_field(b"national ".ljust(64, b"\x00")),
    "NUL before the bureau id": with_bureau_field(b"\x00national".ljust(64, b"\x00")),
    "last byte after padding": with_bureau_field(b"national".ljust(63, b"\x00") + b"x"),
    "upper-case bureau": with_bureau_field(b"NATIONAL".ljust(64, b"\x00")),
    "non-ASCII bureau": with_bureau_field("nation\u00e9".encode().ljust(64, b"\x00")),
    "truncated in the key ids": SEALED[:100],
    "header only": SEALED[:HEADER_LENGTH],
    "identity section only": SEALED[:CASE_START],
    "one byte short": SEALED[:-1],
    "one byte long": SEALED + b"\x00",
    "no case tag": SEALED[:-TAG_LENGTH],
    "between buckets": SEALED + bytes(5000),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_parse_header_rejects_malformed_input(name: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_header(MALFORMED[name])
    assert not isinstance(caught.value, UnsupportedVersion)
    case_fails(MALFORMED[name])


def test_a_full_64_character_bureau_id_fills_the_field() -> None:
    sealed = with_bureau_field(b"x" * 64)
    assert parse_header(sealed).bureau_id == "x" * 64


def v1_envelope() -> bytes:
    """A protocol v1 envelope: length-prefixed bureau id, one key id, a 64-byte token."""
    header = b"SPE\x01" + bytes([len(BUREAU)]) + BUREAU.encode() + bytes(32) + bytes(64)
    return header + bytes(ENC_LENGTH + 4 * KIB + TAG_LENGTH)


@pytest.mark.parametrize("version", [0, 1, 3, 255])
def test_another_version_is_unsupported(version: int) -> None:
    for data in (with_byte(SEALED, 3, version), v1_envelope() if version == 1 else b""):
        if not data:
            continue
        with pytest.raises(UnsupportedVersion) as caught:
            parse_header(data)
        assert caught.value.code == "unsupported_version"
        assert isinstance(caught.value, MalformedInput)
        case_fails(data)
        identity_fails(data)


def test_a_short_v1_envelope_is_still_unsupported() -> None:
    """A v1 envelope is shorter than any v2 one; its version is what the sender must hear."""
    with pytest.raises(UnsupportedVersion):
        parse_header(v1_envelope()[:200])


def test_parse_header_rejects_an_envelope_beyond_the_largest_bucket() -> None:
    too_long = SEALED[:CASE_START] + bytes(ENC_LENGTH + 16384 * KIB + TAG_LENGTH + 1)
    with pytest.raises(MalformedInput):
        parse_header(too_long)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=300))
def test_parse_header_rejects_arbitrary_short_bytes(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        parse_header(data)
    case_fails(data)
    identity_fails(data)


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=HEADER_LENGTH - 4))
def test_a_garbage_header_with_a_valid_length_never_opens(garbage: bytes) -> None:
    data = b"SPE\x02" + garbage.ljust(HEADER_LENGTH - 4, b"\x00") + SEALED[HEADER_LENGTH:]
    if data[:HEADER_LENGTH] != SEALED[:HEADER_LENGTH]:
        with contextlib.suppress(MalformedInput):
            parse_header(data)
        case_fails(data)
        identity_fails(data)
