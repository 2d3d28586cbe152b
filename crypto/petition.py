"""Sealing and opening whole petitions: the envelope and the document inside it, kept in step.

The token appears twice: in the envelope's clear header (for the server and the HPKE context)
and inside the encrypted document (for the bureau's binding check). Sealing takes it from the
document so the two cannot differ; opening refuses a petition where they do, so a petitioner
cannot show the server one token and the bureau another.
"""

from __future__ import annotations

import hmac

from crypto import envelope
from crypto.document import PetitionDocument
from crypto.envelope import EnvelopeHeader
from crypto.errors import MalformedInput, SchemaViolation, TokenBindingError
from crypto.keys import EncryptionPrivateKey, EncryptionPublicKey


def seal_petition(
    document: PetitionDocument, recipient: EncryptionPublicKey, bureau_id: str
) -> bytes:
    return envelope.seal(document.encode(), recipient, bureau_id, document.token)


def open_petition(
    sealed: bytes, private_key: EncryptionPrivateKey, bureau_id: str
) -> tuple[EnvelopeHeader, PetitionDocument]:
    """Decrypt, parse and check that the header's token is the document's token.

    Raises :class:`~crypto.errors.DecryptionError` if the envelope does not open,
    :class:`~crypto.errors.SchemaViolation` if it opens but holds no valid document (the
    petitioner's software is at fault, not the transport), and
    :class:`~crypto.errors.TokenBindingError` if the two tokens differ.
    """
    header, plaintext = envelope.open_envelope(sealed, private_key, bureau_id)
    try:
        document = PetitionDocument.decode(plaintext)
    except SchemaViolation:
        raise
    except MalformedInput as exc:
        raise SchemaViolation(f"the envelope opened but its document is malformed: {exc}") from None
    if not hmac.compare_digest(header.token, document.token):
        raise TokenBindingError("the envelope's token differs from the token inside the petition")
    return header, document
