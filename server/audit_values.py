"""Stored values as the store audit's checks read them.

SQLite and PostgreSQL hand over different types for the same column (and a column a careless
patch added may hold any type at all): these helpers turn each into the few the checks compare
and the detectors scan, so that no value escapes them by its type.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal


def as_plain(value: object) -> object:
    """A stored value as one of the types SQLite stores (None, int, float, text, bytes).

    PostgreSQL hands over its own types too (a column a careless patch added may be a
    ``timestamptz``, ``inet``, ``jsonb``, ``numeric``, an array): each becomes the text or number
    the detectors read, so that no type escapes them.
    """
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return None


def as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
