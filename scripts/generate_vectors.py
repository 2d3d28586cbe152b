"""Generate Sealed Petition's own frozen test vectors (run once, by a person).

The RFCs' published vectors (``tests/vectors/rfc*.json`` and the HPKE-PQ draft's) cover the
primitives. This script covers what only this project defines (protocol version 2): ID-number
normalisation, the pseudonymous token (Argon2id pre-hash and HMAC-SHA256 token), the identity
and case sections, the two-section envelope, receipt codes and their derived keys, replies,
signed objects (bureau bundle and directory included), log leaves, the bureau keystore, the log
key file, labels, padding and fingerprints.

It writes ``tests/vectors/sealed-petition-v2.json``. That file is then *frozen*:
``tests/crypto/test_own_vectors.py`` checks the implementation against it and never calls this
script, so a change to any wire format makes the tests fail instead of silently moving the
expected values. The script therefore refuses to overwrite an existing file unless given
``--force``; regenerating is a deliberate act that belongs in its own reviewed change.

Inputs are fixed wherever the format is deterministic: every key, seed, salt and secret is
SHAKE-256 of a descriptive string (see :func:`fixed`), so the deterministic parts can be
recomputed by an independent implementation from the inputs listed in the file. Some values are
random by nature and are frozen as generated: ``cryptography``'s public HPKE API draws the
ephemeral key itself and offers no way to inject it, so the envelope's two sections and the
reply are stored with their private keys and plaintexts, and the tests check that they decrypt
(below the project's API too) to exactly the stored plaintext; the keystore's salt and nonce are
random and stored; one receipt secret is drawn at random on purpose.

Usage::

    .venv/bin/python scripts/generate_vectors.py            # refuses if the file exists
    .venv/bin/python scripts/generate_vectors.py --force    # deliberately replace it
    .venv/bin/python scripts/generate_vectors.py --add-section sealed_petition_file

The last form adds one section computed only from values already frozen in the file (the
sealed petition file of protocol §17 wraps the frozen envelope), leaving every other byte as it
is: a full regeneration would redraw the random parts above.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import importlib.metadata
import json
import secrets
import sys
from datetime import date
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto import (
    PROTOCOL_VERSION,
    checkpoint,
    cjson,
    envelope,
    keyfile,
    keystore,
    labels,
    merkle,
    note,
    padding,
    sealed_file,
    statutory,
)
from crypto.case_event import (
    DecisionOutcome,
    Detail,
    ExtensionReason,
    LogEntry,
    sign_entry,
    to_step,
    verify_entry_signature,
)
from crypto.document import Attachment, CaseDocument, Consent, IdentityDocument
from crypto.errors import (
    DecryptionError,
    InvalidIdNumber,
    InvalidReceiptCode,
    MalformedInput,
    TokenBindingError,
    UnsupportedVersion,
    WrongPassphrase,
)
from crypto.fields import envelope_hash, petition_id_for, signed_reply_hash
from crypto.idnumber import NormalizedId, normalize_id
from crypto.keys import (
    ENCRYPTION_ALGORITHM,
    ENCRYPTION_PRIVATE_KEY_LENGTH,
    SIGNING_ALGORITHM,
    EncryptionPrivateKey,
    SigningKey,
    fingerprint,
    format_fingerprint,
)
from crypto.labels import SignedKind
from crypto.log_receipt import build_receipt, check_submission, verify_receipt
from crypto.objects import (
    BureauBundle,
    BureauRequest,
    Directory,
    Reply,
    default_policy,
)
from crypto.petition import (
    check_binding,
    open_case,
    open_identity,
    seal_petition,
    token_from_case,
    token_from_identity,
)
from crypto.receipt import ReceiptSecret
from crypto.reply import open_reply, seal_reply
from crypto.signing import SignedObject, sign, signing_message
from crypto.statutory import Event
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    TokenKey,
    TokenParams,
    format_pseudonym,
    prehash,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "tests" / "vectors" / "sealed-petition-v2.json"

FAST_TOKEN_PARAMS = TokenParams(memory_kib=8192, time_cost=1, parallelism=1)
FAST_KDF_PARAMS = keystore.KdfParams(memory_kib=8192, time_cost=1, parallelism=1)
ID_SCHEME = "cn-resident"
TODAY = date(2026, 1, 1)
"""The ``today`` passed to ID-number normalisation, so the ``birth_date`` rule is reproducible."""

BUREAU_ID = "national"
CREATED_DAY = date(2026, 3, 2)
SUBMITTED_DAY = date(2026, 3, 2)
ACKNOWLEDGED_DAY = date(2026, 3, 9)
EXTENDED_DAY = date(2026, 4, 20)
ANSWERED_DAY = date(2026, 5, 20)
DIRECTORY_DAY = date(2026, 2, 1)
LOG_ORIGIN = "petition.example.org/log"
KEYSTORE_PASSPHRASE = "正确的马电池订书钉"  # noqa: S105 - a published test value, not a secret
REPLY_MESSAGE = "您的信访事项已受理，将于30日内书面答复。\n如有疑问，请凭回执码查询。"


FIXED_INPUT_PREFIX = b"sealed-petition/v2/test-vector/"


def fixed(name: str, length: int) -> bytes:
    """A fixed test input: the first ``length`` bytes of SHAKE-256(FIXED_INPUT_PREFIX || name)."""
    return hashlib.shake_256(FIXED_INPUT_PREFIX + name.encode("ascii")).digest(length)


def _expect(condition: bool, what: str) -> None:
    """Sanity checks before anything is written; a failure means a bug, so stop loudly."""
    if not condition:
        raise SystemExit(f"generate_vectors: self-check failed: {what}")


def _fullwidth(text: str) -> str:
    """ASCII letters, digits and hyphens as their full-width forms (what a Chinese IME types)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() or c == "-" else c for c in text)


