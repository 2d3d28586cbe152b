"""One real server per test module (starting gunicorn and the writer takes about a second).

A module that sets ``BOTH_STORES = True`` runs every test twice: against the embedded
SQLCipher store and against PostgreSQL (a fresh database in the suite's cluster, see
tests/support/pg_fixtures.py). One fixture, parametrised: never a copy of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import RunningServer, start_server, stop_server
from pg_fixtures import NewDatabase

STORES = ("sqlcipher", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_STORES", False):
        metafunc.parametrize("store", STORES, scope="module")


@pytest.fixture(scope="module")
def store() -> str:
    """The store a module's server uses: SQLCipher unless the module asks for both."""
    return "sqlcipher"


def store_options(store: str, request: pytest.FixtureRequest) -> tuple[str, ...]:
    """``petition serve`` options for ``store`` (a fresh PostgreSQL database when asked)."""
    if store == "sqlcipher":
        return ()
    new_database: NewDatabase = request.getfixturevalue("new_pg_database")
    return ("--database", new_database(request.module.__name__.rsplit(".", 1)[-1]))


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, store: str, request: pytest.FixtureRequest
) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server"), extra=store_options(store, request))
    try:
        yield running
    finally:
        stop_server(running)
