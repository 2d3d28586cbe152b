"""Tests for crypto.keystore: the format, tamper evidence, passphrase rules and file handling.

Every test but one uses the smallest Argon2id parameters the module accepts (8 MiB, one pass)
through the explicit ``kdf_params`` keyword, so the file stays fast; ``test_default_params``
pays for the real defaults once.

Decision tested here: operating-system failures while writing a keystore surface as
``KeystoreError`` (with the ``OSError`` as ``__cause__``), so callers catch one family.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import cjson
from crypto import keystore as keystore_module
from crypto.errors import KeystoreError, WrongPassphrase
from crypto.keystore import (
    DEFAULT_KDF_PARAMS,
    MAX_KEYSTORE_BYTES,
    KdfParams,
    open_keystore,
    read_keystore_file,
    seal_keystore,
    write_keystore_file,
)
from crypto.labels import KEYSTORE_AAD

FAST = KdfParams(memory_kib=8192, time_cost=1, parallelism=1)
PHRASE = "correct horse battery staple"
OTHER_PHRASE = "correct horse battery stapler"
SECRETS = {"signing-key": bytes(range(32)), "receipt_1": b"\x00\xff", "empty": b""}
SMALL_SECRETS = {"k": b"\x8a\x01"}
AUTH_FAILED = "wrong passphrase, or the keystore file was altered"
B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@functools.cache
def small_keystore() -> bytes:
    """One small keystore shared by the tamper tests (sealing is the slow part)."""
    return seal_keystore(SMALL_SECRETS, PHRASE, kdf_params=FAST)


def reencode(data: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """Decode a keystore, apply ``change`` to the object, and re-encode it canonically."""
    document = cjson.decode_object(data)
    change(document)
    return cjson.encode(document)


def seal_by_spec(plaintext: bytes, passphrase: str, **header_changes: Any) -> bytes:
    """An independent implementation of format v2, straight from the specification.

    Used both to prove that the module writes exactly the documented format and to build files
    that a correct writer would never produce (bad plaintext, unusual header values).
    """
    salt = os.urandom(16)
    nonce = os.urandom(12)
    kdf = {
        "name": "argon2id",
        "argon2_version": 19,
        "memory_kib": 8192,
        "time_cost": 1,
        "parallelism": 1,
        "salt": cjson.b64encode(salt),
    }
    header: dict[str, Any] = {
        "format": "sealed-petition-keystore",
        "version": 2,
        "kdf": kdf,
        "aead": "chacha20-poly1305",
        "nonce": cjson.b64encode(nonce),
    }
    header.update(header_changes)
    key = hash_secret_raw(
        unicodedata.normalize("NFC", passphrase).encode("utf-8"),
        salt,
        time_cost=1,
        memory_cost=8192,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
        version=19,
    )
    aad = KEYSTORE_AAD + cjson.encode(header)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    return cjson.encode({**header, "ciphertext": cjson.b64encode(ciphertext)})


def assert_clean_message(exc: BaseException, *secret_texts: str | bytes) -> None:
    """No error message may reveal the passphrase or a secret value."""
    message = str(exc)
    for text in secret_texts:
        shown = text if isinstance(text, str) else cjson.b64encode(text)
        if shown:
            assert shown not in message
        if isinstance(text, bytes) and text:
            assert repr(text) not in message


# --- round trips ---------------------------------------------------------------------------


def test_round_trip() -> None:
    data = seal_keystore(SECRETS, PHRASE, kdf_params=FAST)
    assert open_keystore(data, PHRASE) == SECRETS


def test_round_trip_empty_mapping() -> None:
    data = seal_keystore({}, PHRASE, kdf_params=FAST)
    assert open_keystore(data, PHRASE) == {}


@settings(max_examples=15, deadline=None)
@given(
    secrets=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_-]{0,63}", fullmatch=True),
        st.binary(max_size=64),
        max_size=4,
    ),
    passphrase=st.text(min_size=8, max_size=40).filter(
        lambda text: (
            len(unicodedata.normalize("NFC", text)) >= 8
            and all(not 0xD800 <= ord(c) <= 0xDFFF for c in text)
        )
    ),
)
def test_round_trip_any_secrets_and_passphrase(secrets: dict[str, bytes], passphrase: str) -> None:
    assert open_keystore(seal_keystore(secrets, passphrase, kdf_params=FAST), passphrase) == secrets


def test_chinese_passphrase_round_trip() -> None:
    chinese = "我的请愿书密码是秘密"
    data = seal_keystore(SECRETS, chinese, kdf_params=FAST)
    assert open_keystore(data, chinese) == SECRETS
    with pytest.raises(WrongPassphrase):
        open_keystore(data, "我的请愿书密码是秘钥")


@pytest.mark.parametrize(
    "composed",
    [
        "café crème brûlée",  # Latin with accents: NFD splits off the combining marks
        "비밀번호를입력하세요",  # Hangul: NFD splits every syllable into jamo
        "请愿书密码 Ångström",
    ],
)
def test_nfc_and_nfd_forms_open_the_same_keystore(composed: str) -> None:
    nfc = unicodedata.normalize("NFC", composed)
    nfd = unicodedata.normalize("NFD", composed)
    assert nfc != nfd  # otherwise the test proves nothing
    for seal_with, open_with in ((nfc, nfd), (nfd, nfc)):
        data = seal_keystore(SMALL_SECRETS, seal_with, kdf_params=FAST)
        assert open_keystore(data, open_with) == SMALL_SECRETS


def test_fresh_salt_and_nonce_every_time() -> None:
    first = cjson.decode_object(seal_keystore(SMALL_SECRETS, PHRASE, kdf_params=FAST))
    second = cjson.decode_object(seal_keystore(SMALL_SECRETS, PHRASE, kdf_params=FAST))
    assert first["kdf"]["salt"] != second["kdf"]["salt"]
    assert first["nonce"] != second["nonce"]
    assert first["ciphertext"] != second["ciphertext"]


def test_default_params() -> None:
    assert KdfParams(memory_kib=65536, time_cost=3, parallelism=1) == DEFAULT_KDF_PARAMS
    data = seal_keystore(SMALL_SECRETS, PHRASE)
    kdf = cjson.decode_object(data)["kdf"]
    assert (kdf["memory_kib"], kdf["time_cost"], kdf["parallelism"]) == (65536, 3, 1)
    assert open_keystore(data, PHRASE) == SMALL_SECRETS


# --- the exact format ----------------------------------------------------------------------


def test_file_is_exactly_the_documented_format() -> None:
    data = seal_keystore(SECRETS, PHRASE, kdf_params=FAST)
    document = cjson.decode_object(data)  # canonical JSON, or this raises
    assert set(document) == {"format", "version", "kdf", "aead", "nonce", "ciphertext"}
    assert document["format"] == "sealed-petition-keystore"
    assert document["version"] == 2
    assert document["aead"] == "chacha20-poly1305"
    kdf = document["kdf"]
    assert set(kdf) == {"name", "argon2_version", "memory_kib", "time_cost", "parallelism", "salt"}
    assert (kdf["name"], kdf["argon2_version"]) == ("argon2id", 19)
    assert (kdf["memory_kib"], kdf["time_cost"], kdf["parallelism"]) == (8192, 1, 1)
    salt = cjson.b64decode(kdf["salt"], length=16)
    nonce = cjson.b64decode(document["nonce"], length=12)
    ciphertext = cjson.b64decode(document["ciphertext"])

    # Decrypt it independently, from the specification alone.
    key = hash_secret_raw(
        PHRASE.encode("utf-8"),
        salt,
        time_cost=1,
        memory_cost=8192,
        parallelism=1,
        hash_len=32,
        type=Type.ID,
        version=19,
    )
    header = {name: value for name, value in document.items() if name != "ciphertext"}
    plaintext = ChaCha20Poly1305(key).decrypt(
        nonce, ciphertext, KEYSTORE_AAD + cjson.encode(header)
    )
    expected = {"secrets": {name: cjson.b64encode(value) for name, value in SECRETS.items()}}
    assert plaintext == cjson.encode(expected)


def test_reads_a_file_written_from_the_specification() -> None:
    plaintext = cjson.encode({"secrets": {"k": cjson.b64encode(b"\x8a\x01")}})
    assert open_keystore(seal_by_spec(plaintext, PHRASE), PHRASE) == {"k": b"\x8a\x01"}


# --- wrong passphrase and tampering --------------------------------------------------------


def test_wrong_passphrase() -> None:
    data = small_keystore()
    with pytest.raises(WrongPassphrase) as caught:
        open_keystore(data, OTHER_PHRASE)
    assert str(caught.value) == AUTH_FAILED
    assert_clean_message(caught.value, OTHER_PHRASE, PHRASE, *SMALL_SECRETS.values())


def test_opening_accepts_a_short_passphrase() -> None:
    # The creation rule does not apply when opening: a short guess is simply wrong.
    with pytest.raises(WrongPassphrase):
        open_keystore(small_keystore(), "x")


def test_opening_refuses_an_empty_passphrase() -> None:
    with pytest.raises(KeystoreError, match="empty") as caught:
        open_keystore(small_keystore(), "")
    assert type(caught.value) is KeystoreError


def _substitute(byte: int) -> int:
    """A replacement that keeps the file parseable as often as possible.

    A digit becomes another digit and a base64url character another base64url character, so
    most changes reach the KDF and the AEAD instead of stopping at the JSON parser.
    """
    if ord("0") <= byte <= ord("9"):
        return ord("0") + (byte - ord("0") + 1) % 10
    if byte in B64_ALPHABET:
        return B64_ALPHABET[(B64_ALPHABET.index(byte) + 1) % len(B64_ALPHABET)]
    return byte ^ 0x01


def test_every_single_byte_change_is_detected() -> None:
    data = small_keystore()
    outcomes: dict[str, int] = {"wrong_passphrase": 0, "keystore_error": 0}
    for position in range(len(data)):
        altered = bytearray(data)
        altered[position] = _substitute(altered[position])
        # Any other exception type propagates and fails the test.
        with pytest.raises(KeystoreError) as caught:
            open_keystore(bytes(altered), PHRASE)
        assert_clean_message(caught.value, PHRASE, *SMALL_SECRETS.values())
        if isinstance(caught.value, WrongPassphrase):
            assert str(caught.value) == AUTH_FAILED
            outcomes["wrong_passphrase"] += 1
        else:
            outcomes["keystore_error"] += 1
    # Both paths were exercised: changes that parse and fail authentication, and changes
    # that are rejected as malformed before any key is derived.
    assert outcomes["wrong_passphrase"] > 50
    assert outcomes["keystore_error"] > 50


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_is_detected(position: int, value: int) -> None:
    data = small_keystore()
    position %= len(data)
    if data[position] == value:
        value ^= 0x80
    altered = bytearray(data)
    altered[position] = value
    with pytest.raises(KeystoreError):
        open_keystore(bytes(altered), PHRASE)


def test_every_truncation_is_refused() -> None:
    data = small_keystore()
    for length in range(len(data)):
        with pytest.raises(KeystoreError):
            open_keystore(data[:length], PHRASE)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("memory_kib", 16384),
        ("time_cost", 2),
        ("parallelism", 2),
        ("salt", cjson.b64encode(b"\x00" * 16)),
    ],
)
def test_changed_kdf_header_fails_authentication(field: str, value: object) -> None:
    def change(document: dict[str, Any]) -> None:
        assert document["kdf"][field] != value
        document["kdf"][field] = value

    with pytest.raises(WrongPassphrase):
        open_keystore(reencode(small_keystore(), change), PHRASE)


def test_changed_nonce_fails_authentication() -> None:
    def change(document: dict[str, Any]) -> None:
        document["nonce"] = cjson.b64encode(b"\x00" * 12)

    with pytest.raises(WrongPassphrase):
        open_keystore(reencode(small_keystore(), change), PHRASE)


def test_aad_starts_with_the_keystore_label() -> None:
    """A ciphertext made under another label's AAD (same key, same header) must not open."""
    salt, nonce = os.urandom(16), os.urandom(12)
    header = cjson.decode_object(small_keystore())
    del header["ciphertext"]
    header["kdf"]["salt"] = cjson.b64encode(salt)
    header["nonce"] = cjson.b64encode(nonce)
    key = hash_secret_raw(PHRASE.encode(), salt, 1, 8192, 1, 32, Type.ID, 19)
    plaintext = cjson.encode({"secrets": {}})

    def forge(label: bytes) -> bytes:
        ciphertext = ChaCha20Poly1305(key).encrypt(nonce, plaintext, label + cjson.encode(header))
        return cjson.encode({**header, "ciphertext": cjson.b64encode(ciphertext)})

    assert open_keystore(forge(KEYSTORE_AAD), PHRASE) == {}  # control: the right label opens
    with pytest.raises(WrongPassphrase):
        open_keystore(forge(b"sealed-petition/v2/other\x00"), PHRASE)
    with pytest.raises(WrongPassphrase):
        open_keystore(forge(b"sealed-petition/v1/keystore\x00"), PHRASE)


