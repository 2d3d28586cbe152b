"""Data disclosure: attacks that try to read a petition, a key or the store without the right key.

One real server (``petition serve`` via ``harness.start_server``, two bureaus) takes a few
petitions whose every field carries a distinctive marker. Each test then plays one adversary
from docs/threat-model.md with everything that adversary is assumed to hold (the whole data
directory and its database key, another bureau's keys, a stolen keystore or database file, the
X25519 half of a bureau key) and looks for the markers. ``defence-off`` hands the attacker the
one thing the defence withholds, or removes the one mechanism under test, and the same attack
code must then read the petition.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlcipher3
from adversary import Defence
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import x25519
from flask import request
from harness import (
    ID_NUMBERS,
    PASSPHRASE,
    PETITION,
    Bureau,
    Client,
    RunningServer,
    start_server,
    stop_server,
)
from werkzeug.serving import make_server

from client.bureau import BureauKeys, load_bureau
from crypto import cjson, labels, padding
from crypto import envelope as envelope_module
from crypto.document import Attachment, PetitionDocument
from crypto.envelope import AEAD_TAG_LENGTH, EnvelopeHeader, open_envelope, parse_header
from crypto.errors import DecryptionError, KeystoreError, TokenBindingError, WrongPassphrase
from crypto.keys import (
    FINGERPRINT_LENGTH,
    MLKEM_PUBLIC_LENGTH,
    MLKEM_SEED_LENGTH,
    EncryptionPrivateKey,
    EncryptionPublicKey,
)
from crypto.labels import SignedKind
from crypto.petition import open_petition, seal_petition
from crypto.receipt import ReceiptSecret
from crypto.signing import SignedObject
from crypto.token import TOKEN_LENGTH
from server import app as server_app
from server.auth import authenticate_bureau
from server.blueprints import bureau as bureau_routes
from server.blueprints.public import bureau_or_404
from server.config import ServerConfig
from server.services import Services, services

SQLITE_HEADER = b"SQLite format 3\x00"
ATTACK_BUREAU = "guangdong"  # ADV-BUREAU: holds its own keys, wants national's petitions
VICTIM_BUREAU = "national"


# --- the world: one server and petitions full of markers --------------------------------------


@dataclass(frozen=True)
class Sent:
    """A petition as submitted, with every personal value the petitioner wrote into it."""

    bureau_id: str
    petition_id: str
    envelope: bytes
    token: bytes
    receipt: bytes  # the signed receipt, as the server stores it
    personal: tuple[str, ...]


@dataclass
class World:
    server: RunningServer
    sent: list[Sent]
    root: Path

    def of(self, bureau_id: str) -> list[Sent]:
        return [petition for petition in self.sent if petition.bureau_id == bureau_id]


def _document(bureau: Bureau, id_number: str, *, marker: str, body: str = "") -> PetitionDocument:
    """A petition whose name, subject, contact, body and attachment each carry ``marker``."""
    return PetitionDocument(
        real_name=f"欧阳{marker}",
        id_scheme="cn-resident",
        id_number=id_number,
        contact=f"微信 wx{marker}",
        subject=f"强拆补偿{marker}",
        body=body or f"我家房屋被强拆，至今未获补偿。标记{marker}",
        category="土地与房屋",
        region="440300",
        reply_key=ReceiptSecret.generate().reply_private_key().public_key(),
        token=bureau.token_for(id_number),
        created_day=date.today(),
        attachments=(Attachment(f"证据{marker}.txt", "text/plain", f"收据{marker}".encode()),),
    )


def _personal(document: PetitionDocument, marker: str) -> tuple[str, ...]:
    return (
        marker,
        document.real_name,
        document.id_number,
        document.contact,
        document.subject,
        document.body,
        document.attachments[0].name,
    )


def _submit(server: RunningServer, bureau_id: str, envelope: bytes, token: bytes) -> Any:
    return server.client.post(
        "/v1/petitions",
        {
            "bureau_id": bureau_id,
            "token": cjson.b64encode(token),
            "envelope": cjson.b64encode(envelope),
            "lookup_key_hash": cjson.b64encode(ReceiptSecret.generate().lookup_key_hash()),
        },
    )


def _send(server: RunningServer, bureau_id: str, id_number: str) -> Sent:
    bureau = server.bureaus[bureau_id]
    marker = secrets.token_hex(5)
    document = _document(bureau, id_number, marker=marker)
    envelope = seal_petition(document, bureau.encryption.public_key(), bureau_id)
    answer = _submit(server, bureau_id, envelope, document.token)
    assert answer.status == 201, answer.raw
    return Sent(
        bureau_id=bureau_id,
        petition_id=answer.json["petition_id"],
        envelope=envelope,
        token=document.token,
        receipt=cjson.encode(answer.json["receipt"]),
        personal=_personal(document, marker),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("disclosure")
    server = start_server(root)
    try:
        sent = [
            _send(server, VICTIM_BUREAU, ID_NUMBERS[0]),
            _send(server, VICTIM_BUREAU, ID_NUMBERS[1]),
            _send(server, ATTACK_BUREAU, ID_NUMBERS[2]),
        ]
        yield World(server, sent, root)
    finally:
        stop_server(server)


# --- what an attacker with a copy of the server sees -------------------------------------------


def _database_values(database: Path, key: bytes) -> Iterator[tuple[str, bytes]]:
    """Every value of every table, decrypted with ``key``, as bytes (numbers as their digits)."""
    conn = sqlcipher3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608  (names from the file)
            names = [column[0] for column in cursor.description]
            for row in cursor:
                for name, value in zip(names, row, strict=True):
                    data = value if isinstance(value, bytes) else str(value).encode()
                    yield f"{table}.{name}", data
    finally:
        conn.close()


def _files(*roots: Path) -> Iterator[tuple[str, bytes]]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield str(path), path.read_bytes()


def _encodings(text: str) -> tuple[bytes, ...]:
    return (text.encode(), text.encode("utf-16-le"), text.encode("utf-16-be"))


def _found(personal: tuple[str, ...], haystacks: list[tuple[str, bytes]]) -> set[str]:
    """The personal values that appear, in UTF-8 or UTF-16, in any of ``haystacks``."""
    return {
        value
        for value in personal
        for _where, data in haystacks
        if any(needle in data for needle in _encodings(value))
    }


def _db_key(data_dir: Path) -> bytes:
    return bytes.fromhex((data_dir / "db.key").read_text().strip())


# --- T-DD-1 ------------------------------------------------------------------------------------


@pytest.mark.threat("T-DD-1")
def test_the_operator_and_another_bureau_together_cannot_read_a_petition(
    world: World, defence: Defence
) -> None:
    """ADV-OPERATOR with the whole data directory, its database key and the token key directory,
    helped by ADV-BUREAU (guangdong's private key), looks for national's petitions in every file
    and every decrypted database value, and tries every key it holds on every stored envelope.

    Only HPKE to the assigned bureau's key stands in the way, so ``defence-off`` gives the
    attacker that key as well: the same search must then find every personal value.
    """
    server = world.server
    held = {ATTACK_BUREAU: server.bureaus[ATTACK_BUREAU].encryption}
    if defence.off:
        held[VICTIM_BUREAU] = server.bureaus[VICTIM_BUREAU].encryption

    stored = list(_files(server.data_dir, server.token_keys))
    stored += list(_database_values(server.data_dir / "petitions.db", _db_key(server.data_dir)))
    opened: list[tuple[str, bytes]] = []
    for where, value in stored:
        if where != "petitions.envelope":
            continue
        for bureau_id, key in held.items():
            try:
                _header, document = open_petition(value, key, bureau_id)
            except DecryptionError:
                continue
            fields = [document.real_name, document.id_number, document.contact, document.subject]
            text = "\n".join([*fields, document.body, *(a.name for a in document.attachments)])
            opened.append((f"opened with {bureau_id}'s key", text.encode()))

    # The attack code itself works: guangdong reads its own petition with its own key.
    own = world.of(ATTACK_BUREAU)[0]
    assert _found(own.personal, opened) == set(own.personal)

    victims = [value for sent in world.of(VICTIM_BUREAU) for value in sent.personal]
    read = _found(tuple(victims), stored + opened)
    if defence.off:
        assert read == set(victims)
    defence.judge(bool(read), "reading national's petitions with the server's data and keys")


# --- T-DD-2 ------------------------------------------------------------------------------------


class _HeaderBlindSuite:
    """The shipped HPKE suite with ``info`` cut down to the fixed label: the clear header
    (bureau id, key id, token) is then no longer bound into the encryption context."""

    def __init__(self, suite: hpke.Suite) -> None:
        self._suite = suite

    def encrypt(self, plaintext: bytes, public_key: Any, info: bytes = b"") -> bytes:
        return self._suite.encrypt(plaintext, public_key, info=labels.ENVELOPE_INFO)

    def decrypt(self, ciphertext: bytes, private_key: Any, info: bytes = b"") -> bytes:
        return self._suite.decrypt(ciphertext, private_key, info=labels.ENVELOPE_INFO)


def _move(envelope: bytes, **changes: Any) -> bytes:
    """The same ciphertext behind a rewritten clear header."""
    header, offset = parse_header(envelope)
    fields = {"bureau_id": header.bureau_id, "key_id": header.key_id, "token": header.token}
    return EnvelopeHeader(**{**fields, **changes}).encode() + envelope[offset:]


def _fetch(server: RunningServer, bureau_id: str, petition_id: str) -> bytes:
    """The envelope as the server delivers it to the bureau whose inbox it is in."""
    bureau = server.bureaus[bureau_id]
    answer, _ = server.client.signed(
        bureau, "GET", f"/v1/bureaus/{bureau_id}/petitions/{petition_id}"
    )
    assert answer.status == 200, answer.raw
    return cjson.b64decode(answer.json["envelope"])


@pytest.mark.threat("T-DD-2")
def test_an_envelope_moved_to_another_bureau_or_token_does_not_open(
    world: World, defence: Defence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADV-OPERATOR rewrites the clear header of a national petition: into guangdong's inbox
    (guangdong's id, key id and token), onto another petitioner's token at national, and under
    guangdong's id with national's key. Each is submitted to the real server; what the server
    files is fetched by the bureau whose inbox it lands in, and every bureau tries to open it.

    The moves across bureaus fail on the KEM and the explicit header check whatever happens; the
    token move is stopped by the HPKE ``info`` binding alone at the envelope layer. So
    ``defence-off`` seals and opens with ``info`` reduced to the label (both sides patched, the
    ciphertext otherwise the shipped suite's): the petition then opens under a forged token.
    """
    if defence.off:
        monkeypatch.setattr(envelope_module, "SUITE", _HeaderBlindSuite(envelope_module.SUITE))
    server = world.server
    national, guangdong = server.bureaus[VICTIM_BUREAU], server.bureaus[ATTACK_BUREAU]
    marker = secrets.token_hex(5)
    document = _document(national, ID_NUMBERS[0], marker=marker)
    original = seal_petition(document, national.encryption.public_key(), VICTIM_BUREAU)
    moves = {
        "into guangdong's inbox": _move(
            original,
            bureau_id=ATTACK_BUREAU,
            key_id=guangdong.encryption.public_key().key_id,
            token=guangdong.token_for(ID_NUMBERS[0]),
        ),
        "onto another petitioner's token": _move(original, token=national.token_for(ID_NUMBERS[1])),
        "under guangdong with national's key": _move(original, bureau_id=ATTACK_BUREAU),
    }

    filed: dict[str, int] = {}
    accepted: list[str] = []
    for name, moved in moves.items():
        header, _ = parse_header(moved)
        answer = _submit(server, header.bureau_id, moved, header.token)
        filed[name] = answer.status
        delivered = moved
        if answer.status == 201:
            delivered = _fetch(server, header.bureau_id, answer.json["petition_id"])
            assert delivered == moved
        for bureau in (national, guangdong):
            try:
                opened_header, plaintext = open_envelope(
                    delivered, bureau.encryption, bureau.bureau_id
                )
            except DecryptionError:
                continue
            assert marker.encode() in plaintext
            assert opened_header == header  # the forged header is taken as the petitioner's
            accepted.append(f"{name}, opened by {bureau.bureau_id}")

    # The server files what it cannot check (it never sees inside) and refuses what it can: an
    # envelope sealed to a key that is not the bureau's current one.
    assert filed == {
        "into guangdong's inbox": 201,
        "onto another petitioner's token": 201,
        "under guangdong with national's key": 409,
    }
    # The unmoved envelope opens for national in both runs: the attack code can open.
    assert open_envelope(original, national.encryption, VICTIM_BUREAU)[1]
    token_moved = moves["onto another petitioner's token"]
    if defence.off:
        assert accepted == ["onto another petitioner's token, opened by national"]
        # A second, independent layer: the token inside the document still differs.
        with pytest.raises(TokenBindingError):
            open_petition(token_moved, national.encryption, VICTIM_BUREAU)
    else:
        with pytest.raises(DecryptionError):
            open_petition(token_moved, national.encryption, VICTIM_BUREAU)
    defence.judge(bool(accepted), "opening a petition under a rewritten bureau or token")


# --- T-DD-3 ------------------------------------------------------------------------------------


def _x25519_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make envelopes classical: DHKEM(X25519) on the keys' X25519 halves, no ML-KEM at all."""
    monkeypatch.setattr(
        envelope_module,
        "SUITE",
        hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305),
    )

    def public_half(key: EncryptionPublicKey) -> x25519.X25519PublicKey:
        return x25519.X25519PublicKey.from_public_bytes(key.to_bytes()[MLKEM_PUBLIC_LENGTH:])

    def private_half(key: EncryptionPrivateKey) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.from_private_bytes(key.to_bytes()[MLKEM_SEED_LENGTH:])

    monkeypatch.setattr(EncryptionPublicKey, "hpke_key", public_half)
    monkeypatch.setattr(EncryptionPrivateKey, "hpke_key", private_half)


