"""The directory authority's operations: create its key, sign and publish the directory.

The authority key is what every petitioner pins, so it deserves more care than the server: it
is kept in a passphrase-protected keystore and, in production, on a machine that is not the
server at all (docs/operations.md). These functions only need the data directory's public
parts (``log.pub``, ``directory.json``), so they run the same on an offline machine holding a
copy of those two files.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from crypto.cosignature import CosignatureVerifier
from crypto.errors import MalformedInput, SealedPetitionError
from crypto.keys import SigningKey, VerifyKey
from crypto.keystore import read_keystore_file, write_keystore_file
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory, Place, default_policy
from crypto.privatefile import write_private_file
from crypto.signing import SignedObject, sign
from crypto.tlog_policy import Policy
from server.clock import utc_today
from server.datadir import DataDirectory, write_public_key
from server.errors import DataDirectoryError

AUTHORITY_SECRET = "authority-signing-key"  # noqa: S105  (a keystore entry name)


class AuthorityError(SealedPetitionError):
    code = "authority_error"


def init_authority(data: DataDirectory, keystore: Path, passphrase: str) -> VerifyKey:
    """Create the authority key and publish an empty directory naming the log key."""
    if data.directory_path.exists():
        raise AuthorityError(
            f"{data.directory_path} already exists: this data directory has an authority"
        )
    key = SigningKey.generate()
    write_keystore_file(keystore, {AUTHORITY_SECRET: key.to_bytes()}, passphrase)
    log = data.log_verifier()
    publish(data, key, Directory(1, utc_today(), (), log, default_policy(log)))
    return key.public_key()


def load_authority(keystore: Path, passphrase: str) -> SigningKey:
    secrets = read_keystore_file(keystore, passphrase)
    if AUTHORITY_SECRET not in secrets:
        raise AuthorityError(f"{keystore} does not hold a directory authority key")
    return SigningKey(secrets[AUTHORITY_SECRET])


def current_directory(data: DataDirectory, authority: SigningKey) -> Directory:
    """The published directory, checked against the authority key before it is changed."""
    try:
        signed = SignedObject.decode(data.directory_path.read_bytes(), SignedKind.DIRECTORY)
    except FileNotFoundError:
        raise AuthorityError(
            f"no directory in {data.path}; run `petition admin init` first"
        ) from None
    except OSError as exc:
        raise DataDirectoryError(f"cannot read {data.directory_path}: {exc.strerror}") from exc
    return Directory.from_json(signed.verify(authority.public_key()))


def read_bundle(path: Path) -> BureauBundle:
    try:
        raw = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise AuthorityError(f"cannot read the bureau bundle {path}: {exc.strerror}") from exc
    except ValueError:
        raise AuthorityError(f"the bureau bundle {path} is not JSON") from None
    try:
        return BureauBundle.from_json(raw)
    except MalformedInput as exc:
        raise AuthorityError(f"the bureau bundle {path} is not valid: {exc.message}") from exc


def add_bureau(
    data: DataDirectory,
    authority: SigningKey,
    bundle: BureauBundle,
    *,
    replace_existing: bool,
    parent: str | None = None,
    covers: str | None = None,
) -> Directory:
    """Publish a bureau's bundle and its place: the bureau one level up, and what it covers.

    On ``--replace`` the place is kept unless a new parent or coverage is given.
    """
    directory = current_directory(data, authority)
    others = tuple(b for b in directory.bureaus if b.bureau_id != bundle.bureau_id)
    existing = len(others) != len(directory.bureaus)
    if existing and not replace_existing:
        raise AuthorityError(
            f"bureau {bundle.bureau_id!r} is already in the directory; use --replace to "
            "publish its new keys"
        )
    old = directory.place(bundle.bureau_id) if existing else Place(bundle.bureau_id, None, "")
    if parent is not None and parent not in {b.bureau_id for b in others}:
        raise AuthorityError(f"the parent bureau {parent!r} is not in the directory: add it first")
    try:
        place = Place(
            bundle.bureau_id,
            old.parent if parent is None else parent,
            old.covers if covers is None else covers,
        )
        updated = replace(
            directory,
            serial=directory.serial + 1,
            day=utc_today(),
            bureaus=(*others, bundle),
            places=(*(p for p in directory.places if p.bureau_id != bundle.bureau_id), place),
        )
    except MalformedInput as exc:
        raise AuthorityError(f"the bureau cannot be placed: {exc.message}") from exc
    publish(data, authority, updated)
    return updated


def add_witness(
    data: DataDirectory,
    authority: SigningKey,
    name: str,
    vkey: str,
    url: str,
    quorum: int | None,
) -> Directory:
    """Name one more witness in the directory's policy, and optionally change the quorum.

    The policy the authority publishes has one shape: this log, the witnesses, and a quorum of
    k of them (``quorum none`` while k is 0). The server submits each new checkpoint to every
    witness with a URL; clients accept a checkpoint once k of them cosigned it.
    """
    directory = current_directory(data, authority)
    try:
        verifier = CosignatureVerifier.from_vkey(vkey)
    except MalformedInput as exc:
        raise AuthorityError(f"the witness key cannot be used: {exc.message}") from exc
    if not url.startswith(("http://", "https://")):
        raise AuthorityError("a witness URL starts with http:// or https://")
    current = directory.policy()
    witnesses = [(w.name, w.verifier, w.url) for w in current.witnesses]
    if any(existing == name for existing, _, _ in witnesses):
        raise AuthorityError(f"the policy already has a witness named {name!r}")
    if any(known.key == verifier.key for _, known, _ in witnesses):
        raise AuthorityError("the policy already has a witness with this key")
    witnesses.append((name, verifier, url.rstrip("/")))
    threshold = current_threshold(current) if quorum is None else quorum
    if not 0 <= threshold <= len(witnesses):
        raise AuthorityError(f"the quorum must be between 0 and {len(witnesses)} witnesses")
    try:
        policy = Policy.single_log(directory.log_vkey, witnesses, threshold)
    except MalformedInput as exc:
        raise AuthorityError(f"the witness cannot be added: {exc.message}") from exc
    updated = replace(
        directory, serial=directory.serial + 1, day=utc_today(), log_policy=policy.to_text()
    )
    publish(data, authority, updated)
    return updated


def republish(
    data: DataDirectory, authority: SigningKey, *, older_than_days: int = 1
) -> Directory | None:
    """Sign the current directory again, unchanged but for a new ``serial`` and today's ``day``.

    Petitioners who seal offline refuse a directory more than 30 days old (``client.offline``),
    because a bureau's keys may have changed since; an authority that publishes nothing else
    for a month must still re-date the directory so offline sealing keeps working. Returns
    ``None`` (nothing written) while the published one is younger than ``older_than_days``,
    so a daily cron job re-signs only when it is due.
    """
    if older_than_days < 0:
        raise AuthorityError("--if-older-than takes a number of days, 0 or more")
    directory = current_directory(data, authority)
    today = utc_today()
    if (today - directory.day).days < older_than_days:
        return None
    updated = replace(directory, serial=directory.serial + 1, day=today)
    publish(data, authority, updated)
    return updated


def current_threshold(policy: Policy) -> int:
    """How many witnesses the policy requires (0 for ``quorum none``).

    Policies this authority writes have one shape (:meth:`Policy.single_log`); a quorum naming
    a single witness counts as one.
    """
    if policy.quorum == "none":
        return 0
    for group in policy.groups:
        if group.name == policy.quorum:
            return group.threshold
    return 1


def publish(data: DataDirectory, authority: SigningKey, directory: Directory) -> None:
    """Write the signed directory, and the authority's public key next to it.

    Petitioners pin only the key's fingerprint (short enough to read aloud or scan); the server
    serves the key itself (``GET /v1/authority``) so that ``petition init`` can check it against
    the fingerprint once and keep it.
    """
    write_public_key(data.authority_public_key_path, authority.public_key())
    wire = sign(SignedKind.DIRECTORY, directory.to_json(), authority).encode()
    write_private_file(
        data.directory_path, wire, overwrite=True, error=DataDirectoryError, what="directory"
    )
