"""Tests of crypto.idnumber: cleaning, the five rules in order, MOD 11-2, and the scheme registry.

Expected values come from GB 11643-1999's published examples, from check characters worked out by
hand below, or from ``reference_check_character``, an independent implementation of ISO 7064
MOD 11-2 in its recursive form (the module under test uses the weight table instead), which is
itself pinned to the published examples.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import idnumber
from crypto.errors import InvalidIdNumber, SealedPetitionError, UnknownIdScheme
from crypto.idnumber import (
    ChineseResidentId,
    IdNormalizer,
    NormalizedId,
    get_normalizer,
    known_schemes,
    mod11_2_check_character,
    normalize_id,
    register_normalizer,
)

TODAY = date(2024, 6, 1)
"""The fixed ``today`` the tests pass, so they do not depend on the day they run."""

EARLIEST = date(1900, 1, 1)

# The two examples printed in GB 11643-1999. The second is check-valid, but its holder was born in
# 1880, before the earliest birth date this project accepts.
PUBLISHED_EXAMPLE = "11010519491231002X"
PUBLISHED_EXAMPLE_1880 = "440524188001010014"

# Weights: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; check = "10X98765432"[sum mod 11].
#
# 11010519491231002X (published):
#   1*7 + 1*9 + 0*10 + 1*5 + 0*8 + 5*4 + 1*2 + 9*1 + 4*6 + 9*3 + 1*7 + 2*9 + 3*10 + 1*5 + 0*8
#   + 0*4 + 2*2 = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2 -> "X"
# 440524188001010014 (published):
#   4*7 + 4*9 + 0*10 + 5*5 + 2*8 + 4*4 + 1*2 + 8*1 + 8*6 + 0*3 + 0*7 + 1*9 + 0*10 + 1*5 + 0*8
#   + 0*4 + 1*2 = 28+36+0+25+16+16+2+8+48+0+0+9+0+5+0+0+2 = 195; 195 mod 11 = 8 -> "4"
# 110101200002290018 (29 February of the leap year 2000):
#   1*7 + 1*9 + 0*10 + 1*5 + 0*8 + 1*4 + 2*2 + 0*1 + 0*6 + 0*3 + 0*7 + 2*9 + 2*10 + 9*5 + 0*8
#   + 0*4 + 1*2 = 7+9+0+5+0+4+4+0+0+0+0+18+20+45+0+0+2 = 114; 114 mod 11 = 4 -> "8"
# 440305199006151231:
#   4*7 + 4*9 + 0*10 + 3*5 + 0*8 + 5*4 + 1*2 + 9*1 + 9*6 + 0*3 + 0*7 + 6*9 + 1*10 + 5*5 + 1*8
#   + 2*4 + 3*2 = 28+36+0+15+0+20+2+9+54+0+0+54+10+25+8+8+6 = 275; 275 mod 11 = 0 -> "1"
# 310104190001010002 (the earliest accepted birth date):
#   3*7 + 1*9 + 0*10 + 1*5 + 0*8 + 4*4 + 1*2 + 9*1 + 0*6 + 0*3 + 0*7 + 1*9 + 0*10 + 1*5 + 0*8
#   + 0*4 + 0*2 = 21+9+0+5+0+16+2+9+0+0+0+9+0+5+0+0+0 = 76; 76 mod 11 = 10 -> "2"
HAND_COMPUTED = [
    PUBLISHED_EXAMPLE,
    PUBLISHED_EXAMPLE_1880,
    "110101200002290018",
    "440305199006151231",
    "310104190001010002",
]
HAND_COMPUTED_VALID = [i for i in HAND_COMPUTED if i != PUBLISHED_EXAMPLE_1880]

RULES = {"empty", "length", "characters", "birth_date", "check_digit"}


def reference_check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2, recursive form: P <- 2(P + digit) mod 11, then check = (12 - P) mod 11."""
    p = 0
    for character in first17:
        p = (p + int(character)) * 2 % 11
    value = (12 - p) % 11
    return "X" if value == 10 else str(value)


