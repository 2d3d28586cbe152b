"""Receipt codes: typo detection, lenient reading, and the keys derived from the secret."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import InvalidReceiptCode
from crypto.receipt import CROCKFORD, ReceiptSecret, lookup_key_hash

secrets = st.binary(min_size=16, max_size=16)


def test_code_shape() -> None:
    code = ReceiptSecret.generate().code
    assert re.fullmatch(r"1[0-9A-Z]{3}(-[0-9A-Z]{4}){6}", code)
    assert not set(code) & set("ILOU")


@given(secrets)
def test_code_round_trip(secret: bytes) -> None:
    receipt = ReceiptSecret(secret)
    assert ReceiptSecret.from_code(receipt.code).to_bytes() == secret


@given(secrets)
def test_reading_is_lenient_about_case_separators_and_confusable_letters(secret: bytes) -> None:
    code = ReceiptSecret(secret).code
    sloppy = " " + code.lower().replace("-", " ").replace("0", "o").replace("1", "l") + " "
    assert ReceiptSecret.from_code(sloppy).to_bytes() == secret
    full_width = code.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    assert ReceiptSecret.from_code(full_width).to_bytes() == secret


@settings(max_examples=200)
@given(secrets, st.integers(min_value=0, max_value=27), st.integers(1, 31))
def test_every_single_character_substitution_is_caught(
    secret: bytes, position: int, shift: int
) -> None:
    compact = ReceiptSecret(secret).code.replace("-", "")
    replaced = CROCKFORD[(CROCKFORD.index(compact[position]) + shift) % 32]
    typo = compact[:position] + replaced + compact[position + 1 :]
    with pytest.raises(InvalidReceiptCode):
        ReceiptSecret.from_code(typo)


def test_adjacent_transpositions_are_nearly_always_caught() -> None:
    """Luhn mod N misses swaps of a few specific pairs only; measure it rather than assume."""
    caught = total = 0
    for _ in range(200):
        compact = ReceiptSecret.generate().code.replace("-", "")
        for i in range(1, len(compact) - 1):
            if compact[i] == compact[i + 1]:
                continue
            swapped = compact[:i] + compact[i + 1] + compact[i] + compact[i + 2 :]
            total += 1
            try:
                ReceiptSecret.from_code(swapped)
            except InvalidReceiptCode:
                caught += 1
    assert caught / total > 0.95


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "28 characters"),
        ("1ABC-DEFG", "28 characters"),
        ("1ABC-DEFG-HJKM-NPQR-STVW-XYZ0-12U4", "letters"),
        ("2ABC-DEFG-HJKM-NPQR-STVW-XYZ0-1234", "unknown version"),
    ],
)
def test_malformed_codes_have_specific_messages(code: str, fragment: str) -> None:
    with pytest.raises(InvalidReceiptCode, match=fragment):
        ReceiptSecret.from_code(code)


def test_non_canonical_trailing_bits_are_refused() -> None:
    """The 26th character carries 3 bits; the 2 spare bits must be zero (one spelling per code)."""
    compact = ReceiptSecret(bytes(16)).code.replace("-", "")
    body = compact[:-2] + "1"  # 0b00001: a spare bit set
    from crypto.receipt import _luhn_mod32_check

    with pytest.raises(InvalidReceiptCode):
        ReceiptSecret.from_code(body + _luhn_mod32_check(body))


def test_derived_keys_are_deterministic_and_independent() -> None:
    receipt = ReceiptSecret(bytes(range(16)))
    again = ReceiptSecret.from_code(receipt.code)
    assert receipt.reply_private_key().public_key() == again.reply_private_key().public_key()
    assert receipt.lookup_key() == again.lookup_key()
    assert len(receipt.lookup_key()) == 32
    assert receipt.lookup_key() not in receipt.reply_private_key().to_bytes()
    other = ReceiptSecret(bytes(range(1, 17)))
    assert other.lookup_key() != receipt.lookup_key()


def test_lookup_key_hash_is_not_the_key() -> None:
    receipt = ReceiptSecret.generate()
    assert receipt.lookup_key_hash() == lookup_key_hash(receipt.lookup_key())
    assert receipt.lookup_key_hash() != receipt.lookup_key()


def test_repr_hides_the_secret() -> None:
    receipt = ReceiptSecret(bytes(range(16)))
    assert receipt.code not in repr(receipt)
    assert bytes(range(16)).hex() not in repr(receipt)