def test_a_protocol_v1_keystore_is_refused_as_an_unsupported_version() -> None:
    """A version 1 file (AAD under the v1 label) says so, instead of "wrong passphrase"."""
    salt, nonce = os.urandom(16), os.urandom(12)
    header: dict[str, Any] = {
        "format": "sealed-petition-keystore",
        "version": 1,
        "kdf": {
            "name": "argon2id",
            "argon2_version": 19,
            "memory_kib": 8192,
            "time_cost": 1,
            "parallelism": 1,
            "salt": cjson.b64encode(salt),
        },
        "aead": "chacha20-poly1305",
        "nonce": cjson.b64encode(nonce),
    }
    key = hash_secret_raw(PHRASE.encode(), salt, 1, 8192, 1, 32, Type.ID, 19)
    aad = b"sealed-petition/v1/keystore\x00" + cjson.encode(header)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, cjson.encode({"secrets": {}}), aad)
    data = cjson.encode({**header, "ciphertext": cjson.b64encode(ciphertext)})
    _assert_plain_keystore_error(
        data, "unsupported keystore version 1; this program reads version 2"
    )


# --- structure -----------------------------------------------------------------------------


def _assert_plain_keystore_error(data: bytes, match: str) -> None:
    """Refused as malformed, not reported as a wrong passphrase."""
    with pytest.raises(KeystoreError, match=match) as caught:
        open_keystore(data, PHRASE)
    assert type(caught.value) is KeystoreError