def with_check(first17: str) -> str:
    """A number whose check character is right, so that only the rule under test can fail."""
    assert len(first17) == 17
    return first17 + reference_check_character(first17)


def rejection(raw: str, *, today: date = TODAY) -> InvalidIdNumber:
    """Normalise ``raw``, expecting a rejection; check the properties every rejection must have."""
    with pytest.raises(InvalidIdNumber) as caught:
        ChineseResidentId().normalize(raw, today=today)
    error = caught.value
    assert error.rule in RULES
    assert error.code == "invalid_id_number"
    assert isinstance(error, SealedPetitionError)
    assert error.message == str(error)
    assert_does_not_leak(error.message, raw)
    return error


def assert_does_not_leak(message: str, raw: str) -> None:
    """The message repeats neither the input nor its cleaned form, nor any long run of digits."""
    cleaned = raw.replace(" ", "").strip()
    for secret in (raw, cleaned, cleaned.upper()):
        if len(secret) >= 5:
            assert secret not in message
    assert re.search(r"\d{5,}", message) is None, message


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    """Random address code, random existing birth date in range, random sequence, right check."""
    address = draw(st.integers(min_value=0, max_value=999_999))
    born = draw(st.dates(min_value=EARLIEST, max_value=TODAY))
    sequence = draw(st.integers(min_value=0, max_value=999))
    return with_check(f"{address:06d}{born.year:04d}{born.month:02d}{born.day:02d}{sequence:03d}")


# --- the reference implementation and mod11_2_check_character ----------------------------------


@pytest.mark.parametrize("number", HAND_COMPUTED)
def test_reference_check_character_matches_published_and_hand_computed(number: str) -> None:
    assert reference_check_character(number[:17]) == number[17]


@pytest.mark.parametrize("number", HAND_COMPUTED)
def test_mod11_2_check_character_matches_published_and_hand_computed(number: str) -> None:
    assert mod11_2_check_character(number[:17]) == number[17]


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_mod11_2_check_character_matches_reference(first17: str) -> None:
    assert mod11_2_check_character(first17) == reference_check_character(first17)


@pytest.mark.parametrize(
    "argument",
    [
        "",
        "1101051949123100",
        "110105194912310020",
        "1101051949123100A",
        "１１０１０５１９４９１２３１００２",
    ],
)
def test_mod11_2_check_character_rejects_anything_but_17_ascii_digits(argument: str) -> None:
    with pytest.raises(ValueError, match="17 ASCII digits") as caught:
        mod11_2_check_character(argument)
    assert not argument or argument not in str(caught.value)


# --- valid numbers and input cleaning -----------------------------------------------------------


def test_published_example_is_valid() -> None:
    assert ChineseResidentId().normalize(PUBLISHED_EXAMPLE, today=TODAY) == PUBLISHED_EXAMPLE


@pytest.mark.parametrize(
    "spelling",
    [
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "110105 19491231 002X",
        "1101 0519 4912 3100 2x",
        "  110105 19491231 002X\n",
        "\t11010519491231002X \r\n",
        "\u3000１１０１０５\u3000１９４９１２３１\u3000００２Ｘ\u3000",
        "110105\u00a019491231\u00a0002X",
    ],
)
def test_spellings_of_the_published_example_normalise_to_it(spelling: str) -> None:
    assert ChineseResidentId().normalize(spelling, today=TODAY) == PUBLISHED_EXAMPLE


@pytest.mark.parametrize("number", HAND_COMPUTED_VALID)
def test_hand_computed_numbers_are_valid(number: str) -> None:
    assert ChineseResidentId().normalize(number, today=TODAY) == number


def test_birth_date_equal_to_today_is_valid() -> None:
    number = with_check("11010520240601001")
    assert ChineseResidentId().normalize(number, today=TODAY) == number


def test_today_defaults_to_the_current_date() -> None:
    normalizer = ChineseResidentId()
    assert normalizer.normalize(PUBLISHED_EXAMPLE) == PUBLISHED_EXAMPLE
    with pytest.raises(InvalidIdNumber) as caught:
        normalizer.normalize(with_check("11010599991231001"))
    assert caught.value.rule == "birth_date"