def _hpke_open(envelope: bytes, key: EncryptionPrivateKey) -> bytes | None:
    """Decrypt the HPKE part directly, as an attacker with a candidate key would: no key-id
    check in the way, the header as ``info`` exactly as the protocol defines it."""
    offset = 5 + envelope[4] + FINGERPRINT_LENGTH + TOKEN_LENGTH
    try:
        return envelope_module.SUITE.decrypt(
            envelope[offset:], key.hpke_key(), info=labels.ENVELOPE_INFO + envelope[:offset]
        )
    except (InvalidTag, ValueError):
        return None


@pytest.mark.threat("T-DD-3")
def test_breaking_x25519_alone_does_not_open_a_recorded_envelope(
    world: World, defence: Defence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADV-QUANTUM records an envelope and later recovers the bureau's X25519 private key (what
    Shor's algorithm would give). It combines it with a guessed ML-KEM seed and decrypts.

    The defence is the hybrid KEM (X-Wing: ML-KEM-768 + X25519). ``defence-off`` seals with a
    classical DHKEM(X25519) suite on the same keys' X25519 halves: the same attacker then reads
    the petition.
    """
    if defence.off:
        _x25519_only(monkeypatch)
    national = world.server.bureaus[VICTIM_BUREAU]
    marker = secrets.token_hex(5)
    document = _document(national, ID_NUMBERS[0], marker=marker)
    recorded = seal_petition(document, national.encryption.public_key(), VICTIM_BUREAU)

    offset = 5 + recorded[4] + FINGERPRINT_LENGTH + TOKEN_LENGTH
    bucket = padding.bucket_for(len(document.encode()))
    encapsulated = len(recorded) - offset - bucket - AEAD_TAG_LENGTH
    if defence.on:
        assert encapsulated == 1120 == hpke.KEM.MLKEM768_X25519.enc_length()
    else:
        assert encapsulated == 32 == hpke.KEM.X25519.enc_length()

    real = national.encryption.to_bytes()
    # The decryption routine is right: with both halves of the real key it opens.
    assert marker.encode() in (_hpke_open(recorded, national.encryption) or b"")
    guessed_seed = secrets.token_bytes(MLKEM_SEED_LENGTH)
    quantum = EncryptionPrivateKey(guessed_seed + real[MLKEM_SEED_LENGTH:])
    plaintext = _hpke_open(recorded, quantum)
    if plaintext is not None:
        assert marker.encode() in plaintext
    defence.judge(plaintext is not None, "decrypting with the recovered X25519 key alone")


# --- T-DD-5 ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StolenKeystore:
    path: Path
    keys: BureauKeys  # what the file protects, known to the test (not to the attacker)


@pytest.fixture(scope="module")
def stolen_keystore(world: World) -> StolenKeystore:
    """A bureau keystore made by ``petition bureau init`` (cheapest Argon2id the format allows)."""
    folder = world.root / "laptop"
    folder.mkdir()
    passphrase_file = folder / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    keystore = folder / "shenzhen.keystore"
    made = subprocess.run(  # noqa: S603
        [*PETITION, "bureau", "init", "--id", "shenzhen", "--name", "深圳市信访局",
         "--keystore", str(keystore), "--passphrase-file", str(passphrase_file),
         "--argon2-memory-kib", "8192", "--argon2-time-cost", "1"],
        capture_output=True, text=True, timeout=120, cwd=folder, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return StolenKeystore(keystore, load_bureau(keystore, PASSPHRASE))


def _close_guesses(passphrase: str) -> list[str]:
    """What a thief tries first: common passwords and near misses of the real passphrase.

    Short on purpose: each guess costs one Argon2id at the keystore's own parameters (64 MiB,
    t=3, as ``petition bureau init`` writes them), which is the point of the defence.
    """
    words = passphrase.split()
    return [
        "password",
        passphrase.capitalize(),
        passphrase + " ",
        passphrase[:-1],
        "-".join(words),
    ]


def _key_material(keys: BureauKeys) -> dict[str, bytes]:
    raw = keys.encryption.to_bytes()
    return {
        "encryption key": raw,
        "ML-KEM seed": raw[:MLKEM_SEED_LENGTH],
        "X25519 key": raw[MLKEM_SEED_LENGTH:],
        "signing key": keys.signing.to_bytes(),
        "token key": keys.token.seed,
    }


def _written_forms(secret: bytes) -> list[bytes]:
    """A secret as a file might hold it: raw, hex, base64 (standard and URL-safe)."""
    b64 = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    return [
        secret, secret[:16], secret[-16:], secret.hex().encode(), secret.hex().upper().encode(),
        b64, b64.rstrip(b"="), url, url.rstrip(b"="),
    ]  # fmt: skip


@pytest.mark.threat("T-DD-5")
def test_a_stolen_bureau_keystore_gives_up_no_key(
    stolen_keystore: StolenKeystore, defence: Defence
) -> None:
    """ADV-LOCAL copies a reviewer's keystore: it looks for key bytes in the file, then runs a
    small dictionary of common passwords and close variants of the real passphrase through the
    reviewer's own loading code (``client.bureau.load_bureau``).

    What protects the keys is the passphrase (Argon2id + ChaCha20-Poly1305). ``defence-off``
    puts the real passphrase in the dictionary: the same attack then yields every key.
    """
    path = stolen_keystore.path
    data = path.read_bytes()
    assert path.stat().st_mode & 0o077 == 0
    kdf = json.loads(data)["kdf"]
    assert (kdf["memory_kib"], kdf["time_cost"]) == (65536, 3)  # the shipped default cost
    guesses = _close_guesses(PASSPHRASE)
    assert PASSPHRASE not in guesses
    if defence.off:
        guesses.insert(len(guesses) // 2, PASSPHRASE)

    material = _key_material(stolen_keystore.keys)
    in_clear = [
        name
        for name, secret in material.items()
        if any(form in data for form in _written_forms(secret))
    ]
    recovered: dict[str, bytes] = {}
    refusals: set[tuple[type[KeystoreError], str]] = set()
    for guess in guesses:
        try:
            keys = load_bureau(path, guess)
        except KeystoreError as refused:
            refusals.add((type(refused), str(refused)))
            continue
        recovered = _key_material(keys)
    # Every wrong guess gets the one clear keystore error, and nothing else.
    assert refusals == {(WrongPassphrase, "wrong passphrase, or the keystore file was altered")}
    assert in_clear == []
    if recovered:
        assert recovered == material
    defence.judge(bool(in_clear or recovered), "recovering a bureau key from its keystore file")


# --- T-DD-6 ------------------------------------------------------------------------------------


def _copy_database(data_dir: Path, to: Path) -> Path:
    """What a thief copies: the database and its WAL files, not the key next to them."""
    to.mkdir()
    for name in ("petitions.db", "petitions.db-wal", "petitions.db-shm"):
        if (data_dir / name).exists():
            shutil.copy2(data_dir / name, to / name)
    return to / "petitions.db"


def _read_rows(database: Path, key: bytes | None) -> list[tuple[str, bytes]]:
    """Every value the database gives up: with plain SQLite when ``key`` is None."""
    if key is None:
        conn = sqlite3.connect(database)
        try:
            rows = conn.execute("SELECT name, sql FROM sqlite_master").fetchall()
        finally:
            conn.close()
        return [(str(name), str(sql).encode()) for name, sql in rows]
    return list(_database_values(database, key))


@pytest.mark.threat("T-DD-6")
def test_a_stolen_database_file_is_noise_without_its_key(
    world: World, defence: Defence, tmp_path: Path
) -> None:
    """ADV-LOCAL copies ``petitions.db`` (with its WAL) off a disk or a backup. It opens it with
    Python's sqlite3, then with SQLCipher and a few wrong keys, and searches the raw bytes for the
    schema, tokens, petition ids, days and receipts the store is known to hold.

    SQLCipher's key is the defence. ``defence-off`` gives the thief ``DATA/db.key`` as well, as a
    copy of the whole data directory would (the residual risk of the default key file): the same
    attack then reads every row.
    """
    server = world.server
    database = _copy_database(server.data_dir, tmp_path / "stolen")
    raw = b"".join(path.read_bytes() for path in sorted(database.parent.iterdir()))
    guessed = hashlib.sha256(PASSPHRASE.encode()).digest()
    tries: list[bytes | None] = [None, bytes(32), secrets.token_bytes(32), guessed]
    if defence.off:
        assert (server.data_dir / "db.key").is_file()  # the key sits next to the database
        tries.append(_db_key(server.data_dir))

    readable: list[tuple[str, bytes]] = []
    for key in tries:
        with contextlib.suppress(sqlite3.DatabaseError, sqlcipher3.DatabaseError):
            readable += _read_rows(database, key)

    known: list[bytes] = [b"CREATE TABLE", b"petitions", b"lookup_key_hash", b"leaf_index"]
    known.append(date.today().isoformat().encode())
    for sent in world.sent:
        known += [sent.token, sent.petition_id.encode(), cjson.b64encode(sent.token).encode()]
        known += [sent.envelope[:64], sent.receipt, sent.receipt[:32]]  # header, receipt
    in_raw = [needle for needle in known if needle in raw]
    assert not raw.startswith(SQLITE_HEADER)
    assert in_raw == []
    read = sorted({where for where, _ in readable})
    if defence.off:
        assert {"petitions.token", "petitions.envelope", "petitions.day"} <= set(read)
        stolen_tokens = {value for where, value in readable if where == "petitions.token"}
        assert {sent.token for sent in world.sent} <= stolen_tokens
    defence.judge(bool(readable or in_raw), "reading a stolen database file")


# --- T-DD-7 ------------------------------------------------------------------------------------


def _signer_of(authorization: str) -> str | None:
    """The bureau id a signed request claims to come from (unverified)."""
    _, _, credentials = authorization.partition(" ")
    try:
        signed = SignedObject.decode(
            cjson.b64decode(credentials.strip()), SignedKind.BUREAU_REQUEST
        )
    except Exception:
        return None
    claimed = signed.body.get("bureau_id")
    return claimed if isinstance(claimed, str) else None


def _any_bureau_may_act(bureau_id: str) -> tuple[Services, Any]:
    """The server's authentication without "the signer must be the bureau in the path": the
    signature is verified as its signer's, and the request then acts on the path's bureau."""
    state = services()
    path_bundle = bureau_or_404(state, bureau_id)
    signer = _signer_of(request.headers.get("Authorization", "")) or bureau_id
    authenticate_bureau(
        signer, state.directory(), state.writer, state.config.request_window_seconds
    )
    return state, path_bundle


@contextlib.contextmanager
def _in_process_server(server: RunningServer) -> Iterator[Client]:
    """The server's real application on the same data directory and writer, in this process,
    served over real HTTP: a component a test can take one defence out of."""
    config = ServerConfig(data_dir=server.data_dir, token_keys_dir=server.token_keys)
    http = make_server("127.0.0.1", 0, server_app.create_app(config), threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Client(f"http://127.0.0.1:{http.server_port}")
    finally:
        http.shutdown()
        thread.join()
        http.server_close()


@pytest.mark.threat("T-DD-7")
def test_a_bureau_cannot_read_another_bureaus_inbox_or_petition_through_the_api(
    world: World, defence: Defence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADV-BUREAU (guangdong, with its own valid signing key) asks the API for national's inbox
    and petitions: on national's paths signed as itself, on national's paths claiming to be
    national, and on its own path naming national's petition ids.

    The defence is that a request is authenticated as the bureau in the path. ``defence-off``
    runs the server's real application in-process with that one comparison taken out (the
    signature is still verified, as its signer's): guangdong then reads national's inbox and
    envelopes, while the query scoping still hides them on guangdong's own path.
    """
    server = world.server
    target: contextlib.AbstractContextManager[Client] = contextlib.nullcontext(server.client)
    if defence.off:
        monkeypatch.setattr(bureau_routes, "_authenticated", _any_bureau_may_act)
        target = _in_process_server(server)
    attacker = server.bureaus[ATTACK_BUREAU]
    victims = world.of(VICTIM_BUREAU)

    # (what it is, path, the bureau the signed request claims to come from)
    requests: list[tuple[str, str, str]] = [
        ("national's inbox, as guangdong", f"/v1/bureaus/{VICTIM_BUREAU}/inbox", ATTACK_BUREAU),
        (
            "national's inbox, claiming national",
            f"/v1/bureaus/{VICTIM_BUREAU}/inbox",
            VICTIM_BUREAU,
        ),
        ("its own inbox", f"/v1/bureaus/{ATTACK_BUREAU}/inbox", ATTACK_BUREAU),
    ]
    for number, sent in enumerate(victims):
        on_national = f"/v1/bureaus/{VICTIM_BUREAU}/petitions/{sent.petition_id}"
        on_own = f"/v1/bureaus/{ATTACK_BUREAU}/petitions/{sent.petition_id}"
        requests += [
            (f"national's petition {number}, as guangdong", on_national, ATTACK_BUREAU),
            (f"national's petition {number}, claiming national", on_national, VICTIM_BUREAU),
            (f"national's petition {number} on its own path", on_own, ATTACK_BUREAU),
        ]
    statuses: dict[str, int] = {}
    leaked: list[str] = []
    with target as client:
        for what, path, claimed in requests:
            answer, _ = client.signed(attacker, "GET", path, claimed_bureau=claimed)
            statuses[what] = answer.status
            for sent in victims:
                envelope = cjson.b64encode(sent.envelope).encode()
                if sent.petition_id.encode() in answer.raw or envelope in answer.raw:
                    leaked.append(what)

    def kind(suffix: str) -> set[int]:
        return {status for what, status in statuses.items() if what.endswith(suffix)}

    assert statuses["its own inbox"] == 200  # served, with none of national's petitions
    assert kind("on its own path") == {404}  # national's ids on guangdong's path: as if missing
    assert kind("claiming national") == {401}  # guangdong's key does not sign as national
    assert kind("as guangdong") == ({403} if defence.on else {200})
    defence.judge(bool(leaked), "guangdong reading national's inbox or envelopes")
