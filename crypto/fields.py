"""Validators for the small identifiers and values that appear in many formats.

Bureau ids, petition ids, coarse days and statuses cross every trust boundary, so each has one
syntax, checked in one place, before it reaches a key derivation, a database or a log leaf.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from enum import Enum

from crypto import labels
from crypto.errors import MalformedInput

BUREAU_ID_MAX_LENGTH = 64
_BUREAU_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_PETITION_ID = re.compile(r"[0-9a-f]{32}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Status(Enum):
    """The public life cycle of a petition; every change is a log leaf anyone can count."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    REJECTED = "rejected"

    @classmethod
    def parse(cls, text: object) -> Status:
        for status in cls:
            if status.value == text:
                return status
        names = ", ".join(status.value for status in cls)
        raise MalformedInput(f"unknown status {text!r}; expected one of: {names}")


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


def validate_petition_id(text: object) -> str:
    if not isinstance(text, str) or _PETITION_ID.fullmatch(text) is None:
        raise MalformedInput("a petition id is 32 lower-case hexadecimal characters")
    return text


def format_day(day: date) -> str:
    """Days, never times: the protocol records dates only at day granularity."""
    return day.isoformat()


def parse_day(text: object, *, field: str = "day") -> date:
    if not isinstance(text, str) or _DAY.fullmatch(text) is None:
        raise MalformedInput(f"{field}: expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MalformedInput(f"{field}: {text!r} is not a date that exists") from None
