"""One real server per test module (starting gunicorn and the writer takes about a second)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server"))
    try:
        yield running
    finally:
        stop_server(running)
