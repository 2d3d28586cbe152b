"""The page HMAC: new stores use HMAC-SHA256, stores made earlier (SQLCipher 4's default,
HMAC-SHA512) still open, and a wrong key opens neither (server/database.py)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import sqlcipher3

from server.database import EARLIER_PAGE_MACS, PAGE_MAC, connect, ensure_schema
from server.errors import StorageError
from server.store_reading import open_with_key


def _raw(path: Path, key: bytes, page_mac: str | None) -> sqlcipher3.Connection:
    """SQLCipher opened by hand, as an operator's own script would (None: SQLCipher's default)."""
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA cipher_log_level = NONE")
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    if page_mac is not None:
        conn.execute(f"PRAGMA cipher_hmac_algorithm = {page_mac}")
    return conn


def _opens(path: Path, key: bytes, page_mac: str | None) -> bool:
    conn = _raw(path, key, page_mac)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError:
        return False
    finally:
        conn.close()
    return True


def test_a_new_store_is_made_with_hmac_sha256_pages(tmp_path: Path) -> None:
    path, key = tmp_path / "petitions.db", secrets.token_bytes(32)
    conn = connect(path, key, writer=True)
    ensure_schema(conn)
    conn.close()
    assert PAGE_MAC == "HMAC_SHA256"
    assert _opens(path, key, "HMAC_SHA256")
    assert not _opens(path, key, None)  # not SQLCipher 4's default (HMAC-SHA512)
    assert not _opens(path, secrets.token_bytes(32), "HMAC_SHA256")


def test_a_store_made_with_sqlcipher_defaults_still_opens_and_stays_as_it_was(
    tmp_path: Path,
) -> None:
    """A store from before 2026-12-07 (HMAC-SHA512 pages) is read and written as it is."""
    path, key = tmp_path / "petitions.db", secrets.token_bytes(32)
    made = _raw(path, key, None)
    made.execute("CREATE TABLE earlier (value TEXT)")
    made.execute("INSERT INTO earlier VALUES ('kept')")
    made.close()
    assert "HMAC_SHA512" in EARLIER_PAGE_MACS

    conn = connect(path, key, writer=True)
    assert conn.execute("PRAGMA cipher_hmac_algorithm").fetchone()[0] == "HMAC_SHA512"
    conn.execute("INSERT INTO earlier VALUES ('added')")
    conn.close()
    reader = open_with_key(path, key)
    assert reader is not None
    assert [row[0] for row in reader.execute("SELECT value FROM earlier")] == ["kept", "added"]
    reader.close()
    assert _opens(path, key, None)  # still SQLCipher's default: nothing was converted


@pytest.mark.parametrize("page_mac", [None, PAGE_MAC])
def test_a_wrong_key_opens_neither_kind_of_store(tmp_path: Path, page_mac: str | None) -> None:
    path, key = tmp_path / "petitions.db", secrets.token_bytes(32)
    made = _raw(path, key, page_mac)
    made.execute("CREATE TABLE t (value TEXT)")
    made.close()
    wrong = secrets.token_bytes(32)
    with pytest.raises(StorageError, match="the database key is wrong or the file is damaged"):
        connect(path, wrong, writer=False)
    assert open_with_key(path, wrong) is None