@pytest.mark.parametrize("version", [0, 1, 3, "2", True, None, [2]])
def test_unknown_version(version: object) -> None:
    def change(document: dict[str, Any]) -> None:
        document["version"] = version

    _assert_plain_keystore_error(reencode(small_keystore(), change), "unsupported keystore version")


@pytest.mark.parametrize("name", ["sealed-petition-keystore2", "", None, 1])
def test_unknown_format(name: object) -> None:
    def change(document: dict[str, Any]) -> None:
        document["format"] = name

    _assert_plain_keystore_error(reencode(small_keystore(), change), "not a keystore file")


@pytest.mark.parametrize(
    ("where", "field", "value", "match"),
    [
        (None, "aead", "aes-256-gcm", "cipher"),
        ("kdf", "name", "argon2i", "KDF"),
        ("kdf", "argon2_version", 16, "Argon2 version"),
        ("kdf", "argon2_version", True, "Argon2 version"),
        ("kdf", "salt", cjson.b64encode(b"\x00" * 15), "salt"),
        ("kdf", "salt", "AAAAAAAAAAAAAAAAAAAAAA==", "salt"),
        (None, "nonce", cjson.b64encode(b"\x00" * 16), "nonce"),
        (None, "ciphertext", cjson.b64encode(b"\x00" * 15), "shorter than its tag"),
        (None, "ciphertext", 12, "ciphertext"),
        (None, "kdf", "argon2id", "kdf must be an object"),
    ],
)
def test_bad_header_values(where: str | None, field: str, value: object, match: str) -> None:
    def change(document: dict[str, Any]) -> None:
        target = document if where is None else document[where]
        target[field] = value

    _assert_plain_keystore_error(reencode(small_keystore(), change), match)


