"""The client's state directory (``PETITION_HOME``) and what it may hold.

By design it holds only public or non-identifying state: the pinned server and authority
fingerprint, the proxy to use, the highest directory serial seen (so an old directory cannot be
replayed), the signed directory itself as last verified (``directory.json``, so that ``petition
seal`` can seal without the network), the checkpoints (signed tree heads, as cosigned notes) an
auditor has accepted, and optionally a local trust policy (``policy``, tlog-policy text) that
replaces the directory's. Nothing about a petition is ever written here unless the petitioner
asks for it (``--save-receipt`` writes a passphrase-protected file at a path they choose). A
test scans this directory after a submission to hold us to it.

Ordinary use (``submit``, ``status``, ``ui``) rewrites nothing here: a file is written only when
its content changes (the directory serial moves on when the authority publishes), because a
modification time that moves with each use dates the petitioner's log entry on a seized device.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from client.errors import ClientStateError, InvalidInput, NotInitialised
from crypto import cjson, note
from crypto.errors import MalformedInput
from crypto.keys import ED25519_LENGTH
from crypto.privatefile import read_private_file, write_private_file

APP_NAME = "sealed-petition"
CONFIG_FORMAT = "sealed-petition-client"
CONFIG_VERSION = 1
CHECKPOINTS_FORMAT = "sealed-petition-audit-checkpoints"
POLICY_NAME = "policy"
DIRECTORY_NAME = "directory.json"
MAX_STATE_BYTES = 64 * 1024 * 1024
MAX_POLICY_BYTES = 64 * 1024
_CONFIG_MEMBERS = {"authority_key", "directory_serial", "format", "proxy", "server", "version"}
_CHECKPOINTS_MEMBERS = {"checkpoints", "format", "version"}


def log_id(log: note.Verifier) -> str:
    """A short file-name-safe name of one log: its origin and key (the vkey) hashed.

    The origin is part of it because a checkpoint names its log by origin: the same key under
    another name is another log, and its checkpoints must not be compared with these.
    """
    return hashlib.sha256(log.to_vkey().encode("utf-8")).hexdigest()[:32]


def default_home() -> Path:
    """The platform's per-user data directory (XDG on Linux, Application Support on macOS…)."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def resolve_home(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    from_env = os.environ.get("PETITION_HOME")
    return Path(from_env) if from_env else default_home()


@dataclass(frozen=True)
class ClientConfig:
    """What ``petition init`` pins; every later command starts from it."""

    server: str
    authority_key: bytes  # the authority's Ed25519 public key, checked against the pin at init
    proxy: str | None = None
    directory_serial: int = 0

    def to_json(self) -> dict[str, cjson.JsonValue]:
        return {
            "authority_key": cjson.b64encode(self.authority_key),
            "directory_serial": self.directory_serial,
            "format": CONFIG_FORMAT,
            "proxy": self.proxy,
            "server": self.server,
            "version": CONFIG_VERSION,
        }

    @classmethod
    def from_json(cls, value: object) -> ClientConfig:
        body = cjson.require_members("client configuration", value, _CONFIG_MEMBERS)
        if body["format"] != CONFIG_FORMAT or body["version"] != CONFIG_VERSION:
            raise MalformedInput("not a Sealed Petition client configuration of version 1")
        server, proxy, serial = body["server"], body["proxy"], body["directory_serial"]
        if not isinstance(server, str) or not (proxy is None or isinstance(proxy, str)):
            raise MalformedInput("server and proxy must be strings")
        if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
            raise MalformedInput("directory_serial must be a non-negative integer")
        key = cjson.b64decode(body["authority_key"], field="authority_key", length=ED25519_LENGTH)
        return cls(server=server, authority_key=key, proxy=proxy, directory_serial=serial)


