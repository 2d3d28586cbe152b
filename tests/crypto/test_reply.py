"""Tests of crypto.reply: round trip, binding to petition and bureau, tampering, length hiding.

Lengths and the HPKE ``info`` are written out here from the module docstring, and the padded
plaintext is checked by decrypting with ``cryptography``'s HPKE directly, so the expectations do
not come from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import hpke
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crypto import envelope
from crypto.errors import DecryptionError, MalformedInput, SchemaViolation
from crypto.fields import petition_id_for
from crypto.keys import EncryptionPrivateKey
from crypto.reply import open_reply, seal_reply

REPLY_KEY = EncryptionPrivateKey.generate()
OTHER_KEY = EncryptionPrivateKey.generate()
PETITION = petition_id_for(b"petition one")
OTHER_PETITION = petition_id_for(b"petition two")
BUREAU = "national"
OTHER_BUREAU = "guangdong"

MESSAGE = (
    "您好，张三：\n您反映的拖欠工资问题已转交深圳市劳动监察大队处理。\n"
    "请于十五个工作日内留意回复。😊"
)
SEALED = seal_reply(MESSAGE, REPLY_KEY.public_key(), PETITION, BUREAU)

ENC_LENGTH = 1120
TAG_LENGTH = 16
KIB = 1024
BUCKETS = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1024 * KIB, 4096 * KIB, 16384 * KIB]
RAW_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
EXPECTED_MESSAGE = DecryptionError().message


def reply_info(petition_id: str, bureau_id: str) -> bytes:
    return (
        b"sealed-petition/v2/hpke/reply\x00" + petition_id.encode() + b"\x00" + bureau_id.encode()
    )


def expected_length(message: str) -> int:
    plaintext = json.dumps({"message": message}, ensure_ascii=False, separators=(",", ":"))
    bucket = min(b for b in BUCKETS if len(plaintext.encode()) + 4 <= b)
    return 4 + ENC_LENGTH + bucket + TAG_LENGTH


def flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def expect_decryption_error(action: Callable[[], object]) -> str:
    with pytest.raises(DecryptionError) as caught:
        action()
    error = caught.value
    assert type(error) is DecryptionError
    assert error.message == EXPECTED_MESSAGE
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error.message


def expect_open_fails(
    data: bytes,
    key: EncryptionPrivateKey = REPLY_KEY,
    petition_id: str = PETITION,
    bureau_id: str = BUREAU,
) -> str:
    return expect_decryption_error(lambda: open_reply(data, key, petition_id, bureau_id))


# --- layout and round trip -----------------------------------------------------------------------


def test_layout_matches_the_docstring() -> None:
    assert SEALED[:4] == b"SPR\x02"
    assert len(SEALED) == 4 + ENC_LENGTH + 4 * KIB + TAG_LENGTH
    padded = RAW_SUITE.decrypt(SEALED[4:], REPLY_KEY.hpke_key(), info=reply_info(PETITION, BUREAU))
    plaintext = json.dumps({"message": MESSAGE}, ensure_ascii=False, separators=(",", ":")).encode()
    assert padded == len(plaintext).to_bytes(4, "big") + plaintext + bytes(
        4 * KIB - 4 - len(plaintext)
    )


def test_round_trip_of_a_chinese_message() -> None:
    assert open_reply(SEALED, REPLY_KEY, PETITION, BUREAU) == MESSAGE


@settings(deadline=None, max_examples=100)
@given(
    st.text(
        # Replies are multi-line text: control characters other than tab, CR and LF are refused
        # (see test_control_characters_are_refused below).
        alphabet=st.characters(codec="utf-8").filter(
            lambda c: c in "\t\n\r" or not (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)
        ),
        min_size=1,
        max_size=2000,
    )
)
@example("回")
@example('\t\n"\\')
@example("e\u0301")
@example("\u00e9")
def test_round_trip_of_arbitrary_messages(message: str) -> None:
    sealed = seal_reply(message, REPLY_KEY.public_key(), PETITION, OTHER_BUREAU)
    assert open_reply(sealed, REPLY_KEY, PETITION, OTHER_BUREAU) == message
    assert len(sealed) == expected_length(message)


def test_longest_message_round_trips() -> None:
    message = "复" * 50_000  # 150 000 bytes of UTF-8
    sealed = seal_reply(message, REPLY_KEY.public_key(), PETITION, BUREAU)
    assert len(sealed) == 4 + ENC_LENGTH + 256 * KIB + TAG_LENGTH
    assert open_reply(sealed, REPLY_KEY, PETITION, BUREAU) == message


def test_sealing_is_randomised() -> None:
    assert seal_reply(MESSAGE, REPLY_KEY.public_key(), PETITION, BUREAU) != SEALED


# --- length hiding -------------------------------------------------------------------------------


@settings(deadline=None, max_examples=40)
@given(st.data())
def test_reply_length_depends_only_on_the_bucket(data: st.DataObject) -> None:
    # {"message":"..."} costs 14 bytes around the text; the prefix costs 4.
    bucket = data.draw(st.sampled_from(BUCKETS[:2]))  # 64 KiB needs > 50 000 characters
    low = 1 if bucket == BUCKETS[0] else bucket // 4 - 18 + 1
    first = data.draw(st.integers(min_value=low, max_value=bucket - 18))
    second = data.draw(st.integers(min_value=low, max_value=bucket - 18))
    a = seal_reply("a" * first, REPLY_KEY.public_key(), PETITION, BUREAU)
    b = seal_reply("b" * second, OTHER_KEY.public_key(), OTHER_PETITION, OTHER_BUREAU)
    assert len(a) == len(b) == 4 + ENC_LENGTH + bucket + TAG_LENGTH


def test_bucket_boundary_for_replies() -> None:
    fits = seal_reply("a" * (4 * KIB - 18), REPLY_KEY.public_key(), PETITION, BUREAU)
    spills = seal_reply("a" * (4 * KIB - 17), REPLY_KEY.public_key(), PETITION, BUREAU)
    assert len(fits) == 4 + ENC_LENGTH + 4 * KIB + TAG_LENGTH
    assert len(spills) == 4 + ENC_LENGTH + 16 * KIB + TAG_LENGTH


# --- binding and tampering -----------------------------------------------------------------------


def test_wrong_petition_id_cannot_open() -> None:
    expect_open_fails(SEALED, petition_id=OTHER_PETITION)


def test_wrong_bureau_id_cannot_open() -> None:
    expect_open_fails(SEALED, bureau_id=OTHER_BUREAU)


def test_wrong_key_cannot_open() -> None:
    expect_open_fails(SEALED, key=OTHER_KEY)


def test_petition_and_bureau_boundary_is_unambiguous() -> None:
    # The NUL separator keeps ("...", "ab") and ("...a", "b")-style splits apart; ids are fixed
    # length here, so check that the bureau id is bound in full, not as a prefix.
    sealed = seal_reply(MESSAGE, REPLY_KEY.public_key(), PETITION, "guang")
    expect_open_fails(sealed, bureau_id="guangdong")
    expect_open_fails(sealed, bureau_id="guan")
    assert open_reply(sealed, REPLY_KEY, PETITION, "guang") == MESSAGE


@settings(deadline=None, max_examples=300)
@given(st.integers(min_value=0, max_value=len(SEALED) * 8 - 1))
@example(0)
@example(31)
@example(32)
@example(len(SEALED) * 8 - 1)
def test_any_single_bit_flip_is_detected(bit: int) -> None:
    expect_open_fails(flip(SEALED, bit))


def test_every_bit_flip_in_the_first_bytes_is_detected() -> None:
    for bit in range((4 + 64) * 8):  # magic, version and the start of the encapsulated key
        expect_open_fails(flip(SEALED, bit))


def test_truncation_and_extension_are_detected() -> None:
    expect_open_fails(SEALED[:-1])
    expect_open_fails(SEALED + b"\x00")
    expect_open_fails(SEALED[:4])
    expect_open_fails(b"")
    expect_open_fails(SEALED + bytes(12 * KIB))  # next bucket's length, wrong tag


def test_an_envelope_is_not_a_reply() -> None:
    sealed = envelope.seal(b"x", b"y", REPLY_KEY.public_key(), REPLY_KEY.public_key(), BUREAU)
    expect_open_fails(sealed)
    expect_open_fails(b"SPR\x02" + sealed[4:])
    expect_open_fails(b"SPR\x02" + sealed[envelope.CASE_OFFSET :])


def test_a_version_1_reply_is_refused() -> None:
    """Protocol v1's layout and label: refused like any other reply that does not open."""
    v1_info = b"sealed-petition/v1/hpke/reply\x00" + PETITION.encode() + b"\x00" + BUREAU.encode()
    plaintext = json.dumps({"message": "您好"}, ensure_ascii=False, separators=(",", ":")).encode()
    padded = len(plaintext).to_bytes(4, "big") + plaintext + bytes(4 * KIB - 4 - len(plaintext))
    v1 = b"SPR\x01" + RAW_SUITE.encrypt(padded, REPLY_KEY.public_key().hpke_key(), info=v1_info)
    expect_open_fails(v1)
    expect_open_fails(b"SPR\x02" + v1[4:])