@pytest.mark.parametrize("member", ["kdf", "aead", "nonce", "ciphertext"])
def test_missing_member(member: str) -> None:
    def change(document: dict[str, Any]) -> None:
        del document[member]

    _assert_plain_keystore_error(reencode(small_keystore(), change), f"missing member.*{member}")


@pytest.mark.parametrize(
    "member", ["name", "argon2_version", "memory_kib", "time_cost", "parallelism", "salt"]
)
def test_missing_kdf_member(member: str) -> None:
    def change(document: dict[str, Any]) -> None:
        del document["kdf"][member]

    _assert_plain_keystore_error(reencode(small_keystore(), change), f"missing member.*{member}")


def test_extra_member() -> None:
    def change(document: dict[str, Any]) -> None:
        document["comment"] = "hello"

    _assert_plain_keystore_error(reencode(small_keystore(), change), "unknown member.*comment")


def test_extra_kdf_member() -> None:
    def change(document: dict[str, Any]) -> None:
        document["kdf"]["pepper"] = 1

    _assert_plain_keystore_error(reencode(small_keystore(), change), "unknown member.*pepper")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "canonical JSON"),
        (b"\xff\xfe", "canonical JSON"),
        (b"[]", "canonical JSON"),
        (b'{"format": "sealed-petition-keystore"}', "canonical JSON"),  # not canonical
        (b'{"format":"sealed-petition-keystore","format":"x"}', "canonical JSON"),
        (b'{"version":1.0}', "canonical JSON"),
        (b"{}", "not a keystore file"),
        (b" " * (MAX_KEYSTORE_BYTES + 1), "larger than"),
    ],
)
def test_malformed_input(data: bytes, match: str) -> None:
    _assert_plain_keystore_error(data, match)


