"""Submitting without the network: seal now on this device, deliver later from anywhere.

``petition seal`` does everything ``petition submit`` does up to the request (protocol §17):
it checks the form, pre-hashes the ID number with the bureau's salt and seals the envelope, with
the directory kept in PETITION_HOME by the last online command (or a directory file carried
from a device that was online), verified again with the pinned authority key. It never opens a
connection. The result is a sealed petition file (crypto/sealed_file.py) holding exactly the
request, and the receipt code, which only the petitioner sees: the file holds no way back to it.

``petition deliver`` is the courier's side: anyone with ``petition init`` done sends sealed
files as they are, verifies each receipt against the log, and keeps nothing. Submission is
idempotent (the petition id is derived from the envelope), so a file delivered twice, by two
couriers or by one twice, is one petition.

This module never prints and writes no file; the CLI (client/cli/offline.py) does both.
"""

from __future__ import annotations

import hmac
import os
import stat
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from client.errors import (
    DirectoryStale,
    DirectoryUntrusted,
    InvalidInput,
    NotInitialised,
    ServerMisbehaved,
    UnknownBureau,
)
from client.home import MAX_STATE_BYTES, ClientConfig, ClientHome
from client.petitioner import PetitionForm, Progress, seal_envelope, verify_receipt
from client.session import Session, Witnessing
from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import VerifyKey, format_fingerprint
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory
from crypto.sealed_file import MAX_FILE_LENGTH, SealedPetition, decode_sealed_file
from crypto.signing import SignedObject

#: The oldest directory (by the day the authority signed it, §9.3.1) ``petition seal`` uses.
#: A bureau whose key was replaced since could not open the petition, and the server refuses
#: an envelope sealed to a key that is no longer current (409 ``stale_bureau_key``), which
#: the petitioner, long gone, would never hear of.
DIRECTORY_MAX_AGE_DAYS = 30
MAX_DIRECTORY_FILE_BYTES = MAX_STATE_BYTES


@dataclass(frozen=True)
class OfflineDirectory:
    """A directory verified with the pinned authority key, fresh enough to seal with."""

    directory: Directory
    wire: bytes  # its signed bytes, exactly as the server sent them
    source: str  # the file it came from, for people
    age_days: int  # days since the authority signed it (negative if the device's clock is late)

    def bureau(self, bureau_id: str) -> BureauBundle:
        for bundle in self.directory.bureaus:
            if bundle.bureau_id == bureau_id:
                return bundle
        known = ", ".join(b.bureau_id for b in self.directory.bureaus) or "none"
        raise UnknownBureau(f"no bureau {bureau_id!r} in the directory (known: {known})")


def offline_directory(
    home: ClientHome,
    config: ClientConfig,
    directory_file: Path | None = None,
    *,
    today: date | None = None,
) -> OfflineDirectory:
    """The directory to seal with, without the network: ``directory_file`` if given, else the
    one PETITION_HOME keeps; verified with the pinned authority key, not older than a
    directory already seen, and signed at most :data:`DIRECTORY_MAX_AGE_DAYS` days ago."""
    if directory_file is not None:
        wire, source = read_directory_file(directory_file), str(directory_file)
    else:
        kept = home.read_directory()
        if kept is None:
            raise NotInitialised(
                f"no directory is kept in {home.path}; run an online command once "
                "(`petition bureaus`) or give --directory FILE (written by `petition directory "
                "export` on a device that is online)"
            )
        wire, source = kept, str(home.directory_path)
    directory = verify_directory_bytes(wire, VerifyKey(config.authority_key), source)
    if directory.serial < config.directory_serial:
        raise DirectoryUntrusted(
            f"{source} holds directory serial {directory.serial}, older than serial "
            f"{config.directory_serial} already seen; get a current one"
        )
    day = today or datetime.now(UTC).date()
    age = (day - directory.day).days
    if age > DIRECTORY_MAX_AGE_DAYS:
        raise DirectoryStale(
            f"the directory in {source} was signed on {directory.day.isoformat()}, {age} days "
            f"ago; sealing needs one at most {DIRECTORY_MAX_AGE_DAYS} days old (bureau keys may "
            "have changed): get a fresh one with `petition directory export` on a device that "
            "is online"
        )
    return OfflineDirectory(directory, wire, source, age)


