"""Server settings, parsed once into an immutable object that is passed to every component.

Nothing reads the environment or a global after start-up: the factory and the writer each
receive the same :class:`ServerConfig`, so a test can build any number of independent servers in
one process.

No setting names a bureau key: since protocol v2 no server holds one (docs/operations.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from server.errors import DataDirectoryError

MIB = 1024 * 1024

#: The longest ``batch_interval_seconds`` accepted: a submission waits up to this long for its
#: receipt, well inside ``writer_timeout_seconds`` and a petitioner's patience.
MAX_BATCH_INTERVAL = 10.0


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    #: The largest request body accepted; larger ones get 413 before being read whole.
    #: A 16 MiB envelope is about 21.4 MiB of base64 in JSON.
    max_body_bytes: int = 24 * MIB
    #: Submissions and replies waiting for the writer; when full, new ones get 503.
    queue_capacity: int = 2048
    #: The most jobs in one group commit, and how long the writer waits to fill one.
    max_batch: int = 256
    batch_linger_seconds: float = 0.0
    #: Group commits start only on multiples of this many seconds (0: at once), unless a full
    #: batch is waiting: polling the log head then dates a petition only to its interval.
    batch_interval_seconds: float = 0.0
    #: How long a request may wait for a free HTTP thread; past that, new ones get 503 at once.
    max_queue_delay_seconds: float = 0.5
    #: Whether ordinary submissions are answered from each worker's event loop rather than a
    #: thread (server/submission_lane.py).
    submission_lane: bool = True
    #: How long an HTTP worker waits for the writer before answering 503.
    writer_timeout_seconds: float = 30.0
    #: The Retry-After advice sent with 503 and 429.
    retry_after_seconds: int = 2
    #: How long one round of witness cosigning may hold up a batch's receipts.
    witness_timeout_seconds: float = 5.0
    #: Bureau requests must be signed within this many seconds of the server's clock.
    request_window_seconds: int = 300
    #: ``postgresql://…``: the store is that PostgreSQL database, shared with other front ends
    #: (server/postgres.py); None: the SQLCipher file in the data directory.
    database_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", self.data_dir.resolve())
        if self.max_body_bytes < 1024 or self.queue_capacity < 1 or self.max_batch < 1:
            raise DataDirectoryError("body limit, queue capacity and batch size must be positive")
        if self.database_url is not None:
            from server.postgres import check_url

            check_url(self.database_url)
        if not 0 <= self.batch_interval_seconds <= MAX_BATCH_INTERVAL:
            raise DataDirectoryError(
                f"the batch interval must be between 0 and {MAX_BATCH_INTERVAL:g} seconds"
            )

    def to_json(self) -> str:
        """For handing the same settings to the writer process."""

        def plain(value: Any) -> Any:
            return str(value) if isinstance(value, Path) else value

        return json.dumps({name: plain(value) for name, value in asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> ServerConfig:
        raw = json.loads(text)
        raw["data_dir"] = Path(raw["data_dir"])
        return cls(**raw)
