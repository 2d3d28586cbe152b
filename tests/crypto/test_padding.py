"""Tests of crypto.padding: bucket choice at every boundary, the padded layout, strict unpadding.

Expected sizes come from ``EXPECTED_BUCKETS``, the bucket list written out by hand from the
module's docstring (4 KiB growing by a factor of four up to 16 MiB), and from ``reference_pad``,
an independent construction of the documented layout; neither reuses the code under test.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crypto import padding
from crypto.errors import MalformedInput, SchemaViolation, TooLarge

KIB = 1024
MIB = 1024 * KIB
EXPECTED_BUCKETS = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB, 16 * MIB]
LIMIT = 16 * MIB - 4
"""The largest content: the largest bucket minus the four-byte length prefix."""


def expected_bucket(content_length: int) -> int:
    """The smallest bucket with room for the content and its four-byte length prefix."""
    return min(b for b in EXPECTED_BUCKETS if content_length + 4 <= b)


def reference_pad(content: bytes, bucket: int) -> bytes:
    """The documented layout: big-endian u32 length || content || zeros up to the bucket."""
    assert len(content) + 4 <= bucket
    return len(content).to_bytes(4, "big") + content + b"\x00" * (bucket - 4 - len(content))


def padded_of_length(bucket: int, declared: int, content_byte: int = 0x41) -> bytearray:
    """A bucket-sized value whose prefix declares ``declared`` bytes; the rest is content/zeros."""
    value = bytearray(bucket)
    value[:4] = declared.to_bytes(4, "big")
    fill = min(declared, bucket - 4)
    value[4 : 4 + fill] = bytes([content_byte]) * fill
    return value


def test_bucket_list_is_the_documented_one() -> None:
    assert list(padding.BUCKETS) == EXPECTED_BUCKETS
    assert padding.LENGTH_PREFIX == 4
    assert padding.MAX_CONTENT_LENGTH == LIMIT


# --- bucket boundaries ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(EXPECTED_BUCKETS)))
def test_content_that_exactly_fills_a_bucket_stays_in_it(index: int) -> None:
    bucket = EXPECTED_BUCKETS[index]
    content = b"\xa5" * (bucket - 4)
    assert padding.bucket_for(bucket - 4) == bucket
    padded = padding.pad(content)
    assert len(padded) == bucket
    assert padded == reference_pad(content, bucket)
    assert padding.unpad(padded) == content


@pytest.mark.parametrize("index", range(len(EXPECTED_BUCKETS) - 1))
def test_one_byte_more_moves_to_the_next_bucket(index: int) -> None:
    bucket, following = EXPECTED_BUCKETS[index], EXPECTED_BUCKETS[index + 1]
    content = b"\x5a" * (bucket - 3)
    assert padding.bucket_for(bucket - 3) == following
    padded = padding.pad(content)
    assert len(padded) == following
    assert padded == reference_pad(content, following)
    assert padding.unpad(padded) == content


def test_empty_content_is_the_smallest_bucket() -> None:
    assert padding.pad(b"") == b"\x00" * (4 * KIB)
    assert padding.unpad(b"\x00" * (4 * KIB)) == b""


def test_largest_content_fits_and_one_more_byte_is_too_large() -> None:
    content = b"\x01" * LIMIT
    padded = padding.pad(content)
    assert len(padded) == 16 * MIB
    assert padded[:4] == LIMIT.to_bytes(4, "big")
    assert padding.unpad(padded) == content

    with pytest.raises(TooLarge) as caught:
        padding.pad(content + b"\x01")
    assert str(LIMIT) in caught.value.message
    assert "limit" in caught.value.message
    assert caught.value.code == "too_large"
    assert not isinstance(caught.value, SchemaViolation)


@pytest.mark.parametrize("length", [LIMIT + 1, 16 * MIB, 2**32, 10**12])
def test_bucket_for_too_large_lengths_states_the_limit(length: int) -> None:
    with pytest.raises(TooLarge) as caught:
        padding.bucket_for(length)
    assert f"the limit is {LIMIT} bytes" in caught.value.message


# --- the padded length depends only on the bucket ------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(st.integers(min_value=0, max_value=300 * KIB), st.binary(min_size=1, max_size=16))
@example(4 * KIB - 4, b"x")
@example(4 * KIB - 3, b"x")
@example(64 * KIB - 3, b"x")
def test_padded_length_depends_only_on_the_bucket(length: int, pattern: bytes) -> None:
    content = (pattern * (length // len(pattern) + 1))[:length]
    bucket = expected_bucket(length)
    padded = padding.pad(content)
    assert len(padded) == bucket
    assert padded == reference_pad(content, bucket)
    # Any other content of any length in the same bucket pads to the same size.
    smallest_in_bucket = 0 if bucket == EXPECTED_BUCKETS[0] else bucket // 4 - 3
    assert len(padding.pad(b"\xff" * smallest_in_bucket)) == len(padded)
    assert len(padding.pad(b"\xff" * (bucket - 4))) == len(padded)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=20 * KIB))
def test_unpad_inverts_pad(content: bytes) -> None:
    padded = padding.pad(content)
    assert padding.unpad(padded) == content


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=4 * KIB - 4))
def test_unpad_reads_the_reference_layout(content: bytes) -> None:
    assert padding.unpad(reference_pad(content, 4 * KIB)) == content


# --- strict unpadding ----------------------------------------------------------------------------


NON_BUCKET_SIZES = sorted(
    {0, 1, 3, 4, 5, 100}
    | {b + d for b in EXPECTED_BUCKETS[:5] for d in (-1, 1)}
    | {b // 2 for b in EXPECTED_BUCKETS[:5]}
)


@pytest.mark.parametrize("size", NON_BUCKET_SIZES)
def test_unpad_rejects_sizes_that_are_not_buckets(size: int) -> None:
    with pytest.raises(MalformedInput):
        padding.unpad(bytes(size))


@settings(deadline=None, max_examples=150)
@given(st.integers(min_value=0, max_value=70 * KIB).filter(lambda n: n not in EXPECTED_BUCKETS))
def test_unpad_rejects_any_non_bucket_size(size: int) -> None:
    with pytest.raises(MalformedInput):
        padding.unpad(bytes(size))


@pytest.mark.parametrize("bucket", EXPECTED_BUCKETS[:4])
@pytest.mark.parametrize("excess", [1, 2, 100])
def test_unpad_rejects_a_declared_length_beyond_the_bucket(bucket: int, excess: int) -> None:
    assert padding.unpad(bytes(padded_of_length(bucket, bucket - 4))) == b"A" * (bucket - 4)
    with pytest.raises(MalformedInput):
        padding.unpad(bytes(padded_of_length(bucket, bucket - 4 + excess)))


@pytest.mark.parametrize("declared", [4 * KIB, 16 * KIB, 2**31, 2**32 - 1])
def test_unpad_rejects_huge_declared_lengths(declared: int) -> None:
    with pytest.raises(MalformedInput):
        padding.unpad(bytes(padded_of_length(4 * KIB, declared)))


@settings(deadline=None, max_examples=200)
@given(
    st.integers(min_value=0, max_value=4 * KIB - 5),
    st.data(),
    st.integers(min_value=1, max_value=255),
)
def test_unpad_rejects_any_non_zero_padding_byte(
    declared: int, data: st.DataObject, value: int
) -> None:
    padded = padded_of_length(4 * KIB, declared)
    assert padding.unpad(bytes(padded)) == b"A" * declared
    position = data.draw(st.integers(min_value=4 + declared, max_value=4 * KIB - 1))
    padded[position] = value
    with pytest.raises(MalformedInput):
        padding.unpad(bytes(padded))


@pytest.mark.parametrize("bucket", EXPECTED_BUCKETS[:5])
def test_unpad_rejects_a_non_zero_last_byte_in_every_bucket(bucket: int) -> None:
    padded = padded_of_length(bucket, 10)
    padded[-1] = 0x80
    with pytest.raises(MalformedInput):
        padding.unpad(bytes(padded))


def test_content_may_contain_zero_bytes_and_end_in_them() -> None:
    content = b"\x00abc\x00\x00"
    assert padding.unpad(padding.pad(content)) == content
    assert padding.unpad(padding.pad(b"\x00" * 9)) == b"\x00" * 9


# --- pad_to / unpad_from: one fixed size (the identity section, protocol v2) ---------------------


def test_the_identity_section_size_is_the_documented_one() -> None:
    assert padding.IDENTITY_SECTION_SIZE == 2048


@pytest.mark.parametrize("size", [4, 5, 2048, 4 * KIB])
def test_pad_to_is_the_reference_layout_at_any_size(size: int) -> None:
    for length in sorted({0, min(1, size - 4), size - 4}):
        content = b"\xc3" * length
        padded = padding.pad_to(content, size)
        assert padded == reference_pad(content, size)
        assert padding.unpad_from(padded, size) == content


def test_pad_to_refuses_content_that_does_not_fit() -> None:
    with pytest.raises(TooLarge) as caught:
        padding.pad_to(b"x" * 2045, 2048)
    assert caught.value.code == "too_large"
    assert len(padding.pad_to(b"x" * 2044, 2048)) == 2048


def test_pad_to_does_not_round_up_to_a_bucket() -> None:
    assert len(padding.pad_to(b"abc", 2048)) == 2048
    assert 2048 not in padding.BUCKETS


@pytest.mark.parametrize("length", [0, 2047, 2049, 4 * KIB])
def test_unpad_from_insists_on_the_exact_size(length: int) -> None:
    with pytest.raises(MalformedInput):
        padding.unpad_from(bytes(length), 2048)


def test_unpad_from_is_strict() -> None:
    too_long = bytearray(reference_pad(b"", 2048))
    too_long[:4] = (2045).to_bytes(4, "big")
    with pytest.raises(MalformedInput):
        padding.unpad_from(bytes(too_long), 2048)
    dirty = bytearray(reference_pad(b"abc", 2048))
    dirty[-1] = 1
    with pytest.raises(MalformedInput):
        padding.unpad_from(bytes(dirty), 2048)
    full = reference_pad(b"\x01" * 2044, 2048)
    assert padding.unpad_from(full, 2048) == b"\x01" * 2044


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=2044))
def test_unpad_from_inverts_pad_to(content: bytes) -> None:
    assert padding.unpad_from(padding.pad_to(content, 2048), 2048) == content
