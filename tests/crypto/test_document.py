"""Tests of crypto.document: exact round trip of Chinese text, canonical encoding, strictness.

The expected encoding is rebuilt here from the byte table in the module docstring with the
standard library's ``json`` and ``base64`` (``reference_encode``), and malformed documents are
built the same way, so that no expectation is computed by the code under test.
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

from crypto import envelope
from crypto.document import Attachment, PetitionDocument
from crypto.errors import MalformedInput, SchemaViolation
from crypto.keys import EncryptionPrivateKey

REPLY_KEY = EncryptionPrivateKey.generate().public_key()
BUREAU_KEY = EncryptionPrivateKey.generate()
TOKEN = bytes(range(100, 164))
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
# Single-line fields: every text field except the body.
# id_scheme has a stricter syntax of its own (test_id_scheme_is_a_scheme_identifier).
SINGLE_LINE_FIELDS = [
    "real_name",
    "id_number",
    "contact",
    "subject",
    "category",
    "region",
]
REQUIRED_FIELDS = ["real_name", "id_scheme", "id_number", "subject", "body", "category", "region"]
MAXIMUM = {
    "real_name": 100,
    "id_number": 64,
    "contact": 200,
    "subject": 200,
    "body": 50_000,
    "category": 64,
    "region": 64,
}


def text_fields(**changes: str) -> dict[str, str]:
    fields = {
        "real_name": NAME,
        "id_scheme": "cn-resident",
        "id_number": ID_NUMBER,
        "contact": "电话 138-0000-0000，北京市朝阳区",
        "subject": SUBJECT,
        "body": BODY,
        "category": "劳动与社会保障",
        "region": "广东省深圳市",
    }
    fields.update(changes)
    return fields


def make(
    *,
    attachments: tuple[Attachment, ...] = (),
    token: bytes = TOKEN,
    created_day: date = DAY,
    **changes: str,
) -> PetitionDocument:
    return build(text_fields(**changes), attachments, token, created_day)


def with_field(field: str, value: str) -> PetitionDocument:
    """A valid document except for one text field, named at run time."""
    return build(text_fields(**{field: value}), (), TOKEN, DAY)


def build(
    fields: dict[str, str], attachments: tuple[Attachment, ...], token: bytes, created_day: date
) -> PetitionDocument:
    return PetitionDocument(
        real_name=fields["real_name"],
        id_scheme=fields["id_scheme"],
        id_number=fields["id_number"],
        contact=fields["contact"],
        subject=fields["subject"],
        body=fields["body"],
        category=fields["category"],
        region=fields["region"],
        reply_key=REPLY_KEY,
        token=token,
        created_day=created_day,
        attachments=attachments,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def reference_metadata(
    fields: dict[str, str], attachments: list[tuple[str, str, bytes]]
) -> dict[str, Any]:
    return {
        **fields,
        "attachments": [{"name": n, "media_type": m, "size": len(d)} for n, m, d in attachments],
        "reply_key": b64(REPLY_KEY.to_bytes()),
        "token": b64(TOKEN),
        "created_day": DAY.isoformat(),
    }


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def assemble(metadata: bytes, *payloads: bytes, magic: bytes = b"SPD", version: int = 1) -> bytes:
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


def test_encoding_is_the_documented_layout() -> None:
    document = make(attachments=attachments_tuple(ATTACHMENTS))
    assert document.encode() == reference_encode(text_fields(), ATTACHMENTS)


def test_encoding_without_attachments_is_the_documented_layout() -> None:
    assert make().encode() == reference_encode(text_fields(), [])


def test_chinese_text_in_every_field_round_trips_exactly() -> None:
    document = make(attachments=attachments_tuple(ATTACHMENTS))
    decoded = PetitionDocument.decode(document.encode())
    assert decoded == document
    for name, value in text_fields().items():
        assert getattr(decoded, name) == value
    assert decoded.real_name == "张三"
    assert decoded.subject == "关于拖欠工资的投诉"
    assert decoded.body.count("\n") == 4
    assert "\r\n" in decoded.body
    assert "👨‍👩‍👧" in decoded.body
    assert decoded.reply_key == REPLY_KEY
    assert decoded.token == TOKEN
    assert decoded.created_day == DAY
    assert [(a.name, a.media_type, a.data) for a in decoded.attachments] == ATTACHMENTS


def test_zero_attachments_round_trip() -> None:
    decoded = PetitionDocument.decode(make().encode())
    assert decoded.attachments == ()
    assert decoded == make()


@pytest.mark.parametrize(
    "text",
    ["José Martínez", "Ångström", "한국어", "가", "e\u0301\u0323 o\u0308", "Ǆ ḍ̇"],
)
def test_nfc_and_nfd_forms_round_trip_exactly_and_stay_distinct(text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    assert nfc != nfd  # the test text really has two forms
    encoded = {}
    for form in (nfc, nfd):
        document = make(real_name=form, subject=form, body=form + "\n" + form, region=form)
        encoded[form] = document.encode()
        decoded = PetitionDocument.decode(encoded[form])
        assert decoded.real_name == form
        assert decoded.subject == form
        assert decoded.body == form + "\n" + form
        assert decoded.region == form
        assert form.encode() in encoded[form]
    assert encoded[nfc] != encoded[nfd]
    assert PetitionDocument.decode(encoded[nfc]) != PetitionDocument.decode(encoded[nfd])


def test_attachment_names_are_not_normalised() -> None:
    nfc, nfd = "Résumé.pdf", unicodedata.normalize("NFD", "Résumé.pdf")
    for name in (nfc, nfd):
        document = make(attachments=(Attachment(name, "application/pdf", b"x"),))
        assert PetitionDocument.decode(document.encode()).attachments[0].name == name


def test_round_trip_through_an_envelope() -> None:
    document = make(attachments=attachments_tuple(ATTACHMENTS))
    sealed = envelope.seal(document.encode(), BUREAU_KEY.public_key(), "national", bytes(64))
    _, opened = envelope.open_envelope(sealed, BUREAU_KEY, "national")
    assert PetitionDocument.decode(opened) == document


# Single-line text: anything but surrogates, control characters and line/paragraph separators.
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
    real_name=st.one_of(chinese_text, single_line_text),
    subject=st.one_of(chinese_text, single_line_text),
    contact=st.one_of(st.just(""), single_line_text),
    body=body_text,
    items=attachment_items,
    token=st.binary(min_size=64, max_size=64),
    day=st.dates(),
)
def test_arbitrary_documents_round_trip_and_encode_canonically(
    real_name: str,
    subject: str,
    contact: str,
    body: str,
    items: list[tuple[str, str, bytes]],
    token: bytes,
    day: date,
) -> None:
    document = make(
        real_name=real_name,
        subject=subject,
        contact=contact,
        body=body,
        token=token,
        created_day=day,
        attachments=attachments_tuple(items),
    )
    encoded = document.encode()
    decoded = PetitionDocument.decode(encoded)
    assert decoded == document
    assert (decoded.real_name, decoded.subject, decoded.contact, decoded.body) == (
        real_name,
        subject,
        contact,
        body,
    )
    assert [(a.name, a.media_type, a.data) for a in decoded.attachments] == items
    assert decoded.token == token
    assert decoded.created_day == day
    assert decoded.encode() == encoded
    # The payload section is exactly the attachments' bytes, in order.
    metadata_length = int.from_bytes(encoded[4:8], "big")
    assert encoded[8 + metadata_length :] == b"".join(d for _, _, d in items)


def test_twenty_attachments_are_allowed() -> None:
    items = [(f"附件{i}.txt", "text/plain", bytes([i]) * i) for i in range(20)]
    document = make(attachments=attachments_tuple(items))
    assert PetitionDocument.decode(document.encode()) == document


# --- schema violations at construction -----------------------------------------------------------


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_empty_required_field_is_a_schema_violation(field: str) -> None:
    with pytest.raises(SchemaViolation):
        with_field(field, "")


def test_contact_may_be_empty() -> None:
    assert PetitionDocument.decode(make(contact="").encode()).contact == ""


@pytest.mark.parametrize("field", list(MAXIMUM))
def test_length_limits_count_characters_not_bytes(field: str) -> None:
    limit = MAXIMUM[field]
    at_limit = with_field(field, "张" * limit)  # three UTF-8 bytes per character
    assert PetitionDocument.decode(at_limit.encode()) == at_limit
    with pytest.raises(SchemaViolation):
        with_field(field, "张" * (limit + 1))


@pytest.mark.parametrize("field", SINGLE_LINE_FIELDS)
@pytest.mark.parametrize(
    "character", ["\n", "\r", "\t", "\x00", "\x1b", "\x1f", "\x7f", "\u2028", "\u2029"]
)
def test_control_characters_are_rejected_in_single_line_fields(field: str, character: str) -> None:
    with pytest.raises(SchemaViolation):
        with_field(field, "前" + character + "后")


# The forbidden characters, copied from the table in docs/protocol.md §8.3 and §8.4. The spec says
# explicitly that the C1 controls U+0080..U+009F are not forbidden in version 1.
C1_CONTROLS = {*range(0x7F, 0xA0)}  # DEL and U+0080-U+009F (U+0085 NEL is a line break)
SPEC_SINGLE_LINE_FORBIDDEN = {*range(0x20), *C1_CONTROLS, 0x2028, 0x2029}
SPEC_MULTI_LINE_FORBIDDEN = {*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *C1_CONTROLS}
SPEC_NAME_FORBIDDEN = {*range(0x20), *C1_CONTROLS, 0x2028, 0x2029, ord("/"), ord("\\")}
SCANNED = range(0x3000)  # every control character and every Unicode line boundary lies below


def rejected_code_points(accepts: Callable[[str], object]) -> set[int]:
    rejected = set()
    for code_point in SCANNED:
        try:
            accepts(chr(code_point))
        except SchemaViolation:
            rejected.add(code_point)
    return rejected


@pytest.mark.parametrize("field", SINGLE_LINE_FIELDS)
def test_single_line_fields_forbid_exactly_the_specified_characters(field: str) -> None:
    assert rejected_code_points(lambda c: with_field(field, "前" + c + "后")) == (
        SPEC_SINGLE_LINE_FORBIDDEN
    )


def test_body_forbids_exactly_the_specified_characters() -> None:
    assert rejected_code_points(lambda c: make(body="前" + c + "后")) == SPEC_MULTI_LINE_FORBIDDEN


def test_attachment_names_forbid_exactly_the_specified_characters() -> None:
    rejected = rejected_code_points(lambda c: Attachment("照片" + c + ".jpg", "image/jpeg", b""))
    assert rejected == SPEC_NAME_FORBIDDEN


@pytest.mark.parametrize("text", ["第一行\n第二行", "第一行\r\n第二行", "\t缩进", "段落\u2028分隔"])
def test_body_allows_line_breaks_and_tabs(text: str) -> None:
    assert PetitionDocument.decode(make(body=text).encode()).body == text


@pytest.mark.parametrize("character", ["\x00", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"])
def test_body_rejects_other_control_characters(character: str) -> None:
    with pytest.raises(SchemaViolation):
        make(body="正文" + character + "正文")


def test_newline_is_allowed_in_the_body_but_not_in_the_subject() -> None:
    make(body="一\n二")
    with pytest.raises(SchemaViolation):
        make(subject="一\n二")


@pytest.mark.parametrize("field", [*SINGLE_LINE_FIELDS, "body"])
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
    # docs/protocol.md §1.4: a string holding a surrogate cannot be encoded and MUST be refused.
    with pytest.raises(MalformedInput):
        make(attachments=(Attachment("照片\udc00.jpg", "image/jpeg", b"x"),)).encode()


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
        make(attachments=tuple(Attachment(f"{i}.txt", "text/plain", b"") for i in range(21)))


@pytest.mark.parametrize("length", [0, 32, 63, 65, 128])
def test_wrong_token_length_is_a_schema_violation(length: int) -> None:
    with pytest.raises(SchemaViolation):
        make(token=bytes(length))


def test_a_time_of_day_never_reaches_the_encoding() -> None:
    """``created_day`` is a day; a ``datetime`` (a subclass of date) must not leak its time.

    docs/protocol.md §1.5: days only, "never times"; a day is exactly ``YYYY-MM-DD``. Correct
    behaviour: refuse the datetime (MalformedInput or its subclass SchemaViolation, at
    construction or at encode), or encode only its day so that the document decodes again.
    Currently ``encode`` writes "2024-05-01T13:45:07" and ``decode`` then refuses the document:
    see the report.
    """
    try:
        encoded = make(created_day=datetime(2024, 5, 1, 13, 45, 7)).encode()
    except MalformedInput:
        return
    assert b"13:45" not in encoded
    assert b'"created_day":"2024-05-01"' in encoded
    assert PetitionDocument.decode(encoded).created_day == date(2024, 5, 1)


# --- strict decoding -----------------------------------------------------------------------------


GOOD_FIELDS = text_fields()
GOOD_ITEMS = ATTACHMENTS[:2]


def good_metadata() -> dict[str, Any]:
    return reference_metadata(GOOD_FIELDS, GOOD_ITEMS)


def good_payloads() -> list[bytes]:
    return [d for _, _, d in GOOD_ITEMS]


def test_reference_document_decodes() -> None:
    # Control for the rejections below: the unmodified hand-built document is accepted.
    decoded = PetitionDocument.decode(assemble(canonical(good_metadata()), *good_payloads()))
    assert decoded == make(attachments=attachments_tuple(GOOD_ITEMS))


def metadata_with(**changes: Any) -> bytes:
    metadata = good_metadata()
    metadata.update(changes)
    return assemble(canonical(metadata), *good_payloads())


def metadata_without(name: str) -> bytes:
    metadata = good_metadata()
    del metadata[name]
    return assemble(canonical(metadata), *good_payloads())


def reference_bytes() -> bytes:
    return assemble(canonical(good_metadata()), *good_payloads())


def non_canonical(metadata_bytes: bytes) -> bytes:
    return assemble(metadata_bytes, *good_payloads())


FORMAT_ERRORS: dict[str, bytes] = {
    "empty": b"",
    "bad magic": b"SPE" + reference_bytes()[3:],
    "lower-case magic": b"spd" + reference_bytes()[3:],
    "version 0": assemble(canonical(good_metadata()), *good_payloads(), version=0),
    "version 2": assemble(canonical(good_metadata()), *good_payloads(), version=2),
    "header only": b"SPD\x01\x00\x00",
    "magic and version only": b"SPD\x01",
    "metadata truncated": reference_bytes()[:200],
    "metadata length too large": b"SPD\x01\xff\xff\xff\xff" + reference_bytes()[8:],
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
    "space after comma": non_canonical(
        json.dumps(
            good_metadata(), ensure_ascii=False, sort_keys=True, separators=(", ", ":")
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
    "not UTF-8": non_canonical(canonical(good_metadata()).replace("张三".encode(), b"\xff\xfe")),
    "not JSON": non_canonical(b"not json"),
    "top level array": non_canonical(b"[]"),
    "bad reply key": metadata_with(reply_key=b64(b"\x01" * 1215)),
    "bad token length": metadata_with(token=b64(bytes(63))),
    "padded base64 token": metadata_with(token=b64(TOKEN) + "="),
    "nonexistent day": metadata_with(created_day="2023-02-29"),
    "day with time": metadata_with(created_day="2024-06-01T00:00:00"),
}


@pytest.mark.parametrize("name", FORMAT_ERRORS)
def test_decode_rejects_format_errors_as_malformed_input(name: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        PetitionDocument.decode(FORMAT_ERRORS[name])
    assert type(caught.value) is MalformedInput


def test_decode_rejects_an_unknown_metadata_field() -> None:
    with pytest.raises(SchemaViolation):
        PetitionDocument.decode(metadata_with(priority="urgent"))


@pytest.mark.parametrize("name", sorted(good_metadata()))
def test_decode_rejects_a_missing_metadata_field(name: str) -> None:
    with pytest.raises(SchemaViolation):
        PetitionDocument.decode(metadata_without(name))


def test_decode_rejects_an_unknown_or_missing_attachment_field() -> None:
    metadata = good_metadata()
    metadata["attachments"][0]["sha256"] = "00"
    with pytest.raises(SchemaViolation):
        PetitionDocument.decode(assemble(canonical(metadata), *good_payloads()))
    metadata = good_metadata()
    del metadata["attachments"][0]["media_type"]
    with pytest.raises(SchemaViolation):
        PetitionDocument.decode(assemble(canonical(metadata), *good_payloads()))


@pytest.mark.parametrize("size", [-1, True, "3", None])
def test_decode_rejects_a_size_that_is_not_a_natural_number(size: object) -> None:
    metadata = reference_metadata(GOOD_FIELDS, [("a.txt", "text/plain", b"")])
    metadata["attachments"][0]["size"] = size
    with pytest.raises(MalformedInput):
        PetitionDocument.decode(assemble(canonical(metadata)))


@pytest.mark.parametrize(
    "changes",
    [
        {"real_name": ""},
        {"subject": "一\n二"},
        {"body": "x" * 50_001},
        {"real_name": 3},
        {"attachments": {}},
        {"attachments": ["a.txt"]},
    ],
)
def test_decode_applies_the_schema(changes: dict[str, Any]) -> None:
    metadata = good_metadata()
    metadata.update(changes)
    payloads = good_payloads() if "attachments" not in changes else []
    with pytest.raises(SchemaViolation):
        PetitionDocument.decode(assemble(canonical(metadata), *payloads))


def test_decode_applies_the_attachment_schema() -> None:
    for name, media_type in [("../x", "text/plain"), ("a", "TEXT/PLAIN"), (1, "text/plain")]:
        metadata = reference_metadata(GOOD_FIELDS, [])
        metadata["attachments"] = [{"name": name, "media_type": media_type, "size": 0}]
        with pytest.raises(SchemaViolation):
            PetitionDocument.decode(assemble(canonical(metadata)))


def test_decode_rejects_twenty_one_attachments() -> None:
    items = [(f"{i}.txt", "text/plain", b"") for i in range(21)]
    with pytest.raises(SchemaViolation):
        PetitionDocument.decode(assemble(canonical(reference_metadata(GOOD_FIELDS, items))))


@settings(deadline=None, max_examples=200)
@given(st.data())
def test_decode_raises_only_malformed_input_on_corrupted_documents(data: st.DataObject) -> None:
    encoded = bytearray(reference_bytes())
    position = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    metadata_end = 8 + int.from_bytes(reference_bytes()[4:8], "big")
    try:
        decoded = PetitionDocument.decode(bytes(encoded))
    except MalformedInput:
        return
    # Only a change inside a text value or an attachment's bytes can still decode.
    assert decoded != make(attachments=attachments_tuple(GOOD_ITEMS))
    assert position >= 8
    if position >= metadata_end:
        assert [a.name for a in decoded.attachments] == [n for n, _, _ in GOOD_ITEMS]


# --- repr ----------------------------------------------------------------------------------------


def test_repr_does_not_reveal_personal_data() -> None:
    document = make(
        real_name="王秘密",
        id_number="440305199006151231",
        contact="13912345678",
        body="绝密正文内容",
        attachments=(Attachment("体检报告.pdf", "application/pdf", b"SECRET-BYTES"),),
    )
    for text in (repr(document), str(document), f"{document}", f"{document!r}"):
        for secret in (
            "王秘密",
            "440305199006151231",
            "13912345678",
            "绝密正文内容",
            "SECRET-BYTES",
        ):
            assert secret not in text
        assert TOKEN.hex() not in text
        assert repr(TOKEN) not in text
    assert "SECRET" not in repr(document.attachments[0])


@pytest.mark.parametrize(
    "scheme", ["", "中国居民身份证", "CN-resident", "1cn", "a" * 33, "cn resident"]
)
def test_id_scheme_is_a_scheme_identifier(scheme: str) -> None:
    with pytest.raises(SchemaViolation):
        with_field("id_scheme", scheme)
