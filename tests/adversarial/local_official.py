"""The local official's toolkit, shared by test_identification.py and test_linking.py.

The adversary of docs/threat-model.md that matters most here (ADV-LOCAL) knows every resident's
ID number and may obtain a full copy of the server's data directory with its database key. This
module gives the tests exactly that adversary, built from real parts:

* a real server (``petition serve`` under gunicorn, set up with ``petition admin`` as in
  ``harness.start_server``) whose petitioners submit through the real client library
  (``client.petitioner.submit_petition``: Argon2id on the device, the server's token endpoint,
  proof check, HPKE, receipt check);
* the theft: a byte copy of every regular file of the data directory, the SQLCipher database
  opened with the copied ``db.key``, and every column of every row of every table read out;
* the search: everything a guesser can derive from an ID number with what they hold (the ID in
  several encodings, unsalted hashes, the salted Argon2id pre-hash with each bureau's published
  salt, and the full token only if they hold a VOPRF key), looked for in every stored value and
  file, including values hidden in hex, base64 or JSON inside them.

Nothing here is a mock: the only thing the tests vary is what the attacker holds.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import json
import random
import re
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlcipher3
from flask import Flask
from harness import (
    PASSPHRASE,
    Bureau,
    Client,
    RunningServer,
    launch,
    run_petition,
)
from werkzeug.serving import WSGIRequestHandler, make_server

from client.home import ClientHome
from client.petitioner import PetitionForm, Progress, SubmissionResult, submit_petition
from client.session import NetworkOptions, Session, pin_server
from client.transport import RetryPolicy
from crypto import cjson, labels
from crypto.idnumber import mod11_2_check_character, normalize_id
from crypto.keyfile import write_token_key_file
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory
from crypto.signing import SignedObject
from crypto.token import TokenKey, TokenParams, prehash

ID_SCHEME = "cn-resident"

# --- candidate ID numbers -----------------------------------------------------------------

# A few real county-level address codes (Beijing Chaoyang, Shenzhen Futian and Nanshan,
# Shanghai Xuhui, Chengdu Wuhou): what a local official's list of residents looks like.
ADDRESS_CODES = ("110105", "440304", "440305", "310104", "510107")


def candidate_ids(count: int, seed: int) -> list[str]:
    """``count`` distinct, valid GB 11643 numbers (birth dates 1950-2004, right check digit).

    Seeded, so a failure can be replayed; every number goes through the product's own
    validation, so a candidate is exactly what a petitioner could type.
    """
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < count:
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(55 * 365))
        first17 = f"{rng.choice(ADDRESS_CODES)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        number = first17 + mod11_2_check_character(first17)
        found[normalize_id(ID_SCHEME, number).value] = None
    return list(found)


# --- a real server with chosen bureaus, and real petitioners --------------------------------


def start_server_with(tmp: Path, bureaus: Iterable[Bureau]) -> RunningServer:
    """``harness.start_server`` with the bureaus given (the harness always makes two).

    A bureau gets a token key file for the server's embedded evaluator only if its VOPRF key
    was derived for it: the evaluator refuses a key file that names another bureau, so bureaus
    built to share one key (test_linking's defence-off twins) cannot be evaluated by the server
    at all, and their tokens are computed in the test with the shared key.
    """
    data = tmp / "data"
    passphrase = tmp / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    init = run_petition(
        "admin", "init", "--data", str(data), "--passphrase-file", str(passphrase)
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    fingerprint = init.stdout.splitlines()[2].strip()
    token_keys = tmp / "data.token-keys"
    token_keys.mkdir(mode=0o700)
    by_id = {bureau.bureau_id: bureau for bureau in bureaus}
    for bureau in by_id.values():
        bundle_path = tmp / f"{bureau.bureau_id}.bundle.json"
        bundle_path.write_bytes(cjson.encode(bureau.bundle().to_json()))
        added = run_petition(
            "admin", "add-bureau", "--data", str(data), "--passphrase-file", str(passphrase),
            str(bundle_path),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        if bureau.token.bureau_id == bureau.bureau_id:
            write_token_key_file(token_keys / f"{bureau.bureau_id}.key", bureau.token)
    process, client, log_path = launch(data, tmp / "server.log")
    return RunningServer(client, data, token_keys, by_id, fingerprint, process, log_path)


# Fail fast: nothing in these tests should need a retry, and a hidden retry would blur counts.
QUICK_RETRY = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.1, max_retry_after=0.5)


def pinned_session(home: Path, server_url: str, fingerprint: str) -> Session:
    """A client device (a petitioner's or a reviewer's): ``petition init``, then a session."""
    network = NetworkOptions(retry=QUICK_RETRY)
    client_home = ClientHome(home)
    pin_server(client_home, server_url, fingerprint, network)
    return Session.open(client_home, network)


def petition(session: Session, bureau_id: str, id_number: str, body: str) -> SubmissionResult:
    """One petition through the real client: Argon2id, token with proof, seal, submit, check."""
    form = PetitionForm(
        bureau_id=bureau_id,
        real_name="王秀英",
        id_number=id_number,
        contact="13912345678",
        subject="征地补偿款被截留",
        body=body,
        category="land",
        region="440304",
    )
    return submit_petition(session, form, Progress())


@dataclass(frozen=True)
class Filed:
    """A petition the test filed, with what its petitioner knows (never shown to the attacker)."""

    id_number: str
    bureau_id: str
    petition_id: str
    code: str


# --- the theft -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StolenCopy:
    """What ADV-LOCAL holds after copying the data directory: files, and the decrypted tables."""

    root: Path
    files: dict[str, bytes]
    tables: dict[str, list[dict[str, Any]]]

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.tables[table]

    def directory(self) -> Directory:
        """The signed directory, as published (and as found in the copy): salts and params."""
        signed = SignedObject.decode(self.files["directory.json"], SignedKind.DIRECTORY)
        return Directory.from_json(signed.body)

    def haystacks(self) -> dict[str, bytes]:
        """Every file, and every cell of every table, as bytes, labelled with where it is."""
        found = {f"file {name}": data for name, data in self.files.items()}
        for table, rows in self.tables.items():
            for number, row in enumerate(rows):
                for column, value in row.items():
                    for index, data in enumerate(cell_bytes(value)):
                        found[f"{table}[{number}].{column}#{index}"] = data
        return found


def cell_bytes(value: object) -> list[bytes]:
    """A database value in every plain form it could hide an ID in."""
    if value is None:
        return []
    if isinstance(value, bytes | bytearray | memoryview):
        return [bytes(value)]
    if isinstance(value, int):
        forms = [str(value).encode()]
        if -(2**63) <= value < 2**63:
            forms += [
                value.to_bytes(8, "big", signed=True),
                value.to_bytes(8, "little", signed=True),
            ]
        return forms
    return [str(value).encode("utf-8")]


def copy_regular_files(source: Path, destination: Path) -> None:
    """A byte copy of every regular file (the writer's socket has no content to copy)."""
    for path in sorted(source.rglob("*")):
        target = destination / path.relative_to(source)
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            target.mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(mode):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    destination.mkdir(parents=True, exist_ok=True)


def steal(data_dir: Path, destination: Path) -> StolenCopy:
    """Copy the data directory, then read it the way the thief would: every file, every row.

    The copy is taken while the server runs but idle (every submission has been acknowledged,
    so everything is in ``petitions.db`` and its WAL, which are copied together). The files are
    read before the database is opened, so what is searched is exactly what was copied.
    """
    copy_regular_files(data_dir, destination)
    files = {
        str(path.relative_to(destination)): path.read_bytes()
        for path in sorted(destination.rglob("*"))
        if path.is_file()
    }
    key = bytes.fromhex(files["db.key"].decode("ascii").strip())
    conn = sqlcipher3.connect(str(destination / "petitions.db"))
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            ).fetchall()
        ]
        tables: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            cursor = conn.execute(f'SELECT * FROM "{name}"')  # noqa: S608  (names from the file)
            columns = [description[0] for description in cursor.description]
            tables[name] = [
                {
                    column: bytes(value) if isinstance(value, memoryview) else value
                    for column, value in zip(columns, row, strict=True)
                }
                for row in cursor.fetchall()
            ]
    finally:
        conn.close()
    return StolenCopy(destination, files, tables)


