"""Validators for the small identifiers and values that appear in many formats.

Bureau ids, petition ids, coarse days and statuses cross every trust boundary, so each has one
syntax, checked in one place, before it reaches a key derivation, a database or a log leaf.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

from crypto import labels
from crypto.errors import MalformedInput, SchemaViolation

BUREAU_ID_MAX_LENGTH = 64
_BUREAU_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_PETITION_ID = re.compile(r"[0-9a-f]{32}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# C0 and C1 controls (U+0085 is a line break too) and the Unicode line/paragraph separators;
# a body may contain tab, line feed and carriage return, and nothing else of these.
SINGLE_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
MULTI_LINE_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff/\\]")


def text_field(
    value: object, field: str, minimum: int, maximum: int, *, multi_line: bool = False
) -> str:
    """Check a human-written text field: length in characters and no invisible control codes.

    Text is otherwise kept exactly as typed (no Unicode normalisation), so what the petitioner
    wrote is what the bureau reads.
    """
    if not isinstance(value, str):
        raise SchemaViolation(f"{field}: expected text")
    if not minimum <= len(value) <= maximum:
        if minimum and not value:
            raise SchemaViolation(f"{field}: must not be empty")
        raise SchemaViolation(f"{field}: {len(value)} characters; allowed {minimum}-{maximum}")
    forbidden = MULTI_LINE_FORBIDDEN if multi_line else SINGLE_LINE_FORBIDDEN
    if forbidden.search(value):
        raise SchemaViolation(f"{field}: contains control characters or surrogate code points")
    return value


def validate_bureau_id(text: object) -> str:
    """Bureau ids are lower-case ASCII slugs (1-64 of a-z, 0-9 and inner hyphens).

    They are embedded in HPKE contexts and URLs, so they are kept to a syntax that needs no
    escaping and has one spelling.
    """
    if not isinstance(text, str) or _BUREAU_ID.fullmatch(text) is None:
        raise MalformedInput(
            "a bureau id is 1-64 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )
    return text


def petition_id_for(envelope: bytes) -> str:
    """The petition id: derived from the envelope so that resubmitting it is idempotent."""
    return hashlib.sha256(labels.PETITION_ID + envelope).digest()[:16].hex()


def envelope_hash(envelope: bytes) -> bytes:
    """SHA-256 of the whole envelope: what log entries and receipts commit to.

    Plain SHA-256 (no label) so that anyone holding the envelope can check it with any tool.
    """
    return hashlib.sha256(envelope).digest()


def signed_reply_hash(signed_reply: bytes) -> bytes:
    """SHA-256 of a signed reply's canonical wire form, as recorded in its status-change leaf."""
    return hashlib.sha256(signed_reply).digest()


def validate_petition_id(text: object) -> str:
    if not isinstance(text, str) or _PETITION_ID.fullmatch(text) is None:
        raise MalformedInput("a petition id is 32 lower-case hexadecimal characters")
    return text


def format_day(day: date) -> str:
    """Days, never times: a ``datetime`` is cut to its date, so no time can slip into a record."""
    return date(day.year, day.month, day.day).isoformat()


def parse_day(text: object, *, field: str = "day") -> date:
    if not isinstance(text, str) or _DAY.fullmatch(text) is None:
        raise MalformedInput(f"{field}: expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MalformedInput(f"{field}: {text!r} is not a date that exists") from None
