"""Server settings, parsed once into an immutable object that is passed to every component.

Nothing reads the environment or a global after start-up: the factory, the writer and the
evaluator each receive the same :class:`ServerConfig`, so a test can build any number of
independent servers in one process.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from server.errors import DataDirectoryError

MIB = 1024 * 1024


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    burst: int
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0:
            raise DataDirectoryError("a rate limit needs a burst of at least 1 and a positive rate")


DEFAULT_TOKEN_LIMIT_PER_SOURCE = RateLimit(burst=20, per_second=1.0)
DEFAULT_TOKEN_LIMIT_PER_BUREAU = RateLimit(burst=2000, per_second=500.0)


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    #: Where the embedded token evaluator finds ``<bureau_id>.key`` files; never inside data_dir.
    token_keys_dir: Path | None = None
    #: A remote token evaluator (``petition evaluator serve``) to forward token requests to.
    token_evaluator_url: str | None = None
    #: The largest request body accepted; larger ones get 413 before being read whole.
    #: A 16 MiB envelope is about 21.4 MiB of base64 in JSON.
    max_body_bytes: int = 24 * MIB
    #: Submissions and replies waiting for the writer; when full, new ones get 503.
    queue_capacity: int = 2048
    #: The most jobs in one group commit, and how long the writer waits to fill one.
    max_batch: int = 256
    batch_linger_seconds: float = 0.0
    #: How long a request may wait for a free HTTP thread; past that, new ones get 503 at once.
    max_queue_delay_seconds: float = 0.5
    #: How long an HTTP worker waits for the writer before answering 503.
    writer_timeout_seconds: float = 30.0
    #: The Retry-After advice sent with 503 and 429.
    retry_after_seconds: int = 2
    #: Bureau requests must be signed within this many seconds of the server's clock.
    request_window_seconds: int = 300
    token_limit_per_source: RateLimit = DEFAULT_TOKEN_LIMIT_PER_SOURCE
    token_limit_per_bureau: RateLimit = DEFAULT_TOKEN_LIMIT_PER_BUREAU

    def __post_init__(self) -> None:
        data_dir = self.data_dir.resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if self.token_keys_dir is not None:
            keys = self.token_keys_dir.resolve()
            object.__setattr__(self, "token_keys_dir", keys)
            if keys == data_dir or data_dir in keys.parents:
                raise DataDirectoryError(
                    "the token key directory must not be inside the data directory: a copy of "
                    "the data directory must never be enough to compute a token"
                )
        if self.max_body_bytes < 1024 or self.queue_capacity < 1 or self.max_batch < 1:
            raise DataDirectoryError("body limit, queue capacity and batch size must be positive")

    @staticmethod
    def default_token_keys_dir(data_dir: Path) -> Path:
        """``<data dir>.token-keys``: next to the data directory, never inside it."""
        resolved = data_dir.resolve()
        return resolved.with_name(resolved.name + ".token-keys")

    def to_json(self) -> str:
        """For handing the same settings to the writer process."""

        def plain(value: Any) -> Any:
            return str(value) if isinstance(value, Path) else value

        return json.dumps({name: plain(value) for name, value in asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        raw = json.loads(text)
        raw["data_dir"] = Path(raw["data_dir"])
        if raw["token_keys_dir"] is not None:
            raw["token_keys_dir"] = Path(raw["token_keys_dir"])
        raw["token_limit_per_source"] = RateLimit(**raw["token_limit_per_source"])
        raw["token_limit_per_bureau"] = RateLimit(**raw["token_limit_per_bureau"])
        return cls(**raw)