def test_non_bytes_data_is_a_keystore_error() -> None:
    with pytest.raises(KeystoreError):
        open_keystore("{}", PHRASE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "plaintext",
    [
        cjson.encode({"secrets": {"Bad-Name": "AA"}}),
        cjson.encode({"secrets": {"k": "AA=="}}),
        cjson.encode({"secrets": []}),
        cjson.encode({"secrets": {}, "more": 1}),
        cjson.encode([]),
        b"not json",
    ],
)
def test_authenticated_but_malformed_contents(plaintext: bytes) -> None:
    _assert_plain_keystore_error(seal_by_spec(plaintext, PHRASE), "malformed keystore contents")


# --- KDF parameter bounds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("memory_kib", 8191),
        ("memory_kib", 4194305),
        ("memory_kib", 100 * 1024 * 1024),  # 100 GiB
        ("memory_kib", 0),
        ("memory_kib", -1),
        ("memory_kib", "65536"),
        ("memory_kib", True),
        ("time_cost", 0),
        ("time_cost", 33),
        ("time_cost", 2**53 - 1),
        ("parallelism", 0),
        ("parallelism", 17),
        ("parallelism", None),
    ],
)
def test_out_of_bounds_params_are_refused_before_the_kdf_runs(
    field: str, value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = reencode(small_keystore(), lambda document: document["kdf"].__setitem__(field, value))

    def must_not_run(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("Argon2 ran with unchecked parameters")

    monkeypatch.setattr(keystore_module, "hash_secret_raw", must_not_run)
    _assert_plain_keystore_error(data, field)


def test_bounds_are_inclusive() -> None:
    KdfParams(memory_kib=8192, time_cost=1, parallelism=1)
    KdfParams(memory_kib=4194304, time_cost=32, parallelism=16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"memory_kib": 4096, "time_cost": 1, "parallelism": 1},
        {"memory_kib": 8192, "time_cost": 0, "parallelism": 1},
        {"memory_kib": 8192, "time_cost": 1, "parallelism": 17},
    ],
)
def test_weak_or_absurd_params_cannot_be_used_to_seal(kwargs: dict[str, int]) -> None:
    with pytest.raises(KeystoreError):
        KdfParams(**kwargs)


