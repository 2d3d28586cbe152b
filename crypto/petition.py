"""Sealing and opening whole petitions (protocol v2): two sections, and the pseudonym between them.

A petition is sealed on the petitioner's device into an identity section (to the bureau's
identity key) and a case section (to its case key). Past the envelope there are three jobs, each
needing different bureau keys, so that a bureau can give each role only what it needs:

* a **case handler** (case key) reads the case, and with the token key sees the pseudonym;
* **intake** (identity key) reads who petitioned; with the token key it derives the same
  pseudonym from the ID number, which is how it routes and dismisses floods by person;
* a keystore with **both** checks that the case's pre-hash belongs to the identity's ID number.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto import envelope
from crypto.document import CaseDocument, IdentityDocument
from crypto.envelope import EnvelopeHeader
from crypto.errors import MalformedInput, SchemaViolation
from crypto.idnumber import normalize_id
from crypto.keys import EncryptionPrivateKey, EncryptionPublicKey
from crypto.token import DEFAULT_TOKEN_PARAMS, TokenKey, TokenParams, check_prehash_binding, prehash


@dataclass(frozen=True)
class SealingKeys:
    """A bureau's public side as sealing needs it: its id and its two encryption keys."""

    bureau_id: str
    identity_key: EncryptionPublicKey
    case_key: EncryptionPublicKey


def seal_petition(identity: IdentityDocument, case: CaseDocument, keys: SealingKeys) -> bytes:
    return envelope.seal(
        identity.encode(), case.encode(), keys.identity_key, keys.case_key, keys.bureau_id
    )


def _schema(exc: MalformedInput, what: str) -> SchemaViolation:
    if isinstance(exc, SchemaViolation):
        return exc
    return SchemaViolation(f"the envelope opened but its {what} is malformed: {exc.message}")


def open_case(
    sealed: bytes, case_key: EncryptionPrivateKey, bureau_id: str
) -> tuple[EnvelopeHeader, CaseDocument]:
    """Decrypt and parse the case section.

    Raises :class:`~crypto.errors.DecryptionError` if it does not open (wrong key, wrong bureau,
    an altered byte, or a case moved next to another identity section) and
    :class:`~crypto.errors.SchemaViolation` if it opens but holds no valid case (the
    petitioner's software is at fault, not the transport).
    """
    plaintext = envelope.open_case(sealed, case_key, bureau_id)
    try:
        return envelope.parse_header(sealed), CaseDocument.decode(plaintext)
    except MalformedInput as exc:
        raise _schema(exc, "case section") from None


def open_identity(
    sealed: bytes, identity_key: EncryptionPrivateKey, bureau_id: str
) -> IdentityDocument:
    """Decrypt and parse the identity section; failures as :func:`open_case`."""
    plaintext = envelope.open_identity(sealed, identity_key, bureau_id)
    try:
        return IdentityDocument.decode(plaintext)
    except MalformedInput as exc:
        raise _schema(exc, "identity section") from None


def prehash_of(
    identity: IdentityDocument, salt: bytes, params: TokenParams = DEFAULT_TOKEN_PARAMS
) -> bytes:
    """The Argon2id pre-hash of an identity's ID number (one slow hash)."""
    return prehash(normalize_id(identity.id_scheme, identity.id_number), salt, params)


def token_from_identity(
    identity: IdentityDocument,
    key: TokenKey,
    salt: bytes,
    params: TokenParams = DEFAULT_TOKEN_PARAMS,
) -> bytes:
    """Intake's pseudonym for a person: the same value :func:`token_from_case` gives."""
    return key.token_for(prehash_of(identity, salt, params))


def token_from_case(case: CaseDocument, key: TokenKey) -> bytes:
    """A case handler's pseudonym for the petitioner: one keyed hash, no Argon2id."""
    return key.token_for(case.id_prehash)


def check_binding(
    identity: IdentityDocument,
    case: CaseDocument,
    salt: bytes,
    params: TokenParams = DEFAULT_TOKEN_PARAMS,
) -> None:
    """Raise :class:`~crypto.errors.TokenBindingError` unless the case's pre-hash is the
    identity's, so a petitioner cannot file a case under somebody else's pseudonym."""
    check_prehash_binding(
        case.id_prehash, normalize_id(identity.id_scheme, identity.id_number), salt, params
    )
