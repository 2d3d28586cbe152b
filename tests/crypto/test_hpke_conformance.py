"""HPKE conformance of the `cryptography` library, proven with published test vectors.

Petitions are sealed with HPKE (RFC 9180) through `cryptography`, suite
KEM.MLKEM768_X25519 / KDF.HKDF_SHA256 / AEAD.CHACHA20_POLY1305, mode_base, single-shot.
This module checks that suite, and its classical sibling, against the standards' own
vectors, kept as data files with their sources named:

* ``tests/vectors/rfc9180-hpke.json``: RFC 9180 Appendix A.2.1, DHKEM(X25519, HKDF-SHA256),
  HKDF-SHA256, ChaCha20Poly1305, mode_base, sequence number 0.
* ``tests/vectors/hpke-pq-mlkem768-x25519.json``: draft-ietf-hpke-pq-05 Appendix A.5.1,
  MLKEM768-X25519, HKDF-SHA256, ChaCha20Poly1305, mode_base, sequence number 0. This is
  the exact suite the project uses.

What ``KEM.MLKEM768_X25519`` is: the HPKE KEM "MLKEM768-X25519" of draft-ietf-hpke-pq,
KEM id 0x647a, i.e. X-Wing (draft-connolly-cfrg-xwing-kem). It has a 1120-byte enc
(ML-KEM-768 ciphertext || X25519 ephemeral public key), a 1216-byte public key
(pk_M || pk_X), and the shared secret
SHA3-256(ss_M || ss_X || ct_X || pk_X || "\\.//^\\"). The private key is a 32-byte seed,
which X-Wing expands with SHAKE256 into the 64-byte ML-KEM-768 seed and the X25519 private
key. Evidence: pyca/cryptography's own tests map 0x647A to KEM.MLKEM768_X25519 and expand
the vector seed this way (tests/hazmat/primitives/test_hpke.py, ``_hybrid_from_xwing_seed``
and ``kem_map`` in test_vector_decryption). The installed binary contains the X-Wing label
``\\.//^\\``. The decisive check is below: the draft's vector, which binds
suite_id "HPKE" || 0x647a || 0x0001 || 0x0003, decrypts.

Why a private function is used: the vectors encrypt with a non-empty AAD ("Count-0"), but
the public ``Suite.decrypt`` has no AAD parameter; it always uses an empty AAD. Without an
AAD hook, a published vector could only be checked through the library's own encryption,
which is circular. ``cryptography.hazmat.bindings._rust.openssl.hpke._decrypt_with_aad``
runs the same key schedule and decryption as ``Suite.decrypt`` but takes the AAD. It is
used here, and only here, to prove that the library's KEM and key schedule match the
standards. The project code must keep to the public API, which the round-trip tests in
this module also exercise for the same suites.

The RFC and the draft publish further sequence numbers and exporter values. A single-shot
API cannot reach them (single-shot decryption is sequence number 0 only), so they are not
stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Final, TypedDict, cast

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

VECTORS_DIR: Final = Path(__file__).parent.parent / "vectors"

# RFC 9180 section 7 identifiers; draft-ietf-hpke-pq section 8.2 for MLKEM768-X25519.
KEM_ID_DHKEM_X25519: Final = 0x0020
KEM_ID_MLKEM768_X25519: Final = 0x647A
KDF_ID_HKDF_SHA256: Final = 0x0001
AEAD_ID_CHACHA20_POLY1305: Final = 0x0003
MODE_BASE: Final = 0x00

X25519_ENC_LENGTH: Final = 32
XWING_ENC_LENGTH: Final = 1120
XWING_PUBLIC_KEY_LENGTH: Final = 1216
XWING_SEED_LENGTH: Final = 32
MLKEM768_SEED_LENGTH: Final = 64
CHACHA20_POLY1305_TAG_LENGTH: Final = 16


class Encryption(TypedDict):
    sequence_number: int
    aad: str
    ct: str
    pt: str


class Vector(TypedDict):
    section: str
    mode: int
    kem_id: int
    kdf_id: int
    aead_id: int
    info: str
    skRm: str
    pkRm: str
    enc: str
    encryptions: list[Encryption]


class VectorFile(TypedDict):
    description: str
    source: dict[str, object]
    vectors: list[Vector]


def _load(name: str) -> VectorFile:
    with (VECTORS_DIR / name).open(encoding="utf-8") as handle:
        data = cast(VectorFile, json.load(handle))
    assert data["source"], f"{name} must name its source"
    assert data["vectors"], f"{name} holds no vectors"
    return data


RFC9180: Final = _load("rfc9180-hpke.json")
HPKE_PQ: Final = _load("hpke-pq-mlkem768-x25519.json")


def _first_encryption(vector: Vector) -> Encryption:
    """Sequence number 0, the only one a single-shot API can reproduce."""
    first = vector["encryptions"][0]
    assert first["sequence_number"] == 0
    return first


def _x25519_suite() -> hpke.Suite:
    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def _xwing_suite() -> hpke.Suite:
    return hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def _xwing_components(
    seed: bytes,
) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
    """Expand an X-Wing decapsulation-key seed (draft-connolly-cfrg-xwing-kem).

    expandDecapsulationKey: expanded = SHAKE256(sk, 96); ML-KEM-768 seed d || z is
    expanded[0:64]; the X25519 private key is expanded[64:96].
    """
    assert len(seed) == XWING_SEED_LENGTH
    expanded = hashlib.shake_256(seed).digest(MLKEM768_SEED_LENGTH + 32)
    mlkem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:MLKEM768_SEED_LENGTH])
    x25519_key = x25519.X25519PrivateKey.from_private_bytes(expanded[MLKEM768_SEED_LENGTH:])
    return mlkem_key, x25519_key


def _xwing_private_key(seed: bytes) -> hpke.MLKEM768X25519PrivateKey:
    return hpke.MLKEM768X25519PrivateKey(*_xwing_components(seed))


def _xwing_public_bytes(seed: bytes) -> bytes:
    mlkem_key, x25519_key = _xwing_components(seed)
    return mlkem_key.public_key().public_bytes_raw() + x25519_key.public_key().public_bytes_raw()


# --- RFC 9180 A.2: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305 ---------------


@pytest.mark.parametrize("vector", RFC9180["vectors"], ids=lambda v: v["section"])
def test_rfc9180_vector_is_the_x25519_chacha20_base_suite(vector: Vector) -> None:
    assert vector["mode"] == MODE_BASE
    assert vector["kem_id"] == KEM_ID_DHKEM_X25519
    assert vector["kdf_id"] == KDF_ID_HKDF_SHA256
    assert vector["aead_id"] == AEAD_ID_CHACHA20_POLY1305
    assert len(bytes.fromhex(vector["enc"])) == X25519_ENC_LENGTH == hpke.KEM.X25519.enc_length()


@pytest.mark.parametrize("vector", RFC9180["vectors"], ids=lambda v: v["section"])
def test_rfc9180_recipient_key_pair_matches(vector: Vector) -> None:
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["skRm"]))
    assert sk_r.public_key().public_bytes_raw() == bytes.fromhex(vector["pkRm"])


@pytest.mark.parametrize("vector", RFC9180["vectors"], ids=lambda v: v["section"])
def test_rfc9180_single_shot_decrypt_sequence_0(vector: Vector) -> None:
    encryption = _first_encryption(vector)
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["skRm"]))
    ciphertext = bytes.fromhex(vector["enc"]) + bytes.fromhex(encryption["ct"])
    # Private API, deliberately: the RFC vector has AAD "Count-0" and Suite.decrypt has
    # no AAD parameter. See the module docstring.
    plaintext = rust_openssl.hpke._decrypt_with_aad(
        _x25519_suite(),
        ciphertext,
        sk_r,
        info=bytes.fromhex(vector["info"]),
        aad=bytes.fromhex(encryption["aad"]),
    )
    assert plaintext == bytes.fromhex(encryption["pt"])


@pytest.mark.parametrize("vector", RFC9180["vectors"], ids=lambda v: v["section"])
def test_rfc9180_vector_is_bound_to_aad_and_info(vector: Vector) -> None:
    """The vector's AAD is authenticated: the public API (empty AAD) and a changed info fail."""
    encryption = _first_encryption(vector)
    assert encryption["aad"], "the published vector uses a non-empty AAD"
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["skRm"]))
    ciphertext = bytes.fromhex(vector["enc"]) + bytes.fromhex(encryption["ct"])
    info = bytes.fromhex(vector["info"])
    with pytest.raises(InvalidTag):
        _x25519_suite().decrypt(ciphertext, sk_r, info=info)
    with pytest.raises(InvalidTag):
        rust_openssl.hpke._decrypt_with_aad(
            _x25519_suite(),
            ciphertext,
            sk_r,
            info=info + b"!",
            aad=bytes.fromhex(encryption["aad"]),
        )


