"""A connection to the pinned server, and the trust decisions every role starts from.

``petition init`` pins the directory authority by fingerprint. From then on every command
fetches the directory and verifies it with the kept authority key before using any key in it;
the log key, the bureaus' identity, case and signing keys and their token salts are trusted only
because that signature covers them. The verified directory is kept for the session, and its
signed bytes in PETITION_HOME (``directory.json``, rewritten only when the authority publishes a
new one), so that ``petition seal`` can seal later without the network; it is verified again
whenever it is read. A directory older than one already seen is refused too, so a server
cannot roll back a bureau's key rotation.

This module is also the one place that answers "which trust policy?" (c2sp.org/tlog-policy:
which witnesses must cosign a checkpoint before it is believed). The directory carries one; a
local policy (``--policy FILE``, else ``PETITION_HOME/policy``) replaces it, so that a person who
trusts other witnesses, or more of them, does not depend on the operator's choice. A local
policy may change the witnesses and the quorum, never the log: it must name exactly the log key
the directory names, or it is refused. :func:`check_checkpoint` and :func:`check_receipt` apply
a policy and say, rather than fail, when only the witnesses are missing: the log's signature
then still proves what the log accepted, which a petitioner must be told.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from client.api import ServerApi
from client.errors import (
    ClientStateError,
    DirectoryUntrusted,
    FingerprintMismatch,
    InvalidInput,
    ServerMisbehaved,
    UnknownBureau,
)
from client.home import ClientConfig, ClientHome
from client.transport import RetryNotice, RetryPolicy, Transport, validate_server_url
from crypto import cjson, note
from crypto.errors import InvalidProof, InvalidSignature, MalformedInput, PolicyNotSatisfied
from crypto.keys import ED25519_LENGTH, VerifyKey, format_fingerprint, parse_fingerprint
from crypto.labels import SignedKind
from crypto.log_receipt import VerifiedReceipt, verify_receipt, verify_submission_receipt
from crypto.objects import BureauBundle, Directory
from crypto.signing import SignedObject
from crypto.tlog_policy import NONE, Policy, VerifiedCheckpoint

MAX_POLICY_FILE_BYTES = 64 * 1024

_Verified = TypeVar("_Verified", VerifiedCheckpoint, VerifiedReceipt)


@dataclass(frozen=True)
class NetworkOptions:
    """How to reach the server: chosen per command, some of it remembered by ``init``."""

    proxy: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: RetryNotice | None = None


class Session:
    """One role's view of one server, with the directory verified once per session."""

    def __init__(
        self,
        home: ClientHome,
        config: ClientConfig,
        network: NetworkOptions,
        *,
        policy_file: Path | None = None,
    ) -> None:
        self.home = home
        self.config = config
        self.policy_file = policy_file
        self.transport = Transport(
            config.server,
            proxy=network.proxy or config.proxy,
            retry=network.retry,
            on_retry=network.on_retry,
        )
        self.api = ServerApi(self.transport)
        self._directory: Directory | None = None
        self._directory_wire = b""
        self._policy: Policy | None = None
        self._policy_source = "the directory"

    @classmethod
    def open(
        cls, home: ClientHome, network: NetworkOptions, *, policy_file: Path | None = None
    ) -> Session:
        return cls(home, home.load_config(), network, policy_file=policy_file)

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
            wire = self.api.directory()
            directory = verify_directory(wire, self.authority_key)
            if directory.serial < self.config.directory_serial:
                raise DirectoryUntrusted(
                    f"the server sent directory serial {directory.serial}, older than serial "
                    f"{self.config.directory_serial} already seen; refusing a rolled-back directory"
                )
            self.config = self.home.record_directory_serial(self.config, directory.serial)
            self.home.keep_directory(self.config, wire)
            self._directory, self._directory_wire = directory, wire
        return self._directory

    def directory_wire(self) -> bytes:
        """The verified directory's signed bytes, exactly as the server sent them."""
        self.directory()
        return self._directory_wire

    def bureau(self, bureau_id: str) -> BureauBundle:
        directory = self.directory()
        for bundle in directory.bureaus:
            if bundle.bureau_id == bureau_id:
                return bundle
        known = ", ".join(b.bureau_id for b in directory.bureaus) or "none"
        raise UnknownBureau(f"no bureau {bureau_id!r} in the directory (known: {known})")

    @property
    def log(self) -> note.Verifier:
        """The log's verifier key (origin and Ed25519 key), as the directory names it."""
        return self.directory().log_vkey

    def policy(self) -> Policy:
        """The policy every checkpoint and receipt of this session is checked against.

        ``--policy FILE`` if given, else ``PETITION_HOME/policy`` if present, else the
        directory's. A local policy naming another log than the directory is refused.
        """
        if self._policy is None:
            local = local_policy(self.home, self.policy_file)
            if local is None:
                self._policy = self.directory().policy()
            else:
                policy, source = local
                require_log(policy, self.log, source)
                self._policy, self._policy_source = policy, source
        return self._policy

    @property
    def policy_source(self) -> str:
        """Where :meth:`policy` came from, for people: a file name or "the directory"."""
        self.policy()
        return self._policy_source

    def check_checkpoint(self, message: bytes) -> tuple[VerifiedCheckpoint, Witnessing]:
        """A checkpoint the server sent, under this session's policy (:func:`check_checkpoint`)."""
        try:
            return check_checkpoint(message, self.policy(), origin=self.log.name)
        except (InvalidSignature, MalformedInput) as exc:
            raise ServerMisbehaved(
                f"the server's checkpoint does not verify with the log key: {exc.message}"
            ) from exc


