"""Sealed petition files (protocol §17): the request of ``submit``, kept for later delivery."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import envelope, padding
from crypto.document import CaseDocument, IdentityDocument
from crypto.errors import MalformedInput, UnsupportedVersion
from crypto.fields import petition_id_for
from crypto.keys import EncryptionPrivateKey
from crypto.petition import SealingKeys, seal_petition
from crypto.receipt import ReceiptSecret
from crypto.sealed_file import (
    CHECKSUM_LENGTH,
    HEADER_LENGTH,
    INTRO_LINE,
    MAX_FILE_LENGTH,
    SealedPetition,
    decode_sealed_file,
    encode_sealed_file,
)

SECRET = ReceiptSecret(bytes(range(16)))


def _envelope(body: str = "请修路。") -> bytes:
    keys = SealingKeys(
        "guangdong",
        EncryptionPrivateKey.generate().public_key(),
        EncryptionPrivateKey.generate().public_key(),
    )
    identity = IdentityDocument("张三", "cn-resident", "11010519491231002X", "13800000000")
    case = CaseDocument(
        subject="道路维修", body=body, category="交通", region="广东省", respondent="",
        reply_key=SECRET.reply_private_key().public_key(), id_prehash=bytes(32),
        created_day=date(2026, 3, 2),
    )  # fmt: skip
    return seal_petition(identity, case, keys)


ENVELOPE = _envelope()
FILE = encode_sealed_file(ENVELOPE, SECRET.lookup_key_hash())


def _rehashed(data: bytes) -> bytes:
    """``data`` with its last 32 bytes replaced by the checksum of the rest."""
    return data[:-32] + hashlib.sha256(data[:-32]).digest()


def test_the_file_is_an_intro_line_the_lookup_key_hash_the_envelope_and_a_checksum() -> None:
    assert FILE.startswith(b"sealed-petition-file/v2\n")
    assert FILE[24:56] == SECRET.lookup_key_hash()
    assert FILE[56:60] == len(ENVELOPE).to_bytes(4, "big") == (8548).to_bytes(4, "big")
    assert FILE[60:-32] == ENVELOPE
    assert FILE[-32:] == hashlib.sha256(FILE[:-32]).digest()
    assert len(FILE) == HEADER_LENGTH + len(ENVELOPE) + CHECKSUM_LENGTH == 8640
    petition = decode_sealed_file(FILE)
    assert petition == SealedPetition(ENVELOPE, SECRET.lookup_key_hash())
    assert petition.bureau_id == "guangdong"
    assert petition.petition_id == petition_id_for(ENVELOPE)
    assert petition.encode() == FILE


def test_the_file_holds_nothing_that_leads_back_to_the_code() -> None:
    for secret in (SECRET.to_bytes(), SECRET.lookup_key(), SECRET.code.encode("ascii")):
        assert secret not in FILE
    assert SECRET.code.replace("-", "").encode("ascii") not in FILE


def test_every_bucket_has_its_own_length_and_round_trips() -> None:
    big = _envelope("长" * 6000)  # 18,000 bytes of text: the 64 KiB bucket
    assert len(big) == envelope.envelope_length(padding.BUCKETS[2])
    assert decode_sealed_file(encode_sealed_file(big, bytes(32))).envelope == big


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        (b"", MalformedInput, "truncated: 0 bytes"),
        (INTRO_LINE[:10], MalformedInput, "truncated: 10 bytes"),
        (INTRO_LINE[:-1], MalformedInput, "truncated: 23 bytes"),
        (b"SPE\x02" + bytes(100), MalformedInput, "not a sealed petition file"),
        (b"sealed-petition-file/v1\n" + FILE[24:], UnsupportedVersion, "version v1 is not"),
        (b"sealed-petition-file/v10\n" + FILE[24:], UnsupportedVersion, "version v10 is not"),
        (b"sealed-petition-file/\xff\xfe\n" + FILE[24:], MalformedInput, "first line is not"),
        (b"sealed-petition-file/v2\r\n" + FILE[25:], MalformedInput, "first line is not"),
        (b"sealed-petition-file/" + b"v" * 100, MalformedInput, "first line is not"),
        (FILE[:59], MalformedInput, "truncated: 59 bytes, shorter than the 60-byte header"),
        (FILE[:60], MalformedInput, "truncated: 60 bytes, and a file with an envelope of 8548"),
        (FILE[:-1], MalformedInput, "truncated: 8639 bytes"),
        (FILE[:-32], MalformedInput, "truncated: 8608 bytes"),
        (FILE + b"\n", MalformedInput, "1 bytes after its checksum"),
        (FILE + FILE, MalformedInput, "8640 bytes after its checksum"),
        (FILE[:56] + (8547).to_bytes(4, "big") + FILE[60:-1], MalformedInput, "length of no"),
        (FILE[:56] + bytes(4), MalformedInput, "says 0 bytes"),
        (FILE[:100] + bytes([FILE[100] ^ 1]) + FILE[101:], MalformedInput, "damaged: its"),
        (FILE[:30] + bytes([FILE[30] ^ 1]) + FILE[31:], MalformedInput, "damaged: its"),
        (FILE[:-1] + bytes([FILE[-1] ^ 1]), MalformedInput, "damaged: its checksum"),
        (_rehashed(FILE[:60] + b"SPX" + FILE[63:]), MalformedInput, "bad magic"),
        (_rehashed(FILE[:63] + b"\x01" + FILE[64:]), UnsupportedVersion, "envelope version 1"),
        (ENVELOPE, MalformedInput, "not a sealed petition file"),
    ],
    ids=range(23),
)
def test_a_damaged_or_foreign_file_is_one_specific_error(
    data: bytes, error: type[MalformedInput], fragment: str
) -> None:
    with pytest.raises(error) as refused:
        decode_sealed_file(data)
    assert fragment in refused.value.message
    assert "\n" not in refused.value.message
    if error is MalformedInput:
        assert not isinstance(refused.value, UnsupportedVersion)


def test_encoding_refuses_what_the_server_would() -> None:
    with pytest.raises(MalformedInput, match="lookup-key hash is 32 bytes"):
        encode_sealed_file(ENVELOPE, bytes(31))
    with pytest.raises(MalformedInput, match="matches no padding bucket"):
        encode_sealed_file(ENVELOPE[:-1], bytes(32))
    with pytest.raises(UnsupportedVersion):
        encode_sealed_file(ENVELOPE[:3] + b"\x01" + ENVELOPE[4:], bytes(32))


def test_the_largest_file_is_the_largest_envelope_with_its_header_and_checksum() -> None:
    assert MAX_FILE_LENGTH == HEADER_LENGTH + envelope.MAX_ENVELOPE_LENGTH + CHECKSUM_LENGTH


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=len(FILE) - 1),
    value=st.integers(min_value=0, max_value=255),
    cut=st.integers(min_value=0, max_value=len(FILE) + 8),
    tail=st.binary(max_size=8),
)
def test_any_edit_is_refused_or_still_a_sealed_petition(
    position: int, value: int, cut: int, tail: bytes
) -> None:
    data = (FILE[:position] + bytes([value]) + FILE[position + 1 :] + tail)[:cut]
    try:
        petition = decode_sealed_file(data)
    except MalformedInput:
        return  # refused, as a project error
    assert data == FILE  # the checksum lets no other edit through
    assert petition.encode() == FILE
