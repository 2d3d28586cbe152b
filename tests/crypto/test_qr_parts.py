"""Tests of crypto.qr_parts: base45 against RFC 9285, and the part format of docs/protocol.md §18.

Base45 is checked against the examples published in RFC 9285 §4.3 and §4.4, and against the
range rules of its §6. Parts are rebuilt here by ``reference_part``, an independent construction
of the documented layout (struct, hashlib and a base45 written out below), so the format is
pinned by the specification rather than by the code under test.
"""

from __future__ import annotations

import hashlib
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import qr_parts
from crypto.errors import MalformedInput, TooLarge, UnsupportedVersion
from crypto.qr_parts import (
    BASE45_ALPHABET,
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_TEXT_LENGTH,
    PREFIX,
    Part,
    b45decode,
    b45encode,
    join,
    parse_part,
    split,
)

# --- RFC 9285 -----------------------------------------------------------------------------------

# §4.3 (encoding examples) and §4.4 (decoding example), as published.
RFC9285_VECTORS = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("data", "text"), RFC9285_VECTORS)
def test_base45_matches_the_rfc_examples(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


def test_the_alphabet_is_the_rfc_table_and_the_qr_alphanumeric_set() -> None:
    assert BASE45_ALPHABET == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    assert len(set(BASE45_ALPHABET)) == 45


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("", b""),
        ("00", b"\x00"),
        ("U5", b"\xff"),  # 30 + 5*45 = 255, the largest two-character group
        ("000", b"\x00\x00"),
        ("FGW", b"\xff\xff"),  # 15 + 16*45 + 32*2025 = 65535, the largest three-character group
    ],
)
def test_base45_boundaries(text: str, data: bytes) -> None:
    assert b45decode(text) == data
    assert b45encode(data) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("GGW", "above 65535"),  # 16 + 16*45 + 32*2025 = 65536
        (":::", "above 65535"),
        ("V5", "above 255"),  # 31 + 5*45 = 256
        ("::", "above 255"),
        ("A", "truncated"),
        ("BB8A", "truncated"),
        ("bb8", "outside its alphabet"),  # lower case is not in the alphabet
        ("BB=", "outside its alphabet"),
        ("BB\n", "outside its alphabet"),
        ("ＢB8", "outside its alphabet"),  # full-width B
    ],
)
def test_base45_refuses_what_the_rfc_says_to_refuse(text: str, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        b45decode(text)


@given(st.binary(max_size=300))
def test_base45_round_trips(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(BASE45_ALPHABET)
    assert len(text) == len(data) // 2 * 3 + len(data) % 2 * 2
    assert b45decode(text) == data


@given(st.text(alphabet=BASE45_ALPHABET, max_size=30))
def test_base45_has_one_spelling(text: str) -> None:
    """Every string either is refused or is exactly the encoding of what it decodes to."""
    try:
        data = b45decode(text)
    except MalformedInput:
        return
    assert b45encode(data) == text


# --- the part format: an independent construction -----------------------------------------------


def reference_b45(data: bytes) -> str:
    digits = []
    for i in range(0, len(data), 2):
        pair = data[i : i + 2]
        n, width = (pair[0] * 256 + pair[1], 3) if len(pair) == 2 else (pair[0], 2)
        digits += [(n // 45**k) % 45 for k in range(width)]
    return "".join(BASE45_ALPHABET[d] for d in digits)


def reference_part(index: int, total: int, whole: bytes, chunk: bytes) -> str:
    body = struct.pack(">HH", index, total) + hashlib.sha256(whole).digest()[:16] + chunk
    check = hashlib.sha256(b"SPQ1:" + body).digest()[:8]
    return "SPQ1:" + reference_b45(body + check)


def test_a_worked_example_is_pinned() -> None:
    """The example of docs/protocol.md §18: ``ietf!`` in parts of 3 bytes."""
    assert qr_parts.file_digest(b"ietf!").hex() == "80c723848424957cf49a4e8c356c2345"
    assert split(b"ietf!", 3) == [
        "SPQ1:100200RCG2M4XVGI+IN-U%-9-X6TK4QED:VE.0T4RFM39T3",
        "SPQ1:200200RCG2M4XVGI+IN-U%-9-X6TK40-CU K+BFKG5$9A",
    ]
    assert split(b"") == ["SPQ1:100100DZSM OEFJXO3UQJO.U*HJBINUD3FWGM/MN$V"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=900))
def test_split_follows_the_specification(data: bytes, part_size: int) -> None:
    texts = split(data, part_size)
    total = max(1, -(-len(data) // part_size))
    assert texts == [
        reference_part(i + 1, total, data, data[i * part_size : (i + 1) * part_size])
        for i in range(total)
    ]


@settings(max_examples=80, deadline=None)
@given(
    st.binary(max_size=4000),
    st.integers(min_value=1, max_value=MAX_PART_SIZE),
    st.randoms(use_true_random=False),
)
def test_join_takes_parts_in_any_order_with_repeats(
    data: bytes, part_size: int, rng: random.Random
) -> None:
    texts = split(data, part_size)
    shuffled = texts + rng.choices(texts, k=rng.randint(0, 3))
    rng.shuffle(shuffled)
    assert join(shuffled) == data


def test_the_default_part_fits_a_version_23_code_at_level_m() -> None:
    texts = split(bytes(DEFAULT_PART_SIZE * 2 + 1))
    # 800 + 28 bytes are 414 base45 groups of 3; the last part is 1 + 28 bytes: 14 groups and 2.
    assert [len(t) for t in texts] == [5 + 414 * 3, 5 + 414 * 3, 5 + 14 * 3 + 2]
    # ISO/IEC 18004 Table 7: version 23-M holds 1,248 alphanumeric characters.
    assert len(texts[0]) <= 1248


def test_the_largest_part_fits_the_largest_qr_code() -> None:
    (text,) = split(bytes(MAX_PART_SIZE), MAX_PART_SIZE)
    assert len(text) <= MAX_TEXT_LENGTH
    with pytest.raises(MalformedInput, match="part size"):
        split(b"x", MAX_PART_SIZE + 1)


@pytest.mark.parametrize("size", [0, -1, MAX_PART_SIZE + 1, True])
def test_split_refuses_a_part_size_out_of_range(size: int) -> None:
    with pytest.raises(MalformedInput, match="part size"):
        split(b"data", size)


def test_split_refuses_more_parts_than_the_format_numbers() -> None:
    with pytest.raises(TooLarge, match="65536 parts"):
        split(bytes(MAX_PARTS + 1), 1)


def test_parse_part_reads_every_field() -> None:
    part = parse_part(reference_part(2, 3, b"whole file", b"chunk"))
    assert part == Part(2, 3, hashlib.sha256(b"whole file").digest()[:16], b"chunk")
    assert part.describe() == f"part 2 of 3 of file {part.digest[:4].hex()}"


# --- refusals -----------------------------------------------------------------------------------

DATA = bytes(range(256)) * 10  # 2,560 bytes: 4 parts of 800
OTHER = b"another file" * 100


def test_a_part_of_another_file_is_refused() -> None:
    texts = split(DATA)
    foreign = split(OTHER)[0]
    with pytest.raises(MalformedInput) as caught:
        join([*texts, foreign])
    mine, theirs = (
        qr_parts.file_id(qr_parts.file_digest(DATA)),
        qr_parts.file_id(qr_parts.file_digest(OTHER)),
    )
    assert caught.value.message == (
        f"the QR parts come from 2 different files (4 parts of file {mine}, 1 part of file "
        f"{theirs}); give the parts of one file at a time"
    )


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ([1, 2, 4], "part 3 of 4"),
        ([1], "parts 2-4 of 4"),
        ([2, 3], "parts 1, 4 of 4"),
        ([4], "parts 1-3 of 4"),
    ],
)
def test_missing_parts_are_named(present: list[int], missing: str) -> None:
    texts = split(DATA)
    with pytest.raises(MalformedInput) as caught:
        join([texts[i - 1] for i in present])
    file_id = qr_parts.file_id(qr_parts.file_digest(DATA))
    verb = "is" if missing.startswith("part ") else "are"
    assert caught.value.message == f"{missing} of file {file_id} {verb} missing"


def test_a_missing_part_is_reported_even_when_others_repeat() -> None:
    texts = split(DATA)
    with pytest.raises(MalformedInput, match=r"part 2 of 4 .* is missing"):
        join([texts[0], texts[0], texts[2], texts[3], texts[3]])


def _flip(text: str, position: int) -> str:
    """Change one base45 character to its neighbour in the alphabet."""
    old = BASE45_ALPHABET.index(text[position])
    return text[:position] + BASE45_ALPHABET[(old + 1) % 45] + text[position + 1 :]


@pytest.mark.parametrize("position", [5, 9, 40, 600, 1200, 1246])
def test_a_corrupted_part_is_refused_by_its_checksum(position: int) -> None:
    texts = split(DATA)
    damaged = _flip(texts[1], position)
    with pytest.raises(MalformedInput, match="damaged") as caught:
        join([texts[0], damaged, *texts[2:]])
    if "checksum" in caught.value.message:
        assert "scan that code again" in caught.value.message


def test_every_single_character_change_is_caught() -> None:
    (text,) = split(b"short file")
    for position in range(len(PREFIX), len(text)):
        with pytest.raises(MalformedInput):
            parse_part(_flip(text, position))


def test_a_truncated_part_is_refused() -> None:
    text = split(DATA)[0]
    for cut in (len(text) - 3, len(text) - 1, len(PREFIX) + 3):
        with pytest.raises(MalformedInput, match=r"damaged|shorter"):
            parse_part(text[:cut])


def test_another_version_is_unsupported_and_another_format_malformed() -> None:
    text = split(DATA)[0]
    with pytest.raises(UnsupportedVersion, match="version 2 is not supported"):
        parse_part("SPQ2:" + text[5:])
    with pytest.raises(UnsupportedVersion, match="version 10 "):
        parse_part("SPQ10:" + text[5:])
    for other in ("HC1:" + text[5:], "spq1:" + text[5:], "SPQ:" + text[5:], "SPQX:", "", "1234"):
        with pytest.raises(MalformedInput, match="not a part of a sealed petition") as caught:
            parse_part(other)
        assert not isinstance(caught.value, UnsupportedVersion)


def test_parts_that_disagree_on_the_count_are_refused() -> None:
    data = bytes(1000)
    # The same file split twice: 2 parts of 800, or 4 parts of 250.
    with pytest.raises(MalformedInput, match=r"disagree on how many parts there are \(2, 4\)"):
        join([*split(data), *split(data, 250)])


def test_two_different_parts_under_one_number_are_refused() -> None:
    data = bytes(range(12))
    # 3 parts either way: 5 + 5 + 2 or 4 + 4 + 4.
    a, b = split(data, 5), split(data, 4)
    with pytest.raises(MalformedInput, match="2 different codes all claim to be part 1 of 3"):
        join([*a, b[0]])


def test_parts_of_sizes_no_split_makes_are_refused() -> None:
    data = bytes(range(12))
    a, b = split(data, 5), split(data, 4)
    with pytest.raises(MalformedInput, match="sizes that no single split produces"):
        join([b[0], a[1], b[2]])  # 4, 5, 4


def test_parts_that_do_not_hash_to_their_file_are_refused() -> None:
    data = bytes(range(12))
    a, b = split(data, 5), split(data, 4)
    with pytest.raises(MalformedInput, match="do not reassemble"):
        join([a[0], a[1], b[2]])  # 5, 5, 4: plausible sizes, wrong bytes


@pytest.mark.parametrize(
    ("index", "total", "chunk", "message"),
    [
        (0, 3, b"x", "numbered 0 of 3"),
        (4, 3, b"x", "numbered 4 of 3"),
        (1, 0, b"x", "numbered 1 of 0"),
        (1, 2, b"", "part 1 of 2 is empty"),
    ],
)
def test_impossible_numbering_is_refused(
    index: int, total: int, chunk: bytes, message: str
) -> None:
    with pytest.raises(MalformedInput, match=message):
        parse_part(reference_part(index, total, b"whole", chunk))


def test_shapes_that_are_not_parts_are_refused() -> None:
    with pytest.raises(MalformedInput, match="no QR parts"):
        join([])
    with pytest.raises(MalformedInput, match="must be text"):
        parse_part(b"SPQ1:" + b"0" * 60)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput, match="no QR code holds that many"):
        parse_part(PREFIX + "0" * MAX_TEXT_LENGTH)
    with pytest.raises(MalformedInput, match="shorter than its 28"):
        parse_part(PREFIX + b45encode(bytes(27)))