# --- passphrase and secret rules -----------------------------------------------------------


@pytest.mark.parametrize(
    "passphrase",
    [
        "",
        "1234567",
        "密码太短了",
        unicodedata.normalize("NFD", "éééééé"),  # 12 code points in NFD, 6 after NFC
    ],
)
def test_short_passphrase_on_creation(passphrase: str) -> None:
    with pytest.raises(KeystoreError, match="at least 8 characters") as caught:
        seal_keystore(SMALL_SECRETS, passphrase, kdf_params=FAST)
    assert type(caught.value) is KeystoreError
    assert_clean_message(caught.value, passphrase)


def test_eight_characters_is_enough() -> None:
    data = seal_keystore(SMALL_SECRETS, "12345678", kdf_params=FAST)
    assert open_keystore(data, "12345678") == SMALL_SECRETS


def test_passphrase_that_is_not_text() -> None:
    with pytest.raises(KeystoreError):
        seal_keystore(SMALL_SECRETS, "abcdefgh\udc80", kdf_params=FAST)
    with pytest.raises(KeystoreError):
        seal_keystore(SMALL_SECRETS, b"abcdefghij", kdf_params=FAST)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "A", "1key", "-key", "key\n", "ключ", "a" * 65, "a b", 7])
def test_invalid_secret_names(name: object) -> None:
    secret = b"do-not-print-this-secret"
    with pytest.raises(KeystoreError, match="secret name") as caught:
        seal_keystore({name: secret}, PHRASE, kdf_params=FAST)  # type: ignore[dict-item]
    assert_clean_message(caught.value, secret, PHRASE)


def test_longest_valid_name() -> None:
    name = "z" + "a0_-" * 15 + "zzz"
    assert len(name) == 64
    data = seal_keystore({name: b"v"}, PHRASE, kdf_params=FAST)
    assert open_keystore(data, PHRASE) == {name: b"v"}


@pytest.mark.parametrize("value", ["text", 5, None])
def test_secret_values_must_be_bytes(value: object) -> None:
    with pytest.raises(KeystoreError, match="must be bytes"):
        seal_keystore({"k": value}, PHRASE, kdf_params=FAST)  # type: ignore[dict-item]


def test_oversized_keystore_is_refused_when_sealing() -> None:
    with pytest.raises(KeystoreError, match="larger than"):
        seal_keystore({"big": bytes(MAX_KEYSTORE_BYTES)}, PHRASE, kdf_params=FAST)


# --- files ---------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_written_file_is_private_and_readable(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "reviewer.keystore"
    previous = os.umask(umask)
    try:
        write_keystore_file(path, SECRETS, PHRASE, kdf_params=FAST)
    finally:
        os.umask(previous)
    assert _mode(path) == 0o600
    assert os.listdir(tmp_path) == ["reviewer.keystore"]  # no temporary file left
    assert read_keystore_file(path, PHRASE) == SECRETS


def test_directory_is_fsynced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    write_keystore_file(tmp_path / "k", SMALL_SECRETS, PHRASE, kdf_params=FAST)
    expected = ["file", "dir"] if os.name == "posix" else ["file"]
    assert synced == expected


def test_failed_rename_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "reviewer.keystore"
    seen: list[str] = []

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.extend(os.listdir(tmp_path))  # the temporary file existed at this point
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeystoreError, match="cannot write keystore file") as caught:
        write_keystore_file(path, SECRETS, PHRASE, kdf_params=FAST)
    assert isinstance(caught.value.__cause__, OSError)
    assert len(seen) == 1
    assert seen[0].startswith(".reviewer.keystore.")
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "simulated full disk")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(KeystoreError, match="cannot write keystore file"):
        write_keystore_file(tmp_path / "k", SECRETS, PHRASE, kdf_params=FAST)
    assert os.listdir(tmp_path) == []


