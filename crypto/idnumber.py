"""Validation and normalisation of national identity numbers, before anything is derived from them.

A petitioner's pseudonymous token is derived from the normalised ID number, so two spellings of
the same number must normalise to exactly the same string (or one person would get two tokens),
and a mistyped number must be caught here, on the device, with a message that says what is wrong
(or the petitioner would get a token that belongs to nobody and never find out why).

Schemes are pluggable: each :class:`IdNormalizer` has a short stable ``scheme`` identifier that is
registered with :func:`register_normalizer` and later mixed into the token derivation, so numbers
from different schemes can never collide. This module ships one scheme, ``"cn-resident"``.

Input cleaning (every scheme's raw input goes through :func:`_clean` first)
----------------------------------------------------------------------------
Petitioners type on phones, often with a Chinese input method that produces full-width
characters, and they group digits with spaces the way the number is printed. Before any rule is
checked, the input is therefore:

1. normalised to Unicode NFKC, so that full-width digits ``０``-``９`` and full-width ``Ｘ``/``ｘ``
   become their ASCII forms (as do the ideographic space and the no-break space, which become
   ordinary spaces);
2. stripped of leading and trailing white space;
3. stripped of the ASCII spaces inside it;
4. given an upper-case ``X`` in place of a lower-case ``x`` in the last position.

Nothing else is silently changed: hyphens, tabs, line breaks inside the number, zero-width
characters and non-ASCII digits that NFKC does not map (Arabic-Indic digits, for example) are
reported by the rules below, so a petitioner never gets a token for a number they did not mean.

Chinese resident identity numbers (GB 11643-1999)
-------------------------------------------------
18 characters: a 6-digit address code, the 8-digit birth date ``YYYYMMDD``, a 3-digit sequence
number and a check character computed with ISO 7064 MOD 11-2. The rules are checked in this order,
and the first one that fails raises :class:`~crypto.errors.InvalidIdNumber` with its name as
``rule``:

``empty``
    nothing was typed (or only white space);
``length``
    not 18 characters after cleaning;
``characters``
    one of the first 17 is not a digit ``0``-``9``, or the last is neither a digit nor ``X``;
``birth_date``
    characters 7 to 14 are not a date that exists, or the date is before 1900-01-01 or after
    ``today``;
``check_digit``
    the check character does not match the other 17 (almost certainly a typo: MOD 11-2 detects
    every single-character substitution and every transposition of two adjacent characters).

The address code is deliberately *not* checked against a table of regions: codes are added and
retired as administrative divisions change, a number keeps the code of the place where it was
first issued, and a stale table on a petitioner's phone would lock real people out. The check
character already catches typos in the address code.

Fifteen-digit first-generation numbers (no century, no check character) are not accepted or
converted: those cards ceased to be valid on 1 January 2013, and converting them would give one
person a second spelling, hence a second token.

Error messages never contain the number itself, because exceptions end up in logs: they name the
rule and, where useful, the position of the offending character (counting from 1), but they do
not reveal the expected check character or the birth date.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from crypto.errors import InvalidIdNumber, UnknownIdScheme

__all__ = [
    "ChineseResidentId",
    "IdNormalizer",
    "NormalizedId",
    "get_normalizer",
    "known_schemes",
    "mod11_2_check_character",
    "normalize_id",
    "register_normalizer",
]

_ASCII_DIGITS = frozenset("0123456789")
# Deliberately not str.isdigit(): it accepts Arabic-Indic, Devanagari and other digits that
# NFKC leaves alone, which would then reach int() and the token derivation as different strings.

_MOD11_2_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
"""Weights of the first 17 characters: 2**(18 - i) mod 11 for position i (counting from 1)."""

_MOD11_2_CHECK_CHARACTERS = "10X98765432"
"""The check character for each value of the weighted sum modulo 11."""

_EARLIEST_BIRTH_DATE = date(1900, 1, 1)

_SCHEME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")
"""Scheme identifiers are mixed into token derivation, so they are short, plain and unambiguous."""


class IdNormalizer(Protocol):
    """One identity-number scheme: validates raw user input and returns its single canonical form.

    ``scheme`` is a short stable identifier (see :func:`register_normalizer`); it is part of every
    token derived from the scheme's numbers, so it must never change once released.
    :meth:`normalize` raises :class:`~crypto.errors.InvalidIdNumber` for input that is not a valid
    number, and must return the same string for every spelling of the same number.
    """

    scheme: str

    def normalize(self, raw: str, *, today: date | None = None) -> str:
        """Return the canonical form of ``raw``; ``today`` bounds dates (default: local date)."""
        ...


def _clean(raw: str) -> str:
    """Undo what phone keyboards and digit grouping do to a number (see the module docstring)."""
    text = unicodedata.normalize("NFKC", raw).strip().replace(" ", "")
    if text.endswith("x"):
        text = text[:-1] + "X"
    return text


def mod11_2_check_character(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``) for 17 ASCII digits.

    Public so that test-vector generation and tests can build valid numbers. Anything other than
    exactly 17 ASCII digits raises :class:`ValueError`: that is a programming error, not user input
    (user input goes through :meth:`ChineseResidentId.normalize`). The message does not echo the
    argument, which may be most of a real ID number.
    """
    if len(first17) != len(_MOD11_2_WEIGHTS) or not set(first17) <= _ASCII_DIGITS:
        raise ValueError("mod11_2_check_character needs exactly 17 ASCII digits")
    total = sum(
        int(digit) * weight for digit, weight in zip(first17, _MOD11_2_WEIGHTS, strict=True)
    )
    return _MOD11_2_CHECK_CHARACTERS[total % 11]