# --- sections ------------------------------------------------------------------------------


def labels_section() -> dict[str, str]:
    return {name: value.hex() for name, value in labels.all_labels().items()}


def padding_section() -> dict[str, Any]:
    cases = []
    for length in (0, 1, 4092, 4093):
        padded = padding.pad(bytes(length))
        _expect(padding.unpad(padded) == bytes(length), "padding round trip")
        cases.append({"content_length": length, "padded_length": len(padded)})
    identity_cases = []
    for length in (0, 1, padding.IDENTITY_SECTION_SIZE - padding.LENGTH_PREFIX):
        padded = padding.pad_to(bytes(length), padding.IDENTITY_SECTION_SIZE)
        _expect(len(padded) == padding.IDENTITY_SECTION_SIZE, "identity padding size")
        identity_cases.append({"content_length": length, "padded_length": len(padded)})
    return {
        "length_prefix": padding.LENGTH_PREFIX,
        "buckets": list(padding.BUCKETS),
        "cases": cases,
        "identity_section_size": padding.IDENTITY_SECTION_SIZE,
        "identity_cases": identity_cases,
    }


def id_numbers_section() -> dict[str, Any]:
    valid_raw = [
        "11010519491231002X",
        "11010519491231002x",  # lower-case x
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and X
        "１１０１０５１９４９１２３１００２ｘ",  # full-width lower-case x
        " 110105 19491231 002x ",  # grouping spaces, leading and trailing spaces
        "110105\u300019491231\u3000002X",  # ideographic spaces
        "110101199003074477",
        "4403 0419 8511 1112 3X",
    ]
    invalid = [
        ("", "empty"),
        ("\u3000 ", "empty"),
        ("11010519491231002", "length"),
        ("110105491231002", "length"),  # a 15-digit first-generation number
        ("110105-19491231-002X", "length"),
        ("1101051949123100X2", "characters"),
        ("11010519491231002Y", "characters"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "characters"),  # Arabic-Indic digits, which NFKC keeps
        ("110105194913310028", "birth_date"),  # month 13
        ("110105190002290011", "birth_date"),  # 1900 was not a leap year
        ("110105189912310011", "birth_date"),  # before 1900-01-01
        ("110105202601020011", "birth_date"),  # after "today" (2026-01-01)
        ("110105194912310021", "check_digit"),
        ("11010519491231020X", "check_digit"),  # adjacent transposition ("002X" → "020X")
    ]
    valid = []
    for raw in valid_raw:
        normalized = normalize_id(ID_SCHEME, raw, today=TODAY)
        valid.append({"raw": raw, "normalized": normalized.value})
    invalid_cases = []
    for raw, rule in invalid:
        try:
            normalize_id(ID_SCHEME, raw, today=TODAY)
        except InvalidIdNumber as exc:
            _expect(exc.rule == rule, f"rule of {raw!r} is {exc.rule}, expected {rule}")
        else:
            _expect(False, f"{raw!r} should be invalid")
        invalid_cases.append({"raw": raw, "rule": rule})
    return {
        "scheme": ID_SCHEME,
        "today": TODAY.isoformat(),
        "valid": valid,
        "invalid": invalid_cases,
    }


def token_case(
    bureau_id: str, key_bytes: bytes, salt: bytes, params: TokenParams, identity: NormalizedId
) -> dict[str, Any]:
    key = TokenKey(key_bytes, bureau_id)
    secret_input = (
        labels.TOKEN_PREHASH_INPUT
        + identity.scheme.encode("ascii")
        + b"\x00"
        + identity.value.encode("utf-8")
    )
    pre = prehash(identity, salt, params)
    _expect(
        pre
        == hash_secret_raw(
            secret=secret_input,
            salt=salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=params.output_length,
            type=Type.ID,
            version=19,
        ),
        "prehash is Argon2id over the documented secret input",
    )
    prf_message = labels.TOKEN_PRF + bureau_id.encode("ascii") + b"\x00" + pre
    token = key.token_for(pre)
    _expect(
        token == hmac.new(key_bytes, prf_message, hashlib.sha256).digest(),
        "the token is HMAC-SHA256 over the documented message",
    )
    return {
        "bureau_id": bureau_id,
        "token_key": key_bytes.hex(),
        "token_salt": salt.hex(),
        "token_params": params.to_json(),
        "id_scheme": identity.scheme,
        "id_number": identity.value,
        "prehash_input": secret_input.hex(),
        "prehash": pre.hex(),
        "prf_message": prf_message.hex(),
        "token": token.hex(),
        "pseudonym": format_pseudonym(token),
    }