def test_error_message_is_identical_in_every_failure_case() -> None:
    messages = {
        expect_open_fails(SEALED, petition_id=OTHER_PETITION),
        expect_open_fails(SEALED, bureau_id=OTHER_BUREAU),
        expect_open_fails(SEALED, key=OTHER_KEY),
        expect_open_fails(flip(SEALED, 0)),
        expect_open_fails(flip(SEALED, 1000)),
        expect_open_fails(SEALED[:-1]),
    }
    assert messages == {EXPECTED_MESSAGE}


def hand_sealed(plaintext: bytes, bucket: int = 4 * KIB) -> bytes:
    """A reply whose HPKE part correctly encrypts ``plaintext`` padded by hand to ``bucket``."""
    padded = len(plaintext).to_bytes(4, "big") + plaintext + bytes(bucket - 4 - len(plaintext))
    return b"SPR\x02" + RAW_SUITE.encrypt(
        padded, REPLY_KEY.public_key().hpke_key(), info=reply_info(PETITION, BUREAU)
    )


def test_hand_sealed_reply_opens() -> None:
    # Control for the test below: the hand-made construction is accepted when the content is right.
    assert (
        open_reply(hand_sealed('{"message":"您好"}'.encode()), REPLY_KEY, PETITION, BUREAU)
        == "您好"
    )


