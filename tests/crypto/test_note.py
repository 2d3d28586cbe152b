"""Tests for crypto.note: C2SP signed-note vectors, round trips and every strict-parsing refusal.

The vectors in ``tests/vectors/c2sp-signed-note.json`` come from the specification itself and from
the test file of Go's reference implementation; neither was produced by this module, and Ed25519
is deterministic, so signing them must reproduce the published bytes exactly.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import note
from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import SigningKey

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "c2sp-signed-note.json").read_text(
        encoding="utf-8"
    )
)
VERIFIABLE = VECTORS["verifiable_notes"]
WITHOUT_KEYS = VECTORS["notes_without_keys"] + VECTORS["checkpoints"]

SIGNER = note.Signer("example.org/log", SigningKey(bytes(range(32))))
OTHER = note.Signer("example.org/witness", SigningKey(bytes(range(1, 33))))
TEXT = "line one\n\nline three, after an empty line\n"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _signed(text: str = TEXT, *signers: note.Signer) -> bytes:
    return note.sign(text, signers or (SIGNER,))


def _line(name: str, key_id: int, signature: bytes) -> bytes:
    return f"— {name} {_b64(key_id.to_bytes(4, 'big') + signature)}\n".encode()


# --------------------------------------------------------------------------------------------
# Published vectors


@pytest.mark.parametrize("vector", VERIFIABLE, ids=lambda v: v["source"])
def test_published_note_opens_with_its_vkey(vector: dict[str, str]) -> None:
    verifier = note.Verifier.from_vkey(vector["vkey"])
    opened = note.open_note(vector["note"].encode("utf-8"), [verifier])
    assert opened.text == vector["text"]
    assert opened.verified_by == (verifier,)
    assert opened.unverified == ()


@pytest.mark.parametrize("vector", VERIFIABLE, ids=lambda v: v["source"])
def test_published_vkey_round_trips(vector: dict[str, str]) -> None:
    assert note.Verifier.from_vkey(vector["vkey"]).to_vkey() == vector["vkey"]


def test_published_vkey_id_is_the_recommended_sha256_prefix() -> None:
    verifier = note.Verifier.from_vkey(VERIFIABLE[0]["vkey"])
    digest = hashlib.sha256(b"example.com/foo\n\x01" + verifier.key.to_bytes()).digest()
    assert verifier.key_id == int.from_bytes(digest[:4], "big") == 0x530D903A


def test_go_signer_key_reproduces_the_published_signature() -> None:
    vector = next(v for v in VERIFIABLE if "skey" in v)
    signer = note.Signer.from_skey(vector["skey"])
    assert signer.to_skey() == vector["skey"]
    assert signer.verifier().to_vkey() == vector["vkey"]
    assert note.sign(vector["text"], [signer]).decode("utf-8") == vector["note"]


@pytest.mark.parametrize("vector", WITHOUT_KEYS, ids=lambda v: v["source"])
def test_published_note_without_a_known_key_is_rejected(vector: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        note.open_note(vector["note"].encode("utf-8"), [SIGNER.verifier()])


@pytest.mark.parametrize("vector", WITHOUT_KEYS, ids=lambda v: v["source"])
def test_published_note_splits_into_text_and_one_ed25519_sized_signature(
    vector: dict[str, str],
) -> None:
    text, signatures = note.split(vector["note"].encode("utf-8"))
    assert vector["note"].startswith(text + "\n")
    assert [(s.name, len(s.signature)) for s in signatures] == [(vector["key_name"], 64)]


def test_unknown_key_with_the_published_name_is_ignored_not_trusted() -> None:
    """Same name, different key (so different ID): the signature is ignored, never verified."""
    vector = VECTORS["notes_without_keys"][0]
    impostor = note.Signer(vector["key_name"], SigningKey(bytes(32)))
    message = vector["note"].encode("utf-8") + impostor.signature_line(vector["text"]).encode()
    opened = note.open_note(message, [impostor.verifier()])
    assert opened.verified_by == (impostor.verifier(),)
    assert [s.name for s in opened.unverified] == [vector["key_name"]]


# --------------------------------------------------------------------------------------------
# Round trips


def test_sign_then_open_returns_the_text() -> None:
    opened = note.open_note(_signed(), [SIGNER.verifier()])
    assert opened.text == TEXT
    assert opened.verified_by == (SIGNER.verifier(),)


def test_several_signers_are_all_verified() -> None:
    opened = note.open_note(_signed(TEXT, SIGNER, OTHER), [SIGNER.verifier(), OTHER.verifier()])
    assert set(opened.verified_by) == {SIGNER.verifier(), OTHER.verifier()}


def test_signatures_by_unknown_keys_are_ignored_and_reported() -> None:
    opened = note.open_note(_signed(TEXT, OTHER, SIGNER), [SIGNER.verifier()])
    assert opened.verified_by == (SIGNER.verifier(),)
    assert [(s.name, s.key_id) for s in opened.unverified] == [(OTHER.name, OTHER.key_id)]


def test_known_name_with_another_key_id_is_ignored() -> None:
    message = _signed() + _line(SIGNER.name, SIGNER.key_id ^ 1, bytes(64))
    assert note.open_note(message, [SIGNER.verifier()]).unverified[0].key_id == SIGNER.key_id ^ 1


def test_known_key_id_under_another_name_is_ignored() -> None:
    message = _signed() + _line("example.org/other", SIGNER.key_id, bytes(64))
    assert note.open_note(message, [SIGNER.verifier()]).unverified[0].name == "example.org/other"


def test_add_signatures_keeps_existing_lines_and_adds_a_cosignature() -> None:
    foreign = _line("example.net/unknown", 7, b"x" * 70)
    cosigned = note.add_signatures(_signed() + foreign, [OTHER])
    assert cosigned.startswith(_signed() + foreign)
    opened = note.open_note(cosigned, [SIGNER.verifier(), OTHER.verifier()])
    assert len(opened.verified_by) == 2
    assert len(opened.unverified) == 1


def test_repeated_valid_signature_by_one_key_counts_once() -> None:
    message = _signed() + SIGNER.signature_line(TEXT).encode()
    assert note.open_note(message, [SIGNER.verifier()]).verified_by == (SIGNER.verifier(),)


def test_repeated_signature_by_one_key_is_verified_every_time() -> None:
    message = _signed() + _line(SIGNER.name, SIGNER.key_id, bytes(64))
    with pytest.raises(InvalidSignature, match="does not verify"):
        note.open_note(message, [SIGNER.verifier()])


def test_one_hundred_signatures_are_accepted() -> None:
    unknown = b"".join(_line(f"example.net/{i}", i, b"s" * 64) for i in range(99))
    opened = note.open_note(_signed() + unknown, [SIGNER.verifier()])
    assert len(opened.unverified) == 99


def test_non_ascii_text_and_key_names_round_trip() -> None:
    signer = note.Signer("例子.example/日志", SigningKey(bytes(range(32))))
    text = "ed è subito sera — 请愿\n"
    assert note.open_note(note.sign(text, [signer]), [signer.verifier()]).text == text


def test_generated_signer_key_string_round_trips() -> None:
    signer = note.Signer.generate("example.org/fresh")
    again = note.Signer.from_skey(signer.to_skey())
    assert again.verifier() == signer.verifier()
    assert note.Verifier.from_vkey(signer.verifier().to_vkey()) == signer.verifier()


# --------------------------------------------------------------------------------------------
# Strict parsing: every refusal, with its reason

VALID = _signed()
LINE = SIGNER.signature_line(TEXT).encode()
SIGNATURE_B64 = LINE.decode().split(" ")[2].strip()

MALFORMED_NOTES: list[tuple[str, bytes, str]] = [
    ("not-utf8", b"\xff\n" + VALID, "valid UTF-8"),
    ("carriage-return", b"text\r\n\n" + LINE, "control characters"),
    ("tab", b"te\txt\n\n" + LINE, "control characters"),
    ("nul", b"te\x00xt\n\n" + LINE, "control characters"),
    ("no-blank-line", b"text\n" + LINE, "blank line before its signatures"),
    ("no-newline-at-all", b"just text", "blank line before its signatures"),
    ("no-signature-lines", TEXT.encode() + b"\n", "at least one signature line"),
    ("no-final-newline", VALID[:-1], "ends with a newline"),
    ("hyphen-instead-of-em-dash", VALID.replace("—".encode(), b"-"), "em dash"),
    ("en-dash-instead-of-em-dash", VALID.replace("—".encode(), "–".encode()), "em dash"),
    ("em-dash-without-space", VALID.replace("— ".encode(), "—".encode()), "em dash"),
    ("leading-space", VALID.replace("— ".encode(), " — ".encode()), "em dash"),
    ("two-spaces", VALID.replace(b"log ", b"log  "), "'— <key name> <base64 signature>'"),
    ("trailing-space", VALID[:-1] + b" \n", "'— <key name> <base64 signature>'"),
    ("missing-signature", TEXT.encode() + "\n— example.org/log\n".encode(), "<base64 signature>"),
    ("empty-key-name", TEXT.encode() + f"\n—  {SIGNATURE_B64}\n".encode(), "must not be empty"),
    ("plus-in-name", VALID.replace(b"example.org/log", b"example.org+log"), "'+'"),
    ("nbsp-in-name", VALID.replace(b"example.org/log", "exa\xa0mple".encode()), "spaces"),
    ("ideographic-space", VALID.replace(b"org/log", "org\u3000log".encode()), "spaces"),
    ("bad-base64", VALID.replace(SIGNATURE_B64.encode(), b"!!!!"), "not valid base64"),
    (
        "unpadded-base64",
        VALID.replace(SIGNATURE_B64.encode(), SIGNATURE_B64[:-1].encode()),
        "base64",
    ),
    ("key-id-only", TEXT.encode() + b"\n" + _line("a", 1, b"")[:-1] + b"\n", "at least one byte"),
    (
        "more-than-100-signatures",
        VALID + b"".join(_line(f"n/{i}", i, b"s" * 64) for i in range(100)),
        "at most 100",
    ),
]


@pytest.mark.parametrize(
    ("message", "reason"), [c[1:] for c in MALFORMED_NOTES], ids=[c[0] for c in MALFORMED_NOTES]
)
def test_malformed_note_is_refused(message: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason.replace("+", r"\+")):
        note.open_note(message, [SIGNER.verifier()])


def test_non_canonical_base64_is_refused() -> None:
    raw = bytearray(base64.b64decode(SIGNATURE_B64))
    canonical = _b64(bytes(raw))
    # 68 bytes: the last base64 character carries 4 padding bits; setting one is non-canonical.
    sloppy = canonical[:-2] + chr(ord(canonical[-2]) + 1) + "="
    assert base64.b64decode(sloppy) == bytes(raw)
    with pytest.raises(MalformedInput, match="not canonical base64"):
        note.open_note(VALID.replace(canonical.encode(), sloppy.encode()), [SIGNER.verifier()])


def _signed_with(signature: bytes) -> bytes:
    return TEXT.encode() + b"\n" + _line(SIGNER.name, SIGNER.key_id, signature)


INVALID_NOTES: list[tuple[str, bytes, str]] = [
    ("altered-text", VALID.replace(b"line one", b"line One"), "does not verify"),
    ("zeroed-signature", _signed_with(bytes(64)), "does not verify"),
    ("short-signature", _signed_with(bytes(63)), "not 64 bytes"),
    ("long-signature", _signed_with(bytes(65)), "not 64 bytes"),
    # The last blank line separates text from signatures, so the earlier line becomes text.
    ("empty-line-among-signatures", VALID + b"\n" + LINE, "does not verify"),
    ("no-known-signature", _signed(TEXT, OTHER), "no signature by a known key"),
    ("valid-then-invalid", VALID + _line(SIGNER.name, SIGNER.key_id, bytes(64)), "does not verify"),
]


@pytest.mark.parametrize(
    ("message", "reason"), [c[1:] for c in INVALID_NOTES], ids=[c[0] for c in INVALID_NOTES]
)
def test_badly_signed_note_is_refused(message: bytes, reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        note.open_note(message, [SIGNER.verifier()])


def test_note_with_no_verifiers_at_all_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        note.open_note(VALID, [])


# --------------------------------------------------------------------------------------------
# Key strings

VKEY = SIGNER.verifier().to_vkey()
VKEY_NAME, VKEY_ID, VKEY_MATERIAL = VKEY.split("+", 2)
PUBLIC = SIGNER.verifier().key.to_bytes()
COSIGNATURE_MATERIAL = _b64(bytes([0x04]) + PUBLIC)
LONG_MATERIAL = _b64(bytes([0x01]) + PUBLIC + b"x")

MALFORMED_VKEYS: list[tuple[str, str, str]] = [
    ("two-parts", f"{VKEY_NAME}+{VKEY_ID}", "name\\+keyid\\+key"),
    ("empty-name", f"+{VKEY_ID}+{VKEY_MATERIAL}", "must not be empty"),
    ("space-in-name", f"a b+{VKEY_ID}+{VKEY_MATERIAL}", "spaces"),
    ("upper-case-id", f"{VKEY_NAME}+{VKEY_ID.upper()}+{VKEY_MATERIAL}", "8 lower-case"),
    ("short-id", f"{VKEY_NAME}+{VKEY_ID[:7]}+{VKEY_MATERIAL}", "8 lower-case"),
    ("wrong-id", f"{VKEY_NAME}+00000000+{VKEY_MATERIAL}", "does not match"),
    ("other-name", f"example.org/other+{VKEY_ID}+{VKEY_MATERIAL}", "does not match"),
    ("bad-base64", f"{VKEY_NAME}+{VKEY_ID}+***", "not valid base64"),
    ("no-type-byte", f"{VKEY_NAME}+{VKEY_ID}+{_b64(PUBLIC)}", "type byte and 32 bytes"),
    ("cosignature-type", f"{VKEY_NAME}+{VKEY_ID}+{COSIGNATURE_MATERIAL}", "not an Ed25519 key"),
    ("long-key", f"{VKEY_NAME}+{VKEY_ID}+{LONG_MATERIAL}", "type byte and 32"),
]


@pytest.mark.parametrize(
    ("vkey", "reason"), [c[1:] for c in MALFORMED_VKEYS], ids=[c[0] for c in MALFORMED_VKEYS]
)
def test_malformed_verifier_key_is_refused(vkey: str, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        note.Verifier.from_vkey(vkey)


def test_signer_key_without_its_prefix_is_refused() -> None:
    with pytest.raises(MalformedInput, match="PRIVATE"):
        note.Signer.from_skey(SIGNER.to_skey().removeprefix("PRIVATE+KEY+"))


def test_signer_key_with_a_wrong_id_is_refused() -> None:
    skey = SIGNER.to_skey().replace(f"+{SIGNER.key_id:08x}+", "+00000000+")
    with pytest.raises(MalformedInput, match="does not match"):
        note.Signer.from_skey(skey)


def test_signer_key_is_not_a_verifier_key() -> None:
    with pytest.raises(MalformedInput):
        note.Verifier.from_vkey(SIGNER.to_skey())


# --------------------------------------------------------------------------------------------
# What may be signed

UNSIGNABLE_TEXTS: list[tuple[str, str, str]] = [
    ("empty", "", "end with a newline"),
    ("no-final-newline", "text", "end with a newline"),
    ("carriage-return", "text\r\n", "control characters"),
    ("escape", "te\x1bxt\n", "control characters"),
    ("lone-surrogate", "te\ud800xt\n", "valid UTF-8"),
]


@pytest.mark.parametrize(
    ("text", "reason"), [c[1:] for c in UNSIGNABLE_TEXTS], ids=[c[0] for c in UNSIGNABLE_TEXTS]
)
def test_text_outside_the_rules_is_never_signed(text: str, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        note.sign(text, [SIGNER])


def test_a_note_needs_a_signer() -> None:
    with pytest.raises(MalformedInput, match="at least one signature"):
        note.sign(TEXT, [])


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u2003b", "a\nb"])
def test_invalid_key_name_cannot_make_a_signer(name: str) -> None:
    with pytest.raises(MalformedInput, match="key name"):
        note.Signer(name, SigningKey(bytes(32)))