def receipt_case(secret: ReceiptSecret) -> dict[str, Any]:
    code = secret.code
    spellings = [
        code.lower(),
        code.replace("-", ""),
        code.replace("-", " "),
        code.replace("0", "O").replace("1", "l"),
        _fullwidth(code),
    ]
    for spelling in spellings:
        _expect(ReceiptSecret.from_code(spelling).to_bytes() == secret.to_bytes(), "code spelling")
    reply_key = secret.reply_private_key()
    return {
        "secret": secret.to_bytes().hex(),
        "code": code,
        "accepted_spellings": spellings,
        "reply_private_key": reply_key.to_bytes().hex(),
        "reply_public_key": reply_key.public_key().to_bytes().hex(),
        "lookup_key": secret.lookup_key().hex(),
        "lookup_key_hash": secret.lookup_key_hash().hex(),
    }


def invalid_codes(code: str) -> list[dict[str, str]]:
    compact = code.replace("-", "")
    typo = compact[:5] + ("1" if compact[5] != "1" else "2") + compact[6:]
    swapped = compact[:9] + compact[10] + compact[9] + compact[11:]
    cases = [
        {"code": typo, "reason": "one character changed (check character mismatch)"},
        {"code": compact[:-1], "reason": "truncated"},
        {"code": compact + "0", "reason": "too long"},
        {"code": "2" + compact[1:], "reason": "unknown code version"},
        {"code": compact[:-2] + "U" + compact[-1], "reason": "U is not a Crockford character"},
    ]
    if swapped != compact:
        cases.append({"code": swapped, "reason": "two neighbouring characters swapped"})
    for case in cases:
        try:
            ReceiptSecret.from_code(case["code"])
        except InvalidReceiptCode:
            continue
        _expect(False, f"receipt code {case['code']!r} should be invalid")
    return cases


def sealed_file_section(sealed: bytes, petitioner: ReceiptSecret) -> dict[str, Any]:
    """The sealed petition file (protocol §17) of the envelope section's envelope, under the
    lookup key of the petitioner whose reply key its case carries (receipt case 1).

    Deterministic given those two, so it can be added to the frozen file without regenerating
    anything else (``--add-section sealed_petition_file``).
    """
    file = sealed_file.encode_sealed_file(sealed, petitioner.lookup_key_hash())
    decoded = sealed_file.decode_sealed_file(file)
    _expect(decoded.envelope == sealed, "sealed file round trip (envelope)")
    _expect(decoded.lookup_key_hash == petitioner.lookup_key_hash(), "sealed file round trip")
    header = file[: sealed_file.HEADER_LENGTH]
    checksum = file[-sealed_file.CHECKSUM_LENGTH :]
    _expect(file == header + sealed + checksum, "the file is its header, envelope and checksum")
    _expect(checksum == hashlib.sha256(header + sealed).digest(), "the checksum is SHA-256")
    _expect(petitioner.lookup_key() not in file, "the file holds no lookup key")
    _expect(petitioner.to_bytes() not in file, "the file holds no receipt secret")
    length_offset = len(sealed_file.INTRO_LINE) + len(petitioner.lookup_key_hash())
    v1_envelope_version = sealed_file.HEADER_LENGTH + 3
    last_envelope_byte = sealed_file.HEADER_LENGTH + len(sealed) - 1
    invalid = [
        _invalid("the intro line of another version", "unsupported_version",
                 replace=b"sealed-petition-file/v3\n"),
        _invalid("another intro line", "malformed", replace=b"sealed-petition-file-v2\n"),
        _invalid("an envelope length that is no envelope's", "malformed", offset=length_offset,
                 replace=(len(sealed) + 1).to_bytes(4, "big"), rehash=True),
        _invalid("one byte missing at the end", "malformed", keep=len(file) - 1),
        _invalid("the header alone", "malformed", keep=sealed_file.HEADER_LENGTH),
        _invalid("one byte after the checksum", "malformed", append=b"\n"),
        _invalid("one bit of the envelope changed", "malformed", offset=last_envelope_byte,
                 replace=bytes([sealed[-1] ^ 1])),
        _invalid("one bit of the lookup-key hash changed", "malformed", offset=24,
                 replace=bytes([file[24] ^ 0x80])),
        _invalid("an envelope of protocol version 1 inside, checksum recomputed",
                 "unsupported_version", offset=v1_envelope_version, replace=b"\x01",
                 rehash=True),
        _invalid("an envelope with another magic inside, checksum recomputed", "malformed",
                 offset=sealed_file.HEADER_LENGTH, replace=b"SPX", rehash=True),
        _invalid("the envelope alone, without the file's header", "malformed", start="envelope"),
    ]  # fmt: skip
    errors = {"malformed": MalformedInput, "unsupported_version": UnsupportedVersion}
    for case in invalid:
        data = _edit(sealed if case["from"] == "envelope" else file, case)
        try:
            sealed_file.decode_sealed_file(data)
        except MalformedInput as exc:
            _expect(exc.code == case["error"], f"sealed file: {case['reason']} is {exc.code}")
            _expect(isinstance(exc, errors[str(case["error"])]), "error class")
        else:
            _expect(False, f"sealed file: {case['reason']} is refused")
    return {
        "about": (
            "The sealed petition file of the envelope above (envelope.envelope) under "
            "receipt.cases[1]'s lookup-key hash: file = header || envelope || checksum, the "
            "checksum being SHA-256(header || envelope). invalid: each case starts `from` the "
            "file (or the envelope alone), keeps its first `keep` bytes (all if null), writes "
            "`replace` at `offset`, then, if `recompute_checksum`, replaces the last 32 bytes "
            "with the SHA-256 of the rest, and adds `append`; a reader MUST refuse the result "
            "with `error`."
        ),
        "intro_line": sealed_file.INTRO_LINE.decode("ascii"),
        "receipt_code": petitioner.code,
        "lookup_key_hash": petitioner.lookup_key_hash().hex(),
        "envelope_length": len(sealed),
        "header": header.hex(),
        "checksum": checksum.hex(),
        "file_length": len(file),
        "file_sha256": hashlib.sha256(file).hexdigest(),
        "petition_id": decoded.petition_id,
        "bureau_id": decoded.bureau_id,
        "invalid": invalid,
    }


