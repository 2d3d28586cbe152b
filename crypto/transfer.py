"""Transfers and assignments (Regulations Art. 22): re-sealing a case for the receiving bureau.

A transfer moves the *case*, not the person. The transferring bureau opens the case section with
its case key and seals the same case bytes, with the ordinary §7 envelope, to the receiving
bureau's keys. The identity section goes along only when both hold: the transferring keystore
has the identity key (so it can open the section and read the petitioner's choice) and the
petitioner consented when sealing (:attr:`~crypto.document.Consent.share_identity_on_transfer`,
off by default). Otherwise the receiving bureau gets a :class:`~crypto.document.WithheldIdentity`
in the identity section, padded to the same fixed size, and works by pseudonym: its token key
over the case's pre-hash.

The case document is re-sealed byte for byte, so its ``id_prehash`` stays the one computed under
the bureau first addressed: the receiving bureau's pseudonym for the petitioner is stable across
the cases that bureau transferred to it, and differs from the one it derives for petitions sent
to it directly (nothing links the two without the identity, which is the point).

Art. 30's rule (never to the body complained about) is applied by the bureau tools before they
call :func:`reseal` (client/routing.py): the server cannot see the respondent, which is inside
the case section.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto import envelope
from crypto.document import CaseDocument, IdentityDocument, WithheldIdentity, decode_identity
from crypto.errors import DecryptionError, MalformedInput, SchemaViolation
from crypto.keys import EncryptionPrivateKey
from crypto.petition import SealingKeys


@dataclass(frozen=True)
class Resealed:
    """The receiving bureau's copy, and whether the identity went along with the case."""

    envelope: bytes
    case: CaseDocument
    identity_shared: bool


def open_identity_section(
    sealed: bytes, identity_key: EncryptionPrivateKey, bureau_id: str
) -> IdentityDocument | WithheldIdentity:
    """The identity section as a receiving bureau may find it: the identity, or withheld.

    Failures as :func:`crypto.petition.open_identity`: :class:`DecryptionError` if it does not
    open, :class:`SchemaViolation` if it opens but holds neither.
    """
    plaintext = envelope.open_identity(sealed, identity_key, bureau_id)
    try:
        return decode_identity(plaintext)
    except MalformedInput as exc:
        if isinstance(exc, SchemaViolation):
            raise
        raise SchemaViolation(
            f"the envelope opened but its identity section is malformed: {exc.message}"
        ) from None


def reseal(
    sealed: bytes,
    *,
    bureau_id: str,
    case_key: EncryptionPrivateKey,
    to: SealingKeys,
    identity_key: EncryptionPrivateKey | None = None,
) -> Resealed:
    """Re-seal the case of ``sealed`` (this bureau's copy) for the bureau ``to``.

    Raises :class:`DecryptionError` if the case section does not open with ``case_key``, and
    :class:`SchemaViolation` if it opens but is not a case. An identity section that does not
    open with ``identity_key`` is never forwarded: the identity stays home.
    """
    if to.bureau_id == bureau_id:
        raise MalformedInput("a case is transferred to another bureau, not to its own")
    case_bytes = envelope.open_case(sealed, case_key, bureau_id)
    try:
        case = CaseDocument.decode(case_bytes)
    except MalformedInput as exc:
        raise SchemaViolation(
            f"the envelope opened but its case section is malformed: {exc.message}"
        ) from None
    identity_bytes = WithheldIdentity().encode()
    shared = False
    if identity_key is not None:
        try:
            identity = open_identity_section(sealed, identity_key, bureau_id)
        except (DecryptionError, MalformedInput):
            identity = WithheldIdentity()
        if isinstance(identity, IdentityDocument) and identity.consent.share_identity_on_transfer:
            identity_bytes, shared = identity.encode(), True
    resealed = envelope.seal(identity_bytes, case_bytes, to.identity_key, to.case_key, to.bureau_id)
    return Resealed(resealed, case, shared)
