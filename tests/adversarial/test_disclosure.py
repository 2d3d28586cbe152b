"""Data disclosure: attacks that try to read a petition, a key or the store without the right key.

One real server (``petition serve`` via ``harness.start_server``, two bureaus) takes a few
petitions whose every field carries a distinctive marker, in both sealed sections: the identity
(name, ID number, contact) and the case (subject, text, the body complained about, an attachment).
Each test then plays one adversary from docs/threat-model.md with everything that adversary is
assumed to hold (the whole data directory and its database key, another bureau's keys, a stolen
keystore or database file, the X25519 halves of a bureau's keys) and looks for the markers.
``defence-off`` hands the attacker the one thing the defence withholds, or removes the one
mechanism under test, and the same attack code must then read the petition.

(Moving a section to another bureau, other key ids or next to another envelope's identity is
T-DD-2, attacked end to end in ``test_sections.py``.)
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
from crypto.document import Attachment, CaseDocument, IdentityDocument
from crypto.envelope import AEAD_TAG_LENGTH, HEADER_LENGTH
from crypto.errors import DecryptionError, KeystoreError, WrongPassphrase
from crypto.keys import (
    MLKEM_PUBLIC_LENGTH,
    MLKEM_SEED_LENGTH,
    EncryptionPrivateKey,
    EncryptionPublicKey,
)
from crypto.labels import SignedKind
from crypto.petition import open_case, open_identity, seal_petition
from crypto.receipt import ReceiptSecret
from crypto.signing import SignedObject
from crypto.tlog_proof import TlogProof
from server import app as server_app
from server.auth import authenticate_bureau
from server.blueprints import bureau as bureau_routes
from server.config import ServerConfig
from server.database import PAGE_MAC
from server.services import Services, services
from server.submission import bureau_or_404

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
    leaf: bytes  # its log entry, as the store holds it (the receipt's extra line)
    personal: tuple[str, ...]


@dataclass
class World:
    server: RunningServer
    sent: list[Sent]
    root: Path

    def of(self, bureau_id: str) -> list[Sent]:
        return [petition for petition in self.sent if petition.bureau_id == bureau_id]


@dataclass(frozen=True)
class Written:
    """The two sections of one petition, every field marked."""

    identity: IdentityDocument
    case: CaseDocument
    marker: str

    def personal(self) -> tuple[str, ...]:
        return (
            self.marker,
            self.identity.real_name,
            self.identity.id_number,
            self.identity.contact,
            self.case.subject,
            self.case.body,
            self.case.respondent,
            self.case.attachments[0].name,
        )


def _written(bureau: Bureau, id_number: str, *, marker: str) -> Written:
    """A petition whose name, contact, subject, body, respondent and attachment carry ``marker``."""
    identity = IdentityDocument(
        real_name=f"欧阳{marker}",
        id_scheme="cn-resident",
        id_number=id_number,
        contact=f"微信 wx{marker}",
    )
    case = CaseDocument(
        subject=f"强拆补偿{marker}",
        body=f"我家房屋被强拆，至今未获补偿。标记{marker}",
        category="土地与房屋",
        region="440300",
        respondent=f"某街道办事处{marker}",
        reply_key=ReceiptSecret.generate().reply_private_key().public_key(),
        id_prehash=bureau.prehash_for(id_number),
        created_day=date.today(),
        attachments=(Attachment(f"证据{marker}.txt", "text/plain", f"收据{marker}".encode()),),
    )
    return Written(identity, case, marker)


def _seal(bureau: Bureau, written: Written) -> bytes:
    return seal_petition(written.identity, written.case, bureau.bundle().sealing_keys())


def _submit(server: RunningServer, envelope: bytes) -> Any:
    """``POST /v1/petitions`` as the v2 client sends it: the envelope and a lookup-key hash."""
    return server.client.post(
        "/v1/petitions",
        {
            "envelope": cjson.b64encode(envelope),
            "lookup_key_hash": cjson.b64encode(ReceiptSecret.generate().lookup_key_hash()),
        },
    )


def _leaf_of(receipt: str) -> bytes:
    """The log entry a receipt (tlog-proof text) carries on its extra line."""
    extra = TlogProof.parse(receipt.encode()).extra
    assert extra is not None
    return extra


def _send(server: RunningServer, bureau_id: str, id_number: str) -> Sent:
    bureau = server.bureaus[bureau_id]
    written = _written(bureau, id_number, marker=secrets.token_hex(5))
    envelope = _seal(bureau, written)
    answer = _submit(server, envelope)
    assert answer.status == 201, answer.raw
    return Sent(
        bureau_id=bureau_id,
        petition_id=answer.json["petition_id"],
        envelope=envelope,
        leaf=_leaf_of(answer.json["receipt"]),
        personal=written.personal(),
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
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
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


def _opened_text(identity: IdentityDocument | None, case: CaseDocument | None) -> bytes:
    fields: list[str] = []
    if identity is not None:
        fields += [identity.real_name, identity.id_number, identity.contact]
    if case is not None:
        fields += [case.subject, case.body, case.respondent, *(a.name for a in case.attachments)]
    return "\n".join(fields).encode()


def _open_with(
    envelope: bytes, keys: list[EncryptionPrivateKey], bureau_id: str
) -> list[tuple[str, bytes]]:
    """Every section of ``envelope`` that one of ``keys`` opens, as text."""
    opened: list[tuple[str, bytes]] = []
    for key in keys:
        with contextlib.suppress(DecryptionError):
            identity = open_identity(envelope, key, bureau_id)
            opened.append((f"identity opened as {bureau_id}", _opened_text(identity, None)))
        with contextlib.suppress(DecryptionError):
            _header, case = open_case(envelope, key, bureau_id)
            opened.append((f"case opened as {bureau_id}", _opened_text(None, case)))
    return opened


@pytest.mark.threat("T-DD-1")
def test_the_operator_and_another_bureau_together_cannot_read_a_petition(
    world: World, defence: Defence
) -> None:
    """ADV-OPERATOR with the whole data directory and its database key, helped by ADV-BUREAU
    (guangdong's identity and case keys), looks for national's petitions in every file and every
    decrypted database value, and tries every key it holds, as every bureau, on both sections
    of every stored envelope.

    Only HPKE to the assigned bureau's two keys stands in the way (no server holds a bureau key
    of any kind since protocol v2), so ``defence-off`` gives the attacker national's identity
    and case keys as well: the same search must then find every personal value, in both
    sections.
    """
    server = world.server
    held = {ATTACK_BUREAU: server.bureaus[ATTACK_BUREAU]}
    if defence.off:
        held[VICTIM_BUREAU] = server.bureaus[VICTIM_BUREAU]
    keys = [key for bureau in held.values() for key in (bureau.identity, bureau.case)]

    stored = list(_files(server.data_dir))
    stored += list(_database_values(server.data_dir / "petitions.db", _db_key(server.data_dir)))
    opened: list[tuple[str, bytes]] = []
    for where, value in stored:
        if where != "petitions.envelope":
            continue
        for bureau_id in server.bureaus:
            opened += _open_with(value, keys, bureau_id)

    # The attack code itself works: guangdong reads its own petition with its own keys.
    own = world.of(ATTACK_BUREAU)[0]
    assert _found(own.personal, opened) == set(own.personal)

    victims = [value for sent in world.of(VICTIM_BUREAU) for value in sent.personal]
    read = _found(tuple(victims), stored + opened)
    if defence.off:
        assert read == set(victims)
        assert {where for where, _ in opened} == {
            f"{section} opened as {bureau_id}"
            for section in ("identity", "case")
            for bureau_id in (VICTIM_BUREAU, ATTACK_BUREAU)
        }
    defence.judge(bool(read), "reading national's petitions with the server's data and keys")


# --- T-DD-3 ------------------------------------------------------------------------------------

_SHIPPED_SUITE = envelope_module.SUITE


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


def _sections(envelope: bytes, enc_length: int) -> tuple[bytes, bytes]:
    """The identity and case sections, cut at the lengths of the KEM the envelope was sealed
    with (the identity section is one fixed padded size)."""
    identity_end = HEADER_LENGTH + enc_length + padding.IDENTITY_SECTION_SIZE + AEAD_TAG_LENGTH
    return envelope[HEADER_LENGTH:identity_end], envelope[identity_end:]


def _hpke_open(
    envelope: bytes, identity_key: EncryptionPrivateKey, case_key: EncryptionPrivateKey
) -> list[bytes]:
    """Decrypt both sections directly, as an attacker with candidate keys would: no key-id
    check in the way, each section's ``info`` exactly as the protocol defines it."""
    suite = envelope_module.SUITE
    header = envelope[:HEADER_LENGTH]
    sealed_identity, sealed_case = _sections(envelope, _enc_length())
    infos = (
        (sealed_identity, identity_key, labels.ENVELOPE_IDENTITY_INFO + header),
        (
            sealed_case,
            case_key,
            labels.ENVELOPE_CASE_INFO + header + hashlib.sha256(sealed_identity).digest(),
        ),
    )
    opened = []
    for sealed, key, info in infos:
        with contextlib.suppress(InvalidTag, ValueError):
            opened.append(suite.decrypt(sealed, key.hpke_key(), info=info))
    return opened


