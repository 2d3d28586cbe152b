"""The implementation against Sealed Petition's own frozen test vectors.

``tests/vectors/sealed-petition-v1.json`` was generated once by ``scripts/generate_vectors.py``
and is frozen: every expected value here comes from that file, and the implementation
recomputes it. A change to any wire format, label, derivation or default parameter makes these
tests fail; the fix is either to undo the change or, if it is deliberate, to regenerate the file
in a reviewed change (with ``--force``) and bump the protocol version where the format moved.
These tests never call the generator.

Where the format allows it, the checks go below the project's own API as well (HPKE decryption
with an explicitly constructed suite, Argon2id and ChaCha20-Poly1305 for the keystore), so that
the file documents the layout an independent implementation has to produce, not just what this
one happens to do.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto import PROTOCOL_VERSION, cjson, envelope, keystore, labels, merkle, padding
from crypto.document import PetitionDocument
from crypto.errors import (
    DecryptionError,
    InvalidIdNumber,
    InvalidReceiptCode,
    InvalidSignature,
    WrongPassphrase,
)
from crypto.fields import Status, envelope_hash, petition_id_for, signed_reply_hash
from crypto.idnumber import NormalizedId, normalize_id
from crypto.keys import (
    EncryptionPrivateKey,
    EncryptionPublicKey,
    SigningKey,
    VerifyKey,
    fingerprint,
    format_fingerprint,
    parse_fingerprint,
)
from crypto.labels import SignedKind
from crypto.objects import (
    BureauBundle,
    BureauRequest,
    Directory,
    LogEntry,
    Receipt,
    Reply,
    TreeHead,
)
from crypto.petition import open_petition
from crypto.receipt import ReceiptSecret, lookup_key_hash
from crypto.reply import open_reply
from crypto.signing import SignedObject, sign, signing_message
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    TokenKey,
    TokenParams,
    TokenRequest,
    check_token_binding,
    key_info,
    prehash,
)

VECTORS_PATH = Path(__file__).resolve().parent.parent / "vectors" / "sealed-petition-v1.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

# The suite the protocol specifies, built here rather than taken from crypto.envelope.SUITE.
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

SCHEMAS: dict[str, Callable[[Any], Any]] = {
    "crypto.objects.Directory": Directory.from_json,
    "crypto.objects.BureauBundle": BureauBundle.from_json,
    "crypto.objects.TreeHead": TreeHead.from_json,
    "crypto.objects.Receipt": Receipt.from_json,
    "crypto.objects.Reply": Reply.from_json,
    "crypto.objects.BureauRequest": BureauRequest.from_json,
}


def h(text: str) -> bytes:
    """Decode a vector's hex string, insisting on the lower case the file promises."""
    assert re.fullmatch(r"(?:[0-9a-f]{2})*", text), "binary values are lower-case hex"
    return bytes.fromhex(text)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# --- the file itself -----------------------------------------------------------------------


def test_file_is_the_frozen_v1_vector_set() -> None:
    assert VECTORS["protocol_version"] == PROTOCOL_VERSION == 1
    assert VECTORS["source"].startswith("generated once by scripts/generate_vectors.py with ")
    assert "never regenerate" in VECTORS["source"]
    assert {
        "labels",
        "padding",
        "fingerprints",
        "id_numbers",
        "token",
        "receipt",
        "envelope",
        "reply",
        "signed_objects",
        "log_entries",
        "keystore",
    } <= VECTORS.keys()
    assert VECTORS_PATH.stat().st_size < 200_000


def test_no_upper_case_hex_anywhere() -> None:
    for text in _strings(VECTORS):
        if re.fullmatch(r"[0-9a-fA-F]{32,}", text):
            assert text == text.lower()


# --- labels, padding, fingerprints -----------------------------------------------------------


def test_labels_are_exactly_the_frozen_ones() -> None:
    frozen = {name: h(value) for name, value in VECTORS["labels"].items()}
    current = labels.all_labels()
    assert sorted(current) == sorted(frozen), "a label was added or removed"
    for name, value in frozen.items():
        assert current[name] == value, f"label {name} changed"


