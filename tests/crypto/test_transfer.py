"""Transfers keep the identity home (issue 17; Regulations Arts. 22, 30, 46(5)).

A transferring bureau re-seals the case for the receiving bureau; the identity goes along only
with the petitioner's consent *and* the identity key at hand. The tests read what the receiving
bureau gets with every key it holds, and look for the name and the ID number in all of it.
"""

from __future__ import annotations

from datetime import date

import pytest

from crypto import envelope
from crypto.document import (
    CaseDocument,
    Consent,
    IdentityDocument,
    WithheldIdentity,
    decode_identity,
)
from crypto.errors import DecryptionError, MalformedInput, SchemaViolation
from crypto.keys import EncryptionPrivateKey
from crypto.padding import IDENTITY_SECTION_SIZE
from crypto.petition import SealingKeys, open_case, seal_petition
from crypto.transfer import open_identity_section, reseal

NAME = "李四"
ID_NUMBER = "11010519491231002X"


class Keys:
    def __init__(self, bureau_id: str) -> None:
        self.bureau_id = bureau_id
        self.identity = EncryptionPrivateKey.generate()
        self.case = EncryptionPrivateKey.generate()

    def sealing(self) -> SealingKeys:
        return SealingKeys(self.bureau_id, self.identity.public_key(), self.case.public_key())


SOURCE, DESTINATION = Keys("guangdong"), Keys("shenzhen-futian")


def _sealed(share: bool) -> bytes:
    person = IdentityDocument(
        real_name=NAME,
        id_scheme="cn-resident",
        id_number=ID_NUMBER,
        contact="13800000000",
        consent=Consent(contact=True, share_identity_on_transfer=share),
    )
    case = CaseDocument(
        subject="关于征地补偿的申诉",
        body="补偿款至今未发放。",
        category="土地",
        region="440300",
        respondent="某县自然资源局",
        reply_key=EncryptionPrivateKey.generate().public_key(),
        id_prehash=bytes(32),
        created_day=date(2026, 12, 1),
    )
    return seal_petition(person, case, SOURCE.sealing())


def _everything_the_receiver_opens(copy: bytes) -> bytes:
    identity = envelope.open_identity(copy, DESTINATION.identity, DESTINATION.bureau_id)
    case = envelope.open_case(copy, DESTINATION.case, DESTINATION.bureau_id)
    return copy + identity + case


def test_without_consent_the_receiver_gets_the_case_and_no_identity() -> None:
    sealed = _sealed(share=False)
    moved = reseal(
        sealed,
        bureau_id=SOURCE.bureau_id,
        case_key=SOURCE.case,
        identity_key=SOURCE.identity,  # intake's key at hand: consent alone decides
        to=DESTINATION.sealing(),
    )
    assert not moved.identity_shared
    assert len(moved.envelope) == len(sealed)  # same fixed identity size, same case bucket
    opened = _everything_the_receiver_opens(moved.envelope)
    for secret in (NAME, ID_NUMBER, "13800000000"):
        assert secret.encode() not in opened
    found = open_identity_section(moved.envelope, DESTINATION.identity, DESTINATION.bureau_id)
    assert found == WithheldIdentity()
    _, case = open_case(moved.envelope, DESTINATION.case, DESTINATION.bureau_id)
    assert case.respondent == "某县自然资源局"
    # Control: the original copy does hold them, so the search above could fail.
    original = envelope.open_identity(sealed, SOURCE.identity, SOURCE.bureau_id)
    assert NAME.encode() in original
    assert ID_NUMBER.encode() in original


def test_with_consent_the_identity_goes_along_only_if_the_identity_key_is_at_hand() -> None:
    sealed = _sealed(share=True)
    with_key = reseal(
        sealed,
        bureau_id=SOURCE.bureau_id,
        case_key=SOURCE.case,
        identity_key=SOURCE.identity,
        to=DESTINATION.sealing(),
    )
    assert with_key.identity_shared
    found = open_identity_section(with_key.envelope, DESTINATION.identity, "shenzhen-futian")
    assert isinstance(found, IdentityDocument)
    assert (found.real_name, found.id_number) == (NAME, ID_NUMBER)

    # A case handler (case key only) cannot read the consent, so the identity stays home.
    handler_only = reseal(
        sealed, bureau_id=SOURCE.bureau_id, case_key=SOURCE.case, to=DESTINATION.sealing()
    )
    assert not handler_only.identity_shared
    opened = _everything_the_receiver_opens(handler_only.envelope)
    assert NAME.encode() not in opened
    assert ID_NUMBER.encode() not in opened


def test_the_source_keeps_nothing_readable_by_the_receiver_and_vice_versa() -> None:
    moved = reseal(
        _sealed(share=False),
        bureau_id=SOURCE.bureau_id,
        case_key=SOURCE.case,
        to=DESTINATION.sealing(),
    )
    assert envelope.parse_header(moved.envelope).bureau_id == "shenzhen-futian"
    with pytest.raises(DecryptionError):
        envelope.open_case(moved.envelope, SOURCE.case, SOURCE.bureau_id)
    with pytest.raises(DecryptionError):  # a wrong case key: nothing is re-sealed
        reseal(_sealed(False), bureau_id="guangdong", case_key=DESTINATION.case,
               to=DESTINATION.sealing())  # fmt: skip
    with pytest.raises(MalformedInput, match="another bureau"):
        reseal(_sealed(False), bureau_id="guangdong", case_key=SOURCE.case,
               to=SOURCE.sealing())  # fmt: skip


def test_the_withheld_identity_is_exactly_one_json_object() -> None:
    encoded = WithheldIdentity().encode()
    assert encoded == b'SPI\x02{"withheld":"not_consented"}'
    assert len(encoded) < IDENTITY_SECTION_SIZE
    assert decode_identity(encoded) == WithheldIdentity()
    for bad in (
        b'SPI\x02{"withheld":"refused"}',
        b'SPI\x02{"real_name":"x","withheld":"not_consented"}',
        b'SPI\x02{"withheld":true}',
    ):
        with pytest.raises(SchemaViolation):
            decode_identity(bad)
    with pytest.raises(SchemaViolation):  # an IdentityDocument is never silently withheld
        IdentityDocument.decode(encoded)
