"""Detectors of personal data in stored values: ID numbers, names, addresses, times of day.

``petition audit store`` (server/store_audit.py) runs them over every value of every table and
every file of a data directory; the adversarial tests run them over what the server leaves
behind. They are one job of their own: recognising what a leak would look like, with as few
false alarms on what the store legitimately holds as possible.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date

from crypto.idnumber import mod11_2_check_character

#
# Each detector is tuned so that what the store legitimately holds (hex petition ids, base64url,
# random hashes and tokens, canonical JSON) essentially never matches, while what a leak would
# look like does. The comments give the false-positive reasoning, because a check that cries
# wolf on honest data is a check operators learn to ignore.

# Every 18-character window of 17 digits and a digit or X, overlapping, so that a number glued
# to other digits (a phone number, say) is still found.
_ID_WINDOW = re.compile(r"(?=([0-9]{17}[0-9Xx]))")
_EARLIEST_BIRTH = date(1900, 1, 1)


def contains_id_number(text: str) -> bool:
    """Whether ``text`` contains a valid 18-character resident ID number (GB 11643-1999).

    Valid means the MOD 11-2 check character matches *and* characters 7-14 are a birth date
    between 1900 and today. Every real number passes both; the date test matters because the
    store is full of hex (petition ids), where an 18-digit run with a matching check character
    turns up about once per 50,000 positions, while one that also holds a plausible birth date
    is some 2,000 times rarer. Fifteen-digit first-generation numbers are not looked for: they
    have no check character, so any 15 digits would match.
    """
    for match in _ID_WINDOW.finditer(text):
        candidate = match.group(1)
        if mod11_2_check_character(candidate[:17]) != candidate[17].upper():
            continue
        try:
            born = date(int(candidate[6:10]), int(candidate[10:12]), int(candidate[12:14]))
        except ValueError:
            continue
        if _EARLIEST_BIRTH <= born <= date.today():
            return True
    return False


# CJK Unified Ideographs and Extension A: where Chinese personal names are written.
_CJK_RUN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf]{2,}")


def contains_name(text: str) -> bool:
    """Whether ``text`` has a run of two or more CJK ideographs: what a Chinese name looks like.

    Only ever applied to text (valid UTF-8), never to random bytes: decoded leniently, random
    bytes yield two adjacent ideographs about once per 500,000 positions, which over a large
    store's ciphertext and hashes would be a steady stream of false alarms.
    """
    return _CJK_RUN.search(text) is not None


_IPV4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?!\.?[0-9])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f:]{2,39}(?![0-9A-Fa-f:])")


def contains_address(text: str, *, short_ipv6: bool = True) -> bool:
    """Whether ``text`` contains an IPv4 dotted quad or an IPv6 address.

    IPv6 counts in its full form (eight groups) and, if ``short_ipv6``, compressed with ``::``.
    Binary values are scanned without the compressed form: ``::`` next to one hex digit is three
    bytes that random data produces about once per 10^6 positions.
    """
    for match in _IPV4.finditer(text):
        try:
            ipaddress.IPv4Address(match.group(0))
        except ValueError:
            continue
        return True
    for match in _IPV6.finditer(text):
        candidate = match.group(0)
        compressed = "::" in candidate
        if compressed and not short_ipv6:
            continue
        if not compressed and candidate.count(":") != 7:
            continue
        if not any(c not in ":" for c in candidate):
            continue  # "::" alone (the unspecified address) is punctuation far more often
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        return True
    return False


_TIME_OF_DAY = re.compile(
    r"(?<![0-9])(?:[01][0-9]|2[0-3]):[0-5][0-9](?![0-9])|T(?:[01][0-9]|2[0-3]):"
)
# A standalone run of 10 or 13 digits: Unix time in seconds or milliseconds written as text.
# Letters count as part of the run so that hex (petition ids, hashes) never matches.
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])([0-9]{10}|[0-9]{13})(?![0-9A-Za-z])")
_EPOCH_SECONDS = (946_684_800, 4_102_444_800)  # 2000-01-01 and 2100-01-01, UTC
_EPOCH_MILLISECONDS = (_EPOCH_SECONDS[0] * 1000, _EPOCH_SECONDS[1] * 1000)


def is_timestamp(number: float) -> bool:
    """Whether a number lies where Unix time in seconds or milliseconds does for 2000-2100.

    The store's own integers (cursors, leaf indexes, tree sizes, sequences, levels) count things
    and stay far below 946,684,800 in any real deployment.
    """
    low, high = _EPOCH_SECONDS
    low_ms, high_ms = _EPOCH_MILLISECONDS
    return low <= number <= high or low_ms <= number <= high_ms


def contains_time(text: str) -> bool:
    """Whether ``text`` has a time of day (``HH:MM``, ``HH:MM:SS``, ISO ``THH:``) or a
    standalone number that reads as a Unix timestamp from 2000-2100."""
    if _TIME_OF_DAY.search(text):
        return True
    return any(is_timestamp(int(match.group(1))) for match in _DIGIT_RUN.finditer(text))
