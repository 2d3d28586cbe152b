"""The pseudonymous token: Argon2id salted pre-hash, then an RFC 9497 VOPRF under the bureau's key.

    pre   = Argon2id(secret = TOKEN_PREHASH_INPUT || scheme || 0x00 || normalised ID,
                     salt = the bureau's public token salt)
    token = VOPRF(ristretto255-SHA512) output for input ``pre`` under the bureau's token key

Why both steps. Local officials know the exact ID of the person they look for, so a salted hash
alone falls to a single guess. The VOPRF key is never in the server's database, so a stolen
database cannot be tested against a guessed ID. The verifiable proof stops an evaluator from
quietly using another key for one petitioner (a tag that would single them out). Argon2id keeps a
leaked VOPRF key from becoming a cheap bulk de-anonymisation of a whole ID range. Salts and keys
are per bureau, so tokens do not link across bureaus.

The VOPRF itself is the ``voprf`` package (a binding of an RFC 9497 implementation); its
conformance is checked against the RFC's Appendix A vectors in the test suite.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from voprf import ristretto

from crypto import labels
from crypto.cjson import JsonValue
from crypto.errors import MalformedInput, TokenBindingError, TokenProofError
from crypto.fields import validate_bureau_id
from crypto.idnumber import NormalizedId

TOKEN_LENGTH = 64
SALT_LENGTH = 32
VOPRF_SEED_LENGTH = 32
ELEMENT_LENGTH = 32
PROOF_LENGTH = 64
ARGON2_VERSION = 19


@dataclass(frozen=True)
class TokenParams:
    """Argon2id cost of the pre-hash. Versioned because changing it changes every token.

    The default (64 MiB, 3 passes, 1 lane) costs a phone about a second once per petition, and
    an attacker with a leaked VOPRF key the same for every ID they try.
    """

    version: int = 1
    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 1
    output_length: int = 32

    def __post_init__(self) -> None:
        if self.version != 1:
            raise MalformedInput(f"unsupported token parameter version {self.version}")
        if not 8192 <= self.memory_kib <= 4 * 1024 * 1024:
            raise MalformedInput("token parameters: memory_kib must be 8192..4194304")
        if not 1 <= self.time_cost <= 32:
            raise MalformedInput("token parameters: time_cost must be 1..32")
        if not 1 <= self.parallelism <= 16:
            raise MalformedInput("token parameters: parallelism must be 1..16")
        if self.output_length != 32:
            raise MalformedInput("token parameters: output_length must be 32")

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "version": self.version,
            "memory_kib": self.memory_kib,
            "time_cost": self.time_cost,
            "parallelism": self.parallelism,
            "output_length": self.output_length,
        }

    @classmethod
    def from_json(cls, value: JsonValue) -> TokenParams:
        names = {"version", "memory_kib", "time_cost", "parallelism", "output_length"}
        if not isinstance(value, dict) or set(value) != names:
            raise MalformedInput(f"token parameters must have exactly: {', '.join(sorted(names))}")
        if not all(type(value[name]) is int for name in names):
            raise MalformedInput("token parameters must be integers")
        return cls(**value)


DEFAULT_TOKEN_PARAMS = TokenParams()


def generate_token_salt() -> bytes:
    return os.urandom(SALT_LENGTH)


def prehash(
    identity: NormalizedId, salt: bytes, params: TokenParams = DEFAULT_TOKEN_PARAMS
) -> bytes:
    """The slow, salted step. Runs on the petitioner's device and, for checking, at the bureau."""
    if len(salt) != SALT_LENGTH:
        raise MalformedInput(f"a token salt is {SALT_LENGTH} bytes")
    secret = (
        labels.TOKEN_PREHASH_INPUT
        + identity.scheme.encode("ascii")
        + b"\x00"
        + identity.value.encode("utf-8")
    )
    return hash_secret_raw(
        secret=secret,
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=params.output_length,
        type=Type.ID,
        version=ARGON2_VERSION,
    )


def key_info(bureau_id: str) -> bytes:
    """RFC 9497 DeriveKeyPair ``info``: ties a token key to exactly one bureau."""
    return labels.TOKEN_KEY_INFO + validate_bureau_id(bureau_id).encode("ascii")


