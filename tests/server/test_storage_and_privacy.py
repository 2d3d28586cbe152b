"""What the server writes: an encrypted database of allowed fields, and nothing about clients.

The server here gets its database key from PETITION_DB_KEY (the other way the issue allows), and
every request carries a distinctive User-Agent so that any trace of it would be found.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlcipher3
from harness import ID_NUMBERS, RunningServer, Submission, start_server, stop_server

from crypto import cjson
from crypto.case_event import Detail
from crypto.envelope import CASE_OFFSET, HEADER_LENGTH, parse_header
from crypto.statutory import Event
from crypto.transfer import reseal
from server.database import PAGE_MAC

DB_KEY = secrets.token_bytes(32)
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) PrivacyProbe/7.3"
SQLITE_HEADER = b"SQLite format 3\x00"
TIME_OF_DAY = re.compile(rb"\b\d{1,2}:\d{2}(:\d{2})?\b")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Every column the server may store, per table: ciphertext, bureau ids, hashes, days,
# the latest case event and handler, re-sealed copies of transferred cases, and the log's own
# integers and hashes. Receipts and checkpoints are not stored (schema 3): receipts are built when
# asked, checkpoints live in log.head and public/log/. A new column fails this test until someone
# decides it belongs here.
ALLOWED_COLUMNS = {
    "petitions": {
        "cursor", "petition_id", "bureau_id", "envelope", "envelope_hash",
        "lookup_key_hash", "day", "event", "handler", "leaf_index",
    },
    "replies": {
        "petition_id", "sequence", "event", "signed_reply", "reply_hash", "day", "leaf_index",
    },
    "events": {"leaf_index", "petition_id"},
    "deliveries": {"petition_id", "bureau_id", "envelope", "leaf_index"},
    "log_leaves": {"leaf_index", "leaf"},
    "log_nodes": {"level", "position", "hash"},
}  # fmt: skip
JSON_COLUMNS = {"signed_reply", "leaf"}
# What every petition to one bureau on one day shares anyway (issue 14): nothing else may be.
SHARED_COLUMNS = {"bureau_id", "day", "event", "handler"}
SHARED_LEAF_MEMBERS = {
    "version", "bureau_id", "day", "event", "detail", "reply_hash", "signature",
}  # fmt: skip
SAME_PERSON = ID_NUMBERS[1]
#: The two petitions of SAME_PERSON the session submits: (petition id, submission).
SAME_PERSON_PETITIONS: list[tuple[str, Submission]] = []


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server after a realistic session: submissions, status checks, bureau work, replies."""
    server = start_server(tmp_path_factory.mktemp("privacy"), env={"PETITION_DB_KEY": DB_KEY.hex()})
    SAME_PERSON_PETITIONS.clear()
    agent = {"User-Agent": USER_AGENT}
    try:
        bureau = server.bureaus["national"]
        for number in range(6):
            submission = server.seal("national" if number % 2 else "guangdong")
            answer = server.client.post("/v1/petitions", submission.body(), headers=agent)
            assert answer.status == 201
            petition_id = answer.json["petition_id"]
            server.client.get(
                f"/v1/petitions/{petition_id}/status",
                headers={
                    **agent,
                    "Petition-Lookup-Key": cjson.b64encode(submission.secret.lookup_key()),
                },
            )
            if submission.bureau is bureau:
                server.client.signed(bureau, "GET", f"/v1/bureaus/national/petitions/{petition_id}")
                posted = server.post_event(
                    submission, "national", Event.ACKNOWLEDGED, message="收到"
                )
                assert posted.status == 201, posted.raw
                if number == 1:  # one case transferred: its re-sealed copy is stored too
                    moved = reseal(
                        submission.envelope,
                        bureau_id="national",
                        case_key=bureau.case,
                        to=server.bureaus["guangdong"].bundle().sealing_keys(),
                    )
                    posted = server.post_event(
                        submission, "national", Event.TRANSFERRED,
                        detail=Detail(to="guangdong"), envelope=moved.envelope,
                    )  # fmt: skip
                    assert posted.status == 201, posted.raw
        for _ in range(2):  # two petitions of one person to one bureau (see SAME_PERSON)
            same = server.seal("national", id_number=SAME_PERSON)
            answer = server.client.post("/v1/petitions", same.body(), headers=agent)
            assert answer.status == 201
            SAME_PERSON_PETITIONS.append((answer.json["petition_id"], same))
        server.client.signed(bureau, "GET", "/v1/bureaus/national/inbox")
        server.client.get("/log/checkpoint", headers=agent)
        server.client.get("/log/tile/0/000.p/9", headers=agent)
        server.client.get("/v1/no-such-route", headers=agent)  # an error path too
        server.client.post("/v1/petitions", {"bureau_id": 1}, headers=agent)
        yield server
    finally:
        stop_server(server)