def test_today_may_be_a_datetime() -> None:
    number = with_check("11010520240601001")
    normalizer = ChineseResidentId()
    assert normalizer.normalize(number, today=datetime(2024, 6, 1, 23, 59)) == number
    with pytest.raises(InvalidIdNumber) as caught:
        normalizer.normalize(number, today=datetime(2024, 5, 31, 23, 59))
    assert caught.value.rule == "birth_date"


@given(valid_ids())
def test_generated_valid_numbers_are_accepted_unchanged(number: str) -> None:
    assert ChineseResidentId().normalize(number, today=TODAY) == number


@given(valid_ids(), st.data())
def test_generated_valid_numbers_survive_phone_spellings(number: str, data: st.DataObject) -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number.lower())  # "0"->"０", "x"->"ｘ"
    spelled = data.draw(st.sampled_from([number.lower(), full_width]))
    gaps = data.draw(st.lists(st.sampled_from(["", " ", "  ", "\u3000"]), min_size=19, max_size=19))
    spaced = "".join(gap + c for gap, c in zip(gaps, spelled, strict=False)) + gaps[-1]
    assert ChineseResidentId().normalize(spaced, today=TODAY) == number


# --- each rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", " ", "   \t\n", "\u3000", "\u00a0\u00a0"])
def test_empty(raw: str) -> None:
    error = rejection(raw)
    assert error.rule == "empty"


@pytest.mark.parametrize(
    ("raw", "count"), [(PUBLISHED_EXAMPLE[:17], 17), (PUBLISHED_EXAMPLE + "0", 19)]
)
def test_length(raw: str, count: int) -> None:
    error = rejection(raw)
    assert error.rule == "length"
    assert error.message == f"an ID number has 18 characters; this one has {count}"


def test_only_a_final_x_changes_case() -> None:
    # Upper-casing everything would turn the 17-character "...ß" into an 18-character "...SS".
    error = rejection(PUBLISHED_EXAMPLE[:16] + "ß")
    assert error.rule == "length"
    assert "this one has 17" in error.message


def test_length_of_a_first_generation_number_says_so() -> None:
    error = rejection("110105491231002")
    assert error.rule == "length"
    assert "this one has 15" in error.message
    assert "first-generation" in error.message


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002X\u200b",  # a zero-width space pasted with the number
        "110105\t19491231002X",  # a tab is not an ASCII space, so it is not removed
        "\ufeff11010519491231002X",  # a byte-order mark
    ],
)
def test_length_mentions_invisible_characters(raw: str) -> None:
    error = rejection(raw)
    assert error.rule == "length"
    assert "this one has 19 (including 1 invisible character)" in error.message


@pytest.mark.parametrize(
    ("raw", "position"),
    [
        ("1101A519491231002X", 5),
        ("A1010519491231002X", 1),
        ("11010519491231-02X", 15),  # hyphens are not silently removed
        ("１１０１０５١٩٤٩١٢٣١٠٠２Ｘ", 7),  # Arabic-Indic digits are not ASCII digits
        ("1101051949123100〇X", 17),  # the ideographic zero is not a digit to NFKC
    ],
)
def test_characters_names_the_position(raw: str, position: int) -> None:
    error = rejection(raw)
    assert error.rule == "characters"
    assert error.message == f"character {position} must be a digit 0-9"


@pytest.mark.parametrize("raw", ["11X10519491231002X", "11x10519491231002X", "11ｘ10519491231002X"])
def test_characters_x_only_last(raw: str) -> None:
    error = rejection(raw)
    assert error.rule == "characters"
    assert error.message == "character 3 is an X, but X may only be the last (18th) character"


@pytest.mark.parametrize("last", ["A", "Y", "-", "١"])
def test_characters_last_position(last: str) -> None:
    error = rejection(PUBLISHED_EXAMPLE[:17] + last)
    assert error.rule == "characters"
    assert "18th" in error.message


