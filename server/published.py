"""The signed directory the server publishes, re-read when ``petition admin`` replaces it.

The server never holds the authority key; it only serves the file the authority signed. Each
worker checks the file's identity (inode, size, mtime) at most once a second and re-parses it
when it changed, so a new bureau appears without a restart.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from crypto.errors import SealedPetitionError
from crypto.keys import VerifyKey
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory
from crypto.signing import SignedObject
from server.datadir import read_public_key

CHECK_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class PublishedDirectory:
    wire: bytes  # exactly the bytes served at GET /v1/directory
    directory: Directory
    authority_key: VerifyKey | None  # served at GET /v1/authority; None if authority.pub is absent

    def bureau(self, bureau_id: str) -> BureauBundle | None:
        for bundle in self.directory.bureaus:
            if bundle.bureau_id == bureau_id:
                return bundle
        return None


class DirectoryFile:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._identity: tuple[int, int, int] | None = None
        self._current: PublishedDirectory | None = None
        self._checked = 0.0

    def current(self) -> PublishedDirectory | None:
        now = time.monotonic()
        current = self._current
        if current is not None and now - self._checked < CHECK_INTERVAL_SECONDS:
            return current
        with self._lock:
            if self._current is not None and now - self._checked < CHECK_INTERVAL_SECONDS:
                return self._current  # another thread refreshed it while we waited
            self._checked = now
            try:
                info = os.stat(self._path)
            except OSError:
                return self._current
            identity = (info.st_ino, info.st_size, info.st_mtime_ns)
            if identity != self._identity:
                loaded = _load(self._path)
                if loaded is not None:
                    self._current, self._identity = loaded, identity
            return self._current


def _load(path: Path) -> PublishedDirectory | None:
    """Parse the file; its signature was checked by ``petition admin`` when it was written.

    The body is parsed (not only stored) because the server needs the bureaus' keys. A file
    that does not parse keeps the previous directory in service.
    """
    try:
        wire = path.read_bytes()
        signed = SignedObject.decode(wire, SignedKind.DIRECTORY)
        directory = Directory.from_json(signed.body)
    except (OSError, SealedPetitionError):
        return None
    return PublishedDirectory(wire, directory, _authority_key(path.parent, signed))


def _authority_key(data: Path, signed: SignedObject) -> VerifyKey | None:
    """The authority key from ``authority.pub``, if it is the key that signed the directory."""
    try:
        key = read_public_key(data / "authority.pub", "authority public key")
        signed.verify(key)
    except SealedPetitionError:
        return None
    return key
