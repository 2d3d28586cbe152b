"""Canonical JSON: the one text encoding of every structured object we hash or sign.

The profile is a strict subset of RFC 8785 (JSON Canonicalization Scheme) chosen so that a
plain JSON library in any language can produce it:

* values are objects, arrays, strings, booleans, ``null`` and integers in the interval
  [-(2**53 - 1), 2**53 - 1]; floating-point numbers are not allowed;
* object keys are ASCII strings, sorted by code point, each appearing once;
* no insignificant white space; strings are UTF-8 and escape only what JSON requires
  (``"``, ``\\`` and control characters, with the short forms ``\\b \\f \\n \\r \\t`` and
  lower-case ``\\u00XX`` otherwise);
* binary values are carried as unpadded base64url strings (RFC 4648 §5).

Decoding is strict: the input must be valid UTF-8, duplicate keys and floats are rejected, and
the bytes must be exactly what :func:`encode` would produce for the decoded value. A document
has one and only one encoding, so a signature over it is a signature over its meaning.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import pybase64

from crypto.errors import MalformedInput, MemberMismatch, SchemaViolation

MAX_SAFE_INTEGER = 2**53 - 1

JsonValue = Any
"""A value of the canonical-JSON data model (see the module docstring)."""


def encode(value: JsonValue) -> bytes:
    """Return the canonical encoding of ``value``; raise :class:`MalformedInput` if impossible."""
    _check_value(value)
    try:
        text = json.dumps(
            value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
        return text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise MalformedInput(f"value cannot be encoded as canonical JSON: {exc}") from None


def decode(data: bytes) -> JsonValue:
    """Parse canonical JSON, rejecting anything :func:`encode` would not have produced."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInput("canonical JSON must be UTF-8") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_float=_reject_float,
            parse_constant=_reject_float,
        )
    except _DuplicateKey as exc:
        raise MalformedInput(f"duplicate key in JSON object: {exc.args[0]!r}") from None
    except _FloatNotAllowed:
        raise MalformedInput("floating-point numbers are not allowed") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedInput(f"not valid JSON: {exc}") from None
    if encode(value) != data:
        raise MalformedInput("JSON is valid but not in canonical form")
    return value


def decode_object(data: bytes) -> dict[str, JsonValue]:
    """Parse canonical JSON whose top level must be an object."""
    value = decode(data)
    if not isinstance(value, dict):
        raise MalformedInput("expected a JSON object at the top level")
    return value


def exact_members(what: str, value: Mapping[str, object], expected: AbstractSet[str]) -> None:
    """Refuse an object whose members are not exactly ``expected``: the one such check.

    Every format of the protocol is closed: a member too many is as wrong as one missing (an
    unknown member could carry what a reader ignores but a signer meant). Missing members are
    reported first. Raises :class:`~crypto.errors.MemberMismatch`, which names both sets.
    """
    missing = tuple(sorted(expected - value.keys()))
    unknown = tuple(sorted(value.keys() - expected))
    if missing:
        raise MemberMismatch(
            f"{what}: missing member(s) {', '.join(missing)}", missing=missing, unknown=unknown
        )
    if unknown:
        raise MemberMismatch(
            f"{what}: unknown member(s) {', '.join(unknown)}", missing=missing, unknown=unknown
        )


def require_members(what: str, value: object, expected: set[str]) -> dict[str, JsonValue]:
    """Check that ``value`` is an object with exactly the ``expected`` members, and return it."""
    if not isinstance(value, dict):
        raise SchemaViolation(f"{what}: expected a JSON object")
    exact_members(what, value, expected)
    return value


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64encode(data: bytes) -> str:
    """Unpadded base64url, the encoding of every binary value inside canonical JSON."""
    # What base64.urlsafe_b64encode does, without its two extra Python-level calls: the writer
    # encodes a dozen proof hashes per receipt.
    encoded = binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE)
    return encoded.rstrip(b"=").decode("ascii")


def b64decode(text: object, *, field: str = "value", length: int | None = None) -> bytes:
    """Strictly decode unpadded base64url; ``length`` (if given) is the exact byte count."""
    if not isinstance(text, str):
        raise MalformedInput(f"{field}: expected a base64url string")
    # "+" and "/" are standard base64's two characters, which base64url replaces: the decoder
    # below, told that "-" and "_" stand for them, would accept both spellings.
    if "=" in text or not text.isascii() or "+" in text or "/" in text:
        raise MalformedInput(f"{field}: expected unpadded base64url")
    try:
        # pybase64 (SIMD) with validate=True refuses any other character, whitespace included.
        # An envelope is kilobytes of base64url, and the standard library's decoder took a
        # quarter of an HTTP worker's time per submission (docs/performance.md).
        data = pybase64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInput(f"{field}: not valid base64url") from None
    # Only a final group of 2 or 3 characters carries bits that decoding drops (12 bits for
    # 8, 18 for 16): the text is canonical when that group re-encodes to itself.
    tail = len(data) % 3
    if tail and b64encode(data[-tail:]) != text[-(tail + 1) :]:
        raise MalformedInput(f"{field}: base64url is not canonical")
    if length is not None and len(data) != length:
        raise MalformedInput(f"{field}: expected {length} bytes, got {len(data)}")
    return data


class _DuplicateKey(Exception):
    pass


class _FloatNotAllowed(Exception):
    pass


def _reject_duplicate_keys(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    result: dict[str, JsonValue] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_float(_text: str) -> float:
    raise _FloatNotAllowed


def _check_value(value: JsonValue, depth: int = 0) -> None:
    # Exact-type tests first: the server encodes a receipt (dozens of strings) per petition,
    # and these cover every value it builds; subclasses take the general path below.
    kind = type(value)
    if depth > 32:
        raise MalformedInput("JSON nesting is deeper than 32 levels")
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise MalformedInput("integer outside the interoperable range ±(2**53 - 1)")
        return
    if (kind is dict or kind is list or kind is tuple) and depth == 32 and value:
        # Members are skipped below when they are strings; they would be at depth 33.
        raise MalformedInput("JSON nesting is deeper than 32 levels")
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                raise MalformedInput("JSON object keys must be ASCII strings")
            if type(item) is not str:
                _check_value(item, depth + 1)
        return
    if kind is list or kind is tuple:
        for item in value:
            if type(item) is not str:
                _check_value(item, depth + 1)
        return
    _check_other(value, depth)


def _check_other(value: JsonValue, depth: int) -> None:
    if isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise MalformedInput("integer outside the interoperable range ±(2**53 - 1)")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise MalformedInput("JSON object keys must be ASCII strings")
            _check_value(item, depth + 1)
        return
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        for item in value:
            _check_value(item, depth + 1)
        return
    raise MalformedInput(f"type {type(value).__name__} has no canonical JSON encoding")
