"""Passphrase-protected keystore files for long-term secrets.

Bureau reviewers keep their private keys in a keystore, and a petitioner may keep a receipt in
one. The file has to survive being copied to a USB stick, backed up to a shared drive or left on
a stolen laptop, so everything in it is either public on purpose or encrypted under a key that
only the passphrase can produce.

Format, version 2 (protocol v2; the layout is version 1's, but the AEAD associated data now
starts with the ``sealed-petition/v2/keystore`` label, so a version 1 file could not be opened
and is refused as an unsupported version instead of as a wrong passphrase): one canonical-JSON
object (:mod:`crypto.cjson`), binary values as unpadded
base64url::

    {"aead": "chacha20-poly1305",
     "ciphertext": b64(ChaCha20-Poly1305(key, nonce, plaintext, aad)),
     "format": "sealed-petition-keystore",
     "kdf": {"argon2_version": 19, "memory_kib": M, "name": "argon2id",
             "parallelism": P, "salt": b64(16 random bytes), "time_cost": T},
     "nonce": b64(12 random bytes),
     "version": 2}

* ``key = Argon2id(passphrase, salt, t=T, m=M KiB, p=P, version 0x13, 32 bytes)``, where the
  passphrase is NFC-normalised and then UTF-8 encoded.
* ``aad = labels.KEYSTORE_AAD + cjson.encode(<the object without "ciphertext">)``. Every header
  field (format, version, KDF name and parameters, salt, nonce) is therefore authenticated: an
  attacker who lowers the Argon2 cost or swaps the salt makes the file fail to open instead of
  making it cheaper to attack.
* ``plaintext = cjson.encode({"secrets": {name: b64(value), ...}})`` with every name matching
  ``^[a-z][a-z0-9_-]{0,63}$``.

The KDF parameters are read from the file *before* they can be authenticated (they are needed
to derive the key that authenticates them), so they are bounded first: a malicious file must not
be able to make us allocate 100 GiB or spin for an hour.

Errors: a wrong passphrase and an altered file that still parses are indistinguishable and both
raise :class:`~crypto.errors.WrongPassphrase`; anything that is not a version-2 keystore at all
raises :class:`~crypto.errors.KeystoreError` (its base class) with a specific message. Messages
never contain the passphrase or a secret value. Python cannot reliably wipe memory, so secrets
and the derived key stay in memory until garbage-collected; that is a known limit of this module.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto import cjson
from crypto.errors import KeystoreError, MalformedInput, MemberMismatch, WrongPassphrase
from crypto.labels import KEYSTORE_AAD
from crypto.privatefile import read_private_file, write_private_file

__all__ = [
    "DEFAULT_KDF_PARAMS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_KEYSTORE_BYTES",
    "MIN_PASSPHRASE_CHARS",
    "KdfParams",
    "open_keystore",
    "read_keystore_file",
    "seal_keystore",
    "write_keystore_file",
]

FORMAT_NAME = "sealed-petition-keystore"
FORMAT_VERSION = 2
KDF_NAME = "argon2id"
ARGON2_VERSION = 19  # 0x13, the only version RFC 9106 specifies
AEAD_NAME = "chacha20-poly1305"
SALT_BYTES = 16
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16

MIN_PASSPHRASE_CHARS = 8
"""Minimum length, in code points after NFC normalisation, of a passphrase for a new keystore."""

MAX_KEYSTORE_BYTES = 1024 * 1024
"""Largest keystore accepted or produced. Keys and receipts are tiny; a bigger file is wrong."""

MEMORY_KIB_RANGE = (8192, 4194304)  # 8 MiB .. 4 GiB
TIME_COST_RANGE = (1, 32)
PARALLELISM_RANGE = (1, 16)

_SECRET_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_AUTH_FAILED_MESSAGE = "wrong passphrase, or the keystore file was altered"
_TOP_LEVEL_MEMBERS = frozenset({"format", "version", "kdf", "aead", "nonce", "ciphertext"})
_KDF_MEMBERS = frozenset(
    {"name", "argon2_version", "memory_kib", "time_cost", "parallelism", "salt"}
)


def _check_range(field: str, value: object, bounds: tuple[int, int]) -> None:
    low, high = bounds
    # bool is an int subclass; `true` in a file must not pass as 1.
    if type(value) is not int:
        raise KeystoreError(f"KDF parameter {field} must be an integer")
    if not low <= value <= high:
        raise KeystoreError(
            f"KDF parameter {field}={value} is outside the accepted range {low}..{high}"
        )


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters.

    The bounds are checked on construction, so the same check protects both directions: we
    never write a file that we would refuse to open, and a file cannot make :func:`open_keystore`
    run Argon2 with an absurd memory or time cost. The lower memory bound (8 MiB) stops a file
    from being written with parameters so weak that the passphrase is barely protected.
    """

    memory_kib: int
    time_cost: int
    parallelism: int

    def __post_init__(self) -> None:
        _check_range("memory_kib", self.memory_kib, MEMORY_KIB_RANGE)
        _check_range("time_cost", self.time_cost, TIME_COST_RANGE)
        _check_range("parallelism", self.parallelism, PARALLELISM_RANGE)


