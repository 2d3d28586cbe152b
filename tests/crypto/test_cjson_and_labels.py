"""Canonical JSON strictness and the uniqueness of domain-separation labels."""

from __future__ import annotations

import base64
import binascii
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import cjson, labels
from crypto.errors import MalformedInput

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-cjson.MAX_SAFE_INTEGER, cjson.MAX_SAFE_INTEGER)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(max_codepoint=127), max_size=8), children, max_size=4
        )
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_and_single_encoding(value: object) -> None:
    encoded = cjson.encode(value)
    assert cjson.decode(encoded) == value
    assert cjson.encode(cjson.decode(encoded)) == encoded


def test_known_canonical_form() -> None:
    # RFC 8785 ordering and escaping on a hand-written example.
    value = {"b": [1, "\n\u0001"], "a": "信访", "A": True}
    assert cjson.encode(value) == '{"A":true,"a":"信访","b":[1,"\\n\\u0001"]}'.encode()


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":2}',  # duplicate key
        b'{"a":1.5}',  # float
        b'{"a":NaN}',
        b'{ "a":1}',  # white space
        b'{"b":1,"a":2}',  # unsorted
        b'{"a":"\\u4fe1"}',  # needless escape
        b'{"a":9007199254740992}',  # beyond 2**53 - 1
        b"\xff",  # not UTF-8
        b"[" * 100 + b"]" * 100,  # too deep
        b"",
    ],
)
def test_non_canonical_or_invalid_input_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        cjson.decode(data)


def test_unencodable_values_are_refused() -> None:
    for value in [{1: "x"}, {"é": 1}, b"bytes", 1.0, "\ud800"]:
        with pytest.raises(MalformedInput):
            cjson.encode(value)


@pytest.mark.parametrize("text", ["AA=", "A", "AB", "+/", "AAF", "AA+A", "AA/A", "AA A", "AAA\n"])
def test_base64url_is_strict(text: str) -> None:
    with pytest.raises(MalformedInput):
        cjson.b64decode(text)


def _standard_library_b64decode(text: str) -> bytes | None:
    """Canonical unpadded base64url as the standard library decides it: decode leniently
    (it skips characters outside the alphabet), then demand that re-encoding gives ``text``."""
    if "=" in text or not text.isascii():
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if base64.urlsafe_b64encode(data).rstrip(b"=").decode() == text else None


BASE64URL_AND_NEAR_MISSES = string.ascii_letters + string.digits + "-_+/= \n\t.!é\x00"


@settings(max_examples=3000)
@given(st.text(alphabet=BASE64URL_AND_NEAR_MISSES, max_size=14))
def test_base64url_decoding_agrees_with_the_standard_library(text: str) -> None:
    """The SIMD decoder and the tail check accept exactly what the slow, obvious rule does."""
    try:
        decoded: bytes | None = cjson.b64decode(text)
    except MalformedInput:
        decoded = None
    assert decoded == _standard_library_b64decode(text)


@given(st.binary(max_size=9000))
def test_base64url_round_trips_any_bytes(data: bytes) -> None:
    text = cjson.b64encode(data)
    assert text == base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    assert cjson.b64decode(text) == data


def test_base64url_length_check() -> None:
    assert cjson.b64decode(cjson.b64encode(b"\x00\xff"), length=2) == b"\x00\xff"
    with pytest.raises(MalformedInput, match="expected 3 bytes"):
        cjson.b64decode(cjson.b64encode(b"\x00\xff"), length=3)


def test_labels_are_distinct_prefix_free_and_terminated() -> None:
    values = list(labels.all_labels().values())
    assert len(values) >= 15
    assert len(set(values)) == len(values)
    for value in values:
        assert value.startswith(b"sealed-petition/v2/")
        assert value.endswith(b"\x00")
        assert value.count(b"\x00") == 1
        assert all(not other.startswith(value) for other in values if other is not value)


def test_protocol_v2_labels_are_the_documented_ones() -> None:
    """docs/protocol.md §2.1, written out: v2 splits the envelope label in two and replaces the
    VOPRF key-derivation label with the HMAC token label."""
    names = labels.all_labels()
    expected = {
        "ENVELOPE_IDENTITY_INFO": b"sealed-petition/v2/hpke/envelope/identity\x00",
        "ENVELOPE_CASE_INFO": b"sealed-petition/v2/hpke/envelope/case\x00",
        "REPLY_INFO": b"sealed-petition/v2/hpke/reply\x00",
        "TOKEN_PRF": b"sealed-petition/v2/hmac/token\x00",
        "TOKEN_PREHASH_INPUT": b"sealed-petition/v2/argon2id/id-number\x00",
        "RECEIPT_REPLY_KEY": b"sealed-petition/v2/hkdf/receipt/reply-key\x00",
        "RECEIPT_LOOKUP_KEY": b"sealed-petition/v2/hkdf/receipt/lookup-key\x00",
        "LOOKUP_KEY_HASH": b"sealed-petition/v2/sha256/lookup-key\x00",
        "KEY_FINGERPRINT": b"sealed-petition/v2/sha256/key-fingerprint\x00",
        "PETITION_ID": b"sealed-petition/v2/sha256/petition-id\x00",
        "KEYSTORE_AAD": b"sealed-petition/v2/keystore\x00",
    }
    for kind in ("directory", "bureau-bundle", "reply", "bureau-request", "case-event"):
        expected[f"sig/{kind}"] = b"sealed-petition/v2/sig/" + kind.encode() + b"\x00"
    assert names == expected
    for gone in ("ENVELOPE_INFO", "TOKEN_KEY_INFO"):
        assert not hasattr(labels, gone)
    # Tree heads and receipts are C2SP checkpoints and tlog-proofs now (protocol §13).
    assert {kind.value for kind in labels.SignedKind}.isdisjoint({"tree-head", "receipt"})
