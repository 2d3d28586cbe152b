"""The PostgreSQL store's own pieces: the URL rule, the SQL translation, schema and head CAS."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from harness import PETITION
from pg_fixtures import NewDatabase

from crypto import note
from crypto.checkpoint import Checkpoint, sign
from crypto.keys import SigningKey
from server.errors import DataDirectoryError, StorageError
from server.postgres import (
    PostgresConnection,
    PostgresLogState,
    check_url,
    ensure_schema,
    translate,
)
from server.store_guard import ForkRefused


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@db/petitions", "PostgreSQL URL"),
        ("postgresql://user:secret@db/petitions", "password"),
        ("postgresql://user@db/petitions?password=secret", "password"),
        ("postgresql://user@db/petitions?PASSWORD=secret", "password"),
    ],
)
def test_a_database_url_must_be_postgresql_and_carry_no_password(url: str, problem: str) -> None:
    with pytest.raises(DataDirectoryError, match=problem):
        check_url(url)


def test_a_good_url_is_accepted() -> None:
    url = "postgresql://petition@db1,db2/petitions?target_session_attrs=read-write"
    assert check_url(url) == url


def test_serve_refuses_a_password_in_the_url_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603  (our own command)
        [*PETITION, "serve", "--data", str(tmp_path / "data"), "--database",
         "postgresql://petition:hunter2@127.0.0.1:1/petitions"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "password" in lines[0]
    assert "hunter2" not in result.stderr + result.stdout


def test_translation_of_placeholders() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c = ?") == (
        "SELECT a FROM t WHERE b = %s AND c = %s"
    )
    assert translate("INSERT INTO t (a) VALUES (:a_1)") == "INSERT INTO t (a) VALUES (%(a_1)s)"
    # Quoted text, casts and a literal percent sign are left meaning what they meant.
    assert translate("SELECT '?:x%', a::text, b % 2 FROM t") == (
        "SELECT '?:x%%', a::text, b %% 2 FROM t"
    )


def _checkpoint(signer: note.Signer, size: int) -> bytes:
    return sign(Checkpoint(signer.name, size, bytes([size]) * 32), [signer])


def test_the_head_is_replaced_only_by_compare_and_swap(new_pg_database: NewDatabase) -> None:
    conn = PostgresConnection.open(new_pg_database("head_cas"))
    try:
        ensure_schema(conn)
        ensure_schema(conn)  # a second front end starting finds it made
        signer = note.Signer("example.org/log", SigningKey.generate())
        state = PostgresLogState(conn, signer.verifier())
        assert state.read_head() is None
        first, second, rival = (_checkpoint(signer, n) for n in (1, 2, 3))
        state.swap_head(None, first)
        head = state.read_head()
        assert head is not None
        assert head.tree_size == 1
        with pytest.raises(ForkRefused):
            state.swap_head(None, rival)  # defence on: a stale integrator is refused
        state.swap_head(first, second)
        with pytest.raises(ForkRefused):
            state.swap_head(first, rival)
        # Publishing follows the head: a deposed integrator's late publication changes nothing.
        state.publish(second, second + b"cosigned", _day())
        state.publish(first, first + b"stale", _day())
        assert state.read_published() == second + b"cosigned"
    finally:
        conn.close()


def test_a_database_holding_other_tables_is_refused(new_pg_database: NewDatabase) -> None:
    conn = PostgresConnection.open(new_pg_database("foreign"))
    try:
        conn.execute("CREATE TABLE accounts (id integer)")
        with pytest.raises(StorageError, match="other tables"):
            ensure_schema(conn)
    finally:
        conn.close()


def _day() -> date:
    return date(2026, 12, 7)
