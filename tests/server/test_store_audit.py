"""`petition audit store` and `petition admin inspect` on a real server's data directory.

One server gets a few petitions and bureau replies. The audit must pass on it, while it runs and
after it stops, without changing a byte. Then copies of the stopped directory are damaged the
ways a careless patch or an intruder would (an altered envelope, a deleted row, a rewritten
leaf, an ID number, an address, a time or a name put into a table, a database in the clear, a
forged or stale checkpoint, a changed, missing or stray tile, a tile dated to the second):
each must fail the check made for it, and the report must never repeat what was planted.
"""

from __future__ import annotations

import calendar
import hashlib
import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlcipher3
from harness import (
    ID_NUMBERS,
    PASSPHRASE,
    RunningServer,
    free_port,
    launch,
    run_petition,
    start_server,
    stop_server,
)
from pg_cluster import Cluster
from pg_fixtures import NewDatabase
from psycopg import sql

from crypto import cjson, merkle, note, tiles
from crypto.case_event import LogEntry
from crypto.checkpoint import Checkpoint
from crypto.checkpoint import sign as sign_checkpoint
from crypto.cosignature import Cosigner
from crypto.envelope import CASE_OFFSET, HEADER_LENGTH
from crypto.objects import default_policy
from crypto.statutory import Event
from server.authority import current_directory, load_authority, publish
from server.database import PAGE_MAC
from server.datadir import DataDirectory
from server.personal_data import (
    contains_address,
    contains_id_number,
    contains_name,
    contains_time,
    is_timestamp,
)
from server.postgres import PostgresConnection, ensure_schema
from server.store_audit import CHECK_IDS

PLANTED_ID = "11010519491231002X"  # a valid number (check character X), as in the brief
PLANTED_IPV4 = "203.0.113.7"
PLANTED_IPV6 = "2001:db8::7"
PLANTED_TIME = "2026-11-21 14:03:07"
PLANTED_TIMESTAMP = 1_763_733_787
PLANTED_NAME = "李小龙"
SECRETS = [
    PLANTED_ID, PLANTED_IPV4, PLANTED_IPV6, "14:03", str(PLANTED_TIMESTAMP), PLANTED_NAME,
    "张三", *ID_NUMBERS,
]  # fmt: skip

Connection = Any  # sqlcipher3 ships no type information


@dataclass
class Store:
    server: RunningServer
    answered: str  # a petition with a bureau reply
    unanswered: str  # a petition without one


def _fill(server: RunningServer) -> Store:
    """A few submissions to both bureaus and two replies."""
    answered = unanswered = ""
    for number in range(4):
        bureau_id = "national" if number % 2 else "guangdong"
        submission = server.seal(bureau_id, id_number=ID_NUMBERS[number % len(ID_NUMBERS)])
        posted = server.client.post("/v1/petitions", submission.body())
        assert posted.status == 201, posted.raw
        petition_id: str = posted.json["petition_id"]
        if bureau_id == "guangdong":
            unanswered = petition_id
            continue
        answer = server.post_event(submission, bureau_id, Event.ACKNOWLEDGED, message="已受理")
        assert answer.status == 201, answer.raw
        answered = petition_id
    return Store(server, answered, unanswered)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A server after a few submissions to both bureaus and two replies."""
    server = start_server(tmp_path_factory.mktemp("audit"))
    try:
        yield _fill(server)
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def stopped(store: Store) -> Path:
    """The same data directory once the server has stopped (the tests below run last)."""
    stop_server(store.server)
    assert not (store.server.data_dir / "petitions.db-wal").exists()
    return store.server.data_dir


def _audit(data: Path, *extra: str, env: dict[str, str] | None = None) -> list[str]:
    result = run_petition("audit", "store", "--data", str(data), *extra, env=env)
    assert "Traceback" not in result.stderr
    output = result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in output, secret
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("store audit of "), result.stdout
    assert result.returncode == (0 if lines[-1].endswith("passed") else 1), output
    assert result.returncode == (1 if any(line.startswith("FAIL ") for line in lines) else 0)
    return lines


def _failed(lines: list[str]) -> set[str]:
    return {line[len("FAIL ") :].split(":")[0] for line in lines if line.startswith("FAIL ")}


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("petition: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def _files(data: Path) -> dict[str, tuple[str, int]]:
    """Every file's content hash and modification time: what "read-only" must leave alone."""
    found: dict[str, tuple[str, int]] = {}
    for path in sorted(data.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(data))] = (digest, path.stat().st_mtime_ns)
    return found


# --- the detectors on their own --------------------------------------------------------------


DETECTED: list[tuple[Callable[[str], bool], str]] = [
    (contains_id_number, f"citizen {PLANTED_ID}."),
    (contains_id_number, f"13800000000{ID_NUMBERS[1]}"),  # glued to a phone number
    (contains_name, f"real_name: {PLANTED_NAME}"),
    (contains_address, PLANTED_IPV4),
    (contains_address, f"[{PLANTED_IPV6}]:80"),
    (contains_address, "::1"),
    (contains_address, "fe80:0:0:0:0:0:0:1"),
    (contains_time, PLANTED_TIME),
    (contains_time, "2026-11-21T14:03Z"),
    (contains_time, f"at {PLANTED_TIMESTAMP}"),
]
IGNORED: list[tuple[Callable[[str], bool], str]] = [
    (contains_id_number, PLANTED_ID[:-1] + "3"),  # wrong check character
    (contains_id_number, "110105194913310023"),  # month 13: no birth date
    (contains_id_number, "110105490101001"),  # 15-digit legacy numbers are not looked for
    (contains_name, "信"),
    (contains_address, "1.2.3"),
    (contains_address, "999.1.1.1"),
    (contains_address, '{"a":1,"b"::"c"}'),
    (lambda text: contains_address(text, short_ipv6=False), "::1"),  # as in binary values
    (contains_time, "2026-11-21"),
    (contains_time, "2026-11-21T14"),
    (contains_time, '{"tree_size":12,"x":3}'),
]