DEFAULT_KDF_PARAMS = KdfParams(memory_kib=65536, time_cost=3, parallelism=1)
"""64 MiB, 3 passes, 1 lane: RFC 9106's second recommended option (64 MiB, t=3), single-lane.

About 0.2 s on a laptop, which is unnoticeable when a reviewer unlocks a keystore once per
session and makes each passphrase guess expensive for anyone who steals the file.
"""


def seal_keystore(
    secrets: Mapping[str, bytes],
    passphrase: str,
    *,
    kdf_params: KdfParams = DEFAULT_KDF_PARAMS,
) -> bytes:
    """Encrypt ``secrets`` under ``passphrase`` and return the keystore file's bytes.

    The passphrase is normalised to Unicode NFC before it is UTF-8 encoded, so the same
    passphrase typed on systems whose keyboards or input methods produce different code-point
    sequences for the same text (macOS tends to produce NFD, Windows and Linux NFC) opens the
    same keystore. It must have at least :data:`MIN_PASSPHRASE_CHARS` code points after
    normalisation; nothing else (case, white space) is changed.

    A fresh random salt is drawn for every call, so the key, and with it the nonce's scope, is
    new each time; sealing the same secrets twice gives unrelated files.
    """
    password = _passphrase_bytes(passphrase, creating=True)
    plaintext = cjson.encode({"secrets": _encode_secrets(secrets)})
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kdf": {
            "name": KDF_NAME,
            "argon2_version": ARGON2_VERSION,
            "memory_kib": kdf_params.memory_kib,
            "time_cost": kdf_params.time_cost,
            "parallelism": kdf_params.parallelism,
            "salt": cjson.b64encode(salt),
        },
        "aead": AEAD_NAME,
        "nonce": cjson.b64encode(nonce),
    }
    key = _derive_key(password, salt, kdf_params)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, plaintext, _aad(header))
    data = cjson.encode({**header, "ciphertext": cjson.b64encode(ciphertext)})
    if len(data) > MAX_KEYSTORE_BYTES:
        # Refuse now rather than write a file that read_keystore_file would reject.
        raise KeystoreError(f"keystore would be larger than {MAX_KEYSTORE_BYTES} bytes")
    return data


def open_keystore(data: bytes, passphrase: str) -> dict[str, bytes]:
    """Decrypt a keystore produced by :func:`seal_keystore` and return its secrets by name.

    The passphrase is NFC-normalised and UTF-8 encoded exactly as when sealing (see
    :func:`seal_keystore`); any non-empty passphrase is accepted here, so that a keystore made by
    an older policy still opens.

    Raises :class:`WrongPassphrase` when authentication fails (wrong passphrase, or any header or
    ciphertext byte changed), and :class:`KeystoreError` when ``data`` is not a version-2
    keystore or asks for KDF parameters outside the accepted bounds.
    """
    password = _passphrase_bytes(passphrase, creating=False)
    blob = _as_bytes(data)
    if len(blob) > MAX_KEYSTORE_BYTES:
        raise KeystoreError(f"keystore is larger than {MAX_KEYSTORE_BYTES} bytes")
    try:
        document = cjson.decode_object(blob)
    except MalformedInput as exc:
        raise KeystoreError(f"keystore is not valid canonical JSON: {exc.message}") from None
    header, params, salt, nonce, ciphertext = _parse_document(document)
    key = _derive_key(password, salt, params)
    try:
        plaintext = ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _aad(header))
    except InvalidTag:
        raise WrongPassphrase(_AUTH_FAILED_MESSAGE) from None
    return _decode_secrets(plaintext)


