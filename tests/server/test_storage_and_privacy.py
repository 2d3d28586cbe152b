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
from datetime import date
from pathlib import Path

import pytest
import sqlcipher3
from harness import RunningServer, start_server, stop_server

from crypto import cjson
from crypto.fields import Status
from crypto.labels import SignedKind
from crypto.objects import Reply
from crypto.reply import seal_reply
from crypto.signing import sign

DB_KEY = secrets.token_bytes(32)
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) PrivacyProbe/7.3"
SQLITE_HEADER = b"SQLite format 3\x00"
TIME_OF_DAY = re.compile(rb"\b\d{1,2}:\d{2}(:\d{2})?\b")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Every column the server may store, per table: ciphertext, tokens, bureau ids, hashes, days,
# statuses, and the log's own integers and signed objects. A new column fails this test until
# someone decides it belongs here.
ALLOWED_COLUMNS = {
    "petitions": {
        "cursor", "petition_id", "bureau_id", "token", "envelope", "envelope_hash",
        "lookup_key_hash", "day", "status", "leaf_index", "receipt",
    },
    "replies": {
        "petition_id", "sequence", "status", "signed_reply", "reply_hash", "day", "leaf_index",
        "tree_size",
    },
    "log_leaves": {"leaf_index", "leaf"},
    "log_nodes": {"level", "position", "hash"},
    "tree_heads": {"tree_size", "signed_head"},
}  # fmt: skip
JSON_COLUMNS = {"receipt", "signed_reply", "leaf", "signed_head"}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server after a realistic session: submissions, status checks, bureau work, replies."""
    server = start_server(tmp_path_factory.mktemp("privacy"), env={"PETITION_DB_KEY": DB_KEY.hex()})
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
                ciphertext = seal_reply(
                    "收到", submission.secret.reply_private_key().public_key(), petition_id,
                    "national",
                )  # fmt: skip
                reply = Reply(petition_id, "national", Status.ANSWERED, 0, ciphertext, date.today())
                wire = sign(SignedKind.REPLY, reply.to_json(), bureau.signing).to_json()
                posted, _ = server.client.signed(
                    bureau, "POST", f"/v1/bureaus/national/petitions/{petition_id}/replies",
                    {"reply": wire},
                )  # fmt: skip
                assert posted.status == 201
        server.client.signed(bureau, "GET", "/v1/bureaus/national/inbox")
        server.client.get("/v1/log/head", headers=agent)
        server.client.get("/v1/no-such-route", headers=agent)  # an error path too
        server.client.post("/v1/petitions", {"bureau_id": 1}, headers=agent)
        yield server
    finally:
        stop_server(server)


def _decrypted_rows(database: Path) -> Iterator[tuple[str, str, object]]:
    conn = sqlcipher3.connect(str(database))
    conn.execute(f"PRAGMA key = \"x'{DB_KEY.hex()}'\"")
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
    with pytest.raises(sqlcipher3.DatabaseError):
        wrong.execute("SELECT count(*) FROM sqlite_master").fetchone()
    right = sqlcipher3.connect(str(database))
    right.execute(f"PRAGMA key = \"x'{DB_KEY.hex()}'\"")
    assert right.execute("SELECT count(*) FROM petitions").fetchone()[0] == 6
    assert (database.stat().st_mode & 0o077) == 0


def test_only_the_allowed_columns_exist(session: RunningServer) -> None:
    conn = sqlcipher3.connect(str(session.data_dir / "petitions.db"))
    conn.execute(f"PRAGMA key = \"x'{DB_KEY.hex()}'\"")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set(ALLOWED_COLUMNS)
    for table, allowed in ALLOWED_COLUMNS.items():
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        assert columns == allowed, table


def test_no_address_user_agent_or_time_of_day_is_stored(session: RunningServer) -> None:
    forbidden = [b"127.0.0.1", USER_AGENT.encode(), b"PrivacyProbe", b"Mozilla", b"::1"]
    for table, column, value in _decrypted_rows(session.data_dir / "petitions.db"):
        data = value if isinstance(value, bytes) else str(value).encode()
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
    for target in ("/healthz", "/v1/directory", "/v1/log/head", "/v1/nowhere"):
        answer = session.client.get(target)
        assert "Set-Cookie" not in answer.headers
        assert answer.headers["Cache-Control"] == "no-store"


def test_the_token_keys_are_not_in_the_data_directory(session: RunningServer) -> None:
    assert session.data_dir not in session.token_keys.parents
    for path in session.data_dir.rglob("*"):
        if path.is_file() and path.suffix != ".db" and "-wal" not in path.name:
            assert b'"purpose":"token"' not in path.read_bytes(), path
