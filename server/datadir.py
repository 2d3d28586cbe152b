"""The server's data directory: what is in it, creating it on first run, and opening it.

Layout (all created 0700/0600)::

    DATA/
      FORMAT             "sealed-petition-data 1": marks a directory this program owns
      petitions.db       SQLCipher database (+ -wal, -shm while running)
      db.key             the raw 256-bit database key, hex; absent if PETITION_DB_KEY is used
      log.key            the log's Ed25519 signing key (service key file, protocol §12.5)
      log.pub            the log's public key, base64url, for the directory authority
      directory.json     the signed directory the server publishes (written by `petition admin`)
      authority.keystore the directory authority key, if `petition admin init` ran here
      run/writer.sock    the writer's Unix socket, only while running

No bureau key is here, or anywhere on the server: bureaus keep every key they hold.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from crypto import cjson
from crypto.errors import KeyFileError, MalformedInput
from crypto.keyfile import read_log_key_file, write_log_key_file
from crypto.keys import ED25519_LENGTH, SigningKey, VerifyKey
from crypto.privatefile import read_private_file, write_private_file
from server.errors import DataDirectoryError

FORMAT_MARKER = "sealed-petition-data 1\n"
DB_KEY_ENV = "PETITION_DB_KEY"
DB_KEY_BYTES = 32
# A Unix socket path is limited to 108 bytes on Linux (104 on BSDs); leave a margin.
MAX_SOCKET_PATH = 100


class DataDirectory:
    """Paths inside one data directory, and the few secrets read from it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()

    @property
    def marker_path(self) -> Path:
        return self.path / "FORMAT"

    @property
    def database_path(self) -> Path:
        return self.path / "petitions.db"

    @property
    def database_key_path(self) -> Path:
        return self.path / "db.key"

    @property
    def log_key_path(self) -> Path:
        return self.path / "log.key"

    @property
    def log_public_key_path(self) -> Path:
        return self.path / "log.pub"

    @property
    def directory_path(self) -> Path:
        return self.path / "directory.json"

    @property
    def authority_public_key_path(self) -> Path:
        return self.path / "authority.pub"

    @property
    def authority_keystore_path(self) -> Path:
        return self.path / "authority.keystore"

    @property
    def run_dir(self) -> Path:
        return self.path / "run"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "writer.sock"

    # --- creation --------------------------------------------------------------------------

    @classmethod
    def create_or_open(cls, path: Path) -> DataDirectory:
        """Open ``path``, creating a complete data directory there first if it does not exist.

        A directory that exists, is not empty and lacks the marker is refused rather than
        filled: pointing the server at the wrong directory must not scatter files in it.
        """
        data = cls(path)
        if data.marker_path.is_file():
            data.check()
            return data
        if data.path.exists() and (not data.path.is_dir() or any(data.path.iterdir())):
            raise DataDirectoryError(
                f"{data.path} exists and is not a Sealed Petition data directory; "
                "choose an empty or new directory"
            )
        try:
            data.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(data.path, 0o700)
            data.run_dir.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise DataDirectoryError(f"cannot create {data.path}: {exc.strerror}") from exc
        if os.environ.get(DB_KEY_ENV) is None:
            write_private_file(
                data.database_key_path,
                (secrets.token_bytes(DB_KEY_BYTES).hex() + "\n").encode(),
                overwrite=False,
                error=DataDirectoryError,
                what="database key",
            )
        log_key = SigningKey.generate()
        write_log_key_file(data.log_key_path, log_key)
        _write_public(data.log_public_key_path, cjson.b64encode(log_key.public_key().to_bytes()))
        # The marker goes last: a directory without it is an interrupted first run.
        _write_public(data.marker_path, FORMAT_MARKER)
        return data

    @classmethod
    def for_authority(cls, path: Path) -> DataDirectory:
        """What ``petition admin`` needs: a data directory, or just a copy of its ``log.pub``.

        The authority's machine should not be the server (docs/operations.md): there, a
        directory holding only ``log.pub`` (and later ``directory.json``) is enough. A path that
        does not exist yet becomes a complete data directory, for the embedded default.
        """
        data = cls(path)
        if data.marker_path.is_file():
            data.check()
            return data
        if data.log_public_key_path.is_file():
            return data
        return cls.create_or_open(path)

    @classmethod
    def open_existing(cls, path: Path) -> DataDirectory:
        data = cls(path)
        if not data.marker_path.is_file():
            raise DataDirectoryError(
                f"{data.path} is not a Sealed Petition data directory (run `petition serve` "
                "or `petition admin init` to create one)"
            )
        data.check()
        return data

    def check(self) -> None:
        try:
            marker = self.marker_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataDirectoryError(f"cannot read {self.marker_path}") from exc
        if marker != FORMAT_MARKER:
            raise DataDirectoryError(
                f"{self.path} was made by an incompatible version (FORMAT is {marker[:40]!r})"
            )
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise DataDirectoryError(
                f"the data directory path is too long for a Unix socket ({self.socket_path}); "
                "use a shorter path"
            )
        self.run_dir.mkdir(mode=0o700, exist_ok=True)

    # --- secrets ---------------------------------------------------------------------------

    def database_key(self) -> bytes:
        """The raw SQLCipher key: ``PETITION_DB_KEY`` (64 hex digits) wins over ``db.key``."""
        text = os.environ.get(DB_KEY_ENV)
        source = DB_KEY_ENV
        if text is None:
            source = str(self.database_key_path)
            raw = read_private_file(
                self.database_key_path, limit=256, error=DataDirectoryError, what="database key"
            )
            text = raw.decode("ascii", errors="replace")
        text = text.strip()
        if len(text) != 2 * DB_KEY_BYTES or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise DataDirectoryError(
                f"the database key in {source} must be {2 * DB_KEY_BYTES} hexadecimal digits"
            )
        return bytes.fromhex(text)

    def log_signing_key(self) -> SigningKey:
        try:
            return read_log_key_file(self.log_key_path)
        except KeyFileError as exc:
            raise DataDirectoryError(f"the log key cannot be used: {exc.message}") from exc

    def log_public_key(self) -> VerifyKey:
        return read_public_key(self.log_public_key_path, "log public key")


def write_public_key(path: Path, key: VerifyKey) -> None:
    """A public key as one line of base64url, like ``log.pub`` (readable by anyone)."""
    _write_public(path, cjson.b64encode(key.to_bytes()))


def read_public_key(path: Path, what: str) -> VerifyKey:
    try:
        text = path.read_text(encoding="ascii").strip()
        return VerifyKey(cjson.b64decode(text, field=what, length=ED25519_LENGTH))
    except (OSError, UnicodeDecodeError, MalformedInput) as exc:
        raise DataDirectoryError(f"cannot read the {what} from {path}") from exc


def _write_public(path: Path, text: str) -> None:
    try:
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise DataDirectoryError(f"cannot write {path}: {exc.strerror}") from exc
