"""Server components that a live server cannot show on demand: limits and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import RateLimit, ServerConfig
from server.errors import DataDirectoryError
from server.privatelog import scrub
from server.ratelimit import TokenBuckets, TokenRateLimiter


def test_the_token_key_directory_may_not_be_inside_the_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for inside in (data, data / "keys", data / "a" / "b"):
        with pytest.raises(DataDirectoryError, match="must not be inside the data directory"):
            ServerConfig(data_dir=data, token_keys_dir=inside)
    config = ServerConfig(data_dir=data, token_keys_dir=ServerConfig.default_token_keys_dir(data))
    assert config.token_keys_dir == tmp_path / "data.token-keys"


def test_a_token_bucket_allows_its_burst_then_asks_to_wait() -> None:
    buckets = TokenBuckets(RateLimit(burst=3, per_second=0.5))
    assert [buckets.take(b"a") for _ in range(3)] == [None, None, None]
    wait = buckets.take(b"a")
    assert wait is not None
    assert 0 < wait <= 2.0
    assert buckets.take(b"b") is None  # another source has its own bucket


def test_the_per_bureau_ceiling_bounds_all_sources_together() -> None:
    limiter = TokenRateLimiter(RateLimit(5, 1.0), RateLimit(4, 0.01))
    answers = [limiter.check("national", f"10.0.0.{n}") for n in range(6)]
    assert answers[:4] == [None] * 4
    assert all(wait is not None for wait in answers[4:])
    assert limiter.check("guangdong", "10.0.0.1") is None


def test_the_source_table_is_bounded() -> None:
    buckets = TokenBuckets(RateLimit(1, 1.0), max_keys=100)
    for n in range(1000):
        buckets.take(n.to_bytes(4, "big"))
    assert len(buckets._buckets) == 100


@pytest.mark.parametrize(
    ("line", "leak"),
    [
        ("Invalid request from ip=203.0.113.9: bad", "203.0.113.9"),
        ("Invalid request from ip=2001:db8::1: bad", "2001:db8::1"),
        ("Error handling request /v1/petitions/0123456789abcdef0123456789abcdef/status", "0123"),
        ("petition 0123456789abcdef0123456789abcdef failed", "0123456789abcdef"),
    ],
)
def test_log_lines_lose_addresses_paths_and_ids(line: str, leak: str) -> None:
    assert leak not in scrub(line)
