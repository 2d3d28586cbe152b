"""One deployment per test module, set up through the real CLI (see tests/support/deployment.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from deployment import Deployment, deploy


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    running = deploy(tmp_path_factory.mktemp("deployment"))
    try:
        yield running
    finally:
        running.stop()
