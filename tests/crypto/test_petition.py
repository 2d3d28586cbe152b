"""Whole petitions (protocol v2): two sections, three roles, and the pseudonym between them.

Intake holds the identity key (and the token key), a case handler the case key (and perhaps the
token key); the token derived from the identity at intake must equal the one derived from the
case's pre-hash, and a case sealed with somebody else's pre-hash must be caught by whoever holds
both sections.
"""

from __future__ import annotations

from datetime import date

import pytest

import crypto.petition
from crypto import envelope
from crypto.document import CaseDocument, Consent, IdentityDocument
from crypto.errors import DecryptionError, SchemaViolation, TokenBindingError
from crypto.idnumber import normalize_id
from crypto.keys import EncryptionPrivateKey
from crypto.petition import (
    SealingKeys,
    check_binding,
    open_case,
    open_identity,
    prehash_of,
    seal_petition,
    token_from_case,
    token_from_identity,
)
from crypto.token import TokenKey, TokenParams, generate_token_salt, prehash

FAST = TokenParams(memory_kib=8192, time_cost=1, parallelism=1)
BUREAU = "national"
IDENTITY_KEY = EncryptionPrivateKey.generate()
CASE_KEY = EncryptionPrivateKey.generate()
KEYS = SealingKeys(BUREAU, IDENTITY_KEY.public_key(), CASE_KEY.public_key())
SALT = generate_token_salt()
TOKEN_KEY = TokenKey.generate(BUREAU)

PERSON = IdentityDocument(
    real_name="李四",
    id_scheme="cn-resident",
    id_number="11010519491231002X",
    contact="13800000000",
    consent=Consent(contact=True, share_identity_on_transfer=False),
)
SOMEONE_ELSE = IdentityDocument(
    real_name="王五", id_scheme="cn-resident", id_number="110101199003074477", contact=""
)


def _case(id_prehash: bytes) -> CaseDocument:
    return CaseDocument(
        subject="关于征地补偿的申诉",
        body="补偿款至今未发放。",
        category="土地",
        region="四川省",
        respondent="某县自然资源局",
        reply_key=EncryptionPrivateKey.generate().public_key(),
        id_prehash=id_prehash,
        created_day=date(2026, 11, 21),
    )


PRE = prehash_of(PERSON, SALT, FAST)
CASE = _case(PRE)
SEALED = seal_petition(PERSON, CASE, KEYS)


def test_prehash_of_is_the_prehash_of_the_normalised_id() -> None:
    assert prehash(normalize_id("cn-resident", "11010519491231002x"), SALT, FAST) == PRE
    lower = IdentityDocument("李四", "cn-resident", "11010519491231002x", "")
    assert prehash_of(lower, SALT, FAST) == PRE


def test_both_sections_round_trip() -> None:
    header, case = open_case(SEALED, CASE_KEY, BUREAU)
    assert case == CASE
    assert header.bureau_id == BUREAU
    assert header.identity_key_id == IDENTITY_KEY.public_key().key_id
    assert header.case_key_id == CASE_KEY.public_key().key_id
    assert open_identity(SEALED, IDENTITY_KEY, BUREAU) == PERSON


def test_a_case_handler_sees_no_identity() -> None:
    _, case = open_case(SEALED, CASE_KEY, BUREAU)
    for value in ("李四", "11010519491231002X", "13800000000"):
        assert value.encode() not in case.encode()
    with pytest.raises(DecryptionError):
        open_identity(SEALED, CASE_KEY, BUREAU)


def test_intake_cannot_read_the_case() -> None:
    with pytest.raises(DecryptionError):
        open_case(SEALED, IDENTITY_KEY, BUREAU)


def test_token_from_case_equals_token_from_identity() -> None:
    _, case = open_case(SEALED, CASE_KEY, BUREAU)
    person = open_identity(SEALED, IDENTITY_KEY, BUREAU)
    from_case = token_from_case(case, TOKEN_KEY)
    from_identity = token_from_identity(person, TOKEN_KEY, SALT, FAST)
    assert from_case == from_identity == TOKEN_KEY.token_for(PRE)
    assert len(from_case) == 32