# --- what can be derived from an ID number ----------------------------------------------------

HASHES = (
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512",
    "sha3_256", "sha3_512", "blake2b", "blake2s",
)  # fmt: skip


@functools.cache
def cached_prehash(id_number: str, salt: bytes, params: TokenParams) -> bytes:
    """The client's Argon2id step (crypto.token.prehash), computed once per (ID, salt)."""
    return prehash(normalize_id(ID_SCHEME, id_number), salt, params)


def identity_needles(id_number: str, bundles: Iterable[BureauBundle]) -> dict[str, bytes]:
    """Everything derivable from the ID with public knowledge only (no VOPRF key).

    The ID in text encodings and as a number, unsalted hashes of it and of the exact Argon2id
    input, naive salted hashes, and the real salted Argon2id pre-hash with each bureau's salt
    and parameters from the signed directory: the best offline test the design leaves open.
    """
    text = normalize_id(ID_SCHEME, id_number).value
    needles = {
        "ID (ASCII)": text.encode("ascii"),
        "ID (UTF-16LE)": text.encode("utf-16-le"),
        "ID (UTF-16BE)": text.encode("utf-16-be"),
        "first 17 digits": text[:17].encode("ascii"),
        "first 17 digits (int64 BE)": int(text[:17]).to_bytes(8, "big"),
        "first 17 digits (int64 LE)": int(text[:17]).to_bytes(8, "little"),
    }
    inputs = {
        "ID": text.encode("ascii"),
        "Argon2id input": labels.TOKEN_PREHASH_INPUT
        + ID_SCHEME.encode("ascii")
        + b"\x00"
        + text.encode("ascii"),
    }
    for name, data in inputs.items():
        for algorithm in HASHES:
            needles[f"{algorithm}({name})"] = hashlib.new(algorithm, data).digest()
    for bundle in bundles:
        salt, where = bundle.token_salt, bundle.bureau_id
        needles[f"Argon2id(ID, salt of {where})"] = cached_prehash(text, salt, bundle.token_params)
        needles[f"sha256(salt of {where} || ID)"] = hashlib.sha256(salt + inputs["ID"]).digest()
        needles[f"sha256(ID || salt of {where})"] = hashlib.sha256(inputs["ID"] + salt).digest()
        needles[f"HMAC-SHA256(salt of {where}, ID)"] = hmac.new(
            salt, inputs["ID"], hashlib.sha256
        ).digest()
    return needles


