"""A connection to the pinned server, and the trust decisions every role starts from.

``petition init`` pins the directory authority by fingerprint. From then on every command
fetches the directory and verifies it with the kept authority key before using any key in it;
the log key, the bureaus' identity, case and signing keys and their token salts are trusted only
because that signature covers them. The verified directory is kept in memory for the session:
nothing of it is written to disk. A directory older than one already seen is refused too, so a
server cannot roll back a bureau's key rotation.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from client.api import ServerApi
from client.errors import DirectoryUntrusted, ServerMisbehaved, UnknownBureau
from client.home import ClientConfig, ClientHome
from client.transport import RetryNotice, RetryPolicy, Transport, validate_server_url
from crypto import cjson
from crypto.errors import InvalidSignature, MalformedInput
from crypto.keys import ED25519_LENGTH, VerifyKey, format_fingerprint, parse_fingerprint
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory, TreeHead
from crypto.signing import SignedObject


@dataclass(frozen=True)
class NetworkOptions:
    """How to reach the server: chosen per command, some of it remembered by ``init``."""

    proxy: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: RetryNotice | None = None


class Session:
    """One role's view of one server, with the directory verified once per session."""

    def __init__(self, home: ClientHome, config: ClientConfig, network: NetworkOptions) -> None:
        self.home = home
        self.config = config
        self.transport = Transport(
            config.server,
            proxy=network.proxy or config.proxy,
            retry=network.retry,
            on_retry=network.on_retry,
        )
        self.api = ServerApi(self.transport)
        self._directory: Directory | None = None

    @classmethod
    def open(cls, home: ClientHome, network: NetworkOptions) -> Session:
        return cls(home, home.load_config(), network)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def authority_key(self) -> VerifyKey:
        return VerifyKey(self.config.authority_key)

    def directory(self) -> Directory:
        if self._directory is None:
            directory = verify_directory(self.api.directory(), self.authority_key)
            if directory.serial < self.config.directory_serial:
                raise DirectoryUntrusted(
                    f"the server sent directory serial {directory.serial}, older than serial "
                    f"{self.config.directory_serial} already seen; refusing a rolled-back directory"
                )
            self.config = self.home.record_directory_serial(self.config, directory.serial)
            self._directory = directory
        return self._directory

    def bureau(self, bureau_id: str) -> BureauBundle:
        directory = self.directory()
        for bundle in directory.bureaus:
            if bundle.bureau_id == bureau_id:
                return bundle
        known = ", ".join(b.bureau_id for b in directory.bureaus) or "none"
        raise UnknownBureau(f"no bureau {bureau_id!r} in the directory (known: {known})")

    def verified_head(self, signed: SignedObject) -> TreeHead:
        """A tree head, verified with the log key the authority vouches for."""
        try:
            return TreeHead.from_json(signed.verify(self.directory().log_key))
        except (InvalidSignature, MalformedInput) as exc:
            raise ServerMisbehaved(f"a tree head does not verify with the log key: {exc}") from exc


def verify_directory(wire: bytes, authority: VerifyKey) -> Directory:
    try:
        signed = SignedObject.decode(wire, SignedKind.DIRECTORY)
        return Directory.from_json(signed.verify(authority))
    except InvalidSignature as exc:
        raise DirectoryUntrusted(
            "the directory is not signed by the pinned authority "
            f"({format_fingerprint(authority.fingerprint)[:19]}…); refusing to continue"
        ) from exc
    except MalformedInput as exc:
        raise DirectoryUntrusted(f"the server's directory is malformed: {exc.message}") from exc


def pin_server(
    home: ClientHome, server: str, fingerprint_text: str, network: NetworkOptions
) -> tuple[ClientConfig, Directory]:
    """Fetch the authority key, check it against the fingerprint, verify the directory, save."""
    try:
        pinned = parse_fingerprint(fingerprint_text)
    except MalformedInput as exc:
        raise DirectoryUntrusted(f"--trust: {exc.message}") from exc
    url = validate_server_url(server)
    with Transport(url, proxy=network.proxy, retry=network.retry, on_retry=network.on_retry) as t:
        value = t.call("GET", "/v1/authority").json()
        try:
            key = VerifyKey(cjson.b64decode(value["public_key"], length=ED25519_LENGTH))
        except (MalformedInput, KeyError, TypeError) as exc:
            raise ServerMisbehaved("the server's authority key is malformed") from exc
        if not hmac.compare_digest(key.fingerprint, pinned):
            raise DirectoryUntrusted(
                f"the server's authority key has fingerprint {format_fingerprint(key.fingerprint)}"
                ", not the one given with --trust; nothing was saved"
            )
        directory = verify_directory(ServerApi(t).directory(), key)
    config = ClientConfig(
        server=url,
        authority_key=key.to_bytes(),
        proxy=network.proxy,
        directory_serial=directory.serial,
    )
    home.save_config(config)
    return config, directory
