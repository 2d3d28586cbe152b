"""Whole petitions: the header token and the document token must agree."""

from __future__ import annotations

from datetime import date

import pytest

from crypto import envelope
from crypto.document import PetitionDocument
from crypto.errors import SchemaViolation, TokenBindingError
from crypto.keys import EncryptionPrivateKey
from crypto.petition import open_petition, seal_petition

BUREAU = EncryptionPrivateKey.generate()


def _document(token: bytes) -> PetitionDocument:
    return PetitionDocument(
        real_name="李四",
        id_scheme="cn-resident",
        id_number="11010519491231002X",
        contact="",
        subject="关于征地补偿的申诉",
        body="补偿款至今未发放。",
        category="土地",
        region="四川省",
        reply_key=EncryptionPrivateKey.generate().public_key(),
        token=token,
        created_day=date(2026, 11, 21),
    )


def test_round_trip_uses_the_documents_token_in_the_header() -> None:
    document = _document(b"\x07" * 64)
    sealed = seal_petition(document, BUREAU.public_key(), "national")
    header, opened = open_petition(sealed, BUREAU, "national")
    assert header.token == document.token
    assert opened == document


def test_a_header_token_that_differs_from_the_document_is_refused() -> None:
    document = _document(b"\x07" * 64)
    # A dishonest client seals the document under a header carrying someone else's token.
    sealed = envelope.seal(document.encode(), BUREAU.public_key(), "national", b"\x08" * 64)
    with pytest.raises(TokenBindingError):
        open_petition(sealed, BUREAU, "national")


def test_an_envelope_that_holds_no_document_is_a_schema_violation() -> None:
    sealed = envelope.seal(b"not a document", BUREAU.public_key(), "national", b"\x07" * 64)
    with pytest.raises(SchemaViolation):
        open_petition(sealed, BUREAU, "national")