def _decrypted_rows(database: Path) -> Iterator[tuple[str, str, object]]:
    conn = sqlcipher3.connect(str(database))
    conn.execute(f"PRAGMA key = \"x'{DB_KEY.hex()}'\"")
    conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        cursor = conn.execute(f"SELECT * FROM {table}")  # noqa: S608  (names from the schema)
        names = [column[0] for column in cursor.description]
        for row in cursor:
            for name, value in zip(names, row, strict=True):
                yield table, name, value
    conn.close()


def test_the_database_is_encrypted_and_needs_its_key(session: RunningServer) -> None:
    database = session.data_dir / "petitions.db"
    assert not (session.data_dir / "db.key").exists()  # the key came from the environment
    assert not database.read_bytes().startswith(SQLITE_HEADER)
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(database).execute("SELECT count(*) FROM sqlite_master").fetchone()
    wrong = sqlcipher3.connect(str(database))
    wrong.execute(f"PRAGMA key = \"x'{secrets.token_bytes(32).hex()}'\"")
    wrong.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    with pytest.raises(sqlcipher3.DatabaseError):
        wrong.execute("SELECT count(*) FROM sqlite_master").fetchone()
    right = sqlcipher3.connect(str(database))
    right.execute(f"PRAGMA key = \"x'{DB_KEY.hex()}'\"")
    right.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    assert right.execute("SELECT count(*) FROM petitions").fetchone()[0] == 8
    assert (database.stat().st_mode & 0o077) == 0


def test_only_the_allowed_columns_exist(session: RunningServer) -> None:
    conn = sqlcipher3.connect(str(session.data_dir / "petitions.db"))
    conn.execute(f"PRAGMA key = \"x'{DB_KEY.hex()}'\"")
    conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set(ALLOWED_COLUMNS)
    for table, allowed in ALLOWED_COLUMNS.items():
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        assert columns == allowed, table


def test_no_address_user_agent_or_time_of_day_is_stored(session: RunningServer) -> None:
    forbidden = [b"127.0.0.1", USER_AGENT.encode(), b"PrivacyProbe", b"Mozilla", b"::1"]
    for table, column, value in _decrypted_rows(session.data_dir / "petitions.db"):
        data = value if isinstance(value, bytes) else str(value).encode()
        if column == "envelope":
            # Sealed by the client: random bytes, which hold any 3-byte string now and then
            # (b"::1" turned up once in CI). What can be checked is that it is nothing but an
            # envelope: its clear header parses, and the rest is ciphertext of a bucket size.
            assert isinstance(value, bytes), (table, column)
            parse_header(value)
            continue
        for needle in forbidden:
            assert needle not in data, (table, column)
        if column == "day":
            assert DAY.match(str(value)), (table, column, value)
        if column in JSON_COLUMNS:
            # Signed objects and leaves: every "day" is a day, and no member is a time.
            # (Chosen by column: a random hash may well start with "{" too.)
            assert isinstance(value, bytes), (table, column)
            text = value.decode()
            assert not TIME_OF_DAY.search(value), (table, column)
            for found in re.findall(r'"day":"([^"]*)"', text):
                assert DAY.match(found), (table, column, found)
            assert "time" not in json.loads(text).get("body", {}), (table, column)


def test_no_file_or_log_line_names_a_client_or_a_time(session: RunningServer) -> None:
    for path in session.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in (b"127.0.0.1", USER_AGENT.encode(), b"PrivacyProbe"):
                assert needle not in data, path
    log = session.log_text().encode()
    assert b"127.0.0.1:" not in log.replace(b"http://127.0.0.1:", b"")  # only the banner
    assert USER_AGENT.encode() not in log
    assert not TIME_OF_DAY.search(log.replace(b"http://127.0.0.1:", b"")), log
    assert not re.search(rb"\b[0-9a-f]{32}\b", log)  # no petition id


def test_no_response_sets_a_cookie(session: RunningServer) -> None:
    for target in ("/healthz", "/v1/directory", "/v1/lookup", "/v1/nowhere", "/log/nowhere"):
        answer = session.client.get(target)
        assert "Set-Cookie" not in answer.headers
        assert answer.headers["Cache-Control"] == "no-store"
    # The static log alone may be cached (it is public and names no one); still no cookie.
    for target in ("/log/checkpoint", "/log/tile/0/000.p/9", "/log/tile/entries/000.p/9"):
        answer = session.client.get(target)
        assert answer.status == 200, target
        assert "Set-Cookie" not in answer.headers
        assert answer.headers["Cache-Control"].startswith("public, max-age="), target
    # An error under /log/ is not cached: a tile missing now may exist in a second.
    missing = session.client.get("/log/tile/0/000.p/200")
    assert (missing.status, missing.headers["Cache-Control"]) == (404, "no-store")


