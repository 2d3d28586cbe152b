"""Running the server in production: the writer process, then gunicorn with private logging.

``petition serve`` starts the writer (``python -m server.writer``), waits until it listens, and
then runs gunicorn's arbiter in this process with the application factory loaded in each worker
after fork. If the writer dies the whole server stops with an error instead of limping on
answering 503 forever: a supervisor (systemd, a container runtime) restarts it, and on restart
everything acknowledged is still there because nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from server.config import ServerConfig
from server.errors import ServerError
from server.gunicorn_worker import PrivateThreadWorker
from server.privatelog import PrivateGunicornLogger, configure_logging

log = logging.getLogger("sealed_petition.serve")

WRITER_START_TIMEOUT = 60.0


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._factory()


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """The settings that make gunicorn fit the privacy rules (and nothing else surprising)."""
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": workers,
        "worker_class": PrivateThreadWorker,
        "threads": threads,
        "accesslog": None,  # never: an access log is a list of who came when
        "errorlog": "-",
        "loglevel": "warning",
        "logger_class": PrivateGunicornLogger,
        "forwarded_allow_ips": "",  # no X-Forwarded-For is trusted (or used)
        "proxy_allow_ips": "",
        "control_socket_disable": True,  # it would write to ~/.gunicorn
        "timeout": 120,  # a 16 MiB upload on a slow link through Tor takes a while
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": 4094,
        "limit_request_fields": 64,
        "limit_request_field_size": 8190,
        "preload_app": False,
    }


class WriterProcess:
    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._process: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.died = False

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603  (our own module, no shell)
            [sys.executable, "-m", "server.writer", self._config.to_json()],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert self._process.stdout is not None  # noqa: S101  (Popen with stdout=PIPE)
        line = self._process.stdout.readline()
        if line.strip() != b"ready":
            self._process.wait(timeout=WRITER_START_TIMEOUT)
            raise ServerError("the writer process did not start (see the message above)")

    def watch(self, on_death: Callable[[], None]) -> None:
        def wait() -> None:
            assert self._process is not None  # noqa: S101  (started before watching)
            code = self._process.wait()
            if not self.stopping:
                self.died = True
                log.error("the writer process exited (status %s); stopping the server", code)
                on_death()

        threading.Thread(target=wait, name="writer-watch", daemon=True).start()

    def stop(self) -> None:
        self.stopping = True
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()


def run_gunicorn(
    factory: Callable[[], Flask],
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    on_exit: Callable[[], None] | None = None,
) -> int:
    """Run gunicorn's arbiter here until it stops; return its exit status."""
    options = gunicorn_options(host, port, workers, threads)
    options["when_ready"] = lambda server: _announce(host, port)
    if on_exit is not None:
        options["on_exit"] = lambda server: on_exit()
    master = os.getpid()
    try:
        _Gunicorn(factory, options).run()
    except SystemExit as exc:
        if os.getpid() != master:
            # A forked worker leaving through sys.exit(): it must exit now, not return into
            # the code that started the server (which would stop the writer).
            raise
        return exc.code if isinstance(exc.code, int) else 1  # cannot bind or boot
    return 0


def serve(
    config: ServerConfig,
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
) -> int:
    from server.app import create_app  # imported here so `petition --help` stays fast

    configure_logging()
    os.umask(0o077)  # the database, its WAL and everything else: owner only
    writer = WriterProcess(config)
    writer.start()
    master = os.getpid()
    writer.watch(lambda: os.kill(master, signal.SIGTERM))
    PrivateThreadWorker.max_queue_delay = config.max_queue_delay_seconds
    PrivateThreadWorker.retry_after = config.retry_after_seconds
    try:
        status = run_gunicorn(
            lambda: create_app(config),
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            on_exit=writer.stop,
        )
    finally:
        if os.getpid() == master:
            writer.stop()
    return 1 if writer.died else status


def _announce(host: str, port: int) -> None:
    with contextlib.suppress(OSError):
        sys.stdout.write(f"petition: serving on http://{host}:{port}/ (Ctrl-C to stop)\n")
        sys.stdout.flush()