def verify_directory_bytes(wire: bytes, authority: VerifyKey, source: str) -> Directory:
    """A signed directory (§9.1, exactly as served) from a file, under the pinned authority."""
    try:
        signed = SignedObject.decode(wire, SignedKind.DIRECTORY)
        return Directory.from_json(signed.verify(authority))
    except InvalidSignature as exc:
        raise DirectoryUntrusted(
            f"{source} is not a directory signed by the pinned authority "
            f"({format_fingerprint(authority.fingerprint)[:19]}…); refusing it"
        ) from exc
    except MalformedInput as exc:
        raise DirectoryUntrusted(f"{source} is not a signed directory: {exc.message}") from exc


def read_directory_file(path: Path) -> bytes:
    return _read_file(path, MAX_DIRECTORY_FILE_BYTES, "directory file")


@dataclass(frozen=True)
class Sealed:
    """A petition sealed offline: the file's content, and the code only the petitioner keeps."""

    code: str
    petition: SealedPetition
    bureau: BureauBundle

    @property
    def file(self) -> bytes:
        return self.petition.encode()


def seal_offline(directory: OfflineDirectory, form: PetitionForm, progress: Progress) -> Sealed:
    """Seal ``form`` with a directory at hand: the request of ``submit``, kept for delivery."""
    bundle = directory.bureau(form.bureau_id)
    envelope, secret = seal_envelope(bundle, form, progress)
    return Sealed(secret.code, SealedPetition(envelope, secret.lookup_key_hash()), bundle)


def read_sealed_file(path: Path) -> SealedPetition:
    """A sealed petition file, parsed strictly; every problem is one line naming the file."""
    data = _read_file(path, MAX_FILE_LENGTH, "sealed petition file")
    try:
        return decode_sealed_file(data)
    except MalformedInput as exc:
        raise InvalidInput(f"{path}: {exc.message}") from exc


@dataclass(frozen=True)
class Delivery:
    """A sealed petition the log accepted, as its verified receipt shows."""

    petition_id: str
    bureau_id: str
    leaf_index: int
    checkpoint_size: int
    witnessing: Witnessing
    first_time: bool  # 201: stored now; 200: the server already had it


def check_deliverable(directory: Directory, petition: SealedPetition) -> None:
    """Refuse, before sending it, a petition the server would refuse for its bureau or keys."""
    header = petition.header
    bundle = next((b for b in directory.bureaus if b.bureau_id == header.bureau_id), None)
    if bundle is None:
        raise UnknownBureau(
            f"it is sealed to bureau {header.bureau_id!r}, which is not in the directory"
        )
    if not (
        hmac.compare_digest(header.identity_key_id, bundle.identity_key.key_id)
        and hmac.compare_digest(header.case_key_id, bundle.case_key.key_id)
    ):
        raise InvalidInput(
            f"it is sealed to keys {bundle.name} ({bundle.bureau_id}) no longer uses "
            f"(directory serial {directory.serial}); it cannot be delivered and must be sealed "
            "again"
        )


def deliver(session: Session, petition: SealedPetition, progress: Progress) -> Delivery:
    """Send one sealed petition exactly as sealed and verify the receipt for it.

    Afterwards the session moves to a new circuit, so two petitions a courier carries never
    share SOCKS credentials (a Tor circuit).
    """
    try:
        check_deliverable(session.directory(), petition)
        progress.step("upload")
        submitted = session.api.submit(petition.envelope, petition.lookup_key_hash, progress.upload)
        progress.step("verify")
        checked = verify_receipt(session, submitted.receipt, petition.envelope)
        entry = checked.receipt.entry
        if entry.bureau_id != petition.bureau_id or submitted.petition_id != entry.petition_id:
            raise ServerMisbehaved("the server's receipt is not for this sealed petition")
        return Delivery(
            petition_id=entry.petition_id,
            bureau_id=entry.bureau_id,
            leaf_index=checked.receipt.index,
            checkpoint_size=checked.receipt.checkpoint.size,
            witnessing=checked.witnessing,
            first_time=submitted.first_time,
        )
    finally:
        session.transport.new_circuit()


def _read_file(path: Path, limit: int, what: str) -> bytes:
    """A file someone carried: any mode, a regular file, at most ``limit`` bytes, read whole.

    Opened without blocking, so a FIFO at the path is refused rather than waited on.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such {what}") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot open the {what} ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise InvalidInput(f"{path}: not a regular file")
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the {what} ({exc.strerror})") from exc
    if len(data) > limit:
        raise InvalidInput(f"{path}: larger than any {what} ({limit} bytes)")
    return data
