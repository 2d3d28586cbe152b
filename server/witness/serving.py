"""Running the witness under gunicorn: one worker, a few threads, no access log.

One worker is enough: a witness answers a few requests per log per minute, each a signature
check, a Merkle proof and one small transaction. More would be safe too, since the state is
transactional (server/witness/store.py), but would buy nothing.

The worker is the submission server's (server/gunicorn_worker.py): requests are read whole by
its event loop before a thread sees them, so a client that sends one byte a minute holds a
socket, not a thread, and the witness stays reachable for the logs it serves. Its refusals of
broken HTTP (408, 431, a body beyond :data:`WORKER_BODY_LIMIT`, 503 under overload) keep their
JSON shape; every answer of the protocol itself, including 413 up to that limit, is text.

The listening socket is bound before gunicorn starts, as for the submission server
(:func:`server.serve.listen`), so that a port in use is one line and exit status 1 at once.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from server.gunicorn_worker import PrivateThreadWorker
from server.privatelog import configure_logging
from server.serve import ListeningArbiter, gunicorn_options, listen
from server.witness.app import MAX_BODY_BYTES, create_app

#: What the worker's event loop reads at most; above the application's limit, so that a body a
#: little too large gets the protocol's text 413 and only an absurd one is cut off early.
WORKER_BODY_LIMIT = 4 * MAX_BODY_BYTES
THREADS = 4


class WitnessWorker(PrivateThreadWorker):
    max_body_bytes = WORKER_BODY_LIMIT
    body_budget = 4 * WORKER_BODY_LIMIT
    body_timeout = 30.0


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, data_dir: Path, options: dict[str, Any], listener: socket.socket) -> None:
        self._data_dir = data_dir
        self._options = options
        self._listener = listener
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self._data_dir)

    def run(self) -> None:
        arbiter = ListeningArbiter(self)
        arbiter.listener = self._listener
        arbiter.run()


def serve(data_dir: Path, *, host: str, port: int, announce: str) -> int:
    """Serve until SIGTERM or SIGINT (exit status 0); ``announce`` is printed once listening."""
    configure_logging()
    os.umask(0o077)  # the state's WAL and shared-memory files: owner only
    listener = listen(host, port)
    options = gunicorn_options(host, port, workers=1, threads=THREADS)
    options.update(
        worker_class=WitnessWorker,
        timeout=30,
        graceful_timeout=10,
        when_ready=lambda server: _print(announce),
    )
    master = os.getpid()
    try:
        _Gunicorn(data_dir, options, listener).run()
    except SystemExit as exc:
        if os.getpid() != master:
            raise  # a forked worker leaving: it must not return into the command
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        if os.getpid() == master:
            listener.close()  # still ours only if gunicorn failed before taking it
    return 0


def _print(line: str) -> None:
    with contextlib.suppress(OSError):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