def test_padding_buckets_and_lengths() -> None:
    section = VECTORS["padding"]
    assert list(padding.BUCKETS) == section["buckets"]
    assert section["length_prefix"] == padding.LENGTH_PREFIX
    for case in section["cases"]:
        content = b"\xab" * case["content_length"]
        padded = padding.pad(content)
        assert len(padded) == case["padded_length"]
        assert padding.bucket_for(len(content)) == case["padded_length"]
        assert padded[: padding.LENGTH_PREFIX] == len(content).to_bytes(4, "big")
        assert padded[padding.LENGTH_PREFIX + len(content) :] == bytes(
            case["padded_length"] - padding.LENGTH_PREFIX - len(content)
        )
        assert padding.unpad(padded) == content


@pytest.mark.parametrize("case", VECTORS["fingerprints"], ids=lambda c: c["algorithm"])
def test_fingerprints(case: dict[str, Any]) -> None:
    public_key, expected = h(case["public_key"]), h(case["fingerprint"])
    assert fingerprint(case["algorithm"], public_key) == expected
    assert format_fingerprint(expected) == case["formatted"]
    assert parse_fingerprint(case["formatted"]) == expected
    if case["algorithm"] == "ed25519":
        assert VerifyKey(public_key).fingerprint == expected
    else:
        assert case["algorithm"] == "mlkem768-x25519"
        assert EncryptionPublicKey(public_key).key_id == expected


# --- ID numbers ------------------------------------------------------------------------------

ID_SECTION = VECTORS["id_numbers"]
ID_TODAY = date.fromisoformat(ID_SECTION["today"])


@pytest.mark.parametrize("case", ID_SECTION["valid"], ids=lambda c: repr(c["raw"]))
def test_id_number_normalisation(case: dict[str, Any]) -> None:
    normalized = normalize_id(ID_SECTION["scheme"], case["raw"], today=ID_TODAY)
    assert normalized.scheme == ID_SECTION["scheme"]
    assert normalized.value == case["normalized"]
    again = normalize_id(ID_SECTION["scheme"], normalized.value, today=ID_TODAY)
    assert again.value == case["normalized"]


