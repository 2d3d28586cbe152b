"""The local official's toolkit, shared by test_identification.py and test_linking.py.

The adversary of docs/threat-model.md that matters most here (ADV-LOCAL) knows every resident's
ID number and may obtain a full copy of the server's data directory with its database key, and
can call every public endpoint. This module gives the tests exactly that adversary, built from
real parts:

* a real server (``petition serve`` under gunicorn, set up with ``petition admin`` as in
  ``harness.start_server``) to which petitioners submit protocol v2 envelopes, sealed on the
  "device" (Argon2id pre-hash with the public salt, identity and case sections) and sent as the
  client sends them: one ``POST /v1/petitions`` of ``{envelope, lookup_key_hash}``;
* the theft: a byte copy of every regular file of the data directory, the SQLCipher database
  opened with the copied ``db.key``, and every column of every row of every table read out;
* the public API: the served OpenAPI document, and every operation in it that needs no bureau
  signature, called with everything the attacker holds (and, as an oracle probe, with each
  candidate's pre-hash in every slot);
* the search: everything a guesser can derive from an ID number with what they hold (the ID in
  several encodings, unsalted hashes, the salted Argon2id pre-hash with each bureau's published
  salt, the full token only if they hold a bureau's token key, and whatever a public endpoint
  answers for a candidate), looked for in every stored value, file and answer, including values
  hidden in hex, base64 or JSON inside them;
* the link analysis: every value of every stored row that belongs to a petition, compared
  between petitions of one person and petitions of different people.

Nothing here is a mock: the only thing the tests vary is what the attacker holds.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import random
import re
import secrets
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlcipher3
from flask import Flask
from harness import (
    PASSPHRASE,
    Answer,
    Bureau,
    Client,
    RunningServer,
    launch,
    run_petition,
)
from werkzeug.serving import WSGIRequestHandler, make_server

from crypto import cjson, labels, merkle, note
from crypto.case_event import LogEntry, sign_entry
from crypto.checkpoint import Checkpoint
from crypto.envelope import HEADER_LENGTH
from crypto.errors import MalformedInput, SealedPetitionError
from crypto.fields import envelope_hash, signed_reply_hash
from crypto.idnumber import mod11_2_check_character, normalize_id
from crypto.labels import SignedKind
from crypto.objects import BureauBundle, Directory, Reply
from crypto.petition import open_case
from crypto.reply import seal_reply
from crypto.signing import SignedObject, sign
from crypto.statutory import Event
from crypto.tiles import Tile, build_tiles, bundles_for_size, parse_path, tiles_for_size
from crypto.tlog_proof import HEADER as TLOG_PROOF_HEADER
from crypto.tlog_proof import TlogProof
from crypto.token import TokenKey, TokenParams, prehash
from server.database import PAGE_MAC

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

    Each bureau is published with ``petition admin add-bureau`` from its public bundle; no
    token key, identity key or case key ever reaches the server (protocol v2).
    """
    data = tmp / "data"
    passphrase = tmp / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    init = run_petition(
        "admin", "init", "--data", str(data), "--passphrase-file", str(passphrase)
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    fingerprint = init.stdout.splitlines()[2].strip()
    by_id = {bureau.bureau_id: bureau for bureau in bureaus}
    for bureau in by_id.values():
        bundle_path = tmp / f"{bureau.bureau_id}.bundle.json"
        bundle_path.write_bytes(cjson.encode(bureau.bundle().to_json()))
        added = run_petition(
            "admin", "add-bureau", "--data", str(data), "--passphrase-file", str(passphrase),
            str(bundle_path),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    process, client, log_path = launch(data, tmp / "server.log")
    return RunningServer(client, data, by_id, fingerprint, process, log_path)


@dataclass(frozen=True)
class Filed:
    """A petition the test filed, with what its petitioner knows (never shown to the attacker)."""

    id_number: str
    bureau_id: str
    petition_id: str
    code: str
    envelope: bytes = field(repr=False, default=b"")


def file_petition(server: RunningServer, bureau_id: str, id_number: str, body: str) -> Filed:
    """One petition, sealed as the device seals it and sent as the client sends it."""
    submission = server.seal(bureau_id, id_number=id_number, body=body)
    answer = server.client.post("/v1/petitions", submission.body())
    assert answer.status == 201, answer.raw
    petition_id: str = answer.json["petition_id"]
    return Filed(id_number, bureau_id, petition_id, submission.secret.code, submission.envelope)


def answer_petition(server: RunningServer, filed: Filed, message: str) -> None:
    """The bureau's case handler answers: opens the case with the case key, seals, signs, posts."""
    bureau = server.bureaus[filed.bureau_id]
    _, case = open_case(filed.envelope, bureau.case, bureau.bureau_id)
    day = datetime.now(UTC).date()
    reply = Reply(
        petition_id=filed.petition_id,
        bureau_id=bureau.bureau_id,
        event=Event.ACKNOWLEDGED,
        sequence=0,
        ciphertext=seal_reply(message, case.reply_key, filed.petition_id, bureau.bureau_id),
        day=day,
    )
    wire = sign(SignedKind.REPLY, reply.to_json(), bureau.signing).encode()
    entry = LogEntry(
        filed.petition_id,
        bureau.bureau_id,
        envelope_hash(filed.envelope),
        Event.ACKNOWLEDGED,
        day,
        reply_hash=signed_reply_hash(wire),
    )
    body = {
        "entry": sign_entry(entry, bureau.signing).to_json(),
        "reply": json.loads(wire),
        "envelope": None,
    }
    target = f"/v1/bureaus/{bureau.bureau_id}/petitions/{filed.petition_id}/events"
    answer, _ = server.client.signed(bureau, "POST", target, body)
    assert answer.status in {200, 201}, answer.raw


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
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
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
    """The device's Argon2id step (crypto.token.prehash), computed once per (ID, salt)."""
    return prehash(normalize_id(ID_SCHEME, id_number), salt, params)


def identity_needles(id_number: str, bundles: Iterable[BureauBundle]) -> dict[str, bytes]:
    """Everything derivable from the ID with public knowledge only (no bureau secret).

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
        pre = cached_prehash(text, salt, bundle.token_params)
        needles[f"Argon2id(ID, salt of {where})"] = pre
        needles[f"sha256(Argon2id(ID, salt of {where}))"] = hashlib.sha256(pre).digest()
        needles[f"sha256(salt of {where} || ID)"] = hashlib.sha256(salt + inputs["ID"]).digest()
        needles[f"sha256(ID || salt of {where})"] = hashlib.sha256(inputs["ID"] + salt).digest()
        needles[f"HMAC-SHA256(salt of {where}, ID)"] = hmac.new(
            salt, inputs["ID"], hashlib.sha256
        ).digest()
    return needles


def token_needles(
    id_number: str, bundles: Iterable[BureauBundle], keys: Mapping[str, TokenKey]
) -> dict[str, bytes]:
    """The full token at each bureau whose token key the attacker holds (none, normally)."""
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


# --- the public API ---------------------------------------------------------------------------

_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    """One operation of the served OpenAPI document that needs no bureau signature."""

    method: str
    path: str
    parameters: tuple[dict[str, Any], ...]
    body_fields: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def slots(self) -> list[str]:
        """Where a caller can put a value of their choosing: path, query, header, JSON body."""
        named = [f"{p['in']}:{p['name']}" for p in self.parameters if p["name"] != "bureau_id"]
        return named + [f"body:{name}" for name in self.body_fields]


def _resolve(spec: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def public_operations(spec: Mapping[str, Any]) -> list[Operation]:
    """Every operation anybody may call: those whose security requirement is empty."""
    default_security = spec.get("security") or []
    found = []
    for path, item in spec["paths"].items():
        shared = [_resolve(spec, p) for p in item.get("parameters", [])]
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if any(operation.get("security", default_security)):
                continue  # a bureau request: needs the bureau's signing key
            parameters = shared + [_resolve(spec, p) for p in operation.get("parameters", [])]
            body = _resolve(spec, operation.get("requestBody", {}))
            schema = _resolve(spec, body.get("content", {}).get("application/json", {}))
            schema = _resolve(spec, schema.get("schema", {}))
            fields = tuple(sorted(schema.get("properties", {})))
            found.append(Operation(method.upper(), path, tuple(parameters), fields))
    return found


def served_spec(client: Client) -> dict[str, Any]:
    answer = client.get("/v1/openapi.json")
    assert answer.status == 200, answer.raw
    spec: dict[str, Any] = answer.json
    return spec


def _fill(
    operation: Operation, values: Mapping[str, str], bureau_id: str
) -> tuple[str, dict[str, str], dict[str, str] | None]:
    """The request for ``operation`` with each slot taken from ``values`` (by slot name)."""
    target = operation.path.replace("{bureau_id}", bureau_id)
    query: list[str] = []
    headers: dict[str, str] = {}
    for parameter in operation.parameters:
        name, where = parameter["name"], parameter["in"]
        if name == "bureau_id":
            continue
        value = values[f"{where}:{name}"]
        if where == "path":
            target = target.replace("{" + name + "}", value)
        elif where == "query":
            query.append(f"{name}={value}")
        elif where == "header":
            headers[name] = value
    if query:
        target += "?" + "&".join(query)
    body = {name: values[f"body:{name}"] for name in operation.body_fields} or None
    if operation.method == "POST" and body is None:
        body = {}
    return target, headers, body


def call(client: Client, operation: Operation, values: Mapping[str, str], bureau_id: str) -> Answer:
    target, headers, body = _fill(operation, values, bureau_id)
    return client.request(operation.method, target, body=body, headers=headers)


def everything_public(client: Client, copy: StolenCopy) -> dict[str, bytes]:
    """Every answer of every public operation, called with what the thief holds.

    Path, query and header parameters are filled with every value the copy gives them (each
    bureau id, each stored petition id, every log index, every tile of the static log); the
    submission endpoint is called with every stored envelope again (a resubmission is answered
    with a receipt for the stored entry). A parameter this function does not know fails the
    test, so a new public endpoint cannot slip past the attacker.
    """
    spec = served_spec(client)
    bureau_ids = [bundle.bureau_id for bundle in copy.directory().bureaus]
    rows = copy.rows("petitions")
    size = len(copy.rows("log_leaves"))
    random_key = cjson.b64encode(secrets.token_bytes(32))
    choices: dict[str, list[str]] = {
        "path:petition_id": [row["petition_id"] for row in rows],
        "query:start": ["0"],
        "query:end": [str(size)],
        "query:index": [str(index) for index in range(size)],
        "query:tree_size": [str(size)],
        "query:first": [str(first) for first in range(1, size)],
        "query:second": [str(size)],
        "query:after": ["0"],
        "query:limit": ["500"],
        "query:period": ["month", "year", "all"],
        "header:Petition-Lookup-Key": [random_key],
        "path:rest": [
            path.removeprefix("tile/")
            for path in [t.path() for t in tiles_for_size(size)]
            + [b.path() for b in bundles_for_size(size)]
        ],
    }
    answers: dict[str, bytes] = {}
    for operation in public_operations(spec):
        bureaus = bureau_ids if "{bureau_id}" in operation.path else [bureau_ids[0]]
        if operation.body_fields:
            # The other slots (a review request's petition id and lookup key): the row's own
            # value where it has one by that name, else the first choice.
            others = [slot for slot in operation.slots() if not slot.startswith("body:")]
            unknown = [slot for slot in others if slot not in choices]
            assert not unknown, f"teach the thief what to send to {operation.name}: {unknown}"
            stored = [
                {
                    **{
                        slot: str(row.get(slot.partition(":")[2]) or choices[slot][0])
                        for slot in others
                    },
                    **{
                        f"body:{name}": cjson.b64encode(row[name]) for name in operation.body_fields
                    },
                }
                for row in rows
                if all(isinstance(row.get(name), bytes) for name in operation.body_fields)
            ]
            # An operation whose body the copy has nothing for is probed by per_person_answers.
            fillings = stored
        else:
            slots = list(operation.slots())
            unknown = [slot for slot in slots if slot not in choices]
            assert not unknown, f"teach the thief what to send to {operation.name}: {unknown}"
            # Vary one slot at a time over its choices (the others at their first value).
            fillings = [{slot: choices[slot][0] for slot in slots}]
            for slot in slots:
                fillings += [
                    {**fillings[0], slot: value} for value in choices[slot][1:]
                ]  # fmt: skip
        for bureau_id in bureaus:
            for values in fillings:
                answer = call(client, operation, values, bureau_id)
                answers[f"{operation.name} {bureau_id} {sorted(values.items())}"] = answer.raw
    return answers


def answer_values(raw: bytes) -> set[bytes]:
    """The values inside a JSON answer: strings, and strings decoded from base64url or hex."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {raw}
    found: set[bytes] = set()
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.add(item.encode())
            with contextlib.suppress(ValueError, binascii.Error):
                found.add(base64.urlsafe_b64decode(item + "=" * (-len(item) % 4)))
            with contextlib.suppress(ValueError):
                found.add(bytes.fromhex(item))
    return {value for value in found if len(value) >= PREFIX}


def probe_values(pre: bytes) -> dict[str, str]:
    """A pre-hash in the forms a slot might take it: base64url for most, hex for ids."""
    return {"b64": cjson.b64encode(pre), "hex": pre[:16].hex()}


def ask_about(
    client: Client, operation: Operation, bureau: BureauBundle, pre: bytes
) -> list[Answer]:
    """Call ``operation`` with ``pre`` (one candidate's pre-hash at ``bureau``) in every slot."""
    forms = probe_values(pre)
    answers = []
    for form in forms.values():
        values = dict.fromkeys(operation.slots(), form)
        answers.append(call(client, operation, values, bureau.bureau_id))
    return answers


def per_person_answers(
    client: Client, bundles: Sequence[BureauBundle], candidates: Sequence[str]
) -> dict[str, dict[str, bytes]]:
    """What each public operation answers about each candidate, kept where it is theirs alone.

    Every public operation with a slot is called with each candidate's pre-hash (the value a
    petitioner's device computes from the ID and the public salt) in every slot, at every
    bureau. A successful answer's values that no other candidate got back are per-person
    values, and become needles for that candidate (what the v1 token endpoint gave anyone).
    """
    operations = [op for op in public_operations(served_spec(client)) if op.slots()]
    got: dict[str, dict[str, bytes]] = {candidate: {} for candidate in candidates}
    counts: dict[bytes, int] = {}
    for operation, bundle, candidate in itertools.product(operations, bundles, candidates):
        pre = cached_prehash(candidate, bundle.token_salt, bundle.token_params)
        for number, answer in enumerate(ask_about(client, operation, bundle, pre)):
            if not 200 <= answer.status < 300:
                continue
            for index, value in enumerate(sorted(answer_values(answer.raw))):
                where = f"{operation.name} at {bundle.bureau_id} #{number}.{index}"
                got[candidate][where] = value
                counts[value] = counts.get(value, 0) + 1
    return {
        candidate: {where: value for where, value in named.items() if counts[value] == 1}
        for candidate, named in got.items()
    }


def oracles(client: Client, bundles: Sequence[BureauBundle], candidates: Sequence[str]) -> set[str]:
    """The public operations that compute a per-person value from an ID-derived input.

    An operation is an oracle if, given one candidate's pre-hash, it answers successfully, the
    same again when asked again, and differently for another candidate: a deterministic
    function of the person that anyone can evaluate.
    """
    assert len(candidates) >= 2
    found = set()
    for operation in public_operations(served_spec(client)):
        if not operation.slots():
            continue
        for bundle in bundles:
            asked = [
                ask_about(
                    client,
                    operation,
                    bundle,
                    cached_prehash(c, bundle.token_salt, bundle.token_params),
                )
                for c in (candidates[0], candidates[0], candidates[1])
            ]
            for first, again, other in zip(*asked, strict=True):
                if all(200 <= a.status < 300 for a in (first, again, other)) and (
                    first.raw == again.raw != other.raw
                ):
                    found.add(operation.name)
    return found


# --- the link analysis ------------------------------------------------------------------------

# What every petition to one bureau on one day shares by design (the bureau, its key ids, the
# day, the latest event and its handler, the entry kind and format version): equal for two
# people as for one.
SHARED_BY_DESIGN = ("bureau_id", "day", "event", "handler", "version", "kind")
CHUNK = 32

Value = tuple[str, bytes]


def _json_values(prefix: str, value: Any, into: set[Value]) -> None:
    """Every scalar inside a JSON value, labelled with its path (list positions dropped)."""
    if isinstance(value, dict):
        for name, member in value.items():
            _json_values(f"{prefix}.{name}", member, into)
    elif isinstance(value, list):
        for member in value:
            _json_values(prefix, member, into)
    elif value is not None:
        into.add((prefix, json.dumps(value, ensure_ascii=False).encode()))


def cell_values(where: str, value: object) -> set[Value]:
    """A stored value, and what it holds: JSON members, and long blobs in 32-byte pieces (a
    deterministic encryption would repeat them)."""
    found: set[Value] = {(where, data) for data in cell_bytes(value)}
    if isinstance(value, bytes):
        try:
            _json_values(where, json.loads(value), found)
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass
        else:
            # A JSON blob (a log leaf, a signed reply) is compared member by member above; its
            # raw bytes cut into pieces would only repeat those members, with the members every
            # petition shares by design (SHARED_BY_DESIGN) glued to them.
            return found
        if len(value) > 2 * CHUNK:
            found.update(
                (f"{where} piece", value[start : start + CHUNK])
                for start in range(0, len(value) - CHUNK + 1, CHUNK)
            )
    return found


def _is_design_shared(where: str) -> bool:
    last = where.rsplit(".", 1)[-1].removesuffix(" piece")
    return last in SHARED_BY_DESIGN


def petition_values(copy: StolenCopy) -> dict[str, set[Value]]:
    """For each stored petition, every value of every stored row that belongs to it.

    A row belongs to a petition if it is the petition's row, or any cell of it holds the
    petition's id or envelope hash (in any encoding ``expand`` sees through), or it is the log
    leaf (or leaf hash) at the petition's index. The envelope is taken apart: its 132-byte
    header (bureau and key ids, the same for every petition to the bureau) and its sealed
    sections in pieces. Values every petition of a bureau shares by design are dropped (see
    ``SHARED_BY_DESIGN``). The log's inner ``log_nodes`` (its structure alone: they depend on
    where petitions sit, T-LINK-2 and T-DET-5) belong to no petition. Receipts and checkpoints
    are not stored (schema 3): nothing else embeds the log's structure.
    """
    by_id: dict[str, set[Value]] = {}
    marks: dict[str, list[bytes]] = {}
    leaf_of: dict[int, str] = {}
    for row in copy.rows("petitions"):
        pid = row["petition_id"]
        values: set[Value] = set()
        for column, value in row.items():
            if column == "envelope":
                assert isinstance(value, bytes)
                values.add(("envelope header", value[:HEADER_LENGTH]))
                values |= cell_values("envelope sealed", value[HEADER_LENGTH:])
            else:
                values |= cell_values(f"petitions.{column}", value)
        by_id[pid] = values
        marks[pid] = [pid.encode(), bytes.fromhex(pid), row["envelope_hash"]]
        leaf_of[row["leaf_index"]] = pid
    for table, rows in copy.tables.items():
        if table == "petitions":
            continue
        for row in rows:
            owners: set[str] = set()
            if table == "log_nodes":
                if row.get("level") != 0:
                    continue
                owners = {leaf_of[row["position"]]} if row["position"] in leaf_of else set()
            elif table == "log_leaves" and row.get("leaf_index") in leaf_of:
                owners = {leaf_of[row["leaf_index"]]}
            else:
                cells = [part for value in row.values() for data in cell_bytes(value)
                         for part in expand(data)]  # fmt: skip
                owners = {
                    pid
                    for pid, needles in marks.items()
                    if any(needle in cell for needle in needles for cell in cells)
                }
            for pid in owners:
                for column, value in row.items():
                    by_id[pid] |= cell_values(f"{table}.{column}", value)
    return {
        pid: {value for value in values if not _is_design_shared(value[0])}
        for pid, values in by_id.items()
    }


@dataclass(frozen=True)
class Links:
    """What the stored values tie together."""

    same_person: dict[frozenset[str], set[Value]]  # each same-person pair: what it shares
    different_people: set[Value]  # everything any two different people's petitions share

    def linked(self) -> set[frozenset[str]]:
        """Same-person pairs that share a value no two different people's petitions share."""
        return {pair for pair, shared in self.same_person.items() if shared - self.different_people}

    def evidence(self) -> list[str]:
        return sorted(
            {where for shared in self.same_person.values() for where, _ in shared}
            - {where for where, _ in self.different_people}
        )


def link_analysis(copy: StolenCopy, filed: Sequence[Filed]) -> Links:
    """Compare every pair of petitions: one person's pairs against different people's."""
    values = petition_values(copy)
    assert set(values) == {f.petition_id for f in filed}
    same: dict[frozenset[str], set[Value]] = {}
    different: set[Value] = set()
    for one, other in itertools.combinations(filed, 2):
        shared = values[one.petition_id] & values[other.petition_id]
        if one.id_number == other.id_number:
            same[frozenset({one.petition_id, other.petition_id})] = shared
        else:
            different |= shared
    return Links(same, different)


def with_column(copy: StolenCopy, column: str, values: Mapping[str, bytes]) -> StolenCopy:
    """A copy of the stolen tables whose ``petitions`` rows have ``column`` added (by id)."""
    rows = [{**row, column: values[row["petition_id"]]} for row in copy.rows("petitions")]
    return replace(copy, tables={**copy.tables, "petitions": rows})


STATIC_LOG = "public/log/"


def non_database_files(copy: StolenCopy) -> dict[str, bytes]:
    """Every copied file but the SQLCipher database and its journal (read through its tables)
    and the static log (public by design, and checked to hold nothing but the stored log)."""
    static_log_is_the_stored_log(copy)
    return {
        name: data
        for name, data in copy.files.items()
        if not name.startswith(("petitions.db", STATIC_LOG))
    }


def static_log_is_the_stored_log(copy: StolenCopy) -> None:
    """``public/log/`` holds the stored log's leaves and hashes, and nothing else.

    Every tile and entry bundle is the stored log's (an older partial tile, kept for clients
    still on an older checkpoint, is a prefix of the current one), and the checkpoint names a
    size and root of the stored leaves. So what it holds about a petition is what the
    ``log_leaves`` and ``log_nodes`` rows hold, which the link analysis reads already.
    """
    leaves = [row["leaf"] for row in sorted(copy.rows("log_leaves"), key=lambda r: r["leaf_index"])]
    reference = build_tiles(leaves)
    current = {(parsed.level if isinstance(parsed, Tile) else -1, parsed.index): path
               for path in reference for parsed in [parse_path(path)]}  # fmt: skip
    for name, data in copy.files.items():
        if not name.startswith(STATIC_LOG):
            continue
        path = name.removeprefix(STATIC_LOG)
        if path == "checkpoint":
            text, _ = note.split(data)
            checkpoint = Checkpoint.from_text(text)
            assert checkpoint.size <= len(leaves), name
            hashes = [merkle.leaf_hash(leaf) for leaf in leaves[: checkpoint.size]]
            assert checkpoint.root_hash == merkle.root_from_leaf_hashes(hashes), name
            continue
        parsed = parse_path(path)  # nothing under public/log/ but the checkpoint and tiles
        key = (parsed.level if isinstance(parsed, Tile) else -1, parsed.index)
        assert reference[current[key]].startswith(data), name


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
    """The size of the public log's latest checkpoint (``/log/checkpoint``)."""
    answer = client.get("/log/checkpoint")
    assert answer.status == 200, answer.raw
    text, _ = note.split(answer.raw)
    return Checkpoint.from_text(text).size


def note_signer(name: str, key_id: int) -> bytes:
    """How a signed-note signature names its key: the key name and the 4-byte key ID."""
    return f"{name}+{key_id:08x}".encode()


def _note_signers(text: bytes) -> set[bytes]:
    """The signers of a signed note (a checkpoint), or of the one inside a receipt."""
    try:
        if text.startswith(TLOG_PROOF_HEADER + b"\n"):
            text = TlogProof.parse(text).checkpoint
        _, signatures = note.split(text)
    except (SealedPetitionError, UnicodeDecodeError):
        return set()
    return {note_signer(signature.name, signature.key_id) for signature in signatures}


def signers(data: bytes) -> set[bytes]:
    """Who signed what is inside ``data``, however deep: the signer fingerprint of every signed
    object (JSON), and the key name and ID of every signed-note signature (a checkpoint, the
    checkpoint in a receipt, a witness's cosignature)."""
    found = _note_signers(data)
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return found
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if set(item) == {"body", "kind", "signature", "signer"}:
                found.add(cjson.b64decode(item["signer"], field="signer"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found |= _note_signers(item.encode("utf-8"))
    return found


# --- the v1 oracle, put back by the defence-off runs -------------------------------------------

V1_TOKEN_PATH = "/v1/bureaus/{bureau_id}/token"  # noqa: S105  (a path, not a secret)


def v1_oracle_front(upstream: Client, bureaus: Mapping[str, Bureau]) -> Flask:
    """The real server with protocol v1's public token service put back in front of it.

    ``POST /v1/bureaus/{bureau_id}/token`` computes the bureau's token for any pre-hash, with
    the bureau's token key, as v1's endpoint did (v1 blinded the input, which hid the pre-hash
    from the server but not the token from the caller: the caller got exactly this value). It
    is also listed in the served OpenAPI document. Every other request is relayed unchanged.
    """
    from flask import Response, request

    app = Flask("v1_oracle_front")

    @app.post("/v1/bureaus/<bureau_id>/token")
    def token(bureau_id: str) -> Response:
        bureau = bureaus.get(bureau_id)
        if bureau is None:
            return Response(
                b'{"error":{"code":"unknown_bureau"}}', 404, mimetype="application/json"
            )
        try:
            pre = cjson.b64decode((request.get_json(silent=True) or {}).get("prehash"), length=32)
        except (MalformedInput, TypeError, AttributeError):  # any bad input: one answer
            return Response(b'{"error":{"code":"bad_request"}}', 400, mimetype="application/json")
        body = json.dumps({"token": cjson.b64encode(bureau.token.token_for(pre))})
        return Response(body, 200, mimetype="application/json")

    @app.get("/v1/openapi.json")
    def openapi() -> Response:
        spec = served_spec(upstream)
        spec["paths"][V1_TOKEN_PATH] = {
            "parameters": [{"name": "bureau_id", "in": "path", "required": True}],
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"prehash": {}}}
                        }
                    }
                }
            },
        }
        return Response(json.dumps(spec), 200, mimetype="application/json")

    @app.route("/<path:_path>", methods=["GET", "POST"])
    def relay(_path: str) -> Response:
        target = request.full_path if request.query_string else request.path
        headers = {
            name: value
            for name, value in request.headers.items()
            if name in {"Content-Type", "Petition-Lookup-Key", "Authorization"}
        }
        answer = upstream.request(
            request.method, target, raw=request.get_data() or None, headers=headers,
            content_type=None,
        )  # fmt: skip
        content_type = answer.headers.get("Content-Type", "application/json")
        return Response(answer.raw, answer.status, content_type=content_type)

    return app