class ClientHome:
    """One state directory; created owner-only on first write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def checkpoints_path(self, log: note.Verifier) -> Path:
        return self.path / "audit" / f"checkpoints-{log_id(log)}.json"

    @property
    def policy_path(self) -> Path:
        """A local trust policy; when present it replaces the directory's (client/session.py)."""
        return self.path / POLICY_NAME

    @property
    def directory_path(self) -> Path:
        """The signed directory as last verified online (client/session.py), byte for byte."""
        return self.path / DIRECTORY_NAME

    def read_directory(self) -> bytes | None:
        """The kept directory's bytes, or None when there is none (verified by the caller)."""
        if not self.directory_path.exists() and not self.directory_path.is_symlink():
            return None
        return self._read(self.directory_path, "saved directory")

    def keep_directory(self, config: ClientConfig, wire: bytes) -> None:
        """Keep a directory verified with ``config``'s authority key, for sealing offline.

        Like the serial, it is kept only for the authority this home pins (a per-command
        ``--server`` must not replace it with another deployment's), and the file is written
        only when the bytes change: a new directory, not a new use, moves its time.
        """
        if not self.config_path.exists():
            return
        if self.load_config().authority_key == config.authority_key:
            self._write(self.directory_path, wire, "saved directory")

    def read_policy(self) -> bytes | None:
        """The local policy's bytes, or None when there is none (not parsed here)."""
        if not self.policy_path.exists() and not self.policy_path.is_symlink():
            return None
        return read_private_file(
            self.policy_path, limit=MAX_POLICY_BYTES, error=ClientStateError, what="policy"
        )

    def load_config(self) -> ClientConfig:
        if not self.config_path.exists():
            raise NotInitialised(
                f"no server is pinned in {self.path}; run `petition init --server URL "
                "--trust FINGERPRINT` first"
            )
        data = self._read(self.config_path, "client configuration")
        try:
            return ClientConfig.from_json(cjson.decode(data))
        except MalformedInput as exc:
            raise ClientStateError(f"{self.config_path} is damaged: {exc.message}") from exc

    def save_config(self, config: ClientConfig) -> None:
        self._write(self.config_path, cjson.encode(config.to_json()), "client configuration")

    def record_directory_serial(self, config: ClientConfig, serial: int) -> ClientConfig:
        """Remember the newest directory serial, so an older one is refused later.

        Only the serial is updated in the stored file: a per-command ``--server`` or
        ``--proxy`` must not be saved as a side effect.
        """
        if serial <= config.directory_serial:
            return config
        stored = self.load_config()
        if stored.authority_key == config.authority_key and serial > stored.directory_serial:
            self.save_config(replace(stored, directory_serial=serial))
        return replace(config, directory_serial=serial)

    def load_checkpoints(self, log: note.Verifier) -> list[bytes]:
        """Every checkpoint of ``log`` this auditor accepted, oldest first, as signed notes."""
        path = self.checkpoints_path(log)
        if not path.exists():
            return []
        data = self._read(path, "audit checkpoint list")
        try:
            body = cjson.require_members(
                "audit checkpoint list", cjson.decode(data), _CHECKPOINTS_MEMBERS
            )
            items = body["checkpoints"]
            if body["format"] != CHECKPOINTS_FORMAT or body["version"] != 1:
                raise MalformedInput("not an audit checkpoint list of version 1")
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise MalformedInput("checkpoints must be a list of signed notes (strings)")
            return [item.encode("utf-8") for item in items]
        except MalformedInput as exc:
            raise ClientStateError(f"{path} is damaged: {exc.message}") from exc

    def save_checkpoints(self, log: note.Verifier, checkpoints: list[bytes]) -> None:
        """Keep the checkpoints as note text, exactly as served (signatures and cosignatures)."""
        try:
            texts = [item.decode("utf-8") for item in checkpoints]
        except UnicodeDecodeError as exc:
            raise ClientStateError("a checkpoint to keep is not UTF-8 text") from exc
        body: dict[str, cjson.JsonValue] = {
            "checkpoints": texts,
            "format": CHECKPOINTS_FORMAT,
            "version": 1,
        }
        path = self.checkpoints_path(log)
        self._write(path, cjson.encode(body), "audit checkpoint list")

    def _unchanged(self, path: Path, data: bytes) -> bool:
        try:
            return path.is_file() and not path.is_symlink() and self._read(path, "") == data
        except ClientStateError:
            return False

    def _read(self, path: Path, what: str) -> bytes:
        return read_private_file(path, limit=MAX_STATE_BYTES, error=ClientStateError, what=what)

    def _write(self, path: Path, data: bytes, what: str) -> None:
        if self._unchanged(path, data):
            return  # same bytes: keep the file, and its modification time, as they are
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"cannot create the state directory {path.parent}: {exc}") from exc
        write_private_file(path, data, overwrite=True, error=ClientStateError, what=what)
