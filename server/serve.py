"""Running the server in production: the writer process, then gunicorn with private logging.

``petition serve`` starts the writer (``python -m server.writer``), waits until it listens, and
then runs gunicorn's arbiter in this process with the application factory loaded in each worker
after fork. If the writer dies the whole server stops with an error instead of limping on
answering 503 forever: a supervisor (systemd, a container runtime) restarts it, and on restart
everything acknowledged is still there because nothing is acknowledged before it is durable.

Stopping: SIGTERM to this process, or to the whole process group as systemd does, stops
gracefully. The workers take what is already arriving, finish every request in flight
(``graceful_timeout``), and exit; the writer keeps committing for them meanwhile (a SIGTERM
from anyone but this process only makes it drain, server/writer.py); then this process stops
the writer and exits 0.

The listening socket is bound before the writer starts and handed to gunicorn (:func:`listen`),
so that a port in use is one line and exit status 1 at once: gunicorn alone would retry for five
seconds, logging each try. The witness (server/witness/serving.py) listens the same way.

The writer is a child of this process, and gunicorn's arbiter reaps every child it has
(``waitpid(-1)``): the writer's exit status is therefore taken by the arbiter, with a targeted
``waitpid`` before gunicorn's own, and reported as it is (an exit status or a signal).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.sock import TCP6Socket, TCPSocket

from cli_support.i18n import _
from server.config import ServerConfig
from server.errors import ServerError
from server.gunicorn_worker import PrivateThreadWorker
from server.privatelog import PrivateGunicornLogger, configure_logging
from server.writer import READY_LINE, start_failure

log = logging.getLogger("sealed_petition.serve")

WRITER_START_TIMEOUT = 60.0


class ListenError(ServerError):
    """The address to serve on cannot be used (a port in use, an unknown host name)."""

    code = "cannot_listen"


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port``, or say in one line why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise _cannot_listen(host, port, exc.strerror) from None
    family, *_unused, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                _(
                    "cannot listen on %(address)s: the port is in use (another server is "
                    "running there; stop it or choose another --port)",
                    address=_address(host, port),
                )
            ) from None
        raise _cannot_listen(host, port, exc.strerror) from None
    return sock


def _cannot_listen(host: str, port: int, reason: str | None) -> ListenError:
    """The operator's one line (the system's reason is the system's, in English)."""
    return ListenError(
        _("cannot listen on %(address)s: %(reason)s", address=_address(host, port), reason=reason)
    )


def _address(host: str, port: int) -> str:
    """``host:port`` as the operator typed them (no brackets added: the message names flags)."""
    return host + ":" + str(port)


class ListeningArbiter(Arbiter):  # type: ignore[misc]  # gunicorn is untyped
    """gunicorn's arbiter, listening on the socket bound already by :func:`listen`."""

    listener: socket.socket | None = None

    def start(self) -> None:
        if self.listener is not None:
            kind = TCP6Socket if self.listener.family == socket.AF_INET6 else TCPSocket
            address = self.listener.getsockname()
            self.LISTENERS = [kind(address, self.cfg, self.log, fd=self.listener.detach())]
            self.listener = None
        super().start()