@pytest.mark.parametrize("vector", RFC9180["vectors"], ids=lambda v: v["section"])
def test_rfc9180_suite_public_api_round_trip(vector: Vector) -> None:
    sk_r = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["skRm"]))
    pk_r = x25519.X25519PublicKey.from_public_bytes(bytes.fromhex(vector["pkRm"]))
    info = bytes.fromhex(vector["info"])
    plaintext = bytes.fromhex(_first_encryption(vector)["pt"])
    suite = _x25519_suite()

    ciphertext = suite.encrypt(plaintext, pk_r, info=info)

    assert len(ciphertext) == (
        hpke.KEM.X25519.enc_length() + len(plaintext) + CHACHA20_POLY1305_TAG_LENGTH
    )
    assert suite.decrypt(ciphertext, sk_r, info=info) == plaintext
    with pytest.raises(InvalidTag):
        suite.decrypt(ciphertext, sk_r, info=info + b"!")


# --- draft-ietf-hpke-pq A.5: MLKEM768-X25519 (X-Wing), HKDF-SHA256, ChaCha20Poly1305 ---------


@pytest.mark.parametrize("vector", HPKE_PQ["vectors"], ids=lambda v: v["section"])
def test_hpke_pq_vector_is_the_project_suite(vector: Vector) -> None:
    assert vector["mode"] == MODE_BASE
    assert vector["kem_id"] == KEM_ID_MLKEM768_X25519
    assert vector["kdf_id"] == KDF_ID_HKDF_SHA256
    assert vector["aead_id"] == AEAD_ID_CHACHA20_POLY1305
    assert len(bytes.fromhex(vector["skRm"])) == XWING_SEED_LENGTH
    assert len(bytes.fromhex(vector["pkRm"])) == XWING_PUBLIC_KEY_LENGTH
    assert len(bytes.fromhex(vector["enc"])) == XWING_ENC_LENGTH


