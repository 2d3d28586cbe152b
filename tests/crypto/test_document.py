"""Tests of crypto.document (protocol v2): the identity section and the case section.

Exact round trip of Chinese text, canonical encoding, strictness, the refusal of version 1, and
the promise that every identity, however it is written, fits the one fixed identity size.

The expected encodings are rebuilt here from the byte tables in the module docstring with the
standard library's ``json`` and ``base64`` (``reference_*``), and malformed sections are built
the same way, so that no expectation is computed by the code under test.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import envelope, padding
from crypto.document import Attachment, CaseDocument, Consent, IdentityDocument
from crypto.errors import MalformedInput, SchemaViolation, UnsupportedVersion
from crypto.keys import EncryptionPrivateKey

REPLY_KEY = EncryptionPrivateKey.generate().public_key()
IDENTITY_KEY = EncryptionPrivateKey.generate()
CASE_KEY = EncryptionPrivateKey.generate()
PREHASH = bytes(range(100, 132))
DAY = date(2024, 6, 1)

NAME = "张三"
ID_NUMBER = "11010519491231002X"
SUBJECT = "关于拖欠工资的投诉"
BODY = (
    "尊敬的领导：\n"
    "我在某建筑公司工作了两年，公司拖欠工资共计三万元。\r\n"
    "\t多次讨要无果 😡👨‍👩‍👧，请求帮助！\n"
    "附：e\u0301 a\u0300 ﻿零宽\u200d连接\u2028第二段\n"
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def rejected_code_points(accepts: Callable[[str], object]) -> set[int]:
    rejected = set()
    for code_point in SCANNED:
        try:
            accepts(chr(code_point))
        except SchemaViolation:
            rejected.add(code_point)
    return rejected


# The forbidden characters, copied from the tables in docs/protocol.md §8.
C1_CONTROLS = {*range(0x7F, 0xA0)}  # DEL and U+0080-U+009F (U+0085 NEL is a line break)
SPEC_SINGLE_LINE_FORBIDDEN = {*range(0x20), *C1_CONTROLS, 0x2028, 0x2029}
SPEC_MULTI_LINE_FORBIDDEN = {*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *C1_CONTROLS}
SPEC_NAME_FORBIDDEN = {*range(0x20), *C1_CONTROLS, 0x2028, 0x2029, ord("/"), ord("\\")}
SCANNED = range(0x3000)  # every control character and every Unicode line boundary lies below


# =================================================================================================
# Identity section
# =================================================================================================

IDENTITY_TEXT_MAXIMUM = {"real_name": 100, "id_number": 64, "contact": 200}


def identity_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "real_name": NAME,
        "id_scheme": "cn-resident",
        "id_number": ID_NUMBER,
        "contact": "电话 138-0000-0000，北京市朝阳区",
    }
    fields.update(changes)
    return fields


def identity(**changes: Any) -> IdentityDocument:
    """A valid identity with ``changes`` applied; ``consent`` left out means the defaults."""
    consent = changes.pop("consent", None)
    fields = identity_fields(**changes)
    if consent is None:
        return IdentityDocument(**fields)
    return IdentityDocument(**fields, consent=consent)


def reference_identity_json(
    fields: dict[str, Any], contact: bool = True, share: bool = False
) -> dict[str, Any]:
    return {
        **fields,
        "consent": {"contact": contact, "share_identity_on_transfer": share},
    }


def reference_identity(
    metadata: dict[str, Any], *, magic: bytes = b"SPI", version: int = 2
) -> bytes:
    return magic + bytes([version]) + canonical(metadata)


def test_identity_encoding_is_the_documented_layout() -> None:
    assert identity().encode() == reference_identity(reference_identity_json(identity_fields()))
    chosen = Consent(contact=False, share_identity_on_transfer=True)
    assert identity(consent=chosen).encode() == reference_identity(
        reference_identity_json(identity_fields(), contact=False, share=True)
    )


def test_consent_defaults_are_contact_yes_transfer_no() -> None:
    assert Consent() == Consent(contact=True, share_identity_on_transfer=False)
    assert identity().consent == Consent()


@pytest.mark.parametrize("contact", [True, False])
@pytest.mark.parametrize("share", [True, False])
def test_identity_round_trips_with_every_consent(contact: bool, share: bool) -> None:
    document = identity(consent=Consent(contact, share))
    decoded = IdentityDocument.decode(document.encode())
    assert decoded == document
    assert decoded.consent == Consent(contact, share)
    assert (decoded.real_name, decoded.id_number) == (NAME, ID_NUMBER)


def test_contact_may_be_empty() -> None:
    assert IdentityDocument.decode(identity(contact="").encode()).contact == ""


@pytest.mark.parametrize("field", ["real_name", "id_scheme", "id_number"])
def test_identity_required_fields(field: str) -> None:
    with pytest.raises(SchemaViolation):
        identity(**{field: ""})


@pytest.mark.parametrize("field", list(IDENTITY_TEXT_MAXIMUM))
def test_identity_length_limits_count_characters(field: str) -> None:
    limit = IDENTITY_TEXT_MAXIMUM[field]
    at_limit = identity(**{field: "𠀀" * limit})  # four UTF-8 bytes per character
    assert IdentityDocument.decode(at_limit.encode()) == at_limit
    with pytest.raises(SchemaViolation):
        identity(**{field: "张" * (limit + 1)})


@pytest.mark.parametrize(
    "scheme", ["", "中国居民身份证", "CN-resident", "1cn", "a" * 33, "cn resident"]
)
def test_id_scheme_is_a_scheme_identifier(scheme: str) -> None:
    with pytest.raises(SchemaViolation):
        identity(id_scheme=scheme)


@pytest.mark.parametrize("field", ["real_name", "id_number", "contact"])
def test_identity_fields_forbid_exactly_the_specified_characters(field: str) -> None:
    assert rejected_code_points(lambda c: identity(**{field: "前" + c + "后"})) == (
        SPEC_SINGLE_LINE_FORBIDDEN
    )


@pytest.mark.parametrize("value", [None, 1, "yes", 0])
def test_consent_choices_are_booleans(value: object) -> None:
    metadata = reference_identity_json(identity_fields())
    metadata["consent"]["contact"] = value
    with pytest.raises(SchemaViolation):
        IdentityDocument.decode(reference_identity(metadata))


# --- the worst case still fits the fixed identity size -------------------------------------------

FOUR_BYTES = "𠀀"  # U+20000: four UTF-8 bytes, the most any character takes
LONGEST_SCHEME = "a" + "-" * 31  # 32 ASCII characters, the most the scheme syntax allows


@pytest.mark.parametrize(
    "contact",
    [
        FOUR_BYTES * 200,  # the most bytes per character
        '"' * 200,  # each one escaped by JSON as two bytes
        "\\" * 200,
        "",
    ],
    ids=["four-byte", "quotes", "backslashes", "empty"],
)
@pytest.mark.parametrize("name_character", [FOUR_BYTES, '"', "\\"])
def test_the_largest_identity_fits_the_fixed_identity_size(
    contact: str, name_character: str
) -> None:
    worst = IdentityDocument(
        real_name=name_character * 100,
        id_scheme=LONGEST_SCHEME,
        id_number=FOUR_BYTES * 64,
        contact=contact,
        consent=Consent(contact=False, share_identity_on_transfer=False),  # "false" > "true"
    )
    encoded = worst.encode()
    assert len(encoded) + padding.LENGTH_PREFIX <= padding.IDENTITY_SECTION_SIZE
    assert IdentityDocument.decode(encoded) == worst
    sealed = envelope.seal(
        encoded, b"case", IDENTITY_KEY.public_key(), CASE_KEY.public_key(), "national"
    )
    assert envelope.open_identity(sealed, IDENTITY_KEY, "national") == encoded


def test_the_worst_case_leaves_a_margin() -> None:
    """Recorded so that a longer field limit or a new field cannot silently break the promise:
    the largest encoding is 1,614 bytes, 430 below the 2,044 the padding leaves."""
    worst = IdentityDocument(
        real_name=FOUR_BYTES * 100,
        id_scheme=LONGEST_SCHEME,
        id_number=FOUR_BYTES * 64,
        contact=FOUR_BYTES * 200,
        consent=Consent(False, False),
    )
    assert len(worst.encode()) == 1614
    assert padding.IDENTITY_SECTION_SIZE - padding.LENGTH_PREFIX - len(worst.encode()) == 430


# --- strict decoding ----------------------------------------------------------------------------


def good_identity_bytes() -> bytes:
    return reference_identity(reference_identity_json(identity_fields()))


def identity_with(**changes: Any) -> bytes:
    metadata = reference_identity_json(identity_fields())
    metadata.update(changes)
    return reference_identity(metadata)


def identity_without(name: str) -> bytes:
    metadata = reference_identity_json(identity_fields())
    del metadata[name]
    return reference_identity(metadata)


def test_reference_identity_decodes() -> None:
    assert IdentityDocument.decode(good_identity_bytes()) == identity()


IDENTITY_FORMAT_ERRORS: dict[str, bytes] = {
    "empty": b"",
    "bad magic": b"SPD" + good_identity_bytes()[3:],
    "lower-case magic": b"spi" + good_identity_bytes()[3:],
    "magic only": b"SPI",
    "magic and version only": b"SPI\x02",
    "truncated JSON": good_identity_bytes()[:-1],
    "trailing byte": good_identity_bytes() + b"\x00",
    "space after colon": b"SPI\x02"
    + json.dumps(
        reference_identity_json(identity_fields()),
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ": "),
    ).encode(),
    "keys not sorted": b"SPI\x02"
    + json.dumps(
        reference_identity_json(identity_fields()), ensure_ascii=False, separators=(",", ":")
    ).encode(),
    "escaped non-ASCII": b"SPI\x02"
    + json.dumps(
        reference_identity_json(identity_fields()), sort_keys=True, separators=(",", ":")
    ).encode(),
    "not UTF-8": good_identity_bytes().replace("张三".encode(), b"\xff\xfe"),
    "not JSON": b"SPI\x02not json",
    "top level array": b"SPI\x02[]",
}


@pytest.mark.parametrize("name", IDENTITY_FORMAT_ERRORS)
def test_identity_decode_rejects_format_errors(name: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        IdentityDocument.decode(IDENTITY_FORMAT_ERRORS[name])
    assert not isinstance(caught.value, UnsupportedVersion)


@pytest.mark.parametrize("version", [0, 1, 3, 255])
def test_identity_of_another_version_is_unsupported(version: int) -> None:
    data = reference_identity(reference_identity_json(identity_fields()), version=version)
    with pytest.raises(UnsupportedVersion) as caught:
        IdentityDocument.decode(data)
    assert caught.value.code == "unsupported_version"


def test_identity_decode_rejects_unknown_and_missing_members() -> None:
    with pytest.raises(SchemaViolation):
        IdentityDocument.decode(identity_with(birthday="1949-12-31"))
    for name in ("real_name", "id_scheme", "id_number", "contact", "consent"):
        with pytest.raises(SchemaViolation):
            IdentityDocument.decode(identity_without(name))
    for consent in (
        {"contact": True},
        {"contact": True, "share_identity_on_transfer": False, "x": 1},
    ):
        with pytest.raises(SchemaViolation):
            IdentityDocument.decode(identity_with(consent=consent))


@pytest.mark.parametrize(
    "changes",
    [
        {"real_name": ""},
        {"real_name": 3},
        {"contact": "一\n二"},
        {"consent": []},
        {"id_scheme": "X"},
    ],
)
def test_identity_decode_applies_the_schema(changes: dict[str, Any]) -> None:
    with pytest.raises(SchemaViolation):
        IdentityDocument.decode(identity_with(**changes))


def test_a_case_section_is_not_an_identity_and_back() -> None:
    with pytest.raises(MalformedInput):
        IdentityDocument.decode(case().encode())
    with pytest.raises(MalformedInput):
        CaseDocument.decode(identity().encode())


def test_identity_repr_reveals_nothing() -> None:
    document = identity(real_name="王秘密", id_number="440305199006151231", contact="13912345678")
    for text in (repr(document), str(document), f"{document!r}"):
        for secret in ("王秘密", "440305199006151231", "13912345678"):
            assert secret not in text


@settings(deadline=None, max_examples=100)
@given(
    real_name=st.text(
        alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=100,
    ),
    contact=st.text(
        alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=200
    ),
    contact_ok=st.booleans(),
    share=st.booleans(),
)
def test_arbitrary_identities_round_trip_and_fit(
    real_name: str, contact: str, contact_ok: bool, share: bool
) -> None:
    document = identity(consent=Consent(contact_ok, share), real_name=real_name, contact=contact)
    encoded = document.encode()
    assert IdentityDocument.decode(encoded) == document
    assert len(padding.pad_to(encoded, padding.IDENTITY_SECTION_SIZE)) == 2048


# =================================================================================================
# Case section
# =================================================================================================

CASE_SINGLE_LINE_FIELDS = ["subject", "category", "region", "respondent"]
CASE_REQUIRED_FIELDS = ["subject", "body", "category", "region"]
CASE_MAXIMUM = {"subject": 200, "body": 50_000, "category": 64, "region": 64, "respondent": 200}


def case_fields(**changes: str) -> dict[str, str]:
    fields = {
        "subject": SUBJECT,
        "body": BODY,
        "category": "劳动与社会保障",
        "region": "广东省深圳市",
        "respondent": "深圳市某建筑工程有限公司",
    }
    fields.update(changes)
    return fields


def case(
    *,
    attachments: tuple[Attachment, ...] = (),
    id_prehash: bytes = PREHASH,
    created_day: date = DAY,
    **changes: str,
) -> CaseDocument:
    return build_case(case_fields(**changes), attachments, id_prehash, created_day)


def build_case(
    fields: dict[str, str], attachments: tuple[Attachment, ...], id_prehash: bytes, day: date
) -> CaseDocument:
    return CaseDocument(
        subject=fields["subject"],
        body=fields["body"],
        category=fields["category"],
        region=fields["region"],
        respondent=fields["respondent"],
        reply_key=REPLY_KEY,
        id_prehash=id_prehash,
        created_day=day,
        attachments=attachments,
    )


def with_field(field: str, value: str) -> CaseDocument:
    return build_case(case_fields(**{field: value}), (), PREHASH, DAY)


def reference_metadata(
    fields: dict[str, str], attachments: list[tuple[str, str, bytes]]
) -> dict[str, Any]:
    return {
        **fields,
        "attachments": [{"name": n, "media_type": m, "size": len(d)} for n, m, d in attachments],
        "reply_key": b64(REPLY_KEY.to_bytes()),
        "id_prehash": b64(PREHASH),
        "created_day": DAY.isoformat(),
    }


def assemble(metadata: bytes, *payloads: bytes, magic: bytes = b"SPD", version: int = 2) -> bytes:
    return (
        magic + bytes([version]) + len(metadata).to_bytes(4, "big") + metadata + b"".join(payloads)
    )


def reference_encode(fields: dict[str, str], attachments: list[tuple[str, str, bytes]]) -> bytes:
    metadata = canonical(reference_metadata(fields, attachments))
    return assemble(metadata, *(d for _, _, d in attachments))


ATTACHMENTS = [
    ("工资条（2023年）.pdf", "application/pdf", b"%PDF-1.7\n\x00\xff\xfe" * 10),
    ("现场照片.jpg", "image/jpeg", bytes(range(256))),
    ("空文件.txt", "text/plain", b""),
]


def attachments_tuple(items: list[tuple[str, str, bytes]]) -> tuple[Attachment, ...]:
    return tuple(Attachment(n, m, d) for n, m, d in items)


# --- round trip and exact layout -----------------------------------------------------------------


def test_case_encoding_is_the_documented_layout() -> None:
    document = case(attachments=attachments_tuple(ATTACHMENTS))
    assert document.encode() == reference_encode(case_fields(), ATTACHMENTS)
    assert case().encode() == reference_encode(case_fields(), [])


def test_the_case_carries_no_identity() -> None:
    encoded = case().encode()
    metadata = json.loads(encoded[8:])
    assert set(metadata) == {
        "subject",
        "body",
        "category",
        "region",
        "respondent",
        "attachments",
        "reply_key",
        "id_prehash",
        "created_day",
    }
    for v1_member in ("real_name", "id_number", "id_scheme", "contact", "token"):
        assert v1_member not in metadata


def test_chinese_text_in_every_case_field_round_trips_exactly() -> None:
    document = case(attachments=attachments_tuple(ATTACHMENTS))
    decoded = CaseDocument.decode(document.encode())
    assert decoded == document
    for name, value in case_fields().items():
        assert getattr(decoded, name) == value
    assert decoded.body.count("\n") == 4
    assert "\r\n" in decoded.body
    assert "👨‍👩‍👧" in decoded.body
    assert decoded.reply_key == REPLY_KEY
    assert decoded.id_prehash == PREHASH
    assert decoded.created_day == DAY
    assert [(a.name, a.media_type, a.data) for a in decoded.attachments] == ATTACHMENTS


def test_respondent_may_be_empty() -> None:
    assert CaseDocument.decode(case(respondent="").encode()).respondent == ""


@pytest.mark.parametrize(
    "text",
    ["José Martínez", "Ångström", "한국어", "가", "e\u0301\u0323 o\u0308", "Ǆ ḍ̇"],
)
def test_nfc_and_nfd_forms_round_trip_exactly_and_stay_distinct(text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    assert nfc != nfd
    encoded = {}
    for form in (nfc, nfd):
        document = case(subject=form, body=form + "\n" + form, region=form, respondent=form)
        encoded[form] = document.encode()
        decoded = CaseDocument.decode(encoded[form])
        assert (decoded.subject, decoded.region, decoded.respondent) == (form, form, form)
        assert decoded.body == form + "\n" + form
        assert form.encode() in encoded[form]
    assert encoded[nfc] != encoded[nfd]
    for form in (nfc, nfd):
        person = identity(real_name=form)
        assert IdentityDocument.decode(person.encode()).real_name == form


def test_attachment_names_are_not_normalised() -> None:
    nfc, nfd = "Résumé.pdf", unicodedata.normalize("NFD", "Résumé.pdf")
    for name in (nfc, nfd):
        document = case(attachments=(Attachment(name, "application/pdf", b"x"),))
        assert CaseDocument.decode(document.encode()).attachments[0].name == name


def test_round_trip_of_both_sections_through_an_envelope() -> None:
    person = identity()
    document = case(attachments=attachments_tuple(ATTACHMENTS))
    sealed = envelope.seal(
        person.encode(),
        document.encode(),
        IDENTITY_KEY.public_key(),
        CASE_KEY.public_key(),
        "national",
    )
    assert CaseDocument.decode(envelope.open_case(sealed, CASE_KEY, "national")) == document
    assert IdentityDocument.decode(envelope.open_identity(sealed, IDENTITY_KEY, "national")) == (
        person
    )


single_line_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40
)
chinese_text = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=40
)
body_text = st.text(
    alphabet=st.one_of(
        st.characters(exclude_categories=("Cs", "Cc")),
        st.sampled_from("\n\r\t"),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    ),
    min_size=1,
    max_size=300,
)
file_names = st.builds(
    lambda stem, ext: stem + ext,
    st.text(
        alphabet=st.one_of(
            st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
            st.sampled_from("abc 123-_()（）"),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([".pdf", ".jpg", ".txt", ""]),
)
attachment_items = st.lists(
    st.tuples(
        file_names,
        st.sampled_from(["application/pdf", "image/png", "text/plain", "application/octet-stream"]),
        st.binary(max_size=2000),
    ),
    max_size=4,
)


@settings(deadline=None, max_examples=100)
@given(
    subject=st.one_of(chinese_text, single_line_text),
    respondent=st.one_of(st.just(""), chinese_text, single_line_text),
    body=body_text,
    items=attachment_items,
    id_prehash=st.binary(min_size=32, max_size=32),
    day=st.dates(),
)
def test_arbitrary_cases_round_trip_and_encode_canonically(
    subject: str,
    respondent: str,
    body: str,
    items: list[tuple[str, str, bytes]],
    id_prehash: bytes,
    day: date,
) -> None:
    document = case(
        subject=subject,
        respondent=respondent,
        body=body,
        id_prehash=id_prehash,
        created_day=day,
        attachments=attachments_tuple(items),
    )
    encoded = document.encode()
    decoded = CaseDocument.decode(encoded)
    assert decoded == document
    assert (decoded.subject, decoded.respondent, decoded.body) == (subject, respondent, body)
    assert [(a.name, a.media_type, a.data) for a in decoded.attachments] == items
    assert decoded.id_prehash == id_prehash
    assert decoded.created_day == day
    assert decoded.encode() == encoded
    metadata_length = int.from_bytes(encoded[4:8], "big")
    assert encoded[8 + metadata_length :] == b"".join(d for _, _, d in items)


def test_twenty_attachments_are_allowed() -> None:
    items = [(f"附件{i}.txt", "text/plain", bytes([i]) * i) for i in range(20)]
    document = case(attachments=attachments_tuple(items))
    assert CaseDocument.decode(document.encode()) == document


# --- schema violations at construction -----------------------------------------------------------


@pytest.mark.parametrize("field", CASE_REQUIRED_FIELDS)
def test_empty_required_case_field_is_a_schema_violation(field: str) -> None:
    with pytest.raises(SchemaViolation):
        with_field(field, "")


@pytest.mark.parametrize("field", list(CASE_MAXIMUM))
def test_case_length_limits_count_characters_not_bytes(field: str) -> None:
    limit = CASE_MAXIMUM[field]
    at_limit = with_field(field, "张" * limit)
    assert CaseDocument.decode(at_limit.encode()) == at_limit
    with pytest.raises(SchemaViolation):
        with_field(field, "张" * (limit + 1))


@pytest.mark.parametrize("field", CASE_SINGLE_LINE_FIELDS)
def test_case_single_line_fields_forbid_exactly_the_specified_characters(field: str) -> None:
    assert rejected_code_points(lambda c: with_field(field, "前" + c + "后")) == (
        SPEC_SINGLE_LINE_FORBIDDEN
    )


def test_body_forbids_exactly_the_specified_characters() -> None:
    assert rejected_code_points(lambda c: case(body="前" + c + "后")) == SPEC_MULTI_LINE_FORBIDDEN


def test_attachment_names_forbid_exactly_the_specified_characters() -> None:
    rejected = rejected_code_points(lambda c: Attachment("照片" + c + ".jpg", "image/jpeg", b""))
    assert rejected == SPEC_NAME_FORBIDDEN


@pytest.mark.parametrize("text", ["第一行\n第二行", "第一行\r\n第二行", "\t缩进", "段落\u2028分隔"])
def test_body_allows_line_breaks_and_tabs(text: str) -> None:
    assert CaseDocument.decode(case(body=text).encode()).body == text


@pytest.mark.parametrize("field", [*CASE_SINGLE_LINE_FIELDS, "body"])
def test_lone_surrogates_are_rejected(field: str) -> None:
    with pytest.raises(SchemaViolation):
        with_field(field, "前\ud800后")


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "/", "../etc/passwd", "..", ".", "a\\b", "..\\x", "名\n字", "名\x00字", "x" * 256],
)
def test_bad_attachment_names_are_schema_violations(name: str) -> None:
    with pytest.raises(SchemaViolation):
        Attachment(name, "text/plain", b"")


@pytest.mark.parametrize("name", ["报告.pdf", "x" * 255, "张" * 255, ".hidden", "a b (1).txt"])
def test_good_attachment_names_are_accepted(name: str) -> None:
    assert Attachment(name, "text/plain", b"").name == name


def test_attachment_name_with_a_lone_surrogate_is_refused_by_encode_at_the_latest() -> None:
    with pytest.raises(MalformedInput):
        case(attachments=(Attachment("照片\udc00.jpg", "image/jpeg", b"x"),)).encode()


@pytest.mark.parametrize(
    "media_type",
    [
        "",
        "text",
        "text/",
        "/plain",
        "Text/plain",
        "text/PLAIN",
        "text/plain; charset=utf-8",
        "text/plain\n",
        "text//plain",
        "text/pl ain",
        "文本/纯文本",
        "-text/plain",
    ],
)
def test_bad_media_types_are_schema_violations(media_type: str) -> None:
    with pytest.raises(SchemaViolation):
        Attachment("a.txt", media_type, b"")


@pytest.mark.parametrize(
    "media_type",
    [
        "text/plain",
        "image/jpeg",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "image/svg+xml",
    ],
)
def test_good_media_types_are_accepted(media_type: str) -> None:
    assert Attachment("a", media_type, b"").media_type == media_type


def test_more_than_twenty_attachments_is_a_schema_violation() -> None:
    with pytest.raises(SchemaViolation):
        case(attachments=tuple(Attachment(f"{i}.txt", "text/plain", b"") for i in range(21)))


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_wrong_prehash_length_is_a_schema_violation(length: int) -> None:
    with pytest.raises(SchemaViolation):
        case(id_prehash=bytes(length))


def test_a_time_of_day_never_reaches_the_encoding() -> None:
    """``created_day`` is a day (docs/protocol.md §1.5): a ``datetime`` must not leak its time."""
    try:
        encoded = case(created_day=datetime(2024, 5, 1, 13, 45, 7)).encode()
    except MalformedInput:
        return
    assert b"13:45" not in encoded
    assert b'"created_day":"2024-05-01"' in encoded
    assert CaseDocument.decode(encoded).created_day == date(2024, 5, 1)


# --- strict decoding -----------------------------------------------------------------------------


GOOD_FIELDS = case_fields()
GOOD_ITEMS = ATTACHMENTS[:2]


def good_metadata() -> dict[str, Any]:
    return reference_metadata(GOOD_FIELDS, GOOD_ITEMS)


def good_payloads() -> list[bytes]:
    return [d for _, _, d in GOOD_ITEMS]


def reference_bytes() -> bytes:
    return assemble(canonical(good_metadata()), *good_payloads())


def metadata_with(**changes: Any) -> bytes:
    metadata = good_metadata()
    metadata.update(changes)
    return assemble(canonical(metadata), *good_payloads())


def metadata_without(name: str) -> bytes:
    metadata = good_metadata()
    del metadata[name]
    return assemble(canonical(metadata), *good_payloads())


def non_canonical(metadata_bytes: bytes) -> bytes:
    return assemble(metadata_bytes, *good_payloads())


def test_reference_case_decodes() -> None:
    decoded = CaseDocument.decode(reference_bytes())
    assert decoded == case(attachments=attachments_tuple(GOOD_ITEMS))


FORMAT_ERRORS: dict[str, bytes] = {
    "empty": b"",
    "bad magic": b"SPE" + reference_bytes()[3:],
    "identity magic": b"SPI" + reference_bytes()[3:],
    "lower-case magic": b"spd" + reference_bytes()[3:],
    "header only": b"SPD\x02\x00\x00",
    "magic and version only": b"SPD\x02",
    "metadata truncated": reference_bytes()[:200],
    "metadata length too large": b"SPD\x02\xff\xff\xff\xff" + reference_bytes()[8:],
    "trailing byte": reference_bytes() + b"\x00",
    "attachment one byte short": reference_bytes()[:-1],
    "attachment size larger": non_canonical(
        canonical(
            reference_metadata(
                GOOD_FIELDS, [*GOOD_ITEMS[:1], (GOOD_ITEMS[1][0], GOOD_ITEMS[1][1], b"x" * 300)]
            )
        )
    ),
    "attachment size smaller": non_canonical(
        canonical(
            reference_metadata(
                GOOD_FIELDS, [*GOOD_ITEMS[:1], (GOOD_ITEMS[1][0], GOOD_ITEMS[1][1], b"x" * 10)]
            )
        )
    ),
    "space after colon": non_canonical(
        json.dumps(
            good_metadata(), ensure_ascii=False, sort_keys=True, separators=(",", ": ")
        ).encode()
    ),
    "leading space": non_canonical(b" " + canonical(good_metadata())),
    "trailing newline": non_canonical(canonical(good_metadata()) + b"\n"),
    "keys not sorted": non_canonical(
        json.dumps(good_metadata(), ensure_ascii=False, separators=(",", ":")).encode()
    ),
    "escaped non-ASCII": non_canonical(
        json.dumps(
            good_metadata(), ensure_ascii=True, sort_keys=True, separators=(",", ":")
        ).encode()
    ),
    "duplicate key": non_canonical(
        canonical(good_metadata())[:-1] + ',"region":"广东省深圳市"}'.encode()
    ),
    "not UTF-8": non_canonical(canonical(good_metadata()).replace("深圳".encode(), b"\xff\xfe", 1)),
    "not JSON": non_canonical(b"not json"),
    "top level array": non_canonical(b"[]"),
    "bad reply key": metadata_with(reply_key=b64(b"\x01" * 1215)),
    "bad prehash length": metadata_with(id_prehash=b64(bytes(31))),
    "padded base64 prehash": metadata_with(id_prehash=b64(PREHASH) + "="),
    "nonexistent day": metadata_with(created_day="2023-02-29"),
    "day with time": metadata_with(created_day="2024-06-01T00:00:00"),
}


@pytest.mark.parametrize("name", FORMAT_ERRORS)
def test_case_decode_rejects_format_errors_as_malformed_input(name: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        CaseDocument.decode(FORMAT_ERRORS[name])
    assert type(caught.value) is MalformedInput


@pytest.mark.parametrize("version", [0, 1, 3, 255])
def test_case_of_another_version_is_unsupported(version: int) -> None:
    with pytest.raises(UnsupportedVersion) as caught:
        CaseDocument.decode(assemble(canonical(good_metadata()), *good_payloads(), version=version))
    assert caught.value.code == "unsupported_version"


def test_a_v1_petition_document_is_unsupported() -> None:
    """Protocol v1's whole document (identity and token inside, magic "SPD", version 1)."""
    v1 = {
        **case_fields(),
        "real_name": NAME,
        "id_scheme": "cn-resident",
        "id_number": ID_NUMBER,
        "contact": "",
        "attachments": [],
        "reply_key": b64(REPLY_KEY.to_bytes()),
        "token": b64(bytes(64)),
        "created_day": DAY.isoformat(),
    }
    del v1["respondent"]
    with pytest.raises(UnsupportedVersion):
        CaseDocument.decode(assemble(canonical(v1), version=1))