class _ServeArbiter(ListeningArbiter):
    """The server's arbiter, which also reaps the writer and reports how it ended."""

    writer: WriterProcess | None = None

    def reap_workers(self) -> None:
        if self.writer is not None:
            self.writer.reap()
        super().reap_workers()


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn is untyped
    def __init__(
        self,
        factory: Callable[[], Flask],
        options: dict[str, Any],
        writer: WriterProcess | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        self._factory = factory
        self._options = options
        self._writer = writer
        self._listener = listener
        super().__init__()

    def run(self) -> None:
        arbiter = _ServeArbiter(self)
        arbiter.writer = self._writer
        arbiter.listener = self._listener
        try:
            arbiter.run()
        except RuntimeError as exc:  # what BaseApplication.run does
            sys.stderr.write(f"\nError: {exc}\n\n")
            sys.stderr.flush()
            sys.exit(1)

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


def describe_exit(status: int) -> str:
    """A wait status as an operator reads it: "exited with status 3", "killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name}"
    if os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return f"ended (wait status {status})"


class WriterProcess:
    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._process: subprocess.Popen[bytes] | None = None
        self._on_death: Callable[[], None] | None = None
        self.stopping = False
        self.died = False
        self.ended = False
        # The watch thread and the arbiter both reap; one at a time, or the second one's
        # waitpid finds the writer already gone and reports its status as lost.
        self._reap_lock = threading.Lock()

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603  (our own module, no shell)
            [sys.executable, "-m", "server.writer", self._config.to_json()],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert self._process.stdout is not None  # noqa: S101  (Popen with stdout=PIPE)
        line = self._process.stdout.readline()
        if line.strip() != READY_LINE.encode():
            self._process.wait(timeout=WRITER_START_TIMEOUT)
            reason = start_failure(line)
            raise ServerError(
                reason or _("the writer process did not start (see the message above)")
            )

    def watch(self, on_death: Callable[[], None]) -> None:
        """Call ``on_death`` if the writer ends before :meth:`stop`.

        The arbiter reaps it (:meth:`reap`, on SIGCHLD); a thread covers the moments before
        the arbiter runs and after it has stopped.
        """
        self._on_death = on_death

        def check() -> None:
            while not self.ended and not self.stopping:
                self.reap()
                time.sleep(1.0)

        threading.Thread(target=check, name="writer-watch", daemon=True).start()

    def reap(self) -> None:
        """Collect the writer's exit status if it has ended; report it unless it was stopped."""
        with self._reap_lock:
            self._reap()

    def _reap(self) -> None:
        if self._process is None or self.ended:
            return
        try:
            pid, status = os.waitpid(self._process.pid, os.WNOHANG)
        except ChildProcessError:
            if self.stopping:
                return  # reaped by stop(), through Popen, which reports it
            # Reaped by gunicorn's own waitpid(-1) in the instant between this targeted
            # waitpid and that one: it is gone, how is lost; say so rather than guess.
            self.ended = self.died = True
            log.error("the writer process ended (its exit status was lost); stopping the server")
            if self._on_death is not None:
                self._on_death()
            return
        if pid == 0:
            return
        self.ended = True
        self._process.returncode = os.waitstatus_to_exitcode(status)
        if self.stopping:
            if status != 0:
                log.error("the writer process %s while stopping", describe_exit(status))
                self.died = True
            return
        self.died = True
        log.error("the writer process %s; stopping the server", describe_exit(status))
        if self._on_death is not None:
            self._on_death()

    def stop(self) -> None:
        """The final stop, once no worker needs the writer: it answers its queue and exits 0."""
        self.stopping = True
        if self._process is None or self.ended:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self.ended = True
        code = self._process.returncode
        if code != 0:
            self.died = True
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"
            log.error("the writer process %s while stopping", how)


def run_gunicorn(
    factory: Callable[[], Flask],
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    on_exit: Callable[[], None] | None = None,
    writer: WriterProcess | None = None,
    listener: socket.socket | None = None,
) -> int:
    """Run gunicorn's arbiter here until it stops; return its exit status.

    ``listener``, from :func:`listen`, is the socket to serve on; without one gunicorn binds
    ``host:port`` itself.
    """
    options = gunicorn_options(host, port, workers, threads)
    options["when_ready"] = lambda server: _announce(host, port)
    if on_exit is not None:
        options["on_exit"] = lambda server: on_exit()
    master = os.getpid()
    try:
        _Gunicorn(factory, options, writer, listener).run()
    except SystemExit as exc:
        if os.getpid() != master:
            # A forked worker leaving through sys.exit(): it must exit now, not return into
            # the code that started the server (which would stop the writer).
            raise
        return exc.code if isinstance(exc.code, int) else 1  # cannot bind or boot
    finally:
        if os.getpid() == master and listener is not None:
            listener.close()  # still ours only if gunicorn failed before taking it
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
    listener = listen(host, port)  # a port in use stops here, before the writer starts
    writer = WriterProcess(config)
    try:
        writer.start()
    except BaseException:
        listener.close()
        raise
    master = os.getpid()
    # A dead writer can acknowledge nothing more, so waiting out the graceful timeout for the
    # workers would only keep a broken server listening: SIGQUIT is gunicorn's quick stop.
    writer.watch(lambda: os.kill(master, signal.SIGQUIT))
    PrivateThreadWorker.max_queue_delay = config.max_queue_delay_seconds
    PrivateThreadWorker.submission_lane = config.submission_lane
    PrivateThreadWorker.retry_after = config.retry_after_seconds
    PrivateThreadWorker.max_body_bytes = config.max_body_bytes
    # One of the largest bodies at a time per worker (smaller ones alongside): each is decoded
    # (JSON, base64) into a few copies while it is handled, about 120 MiB for the largest, and
    # it is CPU work under one GIL, so a second one at once would not finish any sooner.
    PrivateThreadWorker.body_budget = config.max_body_bytes
    try:
        status = run_gunicorn(
            lambda: create_app(config),
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            on_exit=writer.stop,
            writer=writer,
            listener=listener,
        )
    finally:
        if os.getpid() == master:
            writer.stop()
    return 1 if writer.died else status


def _announce(host: str, port: int) -> None:
    with contextlib.suppress(OSError):
        # "petition: " is the program's name: the first word of the line in every language.
        url = f"http://{host}:{port}/"
        banner = _("serving on %(url)s (Ctrl-C to stop)", url=url)
        sys.stdout.write(f"petition: {banner}\n")
        sys.stdout.flush()