@pytest.mark.parametrize("vector", HPKE_PQ["vectors"], ids=lambda v: v["section"])
def test_hpke_pq_seed_expands_to_published_public_key(vector: Vector) -> None:
    seed = bytes.fromhex(vector["skRm"])
    assert _xwing_public_bytes(seed) == bytes.fromhex(vector["pkRm"])


@pytest.mark.parametrize("vector", HPKE_PQ["vectors"], ids=lambda v: v["section"])
def test_hpke_pq_single_shot_decrypt_sequence_0(vector: Vector) -> None:
    encryption = _first_encryption(vector)
    sk_r = _xwing_private_key(bytes.fromhex(vector["skRm"]))
    ciphertext = bytes.fromhex(vector["enc"]) + bytes.fromhex(encryption["ct"])
    # Private API, deliberately: see the module docstring (the vector's AAD is "Count-0").
    plaintext = rust_openssl.hpke._decrypt_with_aad(
        _xwing_suite(),
        ciphertext,
        sk_r,
        info=bytes.fromhex(vector["info"]),
        aad=bytes.fromhex(encryption["aad"]),
    )
    assert plaintext == bytes.fromhex(encryption["pt"])


@pytest.mark.parametrize("vector", HPKE_PQ["vectors"], ids=lambda v: v["section"])
def test_hpke_pq_vector_fails_with_public_api_empty_aad(vector: Vector) -> None:
    encryption = _first_encryption(vector)
    sk_r = _xwing_private_key(bytes.fromhex(vector["skRm"]))
    ciphertext = bytes.fromhex(vector["enc"]) + bytes.fromhex(encryption["ct"])
    with pytest.raises(InvalidTag):
        _xwing_suite().decrypt(ciphertext, sk_r, info=bytes.fromhex(vector["info"]))


def test_xwing_enc_length_is_1120() -> None:
    assert hpke.KEM.MLKEM768_X25519.enc_length() == XWING_ENC_LENGTH


@pytest.mark.parametrize("vector", HPKE_PQ["vectors"], ids=lambda v: v["section"])
def test_hpke_pq_suite_public_api_round_trip(vector: Vector) -> None:
    seed = bytes.fromhex(vector["skRm"])
    mlkem_key, x25519_key = _xwing_components(seed)
    sk_r = hpke.MLKEM768X25519PrivateKey(mlkem_key, x25519_key)
    pk_r = hpke.MLKEM768X25519PublicKey(mlkem_key.public_key(), x25519_key.public_key())
    info = bytes.fromhex(vector["info"])
    suite = _xwing_suite()

    for plaintext in (b"", bytes.fromhex(_first_encryption(vector)["pt"])):
        ciphertext = suite.encrypt(plaintext, pk_r, info=info)
        assert len(ciphertext) == (
            hpke.KEM.MLKEM768_X25519.enc_length() + len(plaintext) + CHACHA20_POLY1305_TAG_LENGTH
        )
        assert suite.decrypt(ciphertext, sk_r, info=info) == plaintext
        with pytest.raises(InvalidTag):
            suite.decrypt(ciphertext, sk_r, info=info + b"!")