def write_keystore_file(
    path: Path,
    secrets: Mapping[str, bytes],
    passphrase: str,
    *,
    overwrite: bool = False,
    kdf_params: KdfParams = DEFAULT_KDF_PARAMS,
) -> None:
    """Seal ``secrets`` and write them to ``path`` atomically, readable only by the owner.

    Why each step:

    * the data goes to a new temporary file in the same directory (so that :func:`os.replace`
      is a rename within one file system, which is atomic), created with ``O_EXCL`` and mode
      0o600 so that no other user can open it even for an instant, and never through a symlink;
    * it is flushed and fsync'ed before the rename and the directory is fsync'ed after it, so a
      crash leaves either the old keystore or the complete new one, never a truncated file that
      would lose a reviewer's only copy of a private key;
    * on any failure the temporary file is removed, so no stray copy of the encrypted secrets
      is left behind.

    An existing ``path`` (even a dangling symlink) is refused with :class:`KeystoreError`
    unless ``overwrite`` is true. The check runs before sealing and again just before the
    rename; a file created in between by another process of the same user could still be
    replaced, which is an accepted limit (``os.replace`` has no "do not clobber" mode).

    Every operating-system error (missing directory, full disk, permission denied, a failed
    rename) is raised as :class:`KeystoreError` naming the path, with the :class:`OSError` as
    ``__cause__``, so that callers handle one family of exceptions.
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):  # before the slow Argon2id, not only after it
        raise KeystoreError(
            f"keystore file {path} already exists; refusing to replace it without overwrite"
        )
    data = seal_keystore(secrets, passphrase, kdf_params=kdf_params)
    write_private_file(path, data, overwrite=overwrite, error=KeystoreError, what="keystore")


def read_keystore_file(path: Path, passphrase: str) -> dict[str, bytes]:
    """Read and open the keystore at ``path``.

    On POSIX systems a file that group or others can access in any way (``mode & 0o077``) is
    refused, as ssh refuses such private keys: the secrets are still encrypted, but a readable
    file invites offline guessing of the passphrase and a writable one invites substitution,
    and either usually means the file was copied carelessly. The check is made on the opened
    file descriptor, so the file cannot be swapped between the check and the read.
    Symlinks are followed, as ssh does; the target's mode is what is checked.

    Files larger than :data:`MAX_KEYSTORE_BYTES` are refused before they are read into memory.
    """
    data = read_private_file(
        Path(path), limit=MAX_KEYSTORE_BYTES, error=KeystoreError, what="keystore"
    )
    return open_keystore(data, passphrase)


# --- internals -----------------------------------------------------------------------------


def _passphrase_bytes(passphrase: object, *, creating: bool) -> bytes:
    """NFC-normalise and UTF-8 encode; enforce the length rule that applies."""
    if not isinstance(passphrase, str):
        raise KeystoreError("the passphrase must be a string")
    normalised = unicodedata.normalize("NFC", passphrase)
    if creating and len(normalised) < MIN_PASSPHRASE_CHARS:
        raise KeystoreError(
            f"the passphrase must be at least {MIN_PASSPHRASE_CHARS} characters long"
        )
    if not normalised:
        raise KeystoreError("the passphrase must not be empty")
    try:
        return normalised.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. from a mis-decoded terminal
        raise KeystoreError("the passphrase contains characters that are not valid text") from None


def _as_bytes(data: object) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise KeystoreError("keystore data must be bytes")


def _derive_key(password: bytes, salt: bytes, params: KdfParams) -> bytes:
    try:
        return hash_secret_raw(
            secret=password,
            salt=salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=KEY_BYTES,
            type=Type.ID,
            version=ARGON2_VERSION,
        )
    except HashingError as exc:  # e.g. the memory could not be allocated
        raise KeystoreError(f"Argon2id key derivation failed: {exc}") from None


def _aad(header: Mapping[str, object]) -> bytes:
    return KEYSTORE_AAD + cjson.encode(header)


def _encode_secrets(secrets: object) -> dict[str, str]:
    if not isinstance(secrets, Mapping):
        raise KeystoreError("secrets must be a mapping of names to bytes")
    encoded: dict[str, str] = {}
    for name, value in secrets.items():
        _check_name(name)
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise KeystoreError(f"the value of secret {name!r} must be bytes")
        encoded[name] = cjson.b64encode(bytes(value))
    return encoded


def _check_name(name: object) -> None:
    problem = _name_problem(name)
    if problem is not None:
        raise KeystoreError(problem)


def _name_problem(name: object) -> str | None:
    # Names are not secret; they are restricted so they are safe to show in messages and logs.
    if isinstance(name, str) and _SECRET_NAME.fullmatch(name) is not None:
        return None
    shown = repr(name)[:80]
    return (
        f"secret name {shown} is invalid: use 1-64 characters of a-z, 0-9, '_' and '-', "
        "starting with a letter"
    )


def _require_members(obj: Mapping[str, object], expected: frozenset[str], where: str) -> None:
    try:
        cjson.exact_members(where, obj, expected)
    except MemberMismatch as exc:
        raise KeystoreError(exc.message) from None


def _parse_document(
    document: dict[str, object],
) -> tuple[dict[str, object], KdfParams, bytes, bytes, bytes]:
    """Check the outer structure; return (header, params, salt, nonce, ciphertext).

    Format and version are checked before the member set, so that a file of another version is
    reported as "unsupported version" rather than as "unknown member".
    """
    if document.get("format") != FORMAT_NAME:
        raise KeystoreError(f"not a keystore file (format is not {FORMAT_NAME!r})")
    version = document.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        shown = repr(version)[:40]
        raise KeystoreError(
            f"unsupported keystore version {shown}; this program reads version {FORMAT_VERSION}"
        )
    _require_members(document, _TOP_LEVEL_MEMBERS, "keystore")
    if document["aead"] != AEAD_NAME:
        raise KeystoreError(f"unsupported keystore cipher; expected {AEAD_NAME!r}")
    kdf = document["kdf"]
    if not isinstance(kdf, dict):
        raise KeystoreError("keystore member kdf must be an object")
    _require_members(kdf, _KDF_MEMBERS, "keystore kdf")
    if kdf["name"] != KDF_NAME:
        raise KeystoreError(f"unsupported keystore KDF; expected {KDF_NAME!r}")
    argon2_version = kdf["argon2_version"]
    if type(argon2_version) is not int or argon2_version != ARGON2_VERSION:
        raise KeystoreError(f"unsupported Argon2 version; expected {ARGON2_VERSION}")
    params = KdfParams(
        memory_kib=kdf["memory_kib"],
        time_cost=kdf["time_cost"],
        parallelism=kdf["parallelism"],
    )
    try:
        salt = cjson.b64decode(kdf["salt"], field="kdf.salt", length=SALT_BYTES)
        nonce = cjson.b64decode(document["nonce"], field="nonce", length=NONCE_BYTES)
        ciphertext = cjson.b64decode(document["ciphertext"], field="ciphertext")
    except MalformedInput as exc:
        raise KeystoreError(f"malformed keystore: {exc.message}") from None
    if len(ciphertext) < TAG_BYTES:
        raise KeystoreError("malformed keystore: ciphertext is shorter than its tag")
    header = {name: value for name, value in document.items() if name != "ciphertext"}
    return header, params, salt, nonce, ciphertext


def _decode_secrets(plaintext: bytes) -> dict[str, bytes]:
    """Parse the authenticated plaintext.

    It has passed authentication, so a failure here means the file was sealed by a faulty
    writer (or with the right passphrase by someone else), not tampered with in transit; it is
    reported as :class:`KeystoreError`, not :class:`WrongPassphrase`.
    """
    try:
        body = cjson.decode_object(plaintext)
        if body.keys() != {"secrets"} or not isinstance(body["secrets"], dict):
            raise KeystoreError('malformed keystore contents: expected {"secrets": {...}}')
        result: dict[str, bytes] = {}
        for name, value in body["secrets"].items():
            problem = _name_problem(name)
            if problem is not None:
                raise KeystoreError(f"malformed keystore contents: {problem}")
            result[name] = cjson.b64decode(value, field=f"secret {name}")
    except MalformedInput as exc:
        raise KeystoreError(f"malformed keystore contents: {exc.message}") from None
    return result