@dataclass(frozen=True)
class TokenResponse:
    """What the evaluator returns: RFC 9497 ``evaluatedElement`` and its DLEQ ``proof``."""

    evaluated_element: bytes
    proof: bytes

    def __post_init__(self) -> None:
        if len(self.evaluated_element) != ELEMENT_LENGTH or len(self.proof) != PROOF_LENGTH:
            raise MalformedInput(
                f"a token response is a {ELEMENT_LENGTH}-byte element and a "
                f"{PROOF_LENGTH}-byte proof"
            )

    def _library_output(self) -> ristretto.VerifiableOutput:
        # The binding serialises its VerifiableOutput as proof || element.
        try:
            return ristretto.VerifiableOutput.deserialize(self.proof + self.evaluated_element)
        except ValueError:
            raise MalformedInput("token response is not a valid element and proof") from None


class TokenKey:
    """A bureau's VOPRF key (the evaluator side), derived from a secret seed and the bureau id.

    This key is the one secret that separates a stolen server database from a list of
    petitioners' identities. It lives in its own key file, never in the database.
    """

    __slots__ = ("_bureau_id", "_evaluator", "_seed")

    def __init__(self, seed: bytes, bureau_id: str) -> None:
        if len(seed) != VOPRF_SEED_LENGTH:
            raise MalformedInput(f"a token key seed is {VOPRF_SEED_LENGTH} bytes")
        self._seed = bytes(seed)
        self._bureau_id = bureau_id
        self._evaluator = ristretto.Evaluator.from_seed(self._seed, key_info(bureau_id))

    @classmethod
    def generate(cls, bureau_id: str) -> TokenKey:
        return cls(os.urandom(VOPRF_SEED_LENGTH), bureau_id)

    @property
    def seed(self) -> bytes:
        return self._seed

    @property
    def bureau_id(self) -> str:
        return self._bureau_id

    def public_key(self) -> bytes:
        """RFC 9497 ``pkS``: published in the bureau bundle so clients can verify proofs."""
        return bytes(self._evaluator.public_key.serialize())

    def evaluate(self, blinded_element: bytes) -> TokenResponse:
        """RFC 9497 BlindEvaluate (VOPRF mode): the evaluator never sees the pre-hash."""
        if len(blinded_element) != ELEMENT_LENGTH:
            raise MalformedInput(f"a blinded element is {ELEMENT_LENGTH} bytes")
        try:
            blinded = ristretto.BlindedInput.deserialize(blinded_element)
        except ValueError:
            raise MalformedInput("the blinded element is not a valid ristretto255 point") from None
        serialized = bytes(self._evaluator.evaluate(blinded).serialize())
        return TokenResponse(
            evaluated_element=serialized[PROOF_LENGTH:], proof=serialized[:PROOF_LENGTH]
        )

    def token_for(self, pre: bytes) -> bytes:
        """RFC 9497 Evaluate on a known input: the bureau's side of the token-binding check."""
        return bytes(self._evaluator.evaluate_known_input(pre))

    def __repr__(self) -> str:
        return f"TokenKey(bureau_id={self._bureau_id!r})"


class TokenRequest:
    """The petitioner's side of one token evaluation: blind, send, then finalize."""

    __slots__ = ("_client",)

    def __init__(self, client: ristretto.Client) -> None:
        self._client = client

    @classmethod
    def blind(cls, pre: bytes) -> tuple[TokenRequest, bytes]:
        """RFC 9497 Blind: returns the state to keep and the blinded element to send."""
        client, blinded = ristretto.Client.blind(pre)
        return cls(client), bytes(blinded.serialize())

    def finalize(self, response: TokenResponse, token_public_key: bytes) -> bytes:
        """RFC 9497 Finalize: verify the proof against the bureau's published key, then unblind.

        A response made under any other key fails here, which is what defeats an evaluator that
        tags one petitioner with a key of its own.
        """
        try:
            public_key = ristretto.PublicKey.deserialize(token_public_key)
        except ValueError:
            raise MalformedInput("the bureau's token public key is not valid") from None
        try:
            return bytes(self._client.finalize(response._library_output(), public_key))
        except ValueError:
            raise TokenProofError(
                "the token service's proof does not verify against the bureau's published key"
            ) from None


def check_token_binding(
    token: bytes,
    identity: NormalizedId,
    salt: bytes,
    key: TokenKey,
    params: TokenParams = DEFAULT_TOKEN_PARAMS,
) -> None:
    """Raise :class:`TokenBindingError` unless ``token`` is the token of ``identity``.

    The bureau runs this after decrypting a petition, so nobody can dodge per-person rules by
    attaching somebody else's (or a made-up) token.
    """
    expected = key.token_for(prehash(identity, salt, params))
    if not hmac.compare_digest(expected, token):
        raise TokenBindingError("the petition's token is not the token of the ID number inside it")