def test_the_same_person_gets_the_same_token_on_every_petition() -> None:
    second = seal_petition(PERSON, _case(prehash_of(PERSON, SALT, FAST)), KEYS)
    assert second != SEALED
    tokens = {
        token_from_case(open_case(s, CASE_KEY, BUREAU)[1], TOKEN_KEY) for s in (SEALED, second)
    }
    assert len(tokens) == 1
    other = token_from_identity(SOMEONE_ELSE, TOKEN_KEY, SALT, FAST)
    assert other not in tokens


def test_check_binding_accepts_the_honest_petition() -> None:
    person = open_identity(SEALED, IDENTITY_KEY, BUREAU)
    _, case = open_case(SEALED, CASE_KEY, BUREAU)
    check_binding(person, case, SALT, FAST)


def test_a_case_under_somebody_elses_prehash_is_caught() -> None:
    # A dishonest petitioner seals their own identity with someone else's pre-hash, so that
    # the case would be filed under the other person's pseudonym.
    dishonest = seal_petition(PERSON, _case(prehash_of(SOMEONE_ELSE, SALT, FAST)), KEYS)
    person = open_identity(dishonest, IDENTITY_KEY, BUREAU)
    _, case = open_case(dishonest, CASE_KEY, BUREAU)
    with pytest.raises(TokenBindingError) as caught:
        check_binding(person, case, SALT, FAST)
    assert caught.value.code == "token_binding_mismatch"
    assert token_from_case(case, TOKEN_KEY) != token_from_identity(person, TOKEN_KEY, SALT, FAST)


def test_a_made_up_prehash_or_another_salt_is_caught() -> None:
    with pytest.raises(TokenBindingError):
        check_binding(PERSON, _case(bytes(32)), SALT, FAST)
    with pytest.raises(TokenBindingError):
        check_binding(PERSON, CASE, generate_token_salt(), FAST)


def test_another_bureaus_token_key_gives_another_token() -> None:
    other = TokenKey.generate("guangdong")
    assert token_from_case(CASE, other) != token_from_case(CASE, TOKEN_KEY)


def test_an_envelope_that_holds_no_case_is_a_schema_violation() -> None:
    sealed = envelope.seal(
        PERSON.encode(), b"not a case", IDENTITY_KEY.public_key(), CASE_KEY.public_key(), BUREAU
    )
    with pytest.raises(SchemaViolation) as caught:
        open_case(sealed, CASE_KEY, BUREAU)
    assert "case section" in caught.value.message
    assert open_identity(sealed, IDENTITY_KEY, BUREAU) == PERSON


def test_an_envelope_that_holds_no_identity_is_a_schema_violation() -> None:
    sealed = envelope.seal(
        b"not an identity", CASE.encode(), IDENTITY_KEY.public_key(), CASE_KEY.public_key(), BUREAU
    )
    with pytest.raises(SchemaViolation) as caught:
        open_identity(sealed, IDENTITY_KEY, BUREAU)
    assert "identity section" in caught.value.message
    assert open_case(sealed, CASE_KEY, BUREAU)[1] == CASE


def test_sections_swapped_in_place_are_schema_violations() -> None:
    """An identity where the case belongs (and back) opens but does not parse."""
    swapped = envelope.seal(
        CASE.encode(),
        PERSON.encode(),
        IDENTITY_KEY.public_key(),
        CASE_KEY.public_key(),
        BUREAU,
    )
    with pytest.raises(SchemaViolation):
        open_case(swapped, CASE_KEY, BUREAU)
    with pytest.raises(SchemaViolation):
        open_identity(swapped, IDENTITY_KEY, BUREAU)


def test_open_petition_is_gone() -> None:
    assert not hasattr(crypto.petition, "open_petition")
