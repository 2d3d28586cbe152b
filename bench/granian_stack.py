"""The same server under granian instead of gunicorn, for the WSGI-server comparison only.

``petition serve`` runs gunicorn. The surge benchmark also measures granian (a Rust HTTP
server with a WSGI interface), as the issue asked: same writer process, same application
factory, same data directory and settings, only the HTTP server differs. It is not offered in
``petition serve`` because, in version 2.8, it answers a malformed request with a bare ``400``
instead of our JSON error, accepts a 70 KB header and a 9,000-byte request line, and has no
way to shed load before its queue (docs/performance.md).

    .venv/bin/python -m bench.granian_stack --data DIR --port N [--workers 2] [--threads 8]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from flask import Flask

from server.config import ServerConfig
from server.privatelog import LOG_FORMAT, configure_logging
from server.serve import WriterProcess

CONFIG_ENVIRONMENT = "SEALED_PETITION_BENCH_CONFIG"


def app_from_environment() -> Flask:
    """The factory granian's workers call: they are started fresh, not forked from us."""
    from server.app import create_app

    configure_logging()
    return create_app(ServerConfig.from_json(os.environ[CONFIG_ENVIRONMENT]))


def main(argv: list[str] | None = None) -> int:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    parser = argparse.ArgumentParser(prog="python -m bench.granian_stack")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    config = ServerConfig(data_dir=args.data)
    configure_logging()
    os.umask(0o077)
    writer = WriterProcess(config)
    writer.start()
    master = os.getpid()
    writer.watch(lambda: os.kill(master, signal.SIGTERM))
    os.environ[CONFIG_ENVIRONMENT] = config.to_json()
    server = Granian(
        "bench.granian_stack:app_from_environment",
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        blocking_threads=args.threads,
        http=HTTPModes.http1,
        websockets=False,
        factory=True,
        log_access=False,  # never: an access log is a list of who came when
        log_level=LogLevels.error,
        log_dictconfig={  # granian's own lines: no time of day, to stderr
            "formatters": {"generic": {"()": "logging.Formatter", "fmt": LOG_FORMAT}},
            "handlers": {
                name: {
                    "class": "logging.StreamHandler",
                    "formatter": "generic",
                    "stream": "ext://sys.stderr",
                }
                for name in ("console", "access")
            },
        },
    )
    try:
        server.serve()
    finally:
        writer.stop()
    return 1 if writer.died else 0


if __name__ == "__main__":
    sys.exit(main())