def _invalid(
    reason: str,
    error: str,
    *,
    start: str = "file",
    keep: int | None = None,
    offset: int = 0,
    replace: bytes = b"",
    append: bytes = b"",
    rehash: bool = False,
) -> dict[str, Any]:
    """An invalid sealed petition file, as an edit of the valid one (or of its envelope)."""
    return {
        "reason": reason,
        "error": error,
        "from": start,
        "keep": keep,
        "offset": offset,
        "replace": replace.hex(),
        "append": append.hex(),
        "recompute_checksum": rehash,
    }


def _edit(file: bytes, case: dict[str, Any]) -> bytes:
    data = file if case["keep"] is None else file[: case["keep"]]
    patch = bytes.fromhex(case["replace"])
    data = data[: case["offset"]] + patch + data[case["offset"] + len(patch) :]
    if case["recompute_checksum"]:
        content = data[: -sealed_file.CHECKSUM_LENGTH]
        data = content + hashlib.sha256(content).digest()
    return data + bytes.fromhex(case["append"])


ADDABLE_SECTIONS = ("sealed_petition_file",)


def add_section(output: Path, name: str) -> int:
    """Add one section that is computed from frozen values, leaving every other byte as is.

    A full regeneration redraws the random parts (HPKE encryptions, the keystore's salt and
    nonce), which would change vectors that other implementations may already check; a new
    format whose vector depends only on frozen values is added this way instead.
    """
    text = output.read_text(encoding="utf-8")
    vectors = json.loads(text)
    if json.dumps(vectors, ensure_ascii=False, indent=2) + "\n" != text:
        print(f"generate_vectors: {output} is not in this script's layout", file=sys.stderr)
        return 1
    if name in vectors:
        print(f"generate_vectors: {output} already has the section {name}", file=sys.stderr)
        return 1
    sealed = bytes.fromhex(vectors["envelope"]["envelope"])
    petitioner = ReceiptSecret(bytes.fromhex(vectors["receipt"]["cases"][1]["secret"]))
    _expect(vectors["reply"]["receipt_code"] == petitioner.code, "receipt case 1 is the petitioner")
    updated = {**vectors, name: sealed_file_section(sealed, petitioner)}
    new_text = json.dumps(updated, ensure_ascii=False, indent=2) + "\n"
    _expect(
        {key: value for key, value in json.loads(new_text).items() if key != name} == vectors,
        "every other section is unchanged",
    )
    output.write_text(new_text, encoding="utf-8")
    print(f"added {name} to {output} ({len(new_text.encode('utf-8'))} bytes)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write")
    parser.add_argument(
        "--force", action="store_true", help="replace an existing file (changes frozen vectors)"
    )
    parser.add_argument(
        "--add-section",
        choices=ADDABLE_SECTIONS,
        help="add this section to the existing file, computed from its frozen values; every "
        "other byte stays as it is",
    )
    args = parser.parse_args()
    output: Path = args.output
    if args.add_section is not None:
        return add_section(output, args.add_section)
    if output.exists() and not args.force:
        print(
            f"generate_vectors: {output} exists; the vectors are frozen. "
            "Pass --force only if a wire format changed on purpose.",
            file=sys.stderr,
        )
        return 1

    vectors = build()
    text = json.dumps(vectors, ensure_ascii=False, indent=2) + "\n"
    # "x" refuses a file that appeared since the check above; --force truncates on purpose.
    with output.open("w" if args.force else "x", encoding="utf-8") as stream:
        stream.write(text)
    print(f"wrote {output} ({len(text.encode('utf-8'))} bytes)")
    for name, value in vectors.items():
        size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
        print(f"  {name}: {size} bytes")
    return 0


