"""PostgreSQL fixtures, loaded for the whole suite by ``pytest_plugins`` in tests/conftest.py.

- ``pg_cluster`` (session): one :class:`pg_cluster.Cluster` for the whole run, started on first
  use (so runs that need no PostgreSQL never start one) and destroyed at the end.
- ``new_pg_database`` (session): a function; each call creates a fresh, empty database in that
  cluster and returns its URL (``postgresql://postgres@127.0.0.1:PORT/NAME``).
- ``pg_database`` (module): the URL of a fresh database for the requesting test module, the
  usual way to use it (databases are never shared between modules).

A test that kills or restarts the server should make its own cluster with
``Cluster.create(tmp_path)`` rather than crash the shared one under the other modules.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Protocol

import pytest
from pg_cluster import Cluster


class NewDatabase(Protocol):
    """The type of ``new_pg_database`` (``from pg_fixtures import NewDatabase``)."""

    def __call__(self, label: str = "test") -> str: ...


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One PostgreSQL cluster for the whole run (started on first use, destroyed at the end)."""
    cluster = Cluster.create(tmp_path_factory.mktemp("postgres"))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def new_pg_database(pg_cluster: Cluster) -> NewDatabase:
    """A function: each call creates a fresh database in ``pg_cluster`` and returns its URL."""
    numbers = itertools.count(1)

    def new_database(label: str = "test") -> str:
        """A fresh database named after ``label`` (made safe) and a serial number; its URL."""
        safe = re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")[:40] or "test"
        if safe[0].isdigit():
            safe = f"db_{safe}"
        return pg_cluster.create_database(f"{safe}_{next(numbers)}")

    return new_database


@pytest.fixture(scope="module")
def pg_database(request: pytest.FixtureRequest, new_pg_database: NewDatabase) -> str:
    """The URL of a fresh database for the requesting test module."""
    module_name: str = request.module.__name__
    return new_pg_database(module_name.rsplit(".", 1)[-1])