@pytest.mark.parametrize(
    ("birth", "fragment"),
    [
        ("19990230", "a day that does not exist in its month"),
        ("20010229", "29 February exists only in leap years"),
        ("19000229", "29 February exists only in leap years"),  # 1900 was not a leap year
        ("20010431", "a day that does not exist in its month"),
        ("20010100", "a day that does not exist in its month"),
        ("20011301", "a month that is not 01 to 12"),
        ("20010001", "a month that is not 01 to 12"),
        ("18991231", "before 1 January 1900"),
        ("00000101", "before 1 January 1900"),
        ("20240602", "in the future"),
    ],
)
def test_birth_date(birth: str, fragment: str) -> None:
    error = rejection(with_check("110105" + birth + "002"))
    assert error.rule == "birth_date"
    assert fragment in error.message
    assert birth not in error.message


def test_leap_day_of_a_leap_year_is_valid() -> None:
    assert ChineseResidentId().normalize("110101200002290018", today=TODAY) == "110101200002290018"


def test_published_example_born_in_1880_is_rejected_by_the_1900_floor() -> None:
    assert rejection(PUBLISHED_EXAMPLE_1880).rule == "birth_date"


def test_birth_date_after_today() -> None:
    number = with_check("11010520240602001")
    assert rejection(number, today=TODAY).rule == "birth_date"
    assert ChineseResidentId().normalize(number, today=date(2024, 6, 2)) == number


@pytest.mark.parametrize("wrong", [c for c in "0123456789X" if c != "X"])
def test_check_digit(wrong: str) -> None:
    error = rejection(PUBLISHED_EXAMPLE[:17] + wrong)
    assert error.rule == "check_digit"
    # The same words whatever the number: the message cannot reveal the expected character.
    assert error.message == (
        "the check character (the 18th) does not match the first 17 characters; "
        "one of the characters is probably mistyped"
    )


def test_rules_are_checked_in_order() -> None:
    # A bad length wins over bad characters; bad characters over a bad date; a bad date over a bad
    # check character.
    assert rejection("A" * 17).rule == "length"
    assert rejection("1101A5199902300000").rule == "characters"
    assert rejection("110105199902300000").rule == "birth_date"


# --- every single error is caught ---------------------------------------------------------------

SUBSTITUTES = "0123456789XA-/"
"""Replacements that NFKC leaves alone and that are not spaces (which would change the length)."""


@settings(max_examples=60)
@given(valid_ids())
def test_every_single_substitution_is_rejected(number: str) -> None:
    for position in range(18):
        for substitute in SUBSTITUTES:
            if substitute == number[position]:
                continue
            altered = number[:position] + substitute + number[position + 1 :]
            error = rejection(altered)
            assert error.rule in {"characters", "birth_date", "check_digit"}
            assert_does_not_leak(error.message, number)


@settings(max_examples=60)
@given(valid_ids())
def test_every_adjacent_transposition_is_rejected(number: str) -> None:
    for position in range(17):
        first, second = number[position], number[position + 1]
        if first == second:
            continue
        swapped = number[:position] + second + first + number[position + 2 :]
        error = rejection(swapped)
        assert error.rule in {"characters", "birth_date", "check_digit"}
        assert_does_not_leak(error.message, number)


@given(valid_ids(), st.text(max_size=40))
def test_messages_never_contain_the_number(number: str, noise: str) -> None:
    raw = number[:9] + noise + number[9:]
    message = None
    try:
        ChineseResidentId().normalize(raw, today=TODAY)
    except InvalidIdNumber as error:
        message = error.message
    if message is not None:
        assert_does_not_leak(message, raw)
        assert_does_not_leak(message, number)


# --- the scheme registry and NormalizedId -------------------------------------------------------