def build() -> dict[str, Any]:
    version = importlib.metadata.version("sealed-petition")

    # Token: a fast case (the petitioner of the envelope below) and one with the defaults.
    alice = normalize_id(ID_SCHEME, "11010519491231002x", today=TODAY)
    bob = normalize_id(ID_SCHEME, "110101199003074477", today=TODAY)
    token_cases = [
        token_case(
            BUREAU_ID,
            fixed("national/token-key", 32),
            fixed("national/token-salt", 32),
            FAST_TOKEN_PARAMS,
            alice,
        ),
        token_case(
            "guangdong",
            fixed("guangdong/token-key", 32),
            fixed("guangdong/token-salt", 32),
            DEFAULT_TOKEN_PARAMS,
            bob,
        ),
    ]
    token_key = TokenKey(bytes.fromhex(token_cases[0]["token_key"]), BUREAU_ID)
    token_salt = bytes.fromhex(token_cases[0]["token_salt"])
    alice_prehash = bytes.fromhex(token_cases[0]["prehash"])
    alice_token = bytes.fromhex(token_cases[0]["token"])

    # Receipts: the second one is the petitioner's in the envelope and reply below.
    receipts = [
        ReceiptSecret(bytes(16)),
        ReceiptSecret(bytes(range(16))),
        ReceiptSecret(secrets.token_bytes(16)),
    ]
    petitioner = receipts[1]

    # The two sections.
    identity_key = EncryptionPrivateKey(
        fixed("national/identity-key", ENCRYPTION_PRIVATE_KEY_LENGTH)
    )
    case_key = EncryptionPrivateKey(fixed("national/case-key", ENCRYPTION_PRIVATE_KEY_LENGTH))
    person = IdentityDocument(
        real_name="张三",
        id_scheme=alice.scheme,
        id_number=alice.value,
        contact='手机 138-0000-0000，"请勿上门"',
        consent=Consent(contact=True, share_identity_on_transfer=False),
    )
    identity_bytes = person.encode()
    _expect(IdentityDocument.decode(identity_bytes) == person, "identity round trip")
    case = CaseDocument(
        subject="关于拖欠农民工工资的投诉",
        body=(
            "本人于2025年在某建筑工地务工，工程结束后至今未领到工资，共计人民币8000元。\n"
            "多次与施工单位交涉未果。\n\n恳请上级部门督促处理。"
        ),
        category="劳动与社会保障",
        region="河北省",
        respondent="某建筑工程有限公司",
        reply_key=petitioner.reply_private_key().public_key(),
        id_prehash=alice_prehash,
        created_day=CREATED_DAY,
        attachments=(Attachment("工资条.txt", "text/plain", "应发工资 8000 元\n".encode()),),
    )
    case_bytes = case.encode()
    _expect(CaseDocument.decode(case_bytes) == case, "case round trip")
    metadata_length = int.from_bytes(case_bytes[4:8], "big")

    identity_section = {
        "fields": {
            "real_name": person.real_name,
            "id_scheme": person.id_scheme,
            "id_number": person.id_number,
            "contact": person.contact,
            "consent": person.consent.to_json(),
        },
        "json": identity_bytes[4:].decode("utf-8"),
        "encoded": identity_bytes.hex(),
        "padded_length": padding.IDENTITY_SECTION_SIZE,
    }
    case_section = {
        "fields": {
            "subject": case.subject,
            "body": case.body,
            "category": case.category,
            "region": case.region,
            "respondent": case.respondent,
            "reply_key": case.reply_key.to_bytes().hex(),
            "id_prehash": case.id_prehash.hex(),
            "created_day": case.created_day.isoformat(),
            "attachments": [
                {"name": a.name, "media_type": a.media_type, "data": a.data.hex()}
                for a in case.attachments
            ],
        },
        "metadata": case_bytes[8 : 8 + metadata_length].decode("utf-8"),
        "encoded": case_bytes.hex(),
        "bucket_size": padding.bucket_for(len(case_bytes)),
    }

    # Signing key and the bureau's public bundle (the envelope is sealed to what it lists).
    signing_key = SigningKey(fixed("signing-key", 32))
    bundle = BureauBundle(
        bureau_id=BUREAU_ID,
        name="国家信访局",
        identity_key=identity_key.public_key(),
        case_key=case_key.public_key(),
        signing_key=signing_key.public_key(),
        token_salt=token_salt,
        token_params=FAST_TOKEN_PARAMS,
    )

    # Envelope.
    sealed = seal_petition(person, case, bundle.sealing_keys())
    header = envelope.parse_header(sealed)
    header_bytes = sealed[: envelope.HEADER_LENGTH]
    sealed_identity = sealed[envelope.HEADER_LENGTH : envelope.CASE_OFFSET]
    _expect(header.encode() == header_bytes, "header encoding")
    _expect(envelope.open_identity(sealed, identity_key, BUREAU_ID) == identity_bytes, "identity")
    _expect(envelope.open_case(sealed, case_key, BUREAU_ID) == case_bytes, "case")
    _expect(open_identity(sealed, identity_key, BUREAU_ID) == person, "petition identity")
    _expect(open_case(sealed, case_key, BUREAU_ID)[1] == case, "petition case")
    check_binding(person, case, token_salt, FAST_TOKEN_PARAMS)
    _expect(
        token_from_case(case, token_key)
        == token_from_identity(person, token_key, token_salt, FAST_TOKEN_PARAMS)
        == alice_token,
        "intake and the case handler derive the same token",
    )
    bucket = padding.bucket_for(len(case_bytes))
    _expect(len(sealed) == envelope.envelope_length(bucket), "envelope length")
    petition_id = petition_id_for(sealed)
    sealed_hash = envelope_hash(sealed)
    _expect(sealed_hash == hashlib.sha256(sealed).digest(), "envelope hash is plain SHA-256")
    envelope_section = {
        "bureau_id": BUREAU_ID,
        "identity_private_key": identity_key.to_bytes().hex(),
        "identity_public_key": identity_key.public_key().to_bytes().hex(),
        "identity_key_id": identity_key.public_key().key_id.hex(),
        "case_private_key": case_key.to_bytes().hex(),
        "case_public_key": case_key.public_key().to_bytes().hex(),
        "case_key_id": case_key.public_key().key_id.hex(),
        "header_length": envelope.HEADER_LENGTH,
        "case_offset": envelope.CASE_OFFSET,
        "header": header_bytes.hex(),
        "identity_hpke_info": (labels.ENVELOPE_IDENTITY_INFO + header_bytes).hex(),
        "case_hpke_info": (
            labels.ENVELOPE_CASE_INFO + header_bytes + hashlib.sha256(sealed_identity).digest()
        ).hex(),
        "identity_section": identity_bytes.hex(),
        "case_section": case_bytes.hex(),
        "envelope": sealed.hex(),
        "bucket_size": bucket,
        "envelope_length": len(sealed),
        "lengths_by_bucket": {str(b): envelope.envelope_length(b) for b in padding.BUCKETS},
        "envelope_hash": sealed_hash.hex(),
        "petition_id": petition_id,
    }

    # Reply, sealed to the petitioner's receipt.
    reply_ciphertext = seal_reply(
        REPLY_MESSAGE, petitioner.reply_private_key().public_key(), petition_id, BUREAU_ID
    )
    _expect(
        open_reply(reply_ciphertext, petitioner.reply_private_key(), petition_id, BUREAU_ID)
        == REPLY_MESSAGE,
        "reply round trip",
    )
    reply_plaintext = cjson.encode({"message": REPLY_MESSAGE})
    reply_section = {
        "petition_id": petition_id,
        "bureau_id": BUREAU_ID,
        "receipt_code": petitioner.code,
        "message": REPLY_MESSAGE,
        "plaintext": reply_plaintext.decode("utf-8"),
        "bucket_size": padding.bucket_for(len(reply_plaintext)),
        "hpke_info": (
            labels.REPLY_INFO + petition_id.encode("ascii") + b"\x00" + BUREAU_ID.encode("ascii")
        ).hex(),
        "ciphertext": reply_ciphertext.hex(),
    }

    # Signed objects: one Ed25519 key signs every kind (a format vector, not a trust setup).
    log_vkey = note.Verifier(LOG_ORIGIN, signing_key.public_key())
    directory = Directory(
        serial=1,
        day=DIRECTORY_DAY,
        bureaus=(bundle,),
        log_vkey=log_vkey,
        log_policy=default_policy(log_vkey),
    )
    reply_body = Reply(
        petition_id=petition_id,
        bureau_id=BUREAU_ID,
        event=Event.DECIDED,
        sequence=0,
        ciphertext=reply_ciphertext,
        day=ANSWERED_DAY,
    ).to_json()
    signed_reply = sign(SignedKind.REPLY, reply_body, signing_key)
    reply_hash = signed_reply_hash(signed_reply.encode())
    _expect(reply_hash == hashlib.sha256(signed_reply.encode()).digest(), "plain SHA-256")

    entries = [
        (
            "submission",
            LogEntry(petition_id, BUREAU_ID, sealed_hash, Event.RECEIVED, SUBMITTED_DAY),
        ),
        (
            "acknowledgement",
            sign_entry(
                LogEntry(petition_id, BUREAU_ID, sealed_hash, Event.ACKNOWLEDGED, ACKNOWLEDGED_DAY),
                signing_key,
            ),
        ),
        (
            "extension",
            sign_entry(
                LogEntry(
                    petition_id,
                    BUREAU_ID,
                    sealed_hash,
                    Event.EXTENDED,
                    EXTENDED_DAY,
                    Detail(days=30, reason=ExtensionReason.FURTHER_INVESTIGATION),
                ),
                signing_key,
            ),
        ),
        (
            "decision",
            sign_entry(
                LogEntry(
                    petition_id,
                    BUREAU_ID,
                    sealed_hash,
                    Event.DECIDED,
                    ANSWERED_DAY,
                    Detail(outcome=DecisionOutcome.EXPLAINED),
                    reply_hash,
                ),
                signing_key,
            ),
        ),
    ]
    for _, entry in entries:
        verify_entry_signature(entry, lambda bureau: signing_key.public_key())
    statutory.deadlines([to_step(entry) for _, entry in entries])  # a possible history
    leaf_hashes = [merkle.leaf_hash(entry.leaf()) for _, entry in entries]
    root = merkle.root_from_leaf_hashes(leaf_hashes)
    tree = merkle.LeafHashList(leaf_hashes)
    # The log's checkpoint (c2sp.org/tlog-checkpoint) and the submission's receipt
    # (c2sp.org/tlog-proof, protocol §13.6); Ed25519 is deterministic, so both are fixed.
    checkpoint_note = checkpoint.sign(
        checkpoint.Checkpoint(LOG_ORIGIN, len(leaf_hashes), root),
        [note.Signer(LOG_ORIGIN, signing_key)],
    )
    receipt_text = build_receipt(
        entries[0][1].leaf(), 0, merkle.inclusion_proof(tree, 0, len(leaf_hashes)), checkpoint_note
    )
    verified = verify_receipt(receipt_text, directory.policy(), origin=LOG_ORIGIN)
    check_submission(verified, petition_id=petition_id, envelope_hash=sealed_hash)
    _expect(verified.entry == entries[0][1], "the receipt carries its entry")

    bodies: list[tuple[SignedKind, dict[str, Any], str | None]] = [
        (SignedKind.DIRECTORY, directory.to_json(), "crypto.objects.Directory"),
        (SignedKind.BUREAU_BUNDLE, bundle.to_json(), "crypto.objects.BureauBundle"),
        (SignedKind.REPLY, reply_body, "crypto.objects.Reply"),
        (
            SignedKind.BUREAU_REQUEST,
            BureauRequest(
                bureau_id=BUREAU_ID,
                method="GET",
                target="/v1/bureaus/national/inbox?after=0&limit=100",
                body_sha256=hashlib.sha256(b"").digest(),
                timestamp=1772409600,  # 2026-03-02T00:00:00Z
                nonce=fixed("bureau-request/nonce", 16),
            ).to_json(),
            "crypto.objects.BureauRequest",
        ),
    ]
    # A case event's signature is embedded in its log entry (protocol §9.3.4), not a wrapper.
    wrapped = set(SignedKind) - {SignedKind.CASE_EVENT}
    _expect({kind for kind, _, _ in bodies} == wrapped, "every signed kind is covered")
    _expect(all(body["version"] == PROTOCOL_VERSION for _, body, _ in bodies), "body versions")
    signed_cases = []
    for kind, body, schema in bodies:
        signed = sign(kind, body, signing_key)
        _expect(
            SignedObject.decode(signed.encode(), kind).verify(signing_key.public_key()) == body,
            f"{kind.value} verifies",
        )
        signed_cases.append(
            {
                "kind": kind.value,
                "label": kind.label.hex(),
                "body_schema": schema,
                "body": body,
                "signing_message": signing_message(kind, body).hex(),
                "signature": signed.signature.hex(),
                "wire": signed.encode().decode("utf-8"),
            }
        )
    _expect(signed_cases[2]["wire"] == signed_reply.encode().decode("utf-8"), "reply wire form")
    signed_section = {
        "signing_seed": signing_key.to_bytes().hex(),
        "verify_key": signing_key.public_key().to_bytes().hex(),
        "fingerprint": signing_key.public_key().fingerprint.hex(),
        "cases": signed_cases,
    }

    short_envelope = b"not really an envelope"
    log_section = {
        "entries": [
            {
                "name": name,
                "petition_id": entry.petition_id,
                "bureau_id": entry.bureau_id,
                "envelope_hash": entry.envelope_hash.hex(),
                "event": entry.event.value,
                "detail": entry.detail.to_json(),
                "day": entry.day.isoformat(),
                "reply_hash": None if entry.reply_hash is None else entry.reply_hash.hex(),
                "signing_message": entry.signing_message().hex() if entry.signed else None,
                "signature": None if entry.signature is None else entry.signature.hex(),
                "leaf": entry.leaf().decode("utf-8"),
                "leaf_hash": merkle.leaf_hash(entry.leaf()).hex(),
            }
            for name, entry in entries
        ],
        "tree_size": len(leaf_hashes),
        "root_hash": root.hex(),
        "origin": LOG_ORIGIN,
        "log_vkey": log_vkey.to_vkey(),
        "log_policy": directory.log_policy.decode("utf-8"),
        "checkpoint": checkpoint_note.decode("utf-8"),
        "receipt": receipt_text.decode("utf-8"),
        "petition_id_derivations": [
            {"envelope": short_envelope.hex(), "petition_id": petition_id_for(short_envelope)},
            {"envelope": "", "petition_id": petition_id_for(b"")},
        ],
    }

    # A bureau keystore holding every key (docs/protocol.md §12.6; intake and handler keystores
    # hold subsets of these entries, always with "bundle").
    keystore_secrets = {
        "identity-key": identity_key.to_bytes(),
        "case-key": case_key.to_bytes(),
        "signing-key": signing_key.to_bytes(),
        "token-key": token_key.secret,
        "bundle": cjson.encode(bundle.to_json()),
    }
    keystore_bytes = keystore.seal_keystore(
        keystore_secrets, KEYSTORE_PASSPHRASE, kdf_params=FAST_KDF_PARAMS
    )
    _expect(
        keystore.open_keystore(keystore_bytes, KEYSTORE_PASSPHRASE) == keystore_secrets,
        "keystore round trip",
    )
    try:
        keystore.open_keystore(keystore_bytes, KEYSTORE_PASSPHRASE + "!")
    except WrongPassphrase:
        pass
    else:
        _expect(False, "a wrong passphrase is refused")
    document_json = cjson.decode_object(keystore_bytes)
    kdf_salt = cjson.b64decode(document_json["kdf"]["salt"])
    nonce = cjson.b64decode(document_json["nonce"])
    derived_key = hash_secret_raw(
        secret=KEYSTORE_PASSPHRASE.encode("utf-8"),
        salt=kdf_salt,
        time_cost=FAST_KDF_PARAMS.time_cost,
        memory_cost=FAST_KDF_PARAMS.memory_kib,
        parallelism=FAST_KDF_PARAMS.parallelism,
        hash_len=32,
        type=Type.ID,
        version=19,
    )
    aad = labels.KEYSTORE_AAD + cjson.encode(
        {name: value for name, value in document_json.items() if name != "ciphertext"}
    )
    plaintext = ChaCha20Poly1305(derived_key).decrypt(
        nonce, cjson.b64decode(document_json["ciphertext"]), aad
    )
    keystore_section = {
        "passphrase": KEYSTORE_PASSPHRASE,
        "format_version": keystore.FORMAT_VERSION,
        "kdf_params": {
            "memory_kib": FAST_KDF_PARAMS.memory_kib,
            "time_cost": FAST_KDF_PARAMS.time_cost,
            "parallelism": FAST_KDF_PARAMS.parallelism,
        },
        "secrets": {name: value.hex() for name, value in keystore_secrets.items()},
        "keystore": keystore_bytes.decode("utf-8"),
        "kdf_salt": kdf_salt.hex(),
        "nonce": nonce.hex(),
        "derived_key": derived_key.hex(),
        "aad": aad.hex(),
        "plaintext": plaintext.decode("utf-8"),
    }

    # The log's signing key file: the only service key file since protocol v2.
    log_key = SigningKey(fixed("log-signing-key", 32))
    log_key_file = keyfile.encode_key_file(keyfile.KeyPurpose.LOG_SIGNING, log_key.to_bytes(), None)
    _expect(
        keyfile.decode_key_file(log_key_file, keyfile.KeyPurpose.LOG_SIGNING)
        == (log_key.to_bytes(), None),
        "log key file round trip",
    )
    key_file_section = {
        "purpose": keyfile.KeyPurpose.LOG_SIGNING.value,
        "key": log_key.to_bytes().hex(),
        "verify_key": log_key.public_key().to_bytes().hex(),
        "file": log_key_file.decode("utf-8"),
    }

    fingerprint_cases = []
    for algorithm, public_key in (
        (SIGNING_ALGORITHM, signing_key.public_key().to_bytes()),
        (ENCRYPTION_ALGORITHM, identity_key.public_key().to_bytes()),
        (ENCRYPTION_ALGORITHM, case_key.public_key().to_bytes()),
    ):
        value = fingerprint(algorithm, public_key)
        fingerprint_cases.append(
            {
                "algorithm": algorithm,
                "public_key": public_key.hex(),
                "fingerprint": value.hex(),
                "formatted": format_fingerprint(value),
            }
        )

    for wrong_key, wrong_bureau in ((identity_key, BUREAU_ID), (case_key, "guangdong")):
        try:
            envelope.open_case(sealed, wrong_key, wrong_bureau)
        except DecryptionError:
            pass
        else:
            _expect(False, "the case opens only with the case key, for its bureau")
    try:
        check_binding(
            IdentityDocument("李四", bob.scheme, bob.value, ""), case, token_salt, FAST_TOKEN_PARAMS
        )
    except TokenBindingError:
        pass
    else:
        _expect(False, "the case's pre-hash is bound to its identity")
    return {
        "description": (
            "Sealed Petition's own test vectors for the formats no RFC covers (protocol "
            "version 2). Binary values are lower-case hex; text is UTF-8. Fixed inputs "
            "(keys, seeds, salts) are SHAKE-256('sealed-petition/v2/test-vector/' || name); "
            "HPKE encryptions (the envelope's two sections and the reply), the keystore salt "
            "and nonce and the third receipt secret are random and frozen as generated: the "
            "private keys are listed so that they can be decrypted. The sections are chained: "
            "token[0] is the petitioner of the identity section, its prehash is the case "
            "section's id_prehash and its token what the bureau derives; receipt[1] is the "
            "petitioner whose reply key the case carries and to whom the reply is sealed; the "
            "bureau bundle lists the envelope's keys; the log entries describe the envelope; "
            "one Ed25519 key signs every kind of object; the keystore holds the bureau's keys."
        ),
        "source": (
            f"generated once by scripts/generate_vectors.py with sealed-petition {version}; "
            "frozen: the tests check the implementation against these values, never "
            "regenerate them"
        ),
        "protocol_version": PROTOCOL_VERSION,
        "labels": labels_section(),
        "padding": padding_section(),
        "fingerprints": fingerprint_cases,
        "id_numbers": id_numbers_section(),
        "token": token_cases,
        "receipt": {
            "cases": [receipt_case(secret) for secret in receipts],
            "invalid_codes": invalid_codes(receipts[1].code),
        },
        "identity_section": identity_section,
        "case_section": case_section,
        "envelope": envelope_section,
        "reply": reply_section,
        "signed_objects": signed_section,
        "log_entries": log_section,
        "keystore": keystore_section,
        "log_key_file": key_file_section,
        "sealed_petition_file": sealed_file_section(sealed, petitioner),
    }


if __name__ == "__main__":
    raise SystemExit(main())