def test_no_bureau_key_is_in_the_data_directory(session: RunningServer) -> None:
    """Protocol v2: the server holds no token key (and never did need one), nor any other."""
    assert not list(session.data_dir.parent.glob("*.token-keys"))
    for path in session.data_dir.rglob("*"):
        if path.is_file() and path.suffix != ".db" and "-wal" not in path.name:
            data = path.read_bytes()
            assert b'"purpose":"token"' not in data, path
            if path.name != "authority.keystore":
                assert b"sealed-petition-keystore" not in data, path


def _rows_of(database: Path) -> dict[str, list[dict[str, object]]]:
    conn = sqlcipher3.connect(str(database))
    conn.execute(f"PRAGMA key = \"x'{DB_KEY.hex()}'\"")
    conn.execute(f"PRAGMA cipher_hmac_algorithm = {PAGE_MAC}")
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    rows: dict[str, list[dict[str, object]]] = {}
    for table in tables:
        cursor = conn.execute(f"SELECT * FROM {table}")  # noqa: S608  (names from the schema)
        names = [column[0] for column in cursor.description]
        rows[table] = [dict(zip(names, row, strict=True)) for row in cursor]
    conn.close()
    return rows


def _blob(value: object) -> bytes:
    assert isinstance(value, bytes), type(value)
    return value


def _forms(value: bytes) -> list[bytes]:
    """A per-person value raw, in hex and in base64url: how it could have been stored."""
    return [value, value.hex().encode(), cjson.b64encode(value).encode()]


def test_two_petitions_of_one_person_share_no_stored_value(session: RunningServer) -> None:
    """Issue 14: with the database and its key, two petitions sealed from one ID number share
    nothing but what every petition to that bureau on that day shares: bureau, day, latest
    event and handler."""
    (first_id, first), (second_id, second) = SAME_PERSON_PETITIONS
    assert first.token == second.token  # the bureau would give both one pseudonym
    rows = _rows_of(session.data_dir / "petitions.db")
    assert "token" not in {column for row in rows["petitions"] for column in row}
    by_id = {row["petition_id"]: row for row in rows["petitions"]}
    one, other = by_id[first_id], by_id[second_id]
    assert set(one) == set(ALLOWED_COLUMNS["petitions"])
    for column in set(one) - SHARED_COLUMNS:
        assert one[column] != other[column], column
    for column in SHARED_COLUMNS:
        assert one[column] == other[column], column  # the test is about like petitions
    envelopes = [_blob(one["envelope"]), _blob(other["envelope"])]
    # The clear header is the bureau's (id and key ids); each sealed section is the petition's.
    assert envelopes[0][:HEADER_LENGTH] == envelopes[1][:HEADER_LENGTH]
    assert envelopes[0][HEADER_LENGTH:CASE_OFFSET] != envelopes[1][HEADER_LENGTH:CASE_OFFSET]
    assert envelopes[0][CASE_OFFSET:] != envelopes[1][CASE_OFFSET:]
    parsed = [json.loads(_blob(row["leaf"])) for row in rows["log_leaves"]]
    leaves = {leaf["petition_id"]: leaf for leaf in parsed}
    for member in set(leaves[first_id]) - SHARED_LEAF_MEMBERS:
        assert leaves[first_id][member] != leaves[second_id][member], member
    # Nothing per-person is anywhere: not the pseudonym, not the Argon2id pre-hash.
    person = first.bureau
    secrets_of_person = _forms(first.token) + _forms(person.prehash_for(SAME_PERSON))
    secrets_of_person += [SAME_PERSON.encode()]
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                data = (
                    bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                )
                for needle in secrets_of_person:
                    assert needle not in data, (table, column)


def test_the_store_audit_finds_no_linking_value(session: RunningServer) -> None:
    from server.store_audit import NO_LINKING_VALUES, audit_store

    key_file = session.data_dir.parent / "db.key.copy"
    key_file.write_text(DB_KEY.hex() + "\n")
    key_file.chmod(0o600)
    audit = audit_store(session.data_dir, key_file=key_file)
    (check,) = [check for check in audit.checks if check.check == NO_LINKING_VALUES]
    assert check.passed, check.findings