@pytest.mark.parametrize("case", ID_SECTION["invalid"], ids=lambda c: repr(c["raw"]))
def test_id_number_rules(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        normalize_id(ID_SECTION["scheme"], case["raw"], today=ID_TODAY)
    assert caught.value.rule == case["rule"]


# --- token -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["token"], ids=lambda c: c["bureau_id"])
def test_token_derivation(case: dict[str, Any]) -> None:
    params = TokenParams.from_json(case["token_params"])
    assert params.to_json() == case["token_params"]
    identity = NormalizedId(scheme=case["id_scheme"], value=case["id_number"])
    salt = h(case["token_salt"])
    key = TokenKey(h(case["voprf_seed"]), case["bureau_id"])

    assert key_info(case["bureau_id"]) == h(case["key_info"])
    assert labels.TOKEN_KEY_INFO + case["bureau_id"].encode("ascii") == h(case["key_info"])
    assert key.public_key() == h(case["token_public_key"])
    assert h(case["prehash_input"]) == (
        labels.TOKEN_PREHASH_INPUT
        + case["id_scheme"].encode("ascii")
        + b"\x00"
        + case["id_number"].encode("utf-8")
    )
    pre = prehash(identity, salt, params)
    assert pre == h(case["prehash"])
    # The default parameters cost ~0.3 s per Argon2id run; the extra checks run on the fast case.
    fast = params != DEFAULT_TOKEN_PARAMS
    if fast:
        # The pre-hash is plain Argon2id over the documented secret input.
        assert pre == hash_secret_raw(
            secret=h(case["prehash_input"]),
            salt=salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=params.output_length,
            type=Type.ID,
            version=19,
        )

    token = h(case["token"])
    assert key.token_for(pre) == token
    # The blind round trip (fresh random blind) gives the petitioner exactly the same token.
    request, blinded = TokenRequest.blind(pre)
    assert request.finalize(key.evaluate(blinded), h(case["token_public_key"])) == token
    if fast:
        check_token_binding(token, identity, salt, key, params)


def test_one_token_case_uses_the_default_parameters() -> None:
    # Changing the defaults changes every petitioner's token; it must not happen silently.
    defaults = [TokenParams.from_json(case["token_params"]) for case in VECTORS["token"]]
    assert DEFAULT_TOKEN_PARAMS in defaults


# --- receipt ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["receipt"]["cases"], ids=lambda c: c["secret"][:8])
def test_receipt_code_and_derived_keys(case: dict[str, Any]) -> None:
    secret = ReceiptSecret(h(case["secret"]))
    assert secret.code == case["code"]
    assert ReceiptSecret.from_code(case["code"]).to_bytes() == h(case["secret"])
    for spelling in case["accepted_spellings"]:
        assert ReceiptSecret.from_code(spelling).to_bytes() == h(case["secret"]), spelling

    reply_key = secret.reply_private_key()
    assert reply_key.to_bytes() == h(case["reply_private_key"])
    assert reply_key.public_key().to_bytes() == h(case["reply_public_key"])
    assert EncryptionPrivateKey(h(case["reply_private_key"])).public_key().to_bytes() == h(
        case["reply_public_key"]
    )
    assert secret.lookup_key() == h(case["lookup_key"])
    assert secret.lookup_key_hash() == h(case["lookup_key_hash"])
    assert lookup_key_hash(h(case["lookup_key"])) == h(case["lookup_key_hash"])
    assert hashlib.sha256(labels.LOOKUP_KEY_HASH + h(case["lookup_key"])).digest() == h(
        case["lookup_key_hash"]
    )


@pytest.mark.parametrize(
    "case", VECTORS["receipt"]["invalid_codes"], ids=lambda c: str(c["reason"])
)
def test_invalid_receipt_codes(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidReceiptCode):
        ReceiptSecret.from_code(case["code"])


# --- envelope and document -------------------------------------------------------------------

ENVELOPE = VECTORS["envelope"]


def test_envelope_keys() -> None:
    private_key = EncryptionPrivateKey(h(ENVELOPE["bureau_encryption_private_key"]))
    public_key = private_key.public_key()
    assert public_key.to_bytes() == h(ENVELOPE["bureau_encryption_public_key"])
    assert public_key.key_id == h(ENVELOPE["key_id"])


def test_envelope_header() -> None:
    sealed = h(ENVELOPE["envelope"])
    header, offset = envelope.parse_header(sealed)
    assert header.bureau_id == ENVELOPE["bureau_id"]
    assert header.key_id == h(ENVELOPE["key_id"])
    assert header.token == h(ENVELOPE["token"])
    assert sealed[:offset] == h(ENVELOPE["header"]) == header.encode()
    assert h(ENVELOPE["header"]) == (
        b"SPE\x01"
        + bytes([len(ENVELOPE["bureau_id"])])
        + ENVELOPE["bureau_id"].encode("ascii")
        + h(ENVELOPE["key_id"])
        + h(ENVELOPE["token"])
    )
    assert h(ENVELOPE["hpke_info"]) == labels.ENVELOPE_INFO + h(ENVELOPE["header"])
    assert len(sealed) == ENVELOPE["envelope_length"]
    assert len(sealed) == envelope.envelope_length(ENVELOPE["bucket_size"], ENVELOPE["bureau_id"])
    assert ENVELOPE["bucket_size"] == padding.bucket_for(len(h(ENVELOPE["document"])))
    assert envelope_hash(sealed) == h(ENVELOPE["envelope_hash"])
    assert hashlib.sha256(sealed).digest() == h(ENVELOPE["envelope_hash"])
    assert petition_id_for(sealed) == ENVELOPE["petition_id"]


def test_open_envelope() -> None:
    private_key = EncryptionPrivateKey(h(ENVELOPE["bureau_encryption_private_key"]))
    sealed = h(ENVELOPE["envelope"])
    header, document = envelope.open_envelope(sealed, private_key, ENVELOPE["bureau_id"])
    assert document == h(ENVELOPE["document"])
    assert header.token == h(ENVELOPE["token"])

    # Below the API: HPKE base mode over the bytes after the header, info = label || header.
    header_length = len(h(ENVELOPE["header"]))
    padded = SUITE.decrypt(
        sealed[header_length:], private_key.hpke_key(), info=h(ENVELOPE["hpke_info"])
    )
    assert len(padded) == ENVELOPE["bucket_size"]
    assert padding.unpad(padded) == h(ENVELOPE["document"])

    _, petition = open_petition(sealed, private_key, ENVELOPE["bureau_id"])
    assert petition.encode() == h(ENVELOPE["document"])


def test_envelope_is_bound_to_its_bureau_and_bytes() -> None:
    private_key = EncryptionPrivateKey(h(ENVELOPE["bureau_encryption_private_key"]))
    sealed = h(ENVELOPE["envelope"])
    with pytest.raises(DecryptionError):
        envelope.open_envelope(sealed, private_key, "guangdong")
    tampered = bytearray(sealed)
    tampered[-1] ^= 1
    with pytest.raises(DecryptionError):
        envelope.open_envelope(bytes(tampered), private_key, ENVELOPE["bureau_id"])


def test_petition_document() -> None:
    data = h(ENVELOPE["document"])
    fields = ENVELOPE["document_fields"]
    document = PetitionDocument.decode(data)
    for name in (
        "real_name",
        "id_scheme",
        "id_number",
        "contact",
        "subject",
        "body",
        "category",
        "region",
    ):
        assert getattr(document, name) == fields[name], name
    assert document.reply_key.to_bytes() == h(fields["reply_key"])
    assert document.token == h(fields["token"])
    assert document.created_day == date.fromisoformat(fields["created_day"])
    assert [(a.name, a.media_type, a.data) for a in document.attachments] == [
        (a["name"], a["media_type"], h(a["data"])) for a in fields["attachments"]
    ]
    assert document.encode() == data

    metadata = ENVELOPE["document_metadata"].encode("utf-8")
    assert data[:8] == b"SPD\x01" + len(metadata).to_bytes(4, "big")
    assert data[8 : 8 + len(metadata)] == metadata
    assert data[8 + len(metadata) :] == b"".join(h(a["data"]) for a in fields["attachments"])
    assert cjson.encode(cjson.decode(metadata)) == metadata


# --- reply -----------------------------------------------------------------------------------

REPLY = VECTORS["reply"]


def test_open_reply() -> None:
    reply_key = ReceiptSecret.from_code(REPLY["receipt_code"]).reply_private_key()
    ciphertext = h(REPLY["ciphertext"])
    message = open_reply(ciphertext, reply_key, REPLY["petition_id"], REPLY["bureau_id"])
    assert message == REPLY["message"]

    assert h(REPLY["hpke_info"]) == (
        labels.REPLY_INFO
        + REPLY["petition_id"].encode("ascii")
        + b"\x00"
        + REPLY["bureau_id"].encode("ascii")
    )
    assert ciphertext[:4] == b"SPR\x01"
    padded = SUITE.decrypt(ciphertext[4:], reply_key.hpke_key(), info=h(REPLY["hpke_info"]))
    assert len(padded) == REPLY["bucket_size"]
    assert padding.unpad(padded) == REPLY["plaintext"].encode("utf-8")
    assert cjson.encode({"message": REPLY["message"]}) == REPLY["plaintext"].encode("utf-8")


def test_reply_is_bound_to_its_petition() -> None:
    reply_key = ReceiptSecret.from_code(REPLY["receipt_code"]).reply_private_key()
    with pytest.raises(DecryptionError):
        open_reply(h(REPLY["ciphertext"]), reply_key, "0" * 32, REPLY["bureau_id"])


# --- signed objects --------------------------------------------------------------------------

SIGNED = VECTORS["signed_objects"]


def test_signing_key() -> None:
    key = SigningKey(h(SIGNED["signing_seed"]))
    assert key.public_key().to_bytes() == h(SIGNED["verify_key"])
    assert key.public_key().fingerprint == h(SIGNED["fingerprint"])


def test_every_signed_kind_has_a_vector() -> None:
    assert sorted(case["kind"] for case in SIGNED["cases"]) == sorted(k.value for k in SignedKind)


@pytest.mark.parametrize("case", SIGNED["cases"], ids=lambda c: c["kind"])
def test_signed_object(case: dict[str, Any]) -> None:
    kind = SignedKind(case["kind"])
    body = case["body"]
    key = SigningKey(h(SIGNED["signing_seed"]))
    verify_key = VerifyKey(h(SIGNED["verify_key"]))

    assert kind.label == h(case["label"])
    assert signing_message(kind, body) == h(case["signing_message"])
    assert h(case["label"]) + cjson.encode(body) == h(case["signing_message"])
    verify_key.verify(h(case["signature"]), h(case["signing_message"]))

    signed = sign(kind, body, key)  # Ed25519 is deterministic: same key, same message
    assert signed.signature == h(case["signature"])
    assert signed.encode() == case["wire"].encode("utf-8")

    decoded = SignedObject.decode(case["wire"].encode("utf-8"), kind)
    assert decoded.signer == h(SIGNED["fingerprint"])
    assert decoded.verify(verify_key) == body

    if case["body_schema"] is not None:
        parsed = SCHEMAS[case["body_schema"]](body)
        assert parsed.to_json() == body

    other = next(k for k in SignedKind if k is not kind)
    with pytest.raises(InvalidSignature):
        SignedObject.decode(case["wire"].encode("utf-8"), other)
    forged = SignedObject(kind, body, decoded.signer, bytes(64))
    with pytest.raises(InvalidSignature):
        forged.verify(verify_key)


# --- log entries -----------------------------------------------------------------------------

LOG = VECTORS["log_entries"]


@pytest.mark.parametrize("case", LOG["entries"], ids=lambda c: c["event"])
def test_log_entry(case: dict[str, Any]) -> None:
    entry = LogEntry(
        petition_id=case["petition_id"],
        bureau_id=case["bureau_id"],
        envelope_hash=h(case["envelope_hash"]),
        status=Status(case["status"]),
        day=date.fromisoformat(case["day"]),
        reply_hash=None if case["reply_hash"] is None else h(case["reply_hash"]),
    )
    leaf = case["leaf"].encode("utf-8")
    assert entry.leaf() == leaf
    assert LogEntry.from_leaf(leaf) == entry
    assert merkle.leaf_hash(leaf) == h(case["leaf_hash"])
    assert hashlib.sha256(b"\x00" + leaf).digest() == h(case["leaf_hash"])


def test_log_tree_root() -> None:
    leaf_hashes = [h(case["leaf_hash"]) for case in LOG["entries"]]
    assert len(leaf_hashes) == LOG["tree_size"]
    assert merkle.root_from_leaf_hashes(leaf_hashes) == h(LOG["root_hash"])


@pytest.mark.parametrize("case", LOG["petition_id_derivations"], ids=lambda c: c["petition_id"])
def test_petition_id_derivation(case: dict[str, Any]) -> None:
    data = h(case["envelope"])
    assert petition_id_for(data) == case["petition_id"]
    assert hashlib.sha256(labels.PETITION_ID + data).digest()[:16].hex() == case["petition_id"]


def test_sections_describe_one_story() -> None:
    # The vectors are chained so that a reader can follow one petition through every format.
    fields = ENVELOPE["document_fields"]
    assert VECTORS["token"][0]["token"] == ENVELOPE["token"] == fields["token"]
    assert VECTORS["token"][0]["id_number"] == fields["id_number"]
    petitioner = next(
        case for case in VECTORS["receipt"]["cases"] if case["code"] == REPLY["receipt_code"]
    )
    assert petitioner["reply_public_key"] == fields["reply_key"]
    assert REPLY["petition_id"] == ENVELOPE["petition_id"]
    for case in LOG["entries"]:
        assert case["petition_id"] == ENVELOPE["petition_id"]
        assert case["envelope_hash"] == ENVELOPE["envelope_hash"]
    wires = {case["kind"]: case for case in SIGNED["cases"]}
    signed_reply = wires["reply"]["wire"].encode("utf-8")
    assert LOG["entries"][1]["reply_hash"] == signed_reply_hash(signed_reply).hex()
    assert LOG["entries"][1]["reply_hash"] == hashlib.sha256(signed_reply).hexdigest()
    receipt = Receipt.from_json(wires["receipt"]["body"])
    assert receipt.submission_entry().leaf() == LOG["entries"][0]["leaf"].encode("utf-8")
    merkle.verify_inclusion(
        h(LOG["entries"][0]["leaf_hash"]),
        receipt.leaf_index,
        LOG["tree_size"],
        receipt.inclusion_proof,
        h(LOG["root_hash"]),
    )
    assert receipt.tree_head.encode() == wires["tree-head"]["wire"].encode("utf-8")
    assert h(LOG["root_hash"]) == cjson.b64decode(wires["tree-head"]["body"]["root_hash"])
    assert Reply.from_json(wires["reply"]["body"]).ciphertext == h(REPLY["ciphertext"])


# --- keystore --------------------------------------------------------------------------------

KEYSTORE = VECTORS["keystore"]


def test_open_keystore() -> None:
    data = KEYSTORE["keystore"].encode("utf-8")
    expected = {name: h(value) for name, value in KEYSTORE["secrets"].items()}
    assert keystore.open_keystore(data, KEYSTORE["passphrase"]) == expected
    with pytest.raises(WrongPassphrase):
        keystore.open_keystore(data, KEYSTORE["passphrase"] + "。")


def test_keystore_layout() -> None:
    document = cjson.decode_object(KEYSTORE["keystore"].encode("utf-8"))
    kdf = document["kdf"]
    params = KEYSTORE["kdf_params"]
    assert document["format"] == "sealed-petition-keystore"
    assert document["version"] == 1
    assert document["aead"] == "chacha20-poly1305"
    assert kdf["name"] == "argon2id"
    assert kdf["argon2_version"] == 19
    assert {name: kdf[name] for name in params} == params
    assert cjson.b64decode(kdf["salt"]) == h(KEYSTORE["kdf_salt"])
    assert cjson.b64decode(document["nonce"]) == h(KEYSTORE["nonce"])

    key = hash_secret_raw(
        secret=KEYSTORE["passphrase"].encode("utf-8"),
        salt=h(KEYSTORE["kdf_salt"]),
        time_cost=params["time_cost"],
        memory_cost=params["memory_kib"],
        parallelism=params["parallelism"],
        hash_len=32,
        type=Type.ID,
        version=19,
    )
    assert key == h(KEYSTORE["derived_key"])
    header = {name: value for name, value in document.items() if name != "ciphertext"}
    assert labels.KEYSTORE_AAD + cjson.encode(header) == h(KEYSTORE["aad"])
    plaintext = ChaCha20Poly1305(key).decrypt(
        h(KEYSTORE["nonce"]), cjson.b64decode(document["ciphertext"]), h(KEYSTORE["aad"])
    )
    assert plaintext == KEYSTORE["plaintext"].encode("utf-8")
    secrets = {name: cjson.b64encode(h(value)) for name, value in KEYSTORE["secrets"].items()}
    assert plaintext == cjson.encode({"secrets": secrets})