def token_needles(
    id_number: str, bundles: Iterable[BureauBundle], keys: Mapping[str, TokenKey]
) -> dict[str, bytes]:
    """The full token at each bureau whose VOPRF key the attacker holds (none, normally)."""
    found = {}
    for bundle in bundles:
        key = keys.get(bundle.bureau_id)
        if key is not None:
            pre = cached_prehash(id_number, bundle.token_salt, bundle.token_params)
            found[f"token at {bundle.bureau_id}"] = key.token_for(pre)
    return found


# --- the search -------------------------------------------------------------------------------

_HEX_RUN = re.compile(rb"[0-9a-fA-F]{32,}")
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}")
PREFIX = 8


def expand(blob: bytes, depth: int = 3) -> list[bytes]:
    """``blob`` and every value hidden in it as hex or base64 (either alphabet), recursively.

    JSON needs no special case: its strings are runs of the same characters. Runs are decoded
    at every alignment, so a value embedded in a longer encoded string is found too.
    """
    found = [blob]
    if depth == 0:
        return found
    for run in _HEX_RUN.findall(blob):
        for start in (0, 1):
            part = run[start:]
            found.extend(expand(bytes.fromhex(part[: len(part) // 2 * 2].decode()), depth - 1))
    for run in _BASE64_RUN.findall(blob):
        standard = run.replace(b"-", b"+").replace(b"_", b"/")
        for start in range(4):
            part = standard[start:]
            if len(part) % 4 == 1:  # one dangling character encodes no whole byte
                part = part[:-1]
            part += b"=" * (-len(part) % 4)
            if len(part) < 16:
                continue
            with contextlib.suppress(binascii.Error):
                found.extend(expand(base64.b64decode(part, validate=True), depth - 1))
    return found


@dataclass(frozen=True)
class Hit:
    candidate: str
    what: str
    where: str


def search(needles: Mapping[str, Mapping[str, bytes]], haystacks: Mapping[str, bytes]) -> list[Hit]:
    """Every place where any candidate's needle occurs, as raw bytes, in any expanded haystack.

    One pass over the bytes with an index of the needles' first bytes, so the cost does not
    grow with the number of candidates (a real attacker's list has millions).
    """
    index: dict[bytes, list[tuple[str, str, bytes]]] = {}
    for candidate, named in needles.items():
        for what, needle in named.items():
            assert len(needle) >= PREFIX, what
            index.setdefault(needle[:PREFIX], []).append((candidate, what, needle))
    hits: list[Hit] = []
    for where, blob in haystacks.items():
        for part in expand(blob):
            for offset in range(len(part) - PREFIX + 1):
                entries = index.get(part[offset : offset + PREFIX])
                if entries is None:
                    continue
                for candidate, what, needle in entries:
                    if part.startswith(needle, offset):
                        hits.append(Hit(candidate, what, where))
    return hits


# --- small HTTP servers inside the test process ----------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log, like the real server."""


@contextlib.contextmanager
def serve_in_thread(app: Flask) -> Iterator[str]:
    """Serve ``app`` over real HTTP on a free local port; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()


def tree_size(client: Client) -> int:
    """The size of the public log's latest signed head."""
    head = client.get("/v1/log/head")
    assert head.status == 200, head.raw
    size: int = head.json["body"]["tree_size"]
    return size


def signers(data: bytes) -> set[bytes]:
    """The signer fingerprint of every signed object inside ``data`` (JSON), however deep."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return set()
    found: set[bytes] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if set(item) == {"body", "kind", "signature", "signer"}:
                found.add(cjson.b64decode(item["signer"], field="signer"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
