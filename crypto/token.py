"""The pseudonymous token, derived by the bureau alone (protocol v2, ``docs/protocol.md`` §5).

    pre   = Argon2id(secret = TOKEN_PREHASH_INPUT || scheme || 0x00 || normalised ID,
                     salt = the bureau's public token salt)
    token = HMAC-SHA256(key = the bureau's token key,
                        message = TOKEN_PRF || bureau id || 0x00 || pre)

Why this shape. Protocol v1 had the petitioner fetch the token from a public VOPRF endpoint and
the server filed petitions under it in clear; anyone with a copy of the database could then ask
the endpoint for any resident's token and look it up (docs/threat-model.md, T-ID-1). The rule
since v2: no value computable from an ID number without a bureau-held secret leaves the sealed
envelope, and no public service computes one.

* ``pre`` is salted and slow. The petitioner's device computes it and seals it inside the case
  section; it never appears in clear. The salt is public, so ``pre`` alone is testable against a
  known ID at one Argon2id per guess: it is only ever visible to holders of the bureau's case key.
* ``token`` needs the bureau's token key, which never leaves the bureau's own software: no
  server, evaluator or public endpoint holds it. Argon2id in front of it keeps a leaked token key
  from becoming a cheap bulk de-anonymiser of a whole ID range.

The PRF is HMAC-SHA256 (RFC 2104), from ``cryptography``. The RFC 9497 VOPRF that v1 used only
earned its place because an untrusted evaluator answered petitioners; its proof has no verifier
once the bureau computes the token for itself, so v2 dropped it and its dependency.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from crypto import labels
from crypto.cjson import JsonValue
from crypto.errors import MalformedInput, TokenBindingError
from crypto.fields import validate_bureau_id
from crypto.idnumber import NormalizedId

TOKEN_LENGTH = 32
PREHASH_LENGTH = 32
SALT_LENGTH = 32
TOKEN_KEY_LENGTH = 32
ARGON2_VERSION = 19


@dataclass(frozen=True)
class TokenParams:
    """Argon2id cost of the pre-hash. Versioned because changing it changes every token.

    The default (64 MiB, 3 passes, 1 lane) costs a phone about a second once per petition, and
    anyone testing a guessed ID against a case section's pre-hash the same for every guess.
    """

    version: int = 1
    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 1
    output_length: int = PREHASH_LENGTH

    def __post_init__(self) -> None:
        if self.version != 1:
            raise MalformedInput(f"unsupported token parameter version {self.version}")
        if not 8192 <= self.memory_kib <= 4 * 1024 * 1024:
            raise MalformedInput("token parameters: memory_kib must be 8192..4194304")
        if not 1 <= self.time_cost <= 32:
            raise MalformedInput("token parameters: time_cost must be 1..32")
        if not 1 <= self.parallelism <= 16:
            raise MalformedInput("token parameters: parallelism must be 1..16")
        if self.output_length != PREHASH_LENGTH:
            raise MalformedInput(f"token parameters: output_length must be {PREHASH_LENGTH}")

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
    """The slow, salted step. Runs on the petitioner's device, and at intake for the check."""
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


class TokenKey:
    """A bureau's token key: the secret that turns a pre-hash into the petitioner's pseudonym.

    It lives in the bureau's keystore only. Nothing on the server can compute a token.
    """

    __slots__ = ("_bureau_id", "_key")

    def __init__(self, key: bytes, bureau_id: str) -> None:
        if len(key) != TOKEN_KEY_LENGTH:
            raise MalformedInput(f"a token key is {TOKEN_KEY_LENGTH} bytes")
        self._key = bytes(key)
        self._bureau_id = validate_bureau_id(bureau_id)

    @classmethod
    def generate(cls, bureau_id: str) -> TokenKey:
        return cls(os.urandom(TOKEN_KEY_LENGTH), bureau_id)

    @property
    def secret(self) -> bytes:
        return self._key

    @property
    def bureau_id(self) -> str:
        return self._bureau_id

    def token_for(self, pre: bytes) -> bytes:
        """The petitioner's token: one keyed hash of the pre-hash sealed in the case section."""
        if len(pre) != PREHASH_LENGTH:
            raise MalformedInput(f"a token pre-hash is {PREHASH_LENGTH} bytes")
        mac = crypto_hmac.HMAC(self._key, hashes.SHA256())
        mac.update(labels.TOKEN_PRF + self._bureau_id.encode("ascii") + b"\x00" + pre)
        return mac.finalize()

    def __repr__(self) -> str:
        return f"TokenKey(bureau_id={self._bureau_id!r})"


def check_prehash_binding(
    pre: bytes,
    identity: NormalizedId,
    salt: bytes,
    params: TokenParams = DEFAULT_TOKEN_PARAMS,
) -> None:
    """Raise :class:`TokenBindingError` unless ``pre`` is the pre-hash of ``identity``.

    Intake runs this when it holds both the identity and the case key, so that nobody can dodge
    the per-person view of a bureau by sealing somebody else's (or a made-up) pre-hash.
    """
    if not hmac.compare_digest(prehash(identity, salt, params), pre):
        raise TokenBindingError(
            "the case section's pseudonym input is not derived from the ID number in the "
            "identity section"
        )


def format_pseudonym(token: bytes) -> str:
    """A short, readable form of a token for reviewers' screens (never parsed back).

    Sixteen hex digits in four groups: 64 bits, enough that two petitioners of one bureau do not
    share a display form by accident.
    """
    text = token[:8].hex()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))