@pytest.mark.parametrize(("detector", "text"), DETECTED)
def test_a_detector_finds_what_a_leak_looks_like(
    detector: Callable[[str], bool], text: str
) -> None:
    assert detector(text)


@pytest.mark.parametrize(("detector", "text"), IGNORED)
def test_a_detector_ignores_near_misses(detector: Callable[[str], bool], text: str) -> None:
    assert not detector(text)


def test_timestamps_are_seconds_or_milliseconds_from_2000_to_2100() -> None:
    assert is_timestamp(PLANTED_TIMESTAMP)
    assert is_timestamp(PLANTED_TIMESTAMP * 1000)
    assert not is_timestamp(123_456)
    assert not is_timestamp(PLANTED_TIMESTAMP * 1000 * 1000)


def test_what_the_store_is_made_of_trips_no_detector() -> None:
    """Hex ids, base64url hashes and canonical JSON with days: thousands of samples, no alarm."""
    detectors = [contains_id_number, contains_name, contains_address, contains_time]
    for number in range(2000):
        sample = hashlib.sha256(str(number).encode()).hexdigest()
        wire = cjson.b64encode(bytes.fromhex(sample))
        text = f'{{"day":"2026-11-21","id":"{sample[:32]}","hash":"{wire}","size":{number}}}'
        assert not any(detector(text) for detector in detectors), text


# --- a healthy store -------------------------------------------------------------------------


def _assert_all_ok(lines: list[str], *, postgres: bool = False) -> None:
    if postgres:  # encryption at rest is the disk's business there: not checked, not passed
        assert lines[0].split(":")[0] == "skip encrypted-at-rest"
        assert [line.split(":")[0] for line in lines[1:-1]] == [f"ok   {c}" for c in CHECK_IDS[1:]]
        assert lines[-1].endswith(
            f" and its PostgreSQL database: 1 not applicable, all {len(CHECK_IDS) - 1} others "
            "passed"
        )
        return
    assert [line.split(":")[0] for line in lines[:-1]] == [f"ok   {c}" for c in CHECK_IDS]
    assert lines[-1].endswith(f"all {len(CHECK_IDS)} checks passed")


def test_the_audit_passes_while_the_server_runs(store: Store) -> None:
    assert (store.server.data_dir / "petitions.db-wal").exists()  # WAL mode, live
    lines = _audit(store.server.data_dir)
    _assert_all_ok(lines)
    text = "\n".join(lines)
    assert "4 submissions and 2 later case events" in text
    assert "the store reproduces the checkpoint kept in log.head (size 6)" in text
    assert (
        "public/log/checkpoint (size 6) is the store's tree at that size, signed by log.pub, and "
        "the directory's log policy names no witness"
    ) in text
    assert "public/log holds 6 tiles and 6 entry bundles" in text  # widths 1 to 6
    assert "and the 2 that the published checkpoint needs are all there" in text
    assert "the 13 files of public/log are dated midnight UTC" in text


def _audits_while_petitions_arrive(server: RunningServer, audit: Callable[[], None]) -> None:
    stop = threading.Event()
    statuses: list[int] = []

    def submit() -> None:
        while not stop.is_set():
            submission = server.seal("guangdong")
            statuses.append(server.client.post("/v1/petitions", submission.body()).status)

    thread = threading.Thread(target=submit)
    thread.start()
    try:
        audit()
    finally:
        stop.set()
        thread.join()
    assert statuses
    assert set(statuses) == {201}


def test_the_audit_sees_one_consistent_snapshot_while_petitions_arrive(store: Store) -> None:
    """Leaves and rows are read in one transaction, and what the writer publishes after a
    commit (checkpoint, log.head, tiles) just before it, so a commit never splits them."""

    def audit() -> None:
        for _ in range(3):
            _assert_all_ok(_audit(store.server.data_dir))

    _audits_while_petitions_arrive(store.server, audit)


def test_inspect_shows_the_stored_columns_and_nothing_personal(store: Store) -> None:
    result = run_petition("admin", "inspect", "--data", str(store.server.data_dir), store.answered)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for column in ("petition id", "bureau id", "day", "event", "handler", "lookup_key_hash",
                   "envelope", "ciphertext", "leaf index", "reply 0"):  # fmt: skip
        assert f"  {column}" in out, column
    assert "token" not in out  # protocol v2: nothing per-person is stored, so none is shown
    assert "identity and case key ids" in out
    assert store.answered in out
    assert "event            acknowledged" in out
    assert "handler          national" in out
    assert f"day              {date.today().isoformat()}" in out
    assert "first 48 of " in out
    for secret in ("张三", "道路维修", "13800000000", "440300", *ID_NUMBERS):
        assert secret not in out


def test_inspect_refuses_unknown_and_malformed_ids_in_one_line(store: Store) -> None:
    data = str(store.server.data_dir)
    unknown = _one_line_error(run_petition("admin", "inspect", "--data", data, "0" * 32))
    assert "no petition" in unknown
    assert run_petition("admin", "inspect", "--data", data, "0" * 32).returncode == 1
    malformed = _one_line_error(run_petition("admin", "inspect", "--data", data, PLANTED_ID))
    assert "32 lower-case hexadecimal" in malformed
    assert PLANTED_ID not in malformed


def test_the_audit_passes_after_a_stop_and_changes_nothing(stopped: Path) -> None:
    before = _files(stopped)
    _assert_all_ok(_audit(stopped))
    assert _files(stopped) == before  # no -wal/-shm left behind, nothing touched


