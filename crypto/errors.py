"""The project's exception hierarchy.

Every failure that a user can cause (a mistyped ID number, a wrong passphrase, a tampered file,
a forged signature) raises a subclass of :class:`SealedPetitionError`. The edges of the system
(the command line, the HTTP API) translate these into one clear line or a JSON error with the
stable ``code`` below; nothing underneath them prints or formats messages for people.

The ``code`` strings are part of the public interface: clients and auditors match on them, so
they never change meaning once released.
"""

from __future__ import annotations


class SealedPetitionError(Exception):
    """Base class of every error this project raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedInput(SealedPetitionError):
    """Bytes or structures that do not follow the documented format (docs/protocol.md)."""

    code = "malformed"


class SchemaViolation(MalformedInput):
    """A well-formed structure whose fields break the schema (missing, unknown, out of range)."""

    code = "schema_violation"


class MemberMismatch(SchemaViolation):
    """A JSON object without exactly the expected members (:func:`crypto.cjson.exact_members`).

    ``missing`` and ``unknown`` are kept apart from the message so that an edge (the HTTP
    error body, a keystore or key file error) can phrase them its own way.
    """

    def __init__(self, message: str, *, missing: tuple[str, ...], unknown: tuple[str, ...]):
        super().__init__(message)
        self.missing = missing
        self.unknown = unknown


class UnsupportedVersion(MalformedInput):
    """A well-formed object of a protocol version this software does not accept (v1 since v2)."""

    code = "unsupported_version"


class TooLarge(MalformedInput):
    """Content larger than the protocol allows (a petition beyond the largest bucket)."""

    code = "too_large"


class InvalidIdNumber(SealedPetitionError):
    """An identity number that fails one named validation rule.

    ``rule`` says which one (for example ``"check_digit"``), so that a user interface can point at
    the exact problem, in the user's language, before anything leaves the device.
    """

    code = "invalid_id_number"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class UnknownIdScheme(SealedPetitionError):
    """No normaliser is registered for the requested identity-number scheme."""

    code = "unknown_id_scheme"


class DecryptionError(SealedPetitionError):
    """An envelope or reply could not be opened.

    Deliberately opaque: wrong key, wrong bureau, a moved section and any altered byte all look the
    same, so that the error itself tells an attacker nothing about which check failed.
    """

    code = "decryption_failed"

    def __init__(self) -> None:
        super().__init__("the ciphertext could not be opened with this key and context")


class InvalidSignature(SealedPetitionError):
    """An Ed25519 signature does not verify for the expected key and object kind."""

    code = "invalid_signature"


class UntrustedKey(SealedPetitionError):
    """A key does not match the fingerprint the caller pinned."""

    code = "untrusted_key"


class TokenBindingError(SealedPetitionError):
    """A case section's pseudonym input is not derived from the ID number in its identity."""

    code = "token_binding_mismatch"


class InvalidReceiptCode(SealedPetitionError):
    """A receipt code that is mistyped, truncated or of an unknown version."""

    code = "invalid_receipt_code"


class MissingKey(SealedPetitionError):
    """The operation needs a bureau key that this keystore does not hold (intake vs handler)."""

    code = "missing_key"


class KeystoreError(SealedPetitionError):
    """A keystore file that cannot be used (unreadable, unknown version, malformed)."""

    code = "keystore_invalid"


class WrongPassphrase(KeystoreError):
    """The passphrase does not open the keystore (or the keystore was altered)."""

    code = "wrong_passphrase"


class InvalidProof(SealedPetitionError):
    """A Merkle inclusion or consistency proof that does not verify."""

    code = "invalid_proof"


class KeyFileError(SealedPetitionError):
    """An unencrypted service key file (the log's signing key) that cannot be used."""

    code = "key_file_invalid"


class PolicyNotSatisfied(SealedPetitionError):
    """A validly signed checkpoint without the witness cosignatures its trust policy requires."""

    code = "policy_not_satisfied"