def test_interrupted_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_keystore_file(tmp_path / "k", SECRETS, PHRASE, kdf_params=FAST)
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_keystore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k"
    write_keystore_file(path, {"old": b"1"}, PHRASE, kdf_params=FAST)

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeystoreError):
        write_keystore_file(path, {"new": b"2"}, PHRASE, overwrite=True, kdf_params=FAST)
    assert os.listdir(tmp_path) == ["k"]
    assert read_keystore_file(path, PHRASE) == {"old": b"1"}


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_keystore_file(path, {"old": b"1"}, PHRASE, kdf_params=FAST)
    before = path.read_bytes()
    with pytest.raises(KeystoreError, match="already exists"):
        write_keystore_file(path, {"new": b"2"}, PHRASE, kdf_params=FAST)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["k"]


@posix_only
def test_refuses_to_overwrite_a_dangling_symlink(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.symlink_to(tmp_path / "nowhere")
    with pytest.raises(KeystoreError, match="already exists"):
        write_keystore_file(path, SMALL_SECRETS, PHRASE, kdf_params=FAST)
    assert not (tmp_path / "nowhere").exists()


@posix_only
def test_overwrite_replaces_and_makes_private(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"old contents")
    path.chmod(0o644)
    write_keystore_file(path, {"new": b"2"}, PHRASE, overwrite=True, kdf_params=FAST)
    assert _mode(path) == 0o600
    assert read_keystore_file(path, PHRASE) == {"new": b"2"}
    assert os.listdir(tmp_path) == ["k"]


def test_missing_directory_on_write(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "k"
    with pytest.raises(KeystoreError, match=r"the folder .*absent does not exist; create it"):
        write_keystore_file(path, SMALL_SECRETS, PHRASE, kdf_params=FAST)


def test_write_refuses_a_short_passphrase_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="at least 8"):
        write_keystore_file(tmp_path / "k", SMALL_SECRETS, "short", kdf_params=FAST)
    assert os.listdir(tmp_path) == []


@posix_only
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644, 0o660, 0o666, 0o610, 0o601])
def test_too_open_permissions_are_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    write_keystore_file(path, SMALL_SECRETS, PHRASE, kdf_params=FAST)
    path.chmod(mode)
    with pytest.raises(KeystoreError) as caught:
        read_keystore_file(path, PHRASE)
    assert type(caught.value) is KeystoreError
    assert f"chmod 600 {path}" in str(caught.value)


@posix_only
def test_owner_read_only_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_keystore_file(path, SMALL_SECRETS, PHRASE, kdf_params=FAST)
    path.chmod(0o400)
    assert read_keystore_file(path, PHRASE) == SMALL_SECRETS


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such.keystore"
    with pytest.raises(KeystoreError) as caught:
        read_keystore_file(path, PHRASE)
    assert "not found" in str(caught.value)
    assert str(path) in str(caught.value)


def test_wrong_passphrase_from_file(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_keystore_file(path, SMALL_SECRETS, PHRASE, kdf_params=FAST)
    with pytest.raises(WrongPassphrase):
        read_keystore_file(path, OTHER_PHRASE)


@posix_only
def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(b" " * (MAX_KEYSTORE_BYTES + 1))
    path.chmod(0o600)
    with pytest.raises(KeystoreError, match="larger than"):
        read_keystore_file(path, PHRASE)


@posix_only
def test_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.mkdir(mode=0o700)
    with pytest.raises(KeystoreError, match="not a regular file"):
        read_keystore_file(path, PHRASE)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "k"
    os.mkfifo(path, 0o600)
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            read_keystore_file(path, PHRASE)
        except BaseException as exc:
            errors.append(exc)

    # In a thread, so that a regression fails the test instead of hanging the whole run.
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=5)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a writer unblocks the reader
        thread.join(timeout=5)
        pytest.fail("opening a named pipe blocked waiting for a writer")
    assert len(errors) == 1
    assert type(errors[0]) is KeystoreError
    assert "not a regular file" in str(errors[0])