def test_errors_are_one_line_without_a_traceback(stopped: Path, tmp_path: Path) -> None:
    wrong = _one_line_error(
        run_petition("audit", "store", "--data", str(stopped), env={"PETITION_DB_KEY": "00" * 32})
    )
    assert "database key is wrong" in wrong
    key_file = tmp_path / "db.key"
    key_file.write_text("11" * 32 + "\n")
    key_file.chmod(0o600)
    wrong = _one_line_error(
        run_petition("audit", "store", "--data", str(stopped), "--db-key-file", str(key_file))
    )
    assert "database key is wrong" in wrong
    missing = _one_line_error(run_petition("audit", "store", "--data", str(tmp_path / "none")))
    assert "does not exist" in missing
    garbage = tmp_path / "garbage"
    shutil.copytree(stopped, garbage)
    (garbage / "petitions.db").write_bytes(b"\x07" * 8192)
    assert "not a database" in _one_line_error(
        run_petition("audit", "store", "--data", str(garbage))
    )


# --- damaged copies ----------------------------------------------------------------------------


def _open(data: Path) -> Connection:
    key = (data / "db.key").read_text().strip()
    conn = sqlcipher3.connect(str(data / "petitions.db"), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key}'\"")
    conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    return conn


def _open_copy(stopped: Path, tmp_path: Path) -> tuple[Path, Connection]:
    """A copy of the stopped data directory, and its database opened for tampering."""
    copy = tmp_path / "data"
    shutil.copytree(stopped, copy)
    return copy, _open(copy)


def _alter_envelope(conn: Connection, store: Store) -> None:
    (envelope,) = conn.execute(
        "SELECT envelope FROM petitions WHERE petition_id = ?", (store.unanswered,)
    ).fetchone()
    changed = bytes(envelope[:-1]) + bytes([envelope[-1] ^ 0x01])
    conn.execute(
        "UPDATE petitions SET envelope = ? WHERE petition_id = ?", (changed, store.unanswered)
    )


def _delete_petition(conn: Connection, store: Store) -> None:
    conn.execute("DELETE FROM petitions WHERE petition_id = ?", (store.unanswered,))


def _rewrite_leaf(conn: Connection, store: Store) -> None:
    (leaf,) = conn.execute("SELECT leaf FROM log_leaves WHERE leaf_index = 0").fetchone()
    entry = LogEntry.from_leaf(bytes(leaf))
    forged = LogEntry(
        entry.petition_id, entry.bureau_id, entry.envelope_hash, entry.event, date(2000, 1, 1)
    )
    conn.execute("UPDATE log_leaves SET leaf = ? WHERE leaf_index = 0", (forged.leaf(),))


def _id_in_new_table(conn: Connection, store: Store) -> None:
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES (?)", (f"citizen {PLANTED_ID}",))


def _id_in_new_column(conn: Connection, store: Store) -> None:
    conn.execute("ALTER TABLE petitions ADD COLUMN region TEXT")
    conn.execute("UPDATE petitions SET region = ? WHERE cursor = 3", (PLANTED_ID,))


def _id_in_existing_column(conn: Connection, store: Store) -> None:
    conn.execute("UPDATE replies SET event = ?", (f"answered for {PLANTED_ID}",))


def _ipv4_in_a_column(conn: Connection, store: Store) -> None:
    conn.execute("UPDATE petitions SET event = ? WHERE cursor = 2", (PLANTED_IPV4,))


def _ipv6_in_a_leaf(conn: Connection, store: Store) -> None:
    conn.execute(
        "UPDATE log_leaves SET leaf = ? WHERE leaf_index = 1", (f'{{"from":"{PLANTED_IPV6}"}}',)
    )


def _time_in_a_column(conn: Connection, store: Store) -> None:
    conn.execute("UPDATE petitions SET day = ? WHERE cursor = 1", (PLANTED_TIME,))


def _timestamp_in_a_column(conn: Connection, store: Store) -> None:
    conn.execute("UPDATE replies SET sequence = ?", (PLANTED_TIMESTAMP,))


def _name_in_a_column(conn: Connection, store: Store) -> None:
    conn.execute("UPDATE petitions SET event = ? WHERE cursor = 4", (PLANTED_NAME,))


def _handler_moved_without_a_transfer(conn: Connection, store: Store) -> None:
    """A petition silently moved to another bureau's inbox: no transferred leaf says so."""
    conn.execute(
        "UPDATE petitions SET handler = 'guangdong' WHERE petition_id = ?", (store.answered,)
    )


def _event_leaf_dropped(conn: Connection, store: Store) -> None:
    """A bureau's event hidden from the petition's history (its leaf stays in the log)."""
    conn.execute(
        "DELETE FROM events WHERE petition_id = ? AND leaf_index = "
        "(SELECT max(leaf_index) FROM events WHERE petition_id = ?)",
        (store.answered, store.answered),
    )


def _submission_claimed_twice(conn: Connection, store: Store) -> None:
    """A received leaf in ``events`` as well as in its petition row (what version 4 kept)."""
    conn.execute(
        "INSERT INTO events (leaf_index, petition_id) "
        "SELECT leaf_index, petition_id FROM petitions WHERE petition_id = ?",
        (store.unanswered,),
    )


def _token_column(conn: Connection, store: Store) -> None:
    """What protocol v1 stored: one value per person, shared by that person's petitions."""
    conn.execute("ALTER TABLE petitions ADD COLUMN token BLOB")
    conn.execute("UPDATE petitions SET token = ?", (bytes(range(32)),))


def _shared_lookup_key_hash(conn: Connection, store: Store) -> None:
    conn.execute(
        "UPDATE petitions SET lookup_key_hash = "
        "(SELECT lookup_key_hash FROM petitions WHERE cursor = 1) WHERE cursor = 2"
    )