def test_case_decode_rejects_an_unknown_metadata_field() -> None:
    with pytest.raises(SchemaViolation):
        CaseDocument.decode(metadata_with(priority="urgent"))
    with pytest.raises(SchemaViolation):
        CaseDocument.decode(metadata_with(real_name=NAME))


@pytest.mark.parametrize("name", sorted(good_metadata()))
def test_case_decode_rejects_a_missing_metadata_field(name: str) -> None:
    with pytest.raises(SchemaViolation):
        CaseDocument.decode(metadata_without(name))


def test_case_decode_rejects_an_unknown_or_missing_attachment_field() -> None:
    metadata = good_metadata()
    metadata["attachments"][0]["sha256"] = "00"
    with pytest.raises(SchemaViolation):
        CaseDocument.decode(assemble(canonical(metadata), *good_payloads()))
    metadata = good_metadata()
    del metadata["attachments"][0]["media_type"]
    with pytest.raises(SchemaViolation):
        CaseDocument.decode(assemble(canonical(metadata), *good_payloads()))


@pytest.mark.parametrize("size", [-1, True, "3", None])
def test_case_decode_rejects_a_size_that_is_not_a_natural_number(size: object) -> None:
    metadata = reference_metadata(GOOD_FIELDS, [("a.txt", "text/plain", b"")])
    metadata["attachments"][0]["size"] = size
    with pytest.raises(MalformedInput):
        CaseDocument.decode(assemble(canonical(metadata)))


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": ""},
        {"subject": "一\n二"},
        {"body": "x" * 50_001},
        {"respondent": "x" * 201},
        {"respondent": 3},
        {"attachments": {}},
        {"attachments": ["a.txt"]},
    ],
)
def test_case_decode_applies_the_schema(changes: dict[str, Any]) -> None:
    metadata = good_metadata()
    metadata.update(changes)
    payloads = good_payloads() if "attachments" not in changes else []
    with pytest.raises(SchemaViolation):
        CaseDocument.decode(assemble(canonical(metadata), *payloads))


