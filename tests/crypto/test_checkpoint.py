"""Tests for crypto.checkpoint: the tlog-checkpoint example, round trips and strict parsing."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import checkpoint, note
from crypto.checkpoint import Checkpoint
from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import SigningKey

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "c2sp-signed-note.json").read_text(
        encoding="utf-8"
    )
)
SPEC = VECTORS["checkpoints"][0]
SPEC_TEXT, _ = note.split(SPEC["note"].encode("utf-8"))

LOG = note.Signer("example.org/log", SigningKey(bytes(range(32))))
WITNESS = note.Signer("example.org/witness", SigningKey(bytes(range(1, 33))))
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode("ascii")


def test_spec_example_parses() -> None:
    parsed = Checkpoint.from_text(SPEC_TEXT)
    assert parsed.origin == SPEC["origin"]
    assert parsed.size == SPEC["size"]
    assert parsed.root_hash == base64.b64decode(SPEC["root_hash_base64"])
    assert parsed.extensions == ()


def test_spec_example_round_trips_byte_for_byte() -> None:
    assert Checkpoint.from_text(SPEC_TEXT).to_text() == SPEC_TEXT


def test_text_layout() -> None:
    cp = Checkpoint("example.org/log", 5, ROOT, ("ext one", "ext two"))
    assert cp.to_text() == f"example.org/log\n5\n{ROOT_B64}\next one\next two\n"


def test_empty_tree_has_size_zero() -> None:
    assert Checkpoint.from_text(f"o\n0\n{ROOT_B64}\n").size == 0


def test_origin_is_not_assumed_to_be_a_url() -> None:
    """Clients MUST NOT assume the origin's format: spaces and '+' are accepted when read."""
    assert Checkpoint.from_text(f"Log + 2 ünïcode\n1\n{ROOT_B64}\n").origin == "Log + 2 ünïcode"


# Printable text: anything from U+0020 up, except surrogates (which UTF-8 cannot carry).
LINE_TEXT = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1)


@given(
    size=st.integers(0, checkpoint.MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(LINE_TEXT, max_size=3),
)
def test_any_checkpoint_round_trips(size: int, root: bytes, extensions: list[str]) -> None:
    cp = Checkpoint("example.org/log", size, root, tuple(extensions))
    assert Checkpoint.from_text(cp.to_text()) == cp


def test_signed_checkpoint_opens_and_cosignatures_are_kept() -> None:
    cp = Checkpoint("example.org/log", 42, ROOT)
    cosigned = note.add_signatures(checkpoint.sign(cp, [LOG]), [WITNESS])
    opened, signed = checkpoint.open_checkpoint(cosigned, [LOG.verifier()])
    assert opened == cp
    assert [s.name for s in signed.unverified] == [WITNESS.name]


def test_checkpoint_signed_by_an_unknown_key_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        checkpoint.open_checkpoint(SPEC["note"].encode("utf-8"), [LOG.verifier()])


def test_signed_note_that_is_not_a_checkpoint_is_refused_after_verification() -> None:
    with pytest.raises(MalformedInput, match="at least three lines"):
        checkpoint.open_checkpoint(note.sign("hello\n", [LOG]), [LOG.verifier()])


MALFORMED_TEXTS: list[tuple[str, str, str]] = [
    ("two-lines", "o\n1\n", "at least three lines"),
    ("one-line", "o\n", "at least three lines"),
    ("no-final-newline", f"o\n1\n{ROOT_B64}", "end with a newline"),
    ("carriage-return", f"o\r\n1\n{ROOT_B64}\n", "control characters"),
    ("empty-origin", f"\n1\n{ROOT_B64}\n", "origin must not be empty"),
    ("leading-zero", f"o\n01\n{ROOT_B64}\n", "without leading zeros"),
    ("double-zero", f"o\n00\n{ROOT_B64}\n", "without leading zeros"),
    ("plus-sign", f"o\n+1\n{ROOT_B64}\n", "decimal ASCII digits"),
    ("minus-sign", f"o\n-1\n{ROOT_B64}\n", "decimal ASCII digits"),
    ("space-before-size", f"o\n 1\n{ROOT_B64}\n", "decimal ASCII digits"),
    ("space-after-size", f"o\n1 \n{ROOT_B64}\n", "decimal ASCII digits"),
    ("underscore", f"o\n1_000\n{ROOT_B64}\n", "decimal ASCII digits"),
    ("arabic-indic-digit", f"o\n\u0661\n{ROOT_B64}\n", "decimal ASCII digits"),
    ("hex-size", f"o\n0x1\n{ROOT_B64}\n", "decimal ASCII digits"),
    ("empty-size", f"o\n\n{ROOT_B64}\n", "decimal ASCII digits"),
    ("size-too-large", f"o\n{2**63}\n{ROOT_B64}\n", "tree size is between"),
    ("short-root", f"o\n1\n{base64.b64encode(bytes(31)).decode()}\n", "32 bytes"),
    ("long-root", f"o\n1\n{base64.b64encode(bytes(33)).decode()}\n", "32 bytes"),
    ("hex-root", f"o\n1\n{ROOT.hex()}\n", "32 bytes"),
    ("unpadded-root", f"o\n1\n{ROOT_B64.rstrip('=')}\n", "not valid base64"),
    ("urlsafe-root", "o\n1\n" + base64.urlsafe_b64encode(b"\xff" * 32).decode() + "\n", "base64"),
    ("non-canonical-root", f"o\n1\n{ROOT_B64[:-2]}9=\n", "not canonical base64"),
    ("empty-extension", f"o\n1\n{ROOT_B64}\n\next\n", "extension line must not be empty"),
    ("trailing-empty-line", f"o\n1\n{ROOT_B64}\n\n", "extension line must not be empty"),
]


@pytest.mark.parametrize(
    ("text", "reason"), [c[1:] for c in MALFORMED_TEXTS], ids=[c[0] for c in MALFORMED_TEXTS]
)
def test_malformed_checkpoint_text_is_refused(text: str, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        Checkpoint.from_text(text)


UNBUILDABLE: list[tuple[str, dict[str, Any], str]] = [
    ("empty-origin", {"origin": ""}, "origin must not be empty"),
    ("newline-in-origin", {"origin": "a\nb"}, "origin must be a single line"),
    ("control-in-origin", {"origin": "a\tb"}, "control characters"),
    ("negative-size", {"size": -1}, "tree size is between"),
    ("huge-size", {"size": 2**64}, "tree size is between"),
    ("short-root", {"root_hash": bytes(31)}, "32 bytes"),
    ("empty-extension", {"extensions": ("",)}, "extension line must not be empty"),
    ("multi-line-extension", {"extensions": ("a\nb",)}, "extension line must be a single line"),
]


@pytest.mark.parametrize(
    ("changes", "reason"), [c[1:] for c in UNBUILDABLE], ids=[c[0] for c in UNBUILDABLE]
)
def test_invalid_checkpoint_cannot_be_built(changes: dict[str, Any], reason: str) -> None:
    fields: dict[str, Any] = {"origin": "o", "size": 1, "root_hash": ROOT, "extensions": ()}
    with pytest.raises(MalformedInput, match=reason):
        Checkpoint(**(fields | changes))