@dataclass(frozen=True)
class Witnessing:
    """Which of the policy's witnesses cosigned a checkpoint, and whether that is enough."""

    witnessed: bool  # the policy's quorum is met
    cosigned_by: tuple[str, ...]  # the policy's names of the witnesses whose cosignature verified
    known: int  # how many witnesses the policy names
    shortfall: str = ""  # what the quorum lacks, when it is not met

    @property
    def missing(self) -> int:
        return self.known - len(self.cosigned_by)

    def describe(self) -> str:
        """One phrase for people: witnessed by whom, or how many cosignatures are missing."""
        if not self.witnessed:
            return f"not yet witnessed: {self.missing} of {self.known} witness cosignatures missing"
        if self.cosigned_by:
            return f"witnessed by {', '.join(self.cosigned_by)}"
        return "no witness cosignature required by the policy"


def log_only(policy: Policy) -> Policy:
    """The same log and witnesses with ``quorum none``: what the log's signature alone proves.

    The witnesses stay listed, so that the cosignatures a checkpoint does carry are still
    verified and named.
    """
    return Policy(policy.logs, policy.witnesses, (), NONE)


def _apply(policy: Policy, verify: Callable[[Policy], _Verified]) -> tuple[_Verified, Witnessing]:
    known = len(policy.witnesses)
    try:
        verified = verify(policy)
    except PolicyNotSatisfied as exc:
        verified = verify(log_only(policy))
        return verified, Witnessing(False, verified.witnesses, known, exc.message)
    return verified, Witnessing(True, verified.witnesses, known)


def check_checkpoint(
    message: bytes, policy: Policy, *, origin: str
) -> tuple[VerifiedCheckpoint, Witnessing]:
    """Verify a signed checkpoint: the log's signature always, the witness quorum as a finding.

    Raises :class:`InvalidSignature` or :class:`MalformedInput` when the checkpoint is not the
    log's; a checkpoint that is the log's but lacks the quorum comes back with ``witnessed``
    false, for the caller to judge (a petitioner is told, an auditor reports it).
    """
    return _apply(policy, lambda p: p.verify_checkpoint(message, origin=origin))


def check_receipt(
    data: bytes, policy: Policy, *, origin: str
) -> tuple[VerifiedReceipt, Witnessing]:
    """Verify a receipt (tlog-proof) like :func:`check_checkpoint`; also InvalidProof."""
    return _apply(policy, lambda p: verify_receipt(data, p, origin=origin))


def check_submission_receipt(
    data: bytes,
    policy: Policy,
    *,
    origin: str,
    envelope: bytes | None = None,
    petition_id: str | None = None,
) -> tuple[VerifiedReceipt, Witnessing]:
    """:func:`check_receipt` for the receipt of one submission (``verify_submission_receipt``)."""
    return _apply(
        policy,
        lambda p: verify_submission_receipt(
            data, p, origin=origin, envelope=envelope, petition_id=petition_id
        ),
    )


RECEIPT_ERRORS = (InvalidSignature, InvalidProof, MalformedInput)
"""What :func:`check_receipt` raises for a receipt that proves nothing."""


def local_policy(home: ClientHome, policy_file: Path | None) -> tuple[Policy, str] | None:
    """The local policy (``--policy FILE``, else ``PETITION_HOME/policy``) and where it is from.

    Every problem is one line naming the file: :class:`InvalidInput` for a file given on the
    command line, :class:`ClientStateError` for the one under PETITION_HOME.
    """
    if policy_file is not None:
        source = str(policy_file)
        return parse_policy(read_policy_file(policy_file), source, InvalidInput), source
    data = home.read_policy()
    if data is None:
        return None
    source = str(home.policy_path)
    return parse_policy(data, source, ClientStateError), source


def read_policy_file(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_POLICY_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the policy file {path}: {exc.strerror}") from exc
    if len(data) > MAX_POLICY_FILE_BYTES:
        raise InvalidInput(f"the policy file {path} is larger than {MAX_POLICY_FILE_BYTES} bytes")
    return data


def parse_policy(data: bytes, source: str, error: type[InvalidInput | ClientStateError]) -> Policy:
    """A tlog-policy naming exactly one log (this project runs one log per deployment)."""
    try:
        policy = Policy.parse(data)
    except MalformedInput as exc:
        raise error(f"{source} is not a tlog-policy: {exc.message}") from exc
    if len(policy.logs) != 1:
        raise error(f"{source} must name exactly one log (it names {len(policy.logs)})")
    return policy


def require_log(policy: Policy, log: note.Verifier, source: str) -> None:
    """A local policy may choose witnesses and quorum, never another log than the directory's."""
    if [entry.verifier for entry in policy.logs] != [log]:
        named = policy.logs[0].verifier.to_vkey() if policy.logs else "no log"
        raise InvalidInput(
            f"the policy {source} names the log {named}, not the log the directory names "
            f"({log.to_vkey()}); refusing it"
        )


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
    """Fetch the authority key, check it against the fingerprint, verify the directory, save.

    Nothing is written under ``home`` unless every check passed (``petition init`` and the web
    UI's setup page both rely on it)."""
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
            # Never the server's own fingerprint: shown it, a person is invited to copy it
            # into --trust, which is all an impostor needs.
            raise FingerprintMismatch(
                "the server's directory authority is not the one given with --trust: stop "
                "and check the fingerprint against the poster or whoever gave it to you (a "
                "typing mistake, or an impostor server); nothing was saved"
            )
        wire = ServerApi(t).directory()
        directory = verify_directory(wire, key)
    config = ClientConfig(
        server=url,
        authority_key=key.to_bytes(),
        proxy=network.proxy,
        directory_serial=directory.serial,
    )
    home.save_config(config)
    home.keep_directory(config, wire)
    return config, directory