def test_case_decode_applies_the_attachment_schema() -> None:
    for name, media_type in [("../x", "text/plain"), ("a", "TEXT/PLAIN"), (1, "text/plain")]:
        metadata = reference_metadata(GOOD_FIELDS, [])
        metadata["attachments"] = [{"name": name, "media_type": media_type, "size": 0}]
        with pytest.raises(SchemaViolation):
            CaseDocument.decode(assemble(canonical(metadata)))


def test_case_decode_rejects_twenty_one_attachments() -> None:
    items = [(f"{i}.txt", "text/plain", b"") for i in range(21)]
    with pytest.raises(SchemaViolation):
        CaseDocument.decode(assemble(canonical(reference_metadata(GOOD_FIELDS, items))))


@settings(deadline=None, max_examples=200)
@given(st.data())
def test_case_decode_raises_only_malformed_input_on_corrupted_sections(
    data: st.DataObject,
) -> None:
    encoded = bytearray(reference_bytes())
    position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    metadata_end = 8 + int.from_bytes(reference_bytes()[4:8], "big")
    try:
        decoded = CaseDocument.decode(bytes(encoded))
    except MalformedInput:
        return
    assert decoded != case(attachments=attachments_tuple(GOOD_ITEMS))
    assert position >= 8
    if position >= metadata_end:
        assert [a.name for a in decoded.attachments] == [n for n, _, _ in GOOD_ITEMS]


# --- repr ----------------------------------------------------------------------------------------


def test_case_repr_does_not_reveal_content() -> None:
    document = case(
        body="绝密正文内容",
        respondent="某某局",
        attachments=(Attachment("体检报告.pdf", "application/pdf", b"SECRET-BYTES"),),
    )
    for text in (repr(document), str(document), f"{document!r}"):
        for secret in ("绝密正文内容", "某某局", "SECRET-BYTES"):
            assert secret not in text
        assert PREHASH.hex() not in text
        assert repr(PREHASH) not in text
    assert "SECRET" not in repr(document.attachments[0])
