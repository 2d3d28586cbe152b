"""The server's data directory: what is in it, creating it (``petition admin init``), opening it.

Layout (all created 0700/0600)::

    DATA/
      FORMAT             "sealed-petition-data 1": marks a directory this program owns
      petitions.db       SQLCipher database (+ -wal, -shm while running)
      db.key             the raw 256-bit database key, hex; absent if PETITION_DB_KEY is used
      log.key            the log's Ed25519 signing key (service key file, protocol §12.5)
      log.pub            the log's verifier key (signed-note vkey: origin and Ed25519 key)
      log.head           the last checkpoint the log key signed (server/store_guard.py)
      public/log/        the static log (tlog-tiles): `checkpoint` and `tile/...`, servable by any
                         web server (server/tile_store.py)
      directory.json     the signed directory the server publishes (written by `petition admin`)
      authority.keystore the directory authority key, if `petition admin init` ran here
      run/writer.sock    the writer's Unix socket, only while running

No bureau key is here, or anywhere on the server: bureaus keep every key they hold.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from crypto import cjson, note
from crypto.errors import KeyFileError, MalformedInput
from crypto.keyfile import read_log_key_file, write_log_key_file
from crypto.keys import ED25519_LENGTH, SigningKey, VerifyKey
from crypto.privatefile import read_private_file, write_private_file
from server.errors import DataDirectoryError

FORMAT_MARKER = "sealed-petition-data 1\n"
DB_KEY_ENV = "PETITION_DB_KEY"
DB_KEY_BYTES = 32
#: The origin a log gets when the operator names none: not a reachable address (``.invalid`` is
#: reserved for that), unique per key, and stable for the life of the log.
DEFAULT_ORIGIN_PREFIX = "sealed-petition.invalid/log/"
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
    def public_log_dir(self) -> Path:
        """The static log: what any web server can serve at ``<prefix>/`` (tlog-tiles)."""
        return self.path / "public" / "log"

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
    def create_or_open(cls, path: Path, origin: str | None = None) -> DataDirectory:
        """Open ``path``, creating a complete data directory there first if it does not exist.

        A directory that exists, is not empty and lacks the marker is refused rather than
        filled: pointing the server at the wrong directory must not scatter files in it.
        ``origin`` names the log (its checkpoints' first line) and is used only when the
        directory is created: a log's origin never changes.
        """
        data = cls(path)
        if data.marker_path.is_file():
            data.check()
            if origin is not None and data.log_verifier().name != origin:
                raise DataDirectoryError(
                    f"the log in {data.path} is named {data.log_verifier().name!r}; a log's "
                    "origin cannot change (leave out --log-origin, or use a new data directory)"
                )
            return data
        if origin is not None:
            _check_origin(origin)
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
        if origin is None:
            origin = DEFAULT_ORIGIN_PREFIX + log_key.public_key().fingerprint.hex()[:16]
        _write_public(
            data.log_public_key_path, note.Verifier(origin, log_key.public_key()).to_vkey()
        )
        # The marker goes last: a directory without it is an interrupted first run.
        _write_public(data.marker_path, FORMAT_MARKER)
        return data

    @classmethod
    def for_authority(
        cls, path: Path, origin: str | None = None, *, create: bool = False
    ) -> DataDirectory:
        """What ``petition admin`` needs: a data directory, or just a copy of its ``log.pub``.

        The authority's machine should not be the server (docs/operations.md): there, a
        directory holding only ``log.pub`` (and later ``directory.json``) is enough. Only
        ``create`` (``petition admin init``) turns a path that does not exist yet into a
        complete data directory; every other command refuses it, so that a mistyped ``--data``
        cannot grow a new log key.
        """
        data = cls(path)
        if data.log_public_key_path.is_file() and not data.marker_path.is_file():
            return data
        if not create and not data.marker_path.is_file():
            raise DataDirectoryError(
                f"{data.path} is not a Sealed Petition data directory (no log.pub in it): check "
                f"--data, or run `petition admin init --data {path}` first"
            )
        return cls.create_or_open(path, origin)

    @classmethod
    def for_serving(cls, path: Path, origin: str | None = None) -> DataDirectory:
        """The data directory ``petition serve`` runs on: initialised, with a directory published.

        Serving never creates one (``petition admin init`` does): a server without a published
        directory would only answer 503 until clients give up. ``origin`` (``--log-origin``)
        is checked against the log's name, which never changes.
        """
        data = cls(path)
        if not data.marker_path.is_file():
            if data.path.exists() and (not data.path.is_dir() or any(data.path.iterdir())):
                raise DataDirectoryError(
                    f"{data.path} exists and is not a Sealed Petition data directory; check --data"
                )
            raise DataDirectoryError(
                f"{data.path} is not a Sealed Petition data directory yet: run "
                f"`petition admin init --data {path}` first"
            )
        data = cls.create_or_open(path, origin)
        if not data.directory_path.is_file():
            raise DataDirectoryError(
                f"no directory is published in {data.path} (directory.json): run `petition "
                "admin init` there, or copy directory.json from the authority's machine "
                "(docs/operations.md)"
            )
        return data

    @classmethod
    def open_existing(cls, path: Path) -> DataDirectory:
        data = cls(path)
        if not data.marker_path.is_file():
            raise DataDirectoryError(
                f"{data.path} is not a Sealed Petition data directory (run `petition admin "
                "init` to create one)"
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

    def log_verifier(self) -> note.Verifier:
        """The log's name (origin) and public key, from ``log.pub``."""
        path = self.log_public_key_path
        try:
            return note.Verifier.from_vkey(path.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError, MalformedInput) as exc:
            raise DataDirectoryError(f"cannot read the log's verifier key from {path}") from exc

    def log_public_key(self) -> VerifyKey:
        return self.log_verifier().key

    def log_signer(self) -> note.Signer:
        """The log key as a signed-note signer named by the origin; refuses a mismatched pair."""
        signer = note.Signer(self.log_verifier().name, self.log_signing_key())
        if signer.verifier() != self.log_verifier():
            raise DataDirectoryError(
                f"{self.log_key_path} and {self.log_public_key_path} are not one key pair"
            )
        return signer


def write_public_key(path: Path, key: VerifyKey) -> None:
    """A public key as one line of base64url, like ``log.pub`` (readable by anyone)."""
    _write_public(path, cjson.b64encode(key.to_bytes()))


def read_public_key(path: Path, what: str) -> VerifyKey:
    try:
        text = path.read_text(encoding="ascii").strip()
        return VerifyKey(cjson.b64decode(text, field=what, length=ED25519_LENGTH))
    except (OSError, UnicodeDecodeError, MalformedInput) as exc:
        raise DataDirectoryError(f"cannot read the {what} from {path}") from exc


def _check_origin(origin: str) -> None:
    """An origin is a signed-note key name (tlog-checkpoint), ideally the log's URL prefix."""
    try:
        note.check_key_name(origin)
    except MalformedInput as exc:
        raise DataDirectoryError(
            f"the log origin {origin[:80]!r} cannot be used: {exc.message}"
        ) from None
    if "://" in origin or origin.endswith("/"):
        raise DataDirectoryError(
            "a log origin is a URL prefix without scheme or trailing slash, "
            "e.g. petition.example.org/log"
        )


def _write_public(path: Path, text: str) -> None:
    try:
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise DataDirectoryError(f"cannot write {path}: {exc.strerror}") from exc