def _shared_identity_section(conn: Connection, store: Store) -> None:
    """Two envelopes with one sealed identity: a deterministic encryption would look so."""
    rows = conn.execute("SELECT cursor, envelope FROM petitions ORDER BY cursor").fetchall()
    first, second = bytes(rows[0][1]), bytes(rows[1][1])
    changed = second[:HEADER_LENGTH] + first[HEADER_LENGTH:CASE_OFFSET] + second[CASE_OFFSET:]
    conn.execute("UPDATE petitions SET envelope = ? WHERE cursor = ?", (changed, rows[1][0]))


Tamper = Callable[[Connection, Store], None]

CASES: dict[str, tuple[Tamper, set[str]]] = {
    "an altered envelope byte": (_alter_envelope, {"log-matches-store"}),
    "a deleted petition": (_delete_petition, {"log-matches-store"}),
    "a rewritten leaf": (_rewrite_leaf, {"log-intact", "log-matches-store"}),
    "an ID number in a new table": (_id_in_new_table, {"schema", "no-id-numbers"}),
    "an ID number in a new column": (_id_in_new_column, {"schema", "no-id-numbers"}),
    "an ID number in a reply's event": (_id_in_existing_column, {"no-id-numbers"}),
    "a handler moved without a transfer": (
        _handler_moved_without_a_transfer,
        {"log-matches-store"},
    ),
    "an event hidden from its petition": (_event_leaf_dropped, {"log-matches-store"}),
    "a submission claimed twice": (_submission_claimed_twice, {"log-matches-store"}),
    "an IPv4 address": (_ipv4_in_a_column, {"no-addresses"}),
    "an IPv6 address": (_ipv6_in_a_leaf, {"no-addresses", "log-intact"}),
    "a time of day": (_time_in_a_column, {"no-times"}),
    "a Unix timestamp": (_timestamp_in_a_column, {"no-times"}),
    "a name": (_name_in_a_column, {"no-names"}),
    "a per-person token column": (_token_column, {"schema", "no-linking-values"}),
    "a lookup key hash in two petitions": (_shared_lookup_key_hash, {"no-linking-values"}),
    "an identity section in two envelopes": (
        _shared_identity_section,
        {"no-linking-values", "log-matches-store"},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_store_fails_its_check(
    case: str, store: Store, stopped: Path, tmp_path: Path
) -> None:
    tamper, expected = CASES[case]
    copy, conn = _open_copy(stopped, tmp_path)
    tamper(conn, store)
    conn.close()
    lines = _audit(copy)
    assert expected <= _failed(lines), "\n".join(lines)


def test_an_id_number_is_reported_by_place_not_by_value(
    store: Store, stopped: Path, tmp_path: Path
) -> None:
    copy, conn = _open_copy(stopped, tmp_path)
    _id_in_new_column(conn, store)
    (petition_id,) = conn.execute("SELECT petition_id FROM petitions WHERE cursor = 3").fetchone()
    conn.close()
    lines = _audit(copy)
    assert (
        f"FAIL no-id-numbers: petitions.region of petition {petition_id} holds a valid ID number"
        in lines
    )
    assert "FAIL schema: unexpected column petitions.region: it could hold anything" in lines


def test_a_linking_value_is_reported_by_place_not_by_value(
    store: Store, stopped: Path, tmp_path: Path
) -> None:
    copy, conn = _open_copy(stopped, tmp_path)
    _shared_lookup_key_hash(conn, store)
    first, second = (
        row[0] for row in conn.execute("SELECT petition_id FROM petitions WHERE cursor IN (1, 2)")
    )
    (shared,) = conn.execute("SELECT lookup_key_hash FROM petitions WHERE cursor = 1").fetchone()
    conn.close()
    lines = _audit(copy)
    assert _failed(lines) == {"no-linking-values"}
    assert (
        f"FAIL no-linking-values: petitions.lookup_key_hash of petition {second} holds the same "
        f"value as that of petition {first}: a value two petitions share links them"
    ) in lines
    assert not any(bytes(shared).hex() in line for line in lines)


def test_a_database_in_the_clear_fails_encryption_at_rest(stopped: Path, tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(stopped, copy)
    plain = tmp_path / "plain.db"
    conn = _open(copy)
    conn.execute(f"ATTACH DATABASE '{plain}' AS plaintext KEY ''")
    conn.execute("SELECT sqlcipher_export('plaintext')")
    conn.execute("DETACH DATABASE plaintext")
    conn.close()
    plain.replace(copy / "petitions.db")
    reader = sqlite3.connect(copy / "petitions.db")
    assert reader.execute("SELECT count(*) FROM petitions").fetchone()[0] >= 4
    reader.close()
    lines = _audit(copy)
    assert _failed(lines) == {"encrypted-at-rest"} | (_failed(lines) & {"schema"})
    assert "FAIL encrypted-at-rest: petitions.db starts with the plain SQLite header" in lines


def test_a_file_dropped_into_the_data_directory_is_scanned(stopped: Path, tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(stopped, copy)
    (copy / "debug.log").write_text(f"{PLANTED_TIME} request from {PLANTED_IPV4}\n")
    lines = _audit(copy)
    assert _failed(lines) == {"no-addresses", "no-times"}
    assert "FAIL no-addresses: the file debug.log holds an IP address" in lines


# --- the published log: log.head, public/log/checkpoint, tiles -----------------------------------


@dataclass
class Log:
    """A copy of the stopped data directory, with what it takes to forge its published files."""

    data: Path
    signer: note.Signer  # the log's own key: a forger who stole it, or a buggy writer
    leaves: list[bytes]

    @property
    def size(self) -> int:
        return len(self.leaves)

    @property
    def public(self) -> Path:
        return self.data / "public" / "log"

    def root(self, size: int) -> bytes:
        return merkle.root_from_leaf_hashes([merkle.leaf_hash(leaf) for leaf in self.leaves[:size]])

    def signed(self, size: int, root: bytes | None = None, *, origin: str | None = None) -> bytes:
        checkpoint = Checkpoint(origin or self.signer.name, size, root or self.root(size))
        return sign_checkpoint(checkpoint, [self.signer])

    def tile(self, width: int | None = None) -> Path:
        return self.public / tiles.Tile(0, 0, width or self.size).path()

    def bundle(self) -> Path:
        return self.public / tiles.EntryBundle(0, self.size).path()


def _log_copy(stopped: Path, tmp_path: Path) -> Log:
    copy = tmp_path / "data"
    shutil.copytree(stopped, copy, symlinks=True)
    conn = _open(copy)
    leaves = [
        bytes(row[0]) for row in conn.execute("SELECT leaf FROM log_leaves ORDER BY leaf_index")
    ]
    conn.close()
    return Log(copy, DataDirectory(copy).log_signer(), leaves)


def _midnight(path: Path, *, plus: int = 0) -> None:
    """Date a file as the writer does (today's midnight, UTC), or ``plus`` seconds later."""
    moment = calendar.timegm(datetime.now(UTC).date().timetuple()) + plus
    os.utime(path, (moment, moment), follow_symlinks=False)


def _replace_file(path: Path, content: bytes) -> None:
    path.write_bytes(content)  # keeps the mode: log.head stays owner-only
    _midnight(path)


def _delete_checkpoint(log: Log) -> list[str]:
    (log.public / "checkpoint").unlink()
    return ["public/log/checkpoint is missing: the log is not published"]


def _checkpoint_by_another_key(log: Log) -> list[str]:
    other = note.Signer.generate(log.signer.name)
    forged = sign_checkpoint(Checkpoint(log.signer.name, log.size, log.root(log.size)), [other])
    _replace_file(log.public / "checkpoint", forged)
    return ["public/log/checkpoint is not a checkpoint signed by log.pub (invalid_signature)"]


def _checkpoint_beyond_the_store(log: Log) -> list[str]:
    n = log.size
    _replace_file(log.public / "checkpoint", log.signed(n + 1, hashlib.sha256(b"x").digest()))
    return [
        f"public/log/checkpoint (size {n + 1}) is larger than log.head (size {n}): log.head is "
        "not the last checkpoint the log key signed",
        f"public/log/checkpoint holds a checkpoint of size {n + 1} but the store has only {n} "
        "leaves: this is not (all of) the log the key signed",
    ]


def _head_of_another_log(log: Log) -> list[str]:
    n = log.size
    _replace_file(log.data / "log.head", log.signed(n, hashlib.sha256(b"x").digest()))
    return [
        f"log.head holds a checkpoint of size {n} whose root the stored leaves do not reproduce: "
        "this is another log under the same key"
    ]


def _stale_head(log: Log) -> list[str]:
    n = log.size
    _replace_file(log.data / "log.head", log.signed(n - 1))
    return [
        f"public/log/checkpoint (size {n}) is larger than log.head (size {n - 1}): log.head is "
        "not the last checkpoint the log key signed"
    ]


def _head_of_another_origin(log: Log) -> list[str]:
    _replace_file(log.data / "log.head", log.signed(log.size, origin="example.org/other-log"))
    return ["log.head is signed by log.pub but names another origin than log.pub's key name"]


def _changed_tile(log: Log) -> list[str]:
    content = bytearray(log.tile().read_bytes())
    content[40] ^= 0x01
    _replace_file(log.tile(), bytes(content))
    return [f"public/log/tile/0/000.p/{log.size} does not hold the store's hashes"]


def _truncated_bundle(log: Log) -> list[str]:
    content = log.bundle().read_bytes()
    _replace_file(log.bundle(), content[:-1])
    return [
        f"public/log/tile/entries/000.p/{log.size} is {len(content) - 1:,} bytes, not the "
        f"{len(content):,} bytes of the store's leaves"
    ]


def _stray_file(log: Log) -> list[str]:
    _replace_file(log.public / "tile" / "notes", b"nothing to see\n")
    return [
        "public/log/tile/notes is not a tile, an entry bundle or the checkpoint: nothing else "
        "belongs in the published log"
    ]


def _tile_beyond_the_store(log: Log) -> list[str]:
    _replace_file(log.tile(200), bytes(200 * 32))
    return [f"public/log/tile/0/000.p/200 lies beyond the {log.size} leaves of the store"]


def _missing_tile(log: Log) -> list[str]:
    log.tile().unlink()
    return [
        f"1 of the 2 tiles and entry bundles that public/log/checkpoint (size {log.size}) needs "
        f"are missing (the first: tile/0/000.p/{log.size})"
    ]


def _symbolic_link(log: Log) -> list[str]:
    (log.tile().parent / "link").symlink_to(log.data / "db.key")
    return [
        "public/log/tile/0/000.p/link is a symbolic link: the published log holds only files "
        "the writer wrote"
    ]


def _linked_public_log(log: Log) -> list[str]:
    elsewhere = log.data.parent / "elsewhere"
    log.public.rename(elsewhere)
    log.public.symlink_to(elsewhere)
    return [
        "public/log is a symbolic link: the published log holds only files the writer wrote",
        "public/log/checkpoint is missing: the log is not published",
    ]


def _tile_dated_to_the_second(log: Log) -> list[str]:
    _midnight(log.tile(), plus=14 * 3600 + 3 * 60 + 7)
    return [
        f"the file public/log/tile/0/000.p/{log.size} was last modified at a time of day, not "
        "at midnight UTC: served as Last-Modified, it would date a batch"
    ]


def _directory_of_another_log(log: Log) -> list[str]:
    data = DataDirectory(log.data)
    authority = load_authority(data.authority_keystore_path, PASSPHRASE)
    directory = current_directory(data, authority)
    other = note.Signer.generate(log.signer.name).verifier()
    publish(data, authority, replace(directory, log_vkey=other, log_policy=default_policy(other)))
    return ["directory.json publishes another log key (log_vkey) than log.pub"]


def _a_write_in_progress(log: Log) -> list[str]:
    """The writer's temporary file (renamed into place a moment later) is no finding."""
    _replace_file(log.tile().parent / ".tmp-7", bytes(7 * 32))
    _replace_file(log.public / ".tmp-checkpoint", b"half a checkpoint")
    return []


Forgery = Callable[[Log], list[str]]

PUBLISHED_CASES: dict[str, tuple[Forgery, str]] = {
    "a deleted published checkpoint": (_delete_checkpoint, "log-intact"),
    "a checkpoint signed by another key": (_checkpoint_by_another_key, "log-intact"),
    "a checkpoint beyond the store": (_checkpoint_beyond_the_store, "log-intact"),
    "a log.head of another log": (_head_of_another_log, "log-intact"),
    "a stale log.head": (_stale_head, "log-intact"),
    "a log.head of another origin": (_head_of_another_origin, "log-intact"),
    "a changed tile": (_changed_tile, "log-intact"),
    "a truncated entry bundle": (_truncated_bundle, "log-intact"),
    "a stray file": (_stray_file, "log-intact"),
    "a tile beyond the store": (_tile_beyond_the_store, "log-intact"),
    "a missing tile": (_missing_tile, "log-intact"),
    "a symbolic link": (_symbolic_link, "log-intact"),
    "a symbolic link for public/log": (_linked_public_log, "log-intact"),
    "a tile dated to the second": (_tile_dated_to_the_second, "no-times"),
    "a directory naming another log key": (_directory_of_another_log, "log-intact"),
    "a write in progress": (_a_write_in_progress, ""),
}


@pytest.mark.parametrize("case", list(PUBLISHED_CASES))
def test_a_damaged_published_log_fails_its_check(case: str, stopped: Path, tmp_path: Path) -> None:
    forge, check = PUBLISHED_CASES[case]
    log = _log_copy(stopped, tmp_path)
    _assert_all_ok(_audit(log.data))  # the copy itself is sound
    expected = forge(log)
    lines = _audit(log.data)
    if not expected:
        _assert_all_ok(lines)
        return
    assert _failed(lines) == {check}, "\n".join(lines)
    assert sorted(line for line in lines if line.startswith("FAIL ")) == sorted(
        f"FAIL {check}: {message}" for message in expected
    )


def _add_witness(log: Log, passphrase: Path, cosigner: Cosigner) -> None:
    added = run_petition(
        "admin", "add-witness", "--data", str(log.data), "--passphrase-file", str(passphrase),
        "--quorum", "1", "w1", cosigner.verifier().to_vkey(), "https://witness.example.org",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr


def test_cosignatures_by_the_policys_witnesses_are_counted_and_checked(
    store: Store, stopped: Path, tmp_path: Path
) -> None:
    log = _log_copy(stopped, tmp_path)
    cosigner = Cosigner.generate("witness.example.org/w1")
    _add_witness(log, store.server.data_dir.parent / "passphrase", cosigner)
    lines = _audit(log.data)
    _assert_all_ok(lines)  # too few cosignatures is the policy's business, not the store's
    policy = "witnesses of the directory's log policy"
    assert f"cosigned by 0 of the 1 {policy} (quorum not met)" in "\n".join(lines)

    path = log.public / "checkpoint"
    published = path.read_bytes()
    text, _ = note.split(published)
    line = cosigner.cosign(text, 1_700_000_000)
    _replace_file(path, published + line.encode())
    lines = _audit(log.data)
    _assert_all_ok(lines)
    assert f"cosigned by 1 of the 1 {policy} (quorum met)" in "\n".join(lines)

    name, blob = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(note.decode_base64(blob, what="test"))
    raw[-1] ^= 0x01
    _replace_file(path, published + f"{name} {note.encode_base64(bytes(raw))}\n".encode())
    lines = _audit(log.data)
    assert _failed(lines) == {"log-intact"}
    assert (
        "FAIL log-intact: the cosignature by witness w1 on public/log/checkpoint does not verify"
        in lines
    )


def test_a_log_past_one_full_tile_is_audited_with_its_partials_superseded(
    tmp_path: Path,
) -> None:
    """Past 256 leaves the writer replaces the partial tiles by the full one (tlog-tiles lets
    it): the audit accepts the full tile where the partial is gone, and misses it if it is not."""
    server = start_server(tmp_path)
    try:
        for _ in range(tiles.TILE_WIDTH + 4):
            submission = server.seal("national")
            assert server.client.post("/v1/petitions", submission.body()).status == 201
    finally:
        stop_server(server)
    public = server.data_dir / "public" / "log"
    assert (public / "tile/0/000").is_file()
    assert (public / "tile/entries/000").is_file()
    assert not (public / "tile/0/000.p").exists()  # superseded
    assert (public / "tile/1/000.p/1").is_file()
    lines = _audit(server.data_dir)
    _assert_all_ok(lines)
    text = "\n".join(lines)
    assert "public/log/checkpoint (size 260) is the store's tree at that size" in text
    assert "and the 5 that the published checkpoint needs are all there" in text

    (public / "tile/0/000").unlink()
    lines = _audit(server.data_dir)
    assert _failed(lines) == {"log-intact"}
    assert (
        "FAIL log-intact: 1 of the 5 tiles and entry bundles that public/log/checkpoint (size 260) "
        "needs are missing (the first: tile/0/000)"
    ) in lines


# --- the same audit on a PostgreSQL store (--database) -------------------------------------------
#
def _as_version_4(conn: Connection) -> None:
    """What schema version 4 kept: every leaf in ``events``, the received ones too."""
    conn.execute(
        "INSERT INTO events (leaf_index, petition_id) SELECT leaf_index, petition_id FROM petitions"
    )


def test_a_version_4_store_is_migrated_when_the_server_starts(
    store: Store, stopped: Path, tmp_path: Path
) -> None:
    copy, conn = _open_copy(stopped, tmp_path)
    (submitted,) = conn.execute("SELECT count(*) FROM petitions").fetchone()
    (later,) = conn.execute("SELECT count(*) FROM events").fetchone()
    _as_version_4(conn)
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    before = _audit(copy)
    assert _failed(before) >= {"schema", "log-matches-store"}, "\n".join(before)
    process, client, log_path = launch(copy, tmp_path / "server.log")
    server = replace(store.server, client=client, data_dir=copy, process=process, log_path=log_path)
    try:
        posted = client.post("/v1/petitions", server.seal("guangdong").body())
        assert posted.status == 201, posted.raw
    finally:
        stop_server(server)
    conn = _open(copy)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        (received_in_events,) = conn.execute(
            "SELECT count(*) FROM events WHERE leaf_index IN (SELECT leaf_index FROM petitions)"
        ).fetchone()
        assert received_in_events == 0
    finally:
        conn.close()
    lines = _audit(copy)
    _assert_all_ok(lines)
    assert f"{submitted + 1} submissions and {later} later case events" in "\n".join(lines)


# The same server and petitions on PostgreSQL: the audit reads the tables, log_head and log_files
# in one read-only snapshot, and the data directory only for log.pub, directory.json and the
# files it scans. Damaged copies are databases made from the stopped one (CREATE DATABASE …
# TEMPLATE), changed through the store's own SQL adapter so that the tampering above applies.


@dataclass
class PgStore:
    store: Store
    url: str
    cluster: Cluster

    @property
    def data(self) -> Path:
        return self.store.server.data_dir


@pytest.fixture(scope="module")
def pg_store(
    tmp_path_factory: pytest.TempPathFactory, pg_cluster: Cluster, new_pg_database: NewDatabase
) -> Iterator[PgStore]:
    url = new_pg_database("store_audit")
    server = start_server(tmp_path_factory.mktemp("audit_pg"), extra=("--database", url))
    try:
        yield PgStore(_fill(server), url, pg_cluster)
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def pg_stopped(pg_store: PgStore) -> PgStore:
    """The same store once the server has stopped (the tests below run last)."""
    stop_server(pg_store.store.server)
    return pg_store


def _pg_audit(store: PgStore, url: str | None = None) -> list[str]:
    return _audit(store.data, "--database", url or store.url)


def _pg_contents(url: str) -> list[tuple[str, str]]:
    """Every table and a digest of its rows: what "read-only" must leave alone."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            str(row[0])
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        digest = "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {} t"
        return [
            (table, conn.execute(sql.SQL(digest).format(sql.Identifier(table))).fetchone()[0])  # type: ignore[index]
            for table in tables
        ]


def test_the_postgresql_audit_passes_while_the_server_runs(pg_store: PgStore) -> None:
    with psycopg.connect(pg_store.url) as conn:
        (nonces,) = conn.execute("SELECT count(*) FROM request_nonces").fetchone()  # type: ignore[misc]
    assert nonces == 2  # the two replies' bureau ids and random nonces: nothing to report
    lines = _pg_audit(pg_store)
    _assert_all_ok(lines, postgres=True)
    text = "\n".join(lines)
    assert (
        "skip encrypted-at-rest: not applicable: PostgreSQL's files are encrypted by the disk"
    ) in text
    assert "4 submissions and 2 later case events" in text
    assert "the store reproduces the checkpoint kept in log_head.signed (size 6)" in text
    assert "log_head.published (size 6) is the store's tree at that size, signed by log.pub" in text
    assert "log_files holds " in text
    assert "and the 2 that the published checkpoint needs are all there" in text
    assert "dated midnight" not in text  # a row keeps no time


def test_the_postgresql_audit_sees_one_snapshot_while_petitions_arrive(pg_store: PgStore) -> None:
    def audit() -> None:
        for _ in range(2):
            _assert_all_ok(_pg_audit(pg_store), postgres=True)

    _audits_while_petitions_arrive(pg_store.store.server, audit)


def test_the_postgresql_audit_changes_nothing(pg_stopped: PgStore) -> None:
    before = _pg_contents(pg_stopped.url), _files(pg_stopped.data)
    _assert_all_ok(_pg_audit(pg_stopped), postgres=True)
    assert (_pg_contents(pg_stopped.url), _files(pg_stopped.data)) == before


def test_an_unreachable_postgresql_database_is_one_line(pg_stopped: PgStore) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    error = _one_line_error(
        run_petition("audit", "store", "--data", str(pg_stopped.data), "--database", url)
    )
    assert "cannot connect to PostgreSQL" in error


def _pg_id_in_new_column(conn: Connection, store: Store) -> list[str]:
    _id_in_new_column(conn, store)
    (petition_id,) = conn.execute("SELECT petition_id FROM petitions WHERE cursor = 3").fetchone()
    return [
        f"no-id-numbers: petitions.region of petition {petition_id} holds a valid ID number",
        "schema: unexpected column petitions.region: it could hold anything",
    ]


def _pg_leaf_missing(conn: Connection, store: Store) -> list[str]:
    """A petition row naming a leaf the log does not hold."""
    conn.execute("UPDATE petitions SET leaf_index = 999 WHERE petition_id = ?", (store.answered,))
    return [
        f"log-matches-store: petition {store.answered} names leaf 999, which is missing or invalid"
    ]


def _pg_changed_tile(conn: Connection, store: Store) -> list[str]:
    path, content = conn.execute(
        "SELECT path, content FROM log_files WHERE starts_with(path, 'tile/0/') "
        "ORDER BY path DESC LIMIT 1"
    ).fetchone()
    changed = bytearray(content)
    changed[40] ^= 0x01
    conn.execute("UPDATE log_files SET content = ? WHERE path = ?", (bytes(changed), path))
    return [f"log-intact: the log_files row {path} does not hold the store's hashes"]


def _pg_table_in_another_schema(conn: Connection, store: Store) -> list[str]:
    conn.execute("CREATE SCHEMA scratch")
    conn.execute("CREATE TABLE scratch.notes (note TEXT)")
    conn.execute("INSERT INTO scratch.notes VALUES (?)", (f"citizen {PLANTED_ID}",))
    return [
        "schema: unexpected table scratch.notes: server/postgres.py defines no such thing, and "
        "it could hold anything",
        "no-id-numbers: scratch.notes.note of row 1 holds a valid ID number",
    ]


def _pg_trigger(conn: Connection, store: Store) -> list[str]:
    """A trigger could copy each row it sees anywhere."""
    conn.execute(
        "CREATE TRIGGER keep_a_copy BEFORE UPDATE ON petitions FOR EACH ROW "
        "EXECUTE FUNCTION suppress_redundant_updates_trigger()"
    )
    return [
        "schema: unexpected trigger keep_a_copy: server/postgres.py defines no such thing, and it "
        "could hold anything"
    ]


def _pg_stale_head(conn: Connection, store: Store) -> list[str]:
    """log_head.signed set back to an older checkpoint than the published one."""
    leaves = [bytes(row[0]) for row in conn.execute("SELECT leaf FROM log_leaves ORDER BY 1")]
    data = store.server.data_dir
    log = Log(data, DataDirectory(data).log_signer(), leaves)
    conn.execute("UPDATE log_head SET signed = ?", (log.signed(log.size - 1),))
    n = log.size
    return [
        f"log-intact: log_head.published (size {n}) is larger than log_head.signed (size {n - 1}):"
        " log_head.signed is not the last checkpoint the log key signed"
    ]


PgTamper = Callable[[Connection, Store], list[str] | None]

PG_CASES: dict[str, tuple[PgTamper, set[str]]] = {
    "an altered envelope byte": (_alter_envelope, {"log-matches-store"}),
    "a rewritten leaf": (_rewrite_leaf, {"log-intact", "log-matches-store"}),
    "an ID number in a new table": (_id_in_new_table, {"schema", "no-id-numbers"}),
    "an ID number in a new column": (_pg_id_in_new_column, {"schema", "no-id-numbers"}),
    "a time of day": (_time_in_a_column, {"no-times", "log-matches-store"}),
    "a name": (_name_in_a_column, {"no-names", "log-matches-store"}),
    "a lookup key hash in two petitions": (_shared_lookup_key_hash, {"no-linking-values"}),
    "a petition whose leaf is missing": (_pg_leaf_missing, {"log-matches-store"}),
    "a submission claimed twice": (_submission_claimed_twice, {"log-matches-store"}),
    "a changed tile in log_files": (_pg_changed_tile, {"log-intact"}),
    "a table in another schema": (_pg_table_in_another_schema, {"schema", "no-id-numbers"}),
    "a trigger": (_pg_trigger, {"schema"}),
    "a stale head": (_pg_stale_head, {"log-intact"}),
}


@contextmanager
def _pg_copy(store: PgStore, suffix: str) -> Iterator[str]:
    """A copy of the stopped store's database (CREATE DATABASE … TEMPLATE), dropped after."""
    name = f"{store.url.rsplit('/', 1)[1]}_copy_{suffix}"
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}")
    source = store.url.rsplit("/", 1)[1]
    with psycopg.connect(store.cluster.url, autocommit=True) as admin:
        admin.execute(statement.format(sql.Identifier(name), sql.Identifier(source)))
    try:
        yield store.cluster.database_url(name)
    finally:
        with psycopg.connect(store.cluster.url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


@pytest.mark.parametrize("case", list(PG_CASES))
def test_a_damaged_postgresql_store_fails_its_check(case: str, pg_stopped: PgStore) -> None:
    tamper, expected = PG_CASES[case]
    with _pg_copy(pg_stopped, str(list(PG_CASES).index(case))) as url:
        conn = PostgresConnection(psycopg.connect(url, autocommit=True))
        try:
            messages = tamper(conn, pg_stopped.store) or []
        finally:
            conn.close()
        lines = _pg_audit(pg_stopped, url)
        assert _failed(lines) == expected, "\n".join(lines)
        for message in messages:
            assert f"FAIL {message}" in lines, "\n".join(lines)


def test_a_version_4_postgresql_store_is_migrated_by_the_first_front_end(
    pg_stopped: PgStore,
) -> None:
    with _pg_copy(pg_stopped, "version_4") as url:
        conn = PostgresConnection(psycopg.connect(url, autocommit=True))
        try:
            _as_version_4(conn)
            conn.execute("UPDATE store_meta SET value = '4' WHERE key = 'schema_version'")
            before = _pg_audit(pg_stopped, url)
            assert _failed(before) == {"schema", "log-matches-store"}, "\n".join(before)
            ensure_schema(conn)  # what each front end does as it starts
            ensure_schema(conn)  # a second one finds version 5
            (version,) = conn.execute(
                "SELECT value FROM store_meta WHERE key = 'schema_version'"
            ).fetchone()
            assert version == "5"
        finally:
            conn.close()
        _assert_all_ok(_pg_audit(pg_stopped, url), postgres=True)
