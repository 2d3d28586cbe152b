"""The PostgreSQL test cluster (tests/support/pg_cluster.py) and its fixtures work, and a commit
survives a crash: the durability the PostgreSQL back end's tests rely on."""

from __future__ import annotations

from pathlib import Path

import psycopg
from pg_cluster import Cluster
from pg_fixtures import NewDatabase


def test_each_call_gives_a_fresh_database(pg_database: str, new_pg_database: NewDatabase) -> None:
    other = new_pg_database("other")
    assert other != pg_database
    with psycopg.connect(pg_database, autocommit=True) as connection:
        connection.execute("CREATE TABLE notes (body text NOT NULL)")
        connection.execute("INSERT INTO notes VALUES (%s)", ["hello"])
        assert connection.execute("SELECT body FROM notes").fetchall() == [("hello",)]
        settings: dict[str, str] = dict(
            connection.execute(
                "SELECT name, setting FROM pg_settings"
                " WHERE name IN ('fsync', 'synchronous_commit', 'max_connections')"
            ).fetchall()
        )
    assert settings == {"fsync": "on", "synchronous_commit": "on", "max_connections": "200"}
    with psycopg.connect(other) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'notes'"
        ).fetchone()
    assert tables == (0,)


def test_a_committed_row_survives_a_crash(tmp_path: Path) -> None:
    # Its own cluster: killing the shared one would break the other modules' connections.
    cluster = Cluster.create(tmp_path)
    try:
        url = cluster.create_database("crash")
        connection = psycopg.connect(url)
        try:
            connection.execute("CREATE TABLE votes (id integer PRIMARY KEY, body text)")
            connection.execute("INSERT INTO votes VALUES (1, 'kept')")
            connection.commit()
            connection.execute("INSERT INTO votes VALUES (2, 'never committed')")
            cluster.kill()
        finally:
            connection.close()
        assert not cluster.running
        cluster.start()
        with psycopg.connect(url) as connection:
            rows = connection.execute("SELECT id, body FROM votes ORDER BY id").fetchall()
        assert rows == [(1, "kept")]
        cluster.restart()
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT count(*) FROM votes").fetchone() == (1,)
    finally:
        cluster.destroy()
    assert not cluster.running