def _today(today: date | None) -> date:
    """Resolve the ``today`` argument; a ``datetime`` is reduced to its date so comparisons work."""
    if today is None:
        return date.today()
    if isinstance(today, datetime):
        return today.date()
    return today


class ChineseResidentId:
    """Resident identity numbers of the People's Republic of China (GB 11643-1999).

    The canonical form is the 18 characters with an upper-case ``X``, exactly as printed on the
    card, so that it matches what other systems hold for the same person.
    """

    scheme: str = "cn-resident"

    def normalize(self, raw: str, *, today: date | None = None) -> str:
        """Return the canonical 18-character number, or raise :class:`InvalidIdNumber`.

        ``today`` is the latest acceptable birth date (default: the device's local date); tests
        pass it explicitly so they do not depend on the day they run.
        """
        text = _clean(raw)
        if not text:
            raise InvalidIdNumber("empty", "no ID number was entered")
        _check_length(text)
        _check_characters(text)
        _check_birth_date(text[6:14], _today(today))
        if mod11_2_check_character(text[:17]) != text[17]:
            raise InvalidIdNumber(
                "check_digit",
                "the check character (the 18th) does not match the first 17 characters; "
                "one of the characters is probably mistyped",
            )
        return text


def _check_length(text: str) -> None:
    """Rule ``length``: exactly 18 characters, with hints for the two usual causes of a miscount."""
    if len(text) == 18:
        return
    message = f"an ID number has 18 characters; this one has {len(text)}"
    invisible = sum(1 for character in text if not character.isprintable())
    if invisible:
        # A pasted zero-width character or a tab makes the count look wrong to the petitioner.
        plural = "" if invisible == 1 else "s"
        message += f" (including {invisible} invisible character{plural})"
    elif len(text) == 15:
        message += " (15-digit first-generation numbers are no longer valid)"
    raise InvalidIdNumber("length", message)


def _check_characters(text: str) -> None:
    """Rule ``characters``: digits in positions 1-17, a digit or X in position 18."""
    for position, character in enumerate(text[:17], start=1):
        if character in _ASCII_DIGITS:
            continue
        if character in "Xx":
            message = f"character {position} is an X, but X may only be the last (18th) character"
        else:
            message = f"character {position} must be a digit 0-9"
        raise InvalidIdNumber("characters", message)
    if text[17] not in _ASCII_DIGITS and text[17] != "X":
        raise InvalidIdNumber("characters", "the last (18th) character must be a digit 0-9 or X")


