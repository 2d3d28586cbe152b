"""The bureau reviewer's side: keys, inbox, opening petitions, and answering them.

A bureau's keystore holds its four secrets (encryption key, signing key, VOPRF seed and the
public bundle with its token salt). Every request to the server is signed with the signing key
(docs/protocol.md §9.3.7). Petitions are decrypted here, never on the server, and each one gets
the token-binding check: the token the server filed it under must be the token of the ID
number inside. A mismatch is reported with the petition, never hidden and never fatal, because
the reviewer still has to read it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from client.api import BureauSigner, StoredPetition
from client.errors import InvalidInput, ServerMisbehaved
from client.session import Session
from crypto import cjson
from crypto.document import PetitionDocument
from crypto.errors import (
    DecryptionError,
    MalformedInput,
    SealedPetitionError,
    TokenBindingError,
)
from crypto.fields import Status, petition_id_for, validate_bureau_id, validate_petition_id
from crypto.idnumber import normalize_id
from crypto.keyfile import write_token_key_file
from crypto.keys import EncryptionPrivateKey, SigningKey
from crypto.keystore import read_keystore_file, write_keystore_file
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Reply
from crypto.petition import open_petition
from crypto.reply import seal_reply
from crypto.signing import sign
from crypto.token import (
    DEFAULT_TOKEN_PARAMS,
    TokenKey,
    TokenParams,
    check_token_binding,
    generate_token_salt,
)

ENCRYPTION_SECRET = "encryption-key"  # noqa: S105  (keystore entry names)
SIGNING_SECRET = "signing-key"  # noqa: S105
TOKEN_SECRET = "token-key"  # noqa: S105
BUNDLE_ENTRY = "bundle"
_ENTRIES = {ENCRYPTION_SECRET, SIGNING_SECRET, TOKEN_SECRET, BUNDLE_ENTRY}


@dataclass(frozen=True)
class BureauKeys:
    bundle: BureauBundle
    encryption: EncryptionPrivateKey
    signing: SigningKey
    token: TokenKey

    @property
    def bureau_id(self) -> str:
        return self.bundle.bureau_id


@dataclass(frozen=True)
class OpenedPetition:
    stored: StoredPetition
    document: PetitionDocument | None
    binding_ok: bool
    problems: tuple[str, ...]  # every check that failed, in words; empty when all is well


def create_bureau(
    bureau_id: str,
    name: str,
    keystore: Path,
    passphrase: str,
    token_params: TokenParams = DEFAULT_TOKEN_PARAMS,
) -> BureauKeys:
    """New keys and token salt, sealed into ``keystore`` (never overwritten)."""
    try:
        bureau_id = validate_bureau_id(bureau_id)
    except MalformedInput as exc:
        raise InvalidInput(f"--id: {exc.message}") from exc
    encryption = EncryptionPrivateKey.generate()
    signing = SigningKey.generate()
    token = TokenKey.generate(bureau_id)
    try:
        bundle = BureauBundle(
            bureau_id=bureau_id,
            name=name,
            encryption_key=encryption.public_key(),
            signing_key=signing.public_key(),
            token_key=token.public_key(),
            token_salt=generate_token_salt(),
            token_params=token_params,
        )
        BureauBundle.from_json(bundle.to_json())  # the same checks the directory authority runs
    except MalformedInput as exc:
        raise InvalidInput(f"bureau bundle: {exc.message}") from exc
    write_keystore_file(
        keystore,
        {
            ENCRYPTION_SECRET: encryption.to_bytes(),
            SIGNING_SECRET: signing.to_bytes(),
            TOKEN_SECRET: token.seed,
            BUNDLE_ENTRY: cjson.encode(bundle.to_json()),
        },
        passphrase,
    )
    return BureauKeys(bundle, encryption, signing, token)


def write_bundle(path: Path, keys: BureauKeys) -> None:
    try:
        with path.open("xb") as handle:
            handle.write(cjson.encode(keys.bundle.to_json()) + b"\n")
    except FileExistsError:
        raise InvalidInput(f"{path} already exists; choose another --bundle path") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write the bundle {path}: {exc.strerror}") from exc


def export_token_key(path: Path, keys: BureauKeys) -> None:
    """The VOPRF key as a key file for the token evaluator (server, or the bureau's own host)."""
    write_token_key_file(path, keys.token)


def load_bureau(keystore: Path, passphrase: str) -> BureauKeys:
    secrets = read_keystore_file(keystore, passphrase)
    if not set(secrets) >= _ENTRIES:
        raise InvalidInput(f"{keystore} is a keystore, but not a bureau's")
    try:
        bundle = BureauBundle.from_json(cjson.decode(secrets[BUNDLE_ENTRY]))
        keys = BureauKeys(
            bundle,
            EncryptionPrivateKey(secrets[ENCRYPTION_SECRET]),
            SigningKey(secrets[SIGNING_SECRET]),
            TokenKey(secrets[TOKEN_SECRET], bundle.bureau_id),
        )
    except MalformedInput as exc:
        raise InvalidInput(f"the bureau keystore {keystore} is damaged: {exc.message}") from exc
    if keys.encryption.public_key() != bundle.encryption_key or (
        keys.signing.public_key() != bundle.signing_key
        or keys.token.public_key() != bundle.token_key
    ):
        raise InvalidInput(f"the bureau keystore {keystore} holds keys that do not match")
    return keys


class BureauDesk:
    """A reviewer's session: the bureau's keys plus the pinned server."""

    def __init__(self, session: Session, keys: BureauKeys) -> None:
        self.session = session
        self.keys = keys
        self.signer = BureauSigner(keys.bureau_id, keys.signing)

    def published_bundle_differs(self) -> bool:
        """True when the directory lists other keys for this bureau (rotation not published)."""
        published = self.session.bureau(self.keys.bureau_id)
        return published.to_json() != self.keys.bundle.to_json()

    def inbox(self, after: int = 0, limit: int = 100) -> tuple[list[dict[str, object]], int]:
        page = self.session.api.bureau_inbox(self.signer, after, limit)
        return list(page.items), page.next_cursor

    def open(self, petition_id: str) -> OpenedPetition:
        petition_id = _petition_id(petition_id)
        stored = self.session.api.bureau_petition(self.signer, petition_id)
        if stored.petition_id != petition_id or petition_id_for(stored.envelope) != petition_id:
            raise ServerMisbehaved("the server sent another petition than the one asked for")
        problems: list[str] = []
        try:
            header, document = open_petition(
                stored.envelope, self.keys.encryption, self.keys.bureau_id
            )
        except TokenBindingError as exc:
            return OpenedPetition(stored, None, False, (exc.message,))
        except (DecryptionError, MalformedInput) as exc:
            return OpenedPetition(stored, None, False, (f"cannot open: {exc.message}",))
        if not hmac.compare_digest(stored.token, header.token):
            problems.append("the server filed this petition under another token than its own")
        try:
            identity = normalize_id(document.id_scheme, document.id_number)
            params = self.keys.bundle.token_params
            check_token_binding(
                document.token, identity, self.keys.bundle.token_salt, self.keys.token, params
            )
        except SealedPetitionError as exc:
            problems.append(f"token binding: {exc.message}")
        return OpenedPetition(stored, document, not problems, tuple(problems))

    def reply(self, petition_id: str, status: str, message: str) -> int:
        """Seal ``message`` to the petitioner, sign, post; returns the new log leaf index."""
        try:
            new_status = Status.parse(status)
        except MalformedInput as exc:
            choices = ", ".join(s.value for s in Status if s is not Status.RECEIVED)
            raise InvalidInput(f"--status must be one of {choices}") from exc
        if new_status is Status.RECEIVED:
            raise InvalidInput("--status received is the state before any reply")
        opened = self.open(petition_id)
        if opened.document is None:
            raise InvalidInput(
                f"petition {petition_id} cannot be opened, so it cannot be answered: "
                + "; ".join(opened.problems)
            )
        reply = Reply(
            petition_id=opened.stored.petition_id,
            bureau_id=self.keys.bureau_id,
            status=new_status,
            sequence=len(opened.stored.replies),
            ciphertext=seal_reply(
                message, opened.document.reply_key, opened.stored.petition_id, self.keys.bureau_id
            ),
            day=datetime.now(UTC).date(),
        )
        signed = sign(SignedKind.REPLY, reply.to_json(), self.keys.signing).encode()
        answer = self.session.api.bureau_reply(self.signer, opened.stored.petition_id, signed)
        try:
            return int(answer["leaf_index"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: 1e400
            raise ServerMisbehaved("the server's answer to a reply has no leaf index") from exc


def _petition_id(text: str) -> str:
    try:
        return validate_petition_id(text.strip().lower())
    except MalformedInput as exc:
        raise InvalidInput(f"{text!r} is not a petition id (32 hexadecimal characters)") from exc