def _enc_length() -> int:
    """The encapsulated key's length of the suite in use (1120 for X-Wing, 32 for X25519)."""
    shipped = envelope_module.SUITE is _SHIPPED_SUITE
    return (hpke.KEM.MLKEM768_X25519 if shipped else hpke.KEM.X25519).enc_length()


def _quantum(key: EncryptionPrivateKey) -> EncryptionPrivateKey:
    """The key as ADV-QUANTUM reconstructs it: the real X25519 half, a guessed ML-KEM seed."""
    guessed_seed = secrets.token_bytes(MLKEM_SEED_LENGTH)
    return EncryptionPrivateKey(guessed_seed + key.to_bytes()[MLKEM_SEED_LENGTH:])


@pytest.mark.threat("T-DD-3")
def test_breaking_x25519_alone_does_not_open_a_recorded_envelope(
    world: World, defence: Defence, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADV-QUANTUM records an envelope and later recovers the X25519 private halves of the
    bureau's identity key and case key (what Shor's algorithm would give). It combines each
    with a guessed ML-KEM seed and decrypts both sections.

    The defence is the hybrid KEM (X-Wing: ML-KEM-768 + X25519) on both sections.
    ``defence-off`` seals with a classical DHKEM(X25519) suite on the same keys' X25519 halves:
    the same attacker then reads the identity and the case.
    """
    if defence.off:
        _x25519_only(monkeypatch)
    national = world.server.bureaus[VICTIM_BUREAU]
    marker = secrets.token_hex(5)
    written = _written(national, ID_NUMBERS[0], marker=marker)
    recorded = _seal(national, written)

    bucket = padding.bucket_for(len(written.case.encode()))
    sealed_identity, sealed_case = _sections(recorded, _enc_length())
    encapsulated = (
        len(sealed_identity) - padding.IDENTITY_SECTION_SIZE - AEAD_TAG_LENGTH,
        len(sealed_case) - bucket - AEAD_TAG_LENGTH,
    )
    if defence.on:
        assert encapsulated == (1120, 1120) == (hpke.KEM.MLKEM768_X25519.enc_length(),) * 2
    else:
        assert encapsulated == (32, 32) == (hpke.KEM.X25519.enc_length(),) * 2

    # The decryption routine is right: with both halves of the real keys both sections open.
    assert all(
        marker.encode() in plaintext
        for plaintext in _hpke_open(recorded, national.identity, national.case)
    )
    assert len(_hpke_open(recorded, national.identity, national.case)) == 2
    plaintexts = _hpke_open(recorded, _quantum(national.identity), _quantum(national.case))
    for plaintext in plaintexts:
        assert marker.encode() in plaintext
    if defence.off:
        assert len(plaintexts) == 2  # identity and case
    defence.judge(bool(plaintexts), "decrypting with the recovered X25519 keys alone")


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
    material = {
        "signing key": keys.signing_key().to_bytes(),
        "token key": keys.token_key().secret,
    }
    for name, key in (("identity", keys.identity_key()), ("case", keys.case_key())):
        raw = key.to_bytes()
        material[f"{name} key"] = raw
        material[f"{name} ML-KEM seed"] = raw[:MLKEM_SEED_LENGTH]
        material[f"{name} X25519 key"] = raw[MLKEM_SEED_LENGTH:]
    return material


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
    schema, petition ids, envelope headers, days and log entries the store is known to hold.

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
        known += [sent.petition_id.encode(), bytes.fromhex(sent.petition_id)]
        known += [sent.envelope[:HEADER_LENGTH], sent.envelope[HEADER_LENGTH:][:64]]
        known += [sent.leaf, sent.leaf[:32]]
    in_raw = [needle for needle in known if needle in raw]
    assert not raw.startswith(SQLITE_HEADER)
    assert in_raw == []
    read = sorted({where for where, _ in readable})
    if defence.off:
        assert {"petitions.envelope", "petitions.day", "petitions.petition_id"} <= set(read)
        stolen = {value for where, value in readable if where == "petitions.envelope"}
        assert {sent.envelope for sent in world.sent} <= stolen
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
    path_bundle = bureau_or_404(state.directory(), bureau_id)
    signer = _signer_of(request.headers.get("Authorization", "")) or bureau_id
    authenticate_bureau(
        signer,
        state.directory(),
        state.writer,
        state.config.request_window_seconds,
        state.database.claim_nonce,
    )
    return state, path_bundle


@contextlib.contextmanager
def _in_process_server(server: RunningServer) -> Iterator[Client]:
    """The server's real application on the same data directory and writer, in this process,
    served over real HTTP: a component a test can take one defence out of."""
    config = ServerConfig(data_dir=server.data_dir)
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