class UpperCaseCode:
    """A toy scheme for the registry tests: any run of ASCII letters, normalised to upper case."""

    scheme = "test-letters"

    def __init__(self) -> None:
        self.calls: list[date | None] = []

    def normalize(self, raw: str, *, today: date | None = None) -> str:
        self.calls.append(today)
        if not raw.isascii() or not raw.isalpha():
            raise InvalidIdNumber("characters", "letters only")
        return raw.upper()


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register schemes without leaking them into other tests (monkeypatch undoes it)."""
    monkeypatch.setattr(idnumber, "_registry", dict(idnumber._registry))


def test_builtin_scheme_is_registered() -> None:
    assert "cn-resident" in known_schemes()
    assert known_schemes() == sorted(known_schemes())
    normalizer = get_normalizer("cn-resident")
    assert isinstance(normalizer, ChineseResidentId)
    assert normalizer.scheme == "cn-resident"


def test_normalize_id_builtin() -> None:
    result = normalize_id("cn-resident", "110105 19491231 002x", today=TODAY)
    assert result == NormalizedId(scheme="cn-resident", value=PUBLISHED_EXAMPLE)
    with pytest.raises(InvalidIdNumber) as caught:
        normalize_id("cn-resident", PUBLISHED_EXAMPLE[:17] + "1", today=TODAY)
    assert caught.value.rule == "check_digit"


@pytest.mark.usefixtures("isolated_registry")
def test_custom_normalizer_is_used_by_normalize_id() -> None:
    custom = UpperCaseCode()
    normalizer: IdNormalizer = custom
    register_normalizer(normalizer)
    assert "test-letters" in known_schemes()
    assert get_normalizer("test-letters") is custom
    assert normalize_id("test-letters", "abc", today=TODAY) == NormalizedId("test-letters", "ABC")
    assert custom.calls == [TODAY]
    with pytest.raises(InvalidIdNumber):
        normalize_id("test-letters", "abc1")


@pytest.mark.usefixtures("isolated_registry")
def test_registering_a_scheme_twice_is_a_value_error() -> None:
    register_normalizer(UpperCaseCode())
    with pytest.raises(ValueError, match="already registered"):
        register_normalizer(UpperCaseCode())
    with pytest.raises(ValueError, match="already registered"):
        register_normalizer(ChineseResidentId())


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize(
    "scheme",
    [
        "",
        "Cn-resident",
        "1cn",
        "-cn",
        "cn_resident",
        "cn resident",
        "cn.resident",
        "a" * 33,
        "cn\n",
    ],
)
def test_scheme_identifiers_are_validated(scheme: str) -> None:
    bad = UpperCaseCode()
    bad.scheme = scheme
    with pytest.raises(ValueError, match="must match"):
        register_normalizer(bad)
    assert scheme not in known_schemes()


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize("scheme", ["a", "a" * 32, "x-9", "cn-resident-2"])
def test_valid_scheme_identifiers_are_accepted(scheme: str) -> None:
    good = UpperCaseCode()
    good.scheme = scheme
    register_normalizer(good)
    assert get_normalizer(scheme) is good


def test_unknown_scheme() -> None:
    with pytest.raises(UnknownIdScheme) as caught:
        normalize_id("no-such-scheme", PUBLISHED_EXAMPLE)
    assert caught.value.code == "unknown_id_scheme"
    assert "cn-resident" in caught.value.message
    with pytest.raises(UnknownIdScheme):
        get_normalizer("no-such-scheme")


def test_unknown_scheme_message_does_not_echo_swapped_arguments() -> None:
    with pytest.raises(UnknownIdScheme) as caught:
        normalize_id(PUBLISHED_EXAMPLE, "cn-resident")
    assert PUBLISHED_EXAMPLE not in caught.value.message
    assert "cn-resident" in caught.value.message


def test_normalized_id_repr_hides_the_value() -> None:
    result = normalize_id("cn-resident", PUBLISHED_EXAMPLE, today=TODAY)
    assert result.value == PUBLISHED_EXAMPLE
    assert repr(result) == "NormalizedId(scheme='cn-resident', value=<redacted>)"
    for text in (repr(result), str(result), f"{result}", repr([result]), repr({"id": result})):
        assert PUBLISHED_EXAMPLE not in text
        assert "002X" not in text


def test_normalized_id_is_frozen() -> None:
    result = NormalizedId(scheme="cn-resident", value=PUBLISHED_EXAMPLE)
    with pytest.raises(AttributeError):
        result.value = "x"  # type: ignore[misc]
