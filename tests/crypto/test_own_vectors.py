"""The implementation against Sealed Petition's own frozen test vectors.

``tests/vectors/sealed-petition-v2.json`` (protocol version 2) was generated once by
``scripts/generate_vectors.py`` and is frozen: every expected value here comes from that file,
and the implementation recomputes it. A change to any wire format, label, derivation or default
parameter makes these tests fail; the fix is either to undo the change or, if it is deliberate,
to regenerate the file in a reviewed change (with ``--force``) and bump the protocol version
where the format moved. These tests never call the generator.

Where the format allows it, the checks go below the project's own API as well (HPKE decryption
with an explicitly constructed suite, Argon2id and ChaCha20-Poly1305 for the keystore), so that
the file documents the layout an independent implementation has to produce, not just what this
one happens to do.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto import (
    PROTOCOL_VERSION,
    cjson,
    envelope,
    keyfile,
    keystore,
    labels,
    merkle,
    padding,
    sealed_file,
    statutory,
)
from crypto.case_event import Detail, LogEntry, sign_entry, to_step, verify_entry_signature
from crypto.document import CaseDocument, Consent, IdentityDocument
from crypto.errors import (
    DecryptionError,
    InvalidIdNumber,
    InvalidReceiptCode,
    InvalidSignature,
    MalformedInput,
    TokenBindingError,
    UnsupportedVersion,
    WrongPassphrase,
)
from crypto.fields import envelope_hash, petition_id_for, signed_reply_hash
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
from crypto.log_receipt import verify_submission_receipt
from crypto.objects import (
    BureauBundle,
    BureauRequest,
    Directory,
    Reply,
)
from crypto.petition import (
    check_binding,
    open_case,
    open_identity,
    token_from_case,
    token_from_identity,
)
from crypto.receipt import ReceiptSecret, lookup_key_hash
from crypto.reply import open_reply
from crypto.signing import SignedObject, sign, signing_message
from crypto.statutory import Event
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    TokenKey,
    TokenParams,
    check_prehash_binding,
    format_pseudonym,
    prehash,
)

VECTORS_PATH = Path(__file__).resolve().parent.parent / "vectors" / "sealed-petition-v2.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

# The suite the protocol specifies, built here rather than taken from crypto.envelope.SUITE.
SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

SCHEMAS: dict[str, Callable[[Any], Any]] = {
    "crypto.objects.Directory": Directory.from_json,
    "crypto.objects.BureauBundle": BureauBundle.from_json,
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


def test_file_is_the_frozen_v2_vector_set() -> None:
    assert VECTORS["protocol_version"] == PROTOCOL_VERSION == 2
    assert VECTORS["source"].startswith("generated once by scripts/generate_vectors.py with ")
    assert "never regenerate" in VECTORS["source"]
    assert {
        "labels",
        "padding",
        "fingerprints",
        "id_numbers",
        "token",
        "receipt",
        "identity_section",
        "case_section",
        "envelope",
        "reply",
        "signed_objects",
        "log_entries",
        "keystore",
        "log_key_file",
        "sealed_petition_file",
    } <= VECTORS.keys()
    assert not (VECTORS_PATH.parent / "sealed-petition-v1.json").exists()
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
    size = section["identity_section_size"]
    assert size == padding.IDENTITY_SECTION_SIZE
    for case in section["identity_cases"]:
        content = b"\xab" * case["content_length"]
        padded = padding.pad_to(content, size)
        assert len(padded) == case["padded_length"] == size
        assert padded == len(content).to_bytes(4, "big") + content + bytes(size - 4 - len(content))
        assert padding.unpad_from(padded, size) == content


@pytest.mark.parametrize("case", VECTORS["fingerprints"], ids=lambda c: c["fingerprint"][:8])
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
    key = TokenKey(h(case["token_key"]), case["bureau_id"])

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
        check_prehash_binding(pre, identity, salt, params)

    # The token is plain HMAC-SHA256 (RFC 2104) over the documented message.
    assert h(case["prf_message"]) == (
        labels.TOKEN_PRF + case["bureau_id"].encode("ascii") + b"\x00" + h(case["prehash"])
    )
    token = h(case["token"])
    assert key.token_for(h(case["prehash"])) == token
    assert hmac.new(h(case["token_key"]), h(case["prf_message"]), hashlib.sha256).digest() == token
    assert format_pseudonym(token) == case["pseudonym"]


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


# --- identity and case sections --------------------------------------------------------------

IDENTITY = VECTORS["identity_section"]
CASE = VECTORS["case_section"]


def test_identity_section() -> None:
    data = h(IDENTITY["encoded"])
    fields = IDENTITY["fields"]
    person = IdentityDocument.decode(data)
    for name in ("real_name", "id_scheme", "id_number", "contact"):
        assert getattr(person, name) == fields[name], name
    assert person.consent == Consent(**fields["consent"])
    assert person.consent.to_json() == fields["consent"]
    assert person.encode() == data
    assert data == b"SPI\x02" + IDENTITY["json"].encode("utf-8")
    assert cjson.encode(cjson.decode(IDENTITY["json"].encode("utf-8"))) == data[4:]
    assert IDENTITY["padded_length"] == padding.IDENTITY_SECTION_SIZE
    with pytest.raises(UnsupportedVersion):
        IdentityDocument.decode(b"SPI\x01" + data[4:])


def test_case_section() -> None:
    data = h(CASE["encoded"])
    fields = CASE["fields"]
    case = CaseDocument.decode(data)
    for name in ("subject", "body", "category", "region", "respondent"):
        assert getattr(case, name) == fields[name], name
    assert case.reply_key.to_bytes() == h(fields["reply_key"])
    assert case.id_prehash == h(fields["id_prehash"])
    assert case.created_day == date.fromisoformat(fields["created_day"])
    assert [(a.name, a.media_type, a.data) for a in case.attachments] == [
        (a["name"], a["media_type"], h(a["data"])) for a in fields["attachments"]
    ]
    assert case.encode() == data

    metadata = CASE["metadata"].encode("utf-8")
    assert data[:8] == b"SPD\x02" + len(metadata).to_bytes(4, "big")
    assert data[8 : 8 + len(metadata)] == metadata
    assert data[8 + len(metadata) :] == b"".join(h(a["data"]) for a in fields["attachments"])
    assert cjson.encode(cjson.decode(metadata)) == metadata
    assert CASE["bucket_size"] == padding.bucket_for(len(data))
    with pytest.raises(UnsupportedVersion):
        CaseDocument.decode(b"SPD\x01" + data[4:])


# --- envelope --------------------------------------------------------------------------------

ENVELOPE = VECTORS["envelope"]
IDENTITY_KEY = EncryptionPrivateKey(h(ENVELOPE["identity_private_key"]))
CASE_KEY = EncryptionPrivateKey(h(ENVELOPE["case_private_key"]))


def test_envelope_keys() -> None:
    assert IDENTITY_KEY.public_key().to_bytes() == h(ENVELOPE["identity_public_key"])
    assert IDENTITY_KEY.public_key().key_id == h(ENVELOPE["identity_key_id"])
    assert CASE_KEY.public_key().to_bytes() == h(ENVELOPE["case_public_key"])
    assert CASE_KEY.public_key().key_id == h(ENVELOPE["case_key_id"])


def test_envelope_header_and_lengths() -> None:
    sealed = h(ENVELOPE["envelope"])
    header = envelope.parse_header(sealed)
    assert header.bureau_id == ENVELOPE["bureau_id"]
    assert header.identity_key_id == h(ENVELOPE["identity_key_id"])
    assert header.case_key_id == h(ENVELOPE["case_key_id"])
    assert ENVELOPE["header_length"] == envelope.HEADER_LENGTH == 132
    assert ENVELOPE["case_offset"] == envelope.CASE_OFFSET == 132 + 1120 + 2048 + 16
    assert sealed[:132] == h(ENVELOPE["header"]) == header.encode()
    assert h(ENVELOPE["header"]) == (
        b"SPE\x02"
        + ENVELOPE["bureau_id"].encode("ascii").ljust(64, b"\x00")
        + h(ENVELOPE["identity_key_id"])
        + h(ENVELOPE["case_key_id"])
    )
    sealed_identity = sealed[ENVELOPE["header_length"] : ENVELOPE["case_offset"]]
    assert h(ENVELOPE["identity_hpke_info"]) == labels.ENVELOPE_IDENTITY_INFO + h(
        ENVELOPE["header"]
    )
    assert h(ENVELOPE["case_hpke_info"]) == (
        labels.ENVELOPE_CASE_INFO + h(ENVELOPE["header"]) + hashlib.sha256(sealed_identity).digest()
    )
    assert len(sealed) == ENVELOPE["envelope_length"]
    assert len(sealed) == envelope.envelope_length(ENVELOPE["bucket_size"])
    for bucket, length in ENVELOPE["lengths_by_bucket"].items():
        assert envelope.envelope_length(int(bucket)) == length == 4436 + int(bucket) + 16
    assert ENVELOPE["bucket_size"] == padding.bucket_for(len(h(ENVELOPE["case_section"])))
    assert envelope_hash(sealed) == h(ENVELOPE["envelope_hash"])
    assert hashlib.sha256(sealed).digest() == h(ENVELOPE["envelope_hash"])
    assert petition_id_for(sealed) == ENVELOPE["petition_id"]


def test_open_both_sections() -> None:
    sealed = h(ENVELOPE["envelope"])
    bureau = ENVELOPE["bureau_id"]
    assert envelope.open_identity(sealed, IDENTITY_KEY, bureau) == h(ENVELOPE["identity_section"])
    assert envelope.open_case(sealed, CASE_KEY, bureau) == h(ENVELOPE["case_section"])

    # Below the API: HPKE base mode over each section, with the documented info strings.
    offset = ENVELOPE["case_offset"]
    padded = SUITE.decrypt(
        sealed[ENVELOPE["header_length"] : offset],
        IDENTITY_KEY.hpke_key(),
        info=h(ENVELOPE["identity_hpke_info"]),
    )
    assert len(padded) == padding.IDENTITY_SECTION_SIZE
    assert padding.unpad_from(padded, len(padded)) == h(ENVELOPE["identity_section"])
    padded = SUITE.decrypt(sealed[offset:], CASE_KEY.hpke_key(), info=h(ENVELOPE["case_hpke_info"]))
    assert len(padded) == ENVELOPE["bucket_size"]
    assert padding.unpad(padded) == h(ENVELOPE["case_section"])

    assert open_identity(sealed, IDENTITY_KEY, bureau).encode() == h(IDENTITY["encoded"])
    assert open_case(sealed, CASE_KEY, bureau)[1].encode() == h(CASE["encoded"])


def test_envelope_is_bound_to_its_bureau_keys_and_bytes() -> None:
    sealed = h(ENVELOPE["envelope"])
    bureau = ENVELOPE["bureau_id"]
    with pytest.raises(DecryptionError):
        envelope.open_case(sealed, CASE_KEY, "guangdong")
    with pytest.raises(DecryptionError):
        envelope.open_case(sealed, IDENTITY_KEY, bureau)
    with pytest.raises(DecryptionError):
        envelope.open_identity(sealed, CASE_KEY, bureau)
    for index in (10, 1000, ENVELOPE["case_offset"] - 1, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[index] ^= 1
        with pytest.raises(DecryptionError):
            envelope.open_case(bytes(tampered), CASE_KEY, bureau)
    v1 = bytearray(sealed)
    v1[3] = 1
    with pytest.raises(UnsupportedVersion):
        envelope.parse_header(bytes(v1))


def test_intake_and_the_case_handler_derive_the_vector_token() -> None:
    sealed = h(ENVELOPE["envelope"])
    bureau = ENVELOPE["bureau_id"]
    token_case = VECTORS["token"][0]
    key = TokenKey(h(token_case["token_key"]), bureau)
    salt, params = h(token_case["token_salt"]), TokenParams.from_json(token_case["token_params"])
    person = open_identity(sealed, IDENTITY_KEY, bureau)
    _, case = open_case(sealed, CASE_KEY, bureau)
    check_binding(person, case, salt, params)
    assert token_from_case(case, key) == h(token_case["token"])
    assert token_from_identity(person, key, salt, params) == h(token_case["token"])
    stranger = IdentityDocument("李四", "cn-resident", VECTORS["token"][1]["id_number"], "")
    with pytest.raises(TokenBindingError):
        check_binding(stranger, case, salt, params)


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
    assert ciphertext[:4] == b"SPR\x02"
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
    wrapped = sorted(k.value for k in SignedKind if k is not SignedKind.CASE_EVENT)
    assert sorted(case["kind"] for case in SIGNED["cases"]) == wrapped
    # A case event's signature lives in its log entry (protocol §9.3.4): those vectors are there.
    assert any(case["signature"] is not None for case in VECTORS["log_entries"]["entries"])


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
        assert body["version"] == 2
        with pytest.raises(UnsupportedVersion):
            SCHEMAS[case["body_schema"]]({**body, "version": 1})

    other = next(k for k in SignedKind if k is not kind)
    with pytest.raises(InvalidSignature):
        SignedObject.decode(case["wire"].encode("utf-8"), other)
    forged = SignedObject(kind, body, decoded.signer, bytes(64))
    with pytest.raises(InvalidSignature):
        forged.verify(verify_key)


# --- log entries -----------------------------------------------------------------------------

LOG = VECTORS["log_entries"]


@pytest.mark.parametrize("case", LOG["entries"], ids=lambda c: c["name"])
def test_log_entry(case: dict[str, Any]) -> None:
    event = Event(case["event"])
    unsigned = LogEntry(
        petition_id=case["petition_id"],
        bureau_id=case["bureau_id"],
        envelope_hash=h(case["envelope_hash"]),
        event=event,
        day=date.fromisoformat(case["day"]),
        detail=Detail.from_json(event, case["detail"]),
        reply_hash=None if case["reply_hash"] is None else h(case["reply_hash"]),
    )
    key = SigningKey(h(SIGNED["signing_seed"]))
    entry = sign_entry(unsigned, key) if unsigned.signed else unsigned
    leaf = case["leaf"].encode("utf-8")
    assert entry.leaf() == leaf  # Ed25519 is deterministic: the signature is reproduced
    assert LogEntry.from_leaf(leaf) == entry
    if entry.signed:
        assert entry.signing_message() == h(case["signing_message"])
        assert entry.signing_message().startswith(SignedKind.CASE_EVENT.label)
        assert entry.signature == h(case["signature"])
        verify_entry_signature(entry, lambda bureau: key.public_key())
        forged = replace(entry, day=entry.day + timedelta(days=1))
        with pytest.raises(InvalidSignature):
            verify_entry_signature(forged, lambda bureau: key.public_key())
    else:
        assert case["signature"] is None
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
    token_case = VECTORS["token"][0]
    assert token_case["bureau_id"] == ENVELOPE["bureau_id"]
    assert token_case["id_number"] == IDENTITY["fields"]["id_number"]
    assert token_case["id_scheme"] == IDENTITY["fields"]["id_scheme"]
    assert token_case["prehash"] == CASE["fields"]["id_prehash"]
    assert ENVELOPE["identity_section"] == IDENTITY["encoded"]
    assert ENVELOPE["case_section"] == CASE["encoded"]
    petitioner = next(
        case for case in VECTORS["receipt"]["cases"] if case["code"] == REPLY["receipt_code"]
    )
    assert petitioner["reply_public_key"] == CASE["fields"]["reply_key"]
    assert REPLY["petition_id"] == ENVELOPE["petition_id"]
    for case in LOG["entries"]:
        assert case["petition_id"] == ENVELOPE["petition_id"]
        assert case["envelope_hash"] == ENVELOPE["envelope_hash"]
    wires = {case["kind"]: case for case in SIGNED["cases"]}
    bundle = BureauBundle.from_json(wires["bureau-bundle"]["body"])
    assert bundle.identity_key.to_bytes() == h(ENVELOPE["identity_public_key"])
    assert bundle.case_key.to_bytes() == h(ENVELOPE["case_public_key"])
    assert bundle.token_salt == h(token_case["token_salt"])
    assert bundle.token_params.to_json() == token_case["token_params"]
    assert "token_key" not in wires["bureau-bundle"]["body"]
    assert Directory.from_json(wires["directory"]["body"]).bureaus == (bundle,)
    signed_reply = wires["reply"]["wire"].encode("utf-8")
    assert LOG["entries"][-1]["reply_hash"] == signed_reply_hash(signed_reply).hex()
    assert LOG["entries"][-1]["reply_hash"] == hashlib.sha256(signed_reply).hexdigest()
    steps = [to_step(LogEntry.from_leaf(case["leaf"].encode("utf-8"))) for case in LOG["entries"]]
    statutory.deadlines(steps)  # the entries are one possible history
    directory = Directory.from_json(wires["directory"]["body"])
    assert directory.log_vkey.to_vkey() == LOG["log_vkey"]
    assert directory.log_policy.decode("utf-8") == LOG["log_policy"]
    receipt = verify_submission_receipt(
        LOG["receipt"].encode("utf-8"),
        directory.policy(),
        origin=LOG["origin"],
        envelope_hash=h(LOG["entries"][0]["envelope_hash"]),
    )
    assert receipt.entry.leaf() == LOG["entries"][0]["leaf"].encode("utf-8")
    assert receipt.index == 0
    assert receipt.checkpoint_note == LOG["checkpoint"].encode("utf-8")
    assert receipt.checkpoint.size == LOG["tree_size"]
    assert receipt.checkpoint.root_hash == h(LOG["root_hash"])
    assert receipt.checkpoint.origin == LOG["origin"]
    assert Reply.from_json(wires["reply"]["body"]).ciphertext == h(REPLY["ciphertext"])
    secrets = KEYSTORE["secrets"]
    assert secrets["identity-key"] == ENVELOPE["identity_private_key"]
    assert secrets["case-key"] == ENVELOPE["case_private_key"]
    assert secrets["token-key"] == token_case["token_key"]
    assert secrets["signing-key"] == SIGNED["signing_seed"]
    assert h(secrets["bundle"]) == cjson.encode(wires["bureau-bundle"]["body"])


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
    assert document["version"] == KEYSTORE["format_version"] == keystore.FORMAT_VERSION == 2
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


def test_bureau_keystore_entries() -> None:
    """A bureau keystore holding every key: the entry names of docs/protocol.md §12.6."""
    assert set(KEYSTORE["secrets"]) == {
        "identity-key",
        "case-key",
        "signing-key",
        "token-key",
        "bundle",
    }
    secrets = {name: h(value) for name, value in KEYSTORE["secrets"].items()}
    assert EncryptionPrivateKey(secrets["identity-key"]).public_key().key_id == h(
        ENVELOPE["identity_key_id"]
    )
    assert EncryptionPrivateKey(secrets["case-key"]).public_key().key_id == h(
        ENVELOPE["case_key_id"]
    )
    assert SigningKey(secrets["signing-key"]).public_key().to_bytes() == h(SIGNED["verify_key"])
    assert len(secrets["token-key"]) == 32
    bundle = BureauBundle.from_json(cjson.decode(secrets["bundle"]))
    assert bundle.bureau_id == ENVELOPE["bureau_id"]


# --- log key file --------------------------------------------------------------------------------

KEY_FILE = VECTORS["log_key_file"]


def test_log_key_file() -> None:
    data = KEY_FILE["file"].encode("utf-8")
    assert KEY_FILE["purpose"] == keyfile.KeyPurpose.LOG_SIGNING.value == "log-signing"
    assert keyfile.decode_key_file(data, keyfile.KeyPurpose.LOG_SIGNING) == (
        h(KEY_FILE["key"]),
        None,
    )
    assert keyfile.encode_key_file(keyfile.KeyPurpose.LOG_SIGNING, h(KEY_FILE["key"]), None) == (
        data
    )
    assert cjson.decode_object(data) == {
        "bureau_id": None,
        "format": "sealed-petition-key",
        "key": cjson.b64encode(h(KEY_FILE["key"])),
        "purpose": "log-signing",
        "version": 1,
    }
    assert SigningKey(h(KEY_FILE["key"])).public_key().to_bytes() == h(KEY_FILE["verify_key"])


# --- sealed petition file (protocol §17) -----------------------------------------------------

SEALED_FILE = VECTORS["sealed_petition_file"]


def _sealed_file() -> bytes:
    return h(SEALED_FILE["header"]) + h(ENVELOPE["envelope"]) + h(SEALED_FILE["checksum"])


def test_sealed_petition_file_layout() -> None:
    file = _sealed_file()
    intro = SEALED_FILE["intro_line"].encode("ascii")
    assert intro == b"sealed-petition-file/v2\n" == sealed_file.INTRO_LINE
    petitioner = next(c for c in VECTORS["receipt"]["cases"] if c["code"] == REPLY["receipt_code"])
    assert SEALED_FILE["receipt_code"] == petitioner["code"]
    assert SEALED_FILE["lookup_key_hash"] == petitioner["lookup_key_hash"]
    # Below the API: the intro line, the lookup-key hash, a big-endian length, the envelope.
    assert file[: len(intro)] == intro
    assert file[len(intro) : len(intro) + 32] == h(SEALED_FILE["lookup_key_hash"])
    length = int.from_bytes(file[len(intro) + 32 : len(intro) + 36], "big")
    assert length == SEALED_FILE["envelope_length"] == ENVELOPE["envelope_length"]
    assert file[len(intro) + 36 : -32] == h(ENVELOPE["envelope"])
    assert file[-32:] == hashlib.sha256(file[:-32]).digest()
    assert len(file) == SEALED_FILE["file_length"] == sealed_file.HEADER_LENGTH + length + 32
    assert hashlib.sha256(file).hexdigest() == SEALED_FILE["file_sha256"]
    # Nothing in it leads back to the receipt code.
    assert h(petitioner["lookup_key"]) not in file
    assert h(petitioner["secret"]) not in file


def test_sealed_petition_file_decodes_and_encodes() -> None:
    file = _sealed_file()
    decoded = sealed_file.decode_sealed_file(file)
    assert decoded.envelope == h(ENVELOPE["envelope"])
    assert decoded.lookup_key_hash == h(SEALED_FILE["lookup_key_hash"])
    assert decoded.petition_id == SEALED_FILE["petition_id"] == ENVELOPE["petition_id"]
    assert decoded.bureau_id == SEALED_FILE["bureau_id"] == ENVELOPE["bureau_id"]
    assert decoded.encode() == file
    assert sealed_file.encode_sealed_file(decoded.envelope, decoded.lookup_key_hash) == file
    secret = ReceiptSecret.from_code(SEALED_FILE["receipt_code"])
    assert lookup_key_hash(secret.lookup_key()) == decoded.lookup_key_hash


@pytest.mark.parametrize("case", SEALED_FILE["invalid"], ids=lambda case: case["reason"])
def test_invalid_sealed_petition_files(case: dict[str, Any]) -> None:
    data = _sealed_file() if case["from"] == "file" else h(ENVELOPE["envelope"])
    if case["keep"] is not None:
        data = data[: case["keep"]]
    patch = h(case["replace"])
    data = data[: case["offset"]] + patch + data[case["offset"] + len(patch) :]
    if case["recompute_checksum"]:
        data = data[:-32] + hashlib.sha256(data[:-32]).digest()
    data += h(case["append"])
    with pytest.raises(MalformedInput) as refused:
        sealed_file.decode_sealed_file(data)
    assert refused.value.code == case["error"]
    if case["error"] == "unsupported_version":
        assert isinstance(refused.value, UnsupportedVersion)