def _check_birth_date(digits: str, today: date) -> None:
    """Rule ``birth_date``: ``YYYYMMDD`` must exist and lie between 1900-01-01 and ``today``.

    The messages say what kind of problem it is without repeating the date, which is personal.
    """
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    where = "the birth date (characters 7 to 14, YYYYMMDD)"
    if not 1 <= month <= 12:
        raise InvalidIdNumber("birth_date", f"{where} has a month that is not 01 to 12")
    try:
        born = date(year, month, day)
    except ValueError:
        # Year and month are in range (year 0000 aside, which the next rule would reject anyway),
        # so the day is what does not exist.
        if year == 0:
            raise InvalidIdNumber("birth_date", f"{where} is before 1 January 1900") from None
        hint = " (29 February exists only in leap years)" if (month, day) == (2, 29) else ""
        raise InvalidIdNumber(
            "birth_date", f"{where} has a day that does not exist in its month{hint}"
        ) from None
    if born < _EARLIEST_BIRTH_DATE:
        raise InvalidIdNumber("birth_date", f"{where} is before 1 January 1900")
    if born > today:
        raise InvalidIdNumber("birth_date", f"{where} is in the future")


@dataclass(frozen=True)
class NormalizedId:
    """A validated, canonical ID number together with its scheme.

    The ``repr`` hides the number: these objects end up in tracebacks, debugger output and logs,
    and the number is exactly what the token derivation exists to keep secret.
    """

    scheme: str
    value: str

    def __repr__(self) -> str:
        return f"NormalizedId(scheme={self.scheme!r}, value=<redacted>)"


_registry: dict[str, IdNormalizer] = {}
_registry_lock = threading.Lock()


def register_normalizer(normalizer: IdNormalizer) -> None:
    """Make ``normalizer`` available under its ``scheme`` identifier.

    Identifiers must match ``^[a-z][a-z0-9-]{0,31}$``. Registering an identifier that is already
    taken raises :class:`ValueError` rather than replacing it: a silent replacement would change
    the tokens of every petitioner of that scheme. Both are programming errors, not user input,
    hence plain :class:`ValueError` rather than a :class:`~crypto.errors.SealedPetitionError`.
    """
    scheme = normalizer.scheme
    if not isinstance(scheme, str) or _SCHEME_PATTERN.fullmatch(scheme) is None:
        raise ValueError(f"ID scheme identifier {scheme!r} must match ^[a-z][a-z0-9-]{{0,31}}$")
    with _registry_lock:
        if scheme in _registry:
            raise ValueError(f"ID scheme {scheme!r} is already registered")
        _registry[scheme] = normalizer


def get_normalizer(scheme: str) -> IdNormalizer:
    """Return the normaliser registered for ``scheme``, or raise :class:`UnknownIdScheme`.

    The message lists the known schemes but does not repeat the requested one: a caller that
    swapped the arguments of :func:`normalize_id` would otherwise put an ID number into a log.
    """
    try:
        return _registry[scheme]
    except KeyError:
        known = ", ".join(known_schemes()) or "none"
        raise UnknownIdScheme(
            f"no normaliser is registered for the requested ID scheme; known schemes: {known}"
        ) from None


def normalize_id(scheme: str, raw: str, *, today: date | None = None) -> NormalizedId:
    """Validate and normalise ``raw`` under ``scheme``; see the module docstring for the rules."""
    normalizer = get_normalizer(scheme)
    return NormalizedId(scheme=scheme, value=normalizer.normalize(raw, today=today))


def known_schemes() -> list[str]:
    """Return the registered scheme identifiers, sorted."""
    with _registry_lock:
        return sorted(_registry)


register_normalizer(ChineseResidentId())