@pytest.mark.parametrize(
    "plaintext",
    [
        b"",
        b"not json",
        b'{"message": "spaced"}',
        b'{"message":"a","extra":1}',
        b'{"text":"a"}',
        b'{"message":1}',
        b'{"message":null}',
        b'["message"]',
        b'"message"',
        b'{"message":"\xff"}',
    ],
)
def test_authentic_but_malformed_plaintext_is_a_decryption_error(plaintext: bytes) -> None:
    expect_open_fails(hand_sealed(plaintext))


def test_authentic_but_badly_padded_plaintext_is_a_decryption_error() -> None:
    padded = (3).to_bytes(4, "big") + b"abc" + bytes(4 * KIB - 8) + b"\x01"
    sealed = b"SPR\x02" + RAW_SUITE.encrypt(
        padded, REPLY_KEY.public_key().hpke_key(), info=reply_info(PETITION, BUREAU)
    )
    expect_open_fails(sealed)


# --- message schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["", "复" * 50_001, "a" * 50_001])
def test_empty_or_over_long_message_is_a_schema_violation(message: str) -> None:
    with pytest.raises(SchemaViolation):
        seal_reply(message, REPLY_KEY.public_key(), PETITION, BUREAU)


@pytest.mark.parametrize("message", [None, b"bytes", 42])
def test_a_message_that_is_not_text_is_a_schema_violation(message: object) -> None:
    with pytest.raises(SchemaViolation):
        seal_reply(cast(Any, message), REPLY_KEY.public_key(), PETITION, BUREAU)


@pytest.mark.parametrize("petition_id", ["", "ABCDEF" * 5 + "AB", "0" * 31, "0" * 33, "g" * 32])
def test_invalid_petition_id_is_refused(petition_id: str) -> None:
    with pytest.raises(MalformedInput):
        seal_reply(MESSAGE, REPLY_KEY.public_key(), petition_id, BUREAU)


@pytest.mark.parametrize("bureau_id", ["", "National", "北京", "x" * 65])
def test_invalid_bureau_id_is_refused(bureau_id: str) -> None:
    with pytest.raises(MalformedInput):
        seal_reply(MESSAGE, REPLY_KEY.public_key(), PETITION, bureau_id)


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused(character: str) -> None:
    with pytest.raises(SchemaViolation):
        seal_reply("答复" + character, REPLY_KEY.public_key(), PETITION, BUREAU)
