"""A throwaway PostgreSQL cluster for the tests, from Debian's binaries (package ``postgresql``).

    cluster = Cluster.create(base)          # initdb, pick a free port, start, wait until ready
    url = cluster.create_database("votes")  # postgresql://postgres@127.0.0.1:PORT/votes
    cluster.kill()                          # SIGKILL every server process: a crash
    cluster.start()                         # crash recovery replays the WAL
    cluster.destroy()                       # stop and remove the files

The server keeps ``fsync`` and ``synchronous_commit`` on, so a commit the tests saw is one the
server promised to keep, and :meth:`Cluster.kill` followed by :meth:`Cluster.start` checks it.
Authentication is ``trust`` for the Unix socket and 127.0.0.1 only; the server listens on
127.0.0.1 and a free port, never on 5432, so a system cluster Debian may run does not matter.

PostgreSQL refuses to run as root. When the tests run as root (CI does), initdb and the server
run as the ``postgres`` system user: ``subprocess`` switches user, group and supplementary groups
in the child (what ``runuser -u postgres --`` does), so the postmaster stays our direct child
and :meth:`Cluster.kill` knows its exact process id. That user must reach the cluster's files,
but pytest's temporary directories live under ``/tmp/pytest-of-root`` (mode 0700, and pytest
resets it to 0700 at every start, so widening it would not last). When ``base`` cannot be
traversed by ``postgres`` (or is too long for a Unix socket path), the cluster lives in a fresh
``tempfile.mkdtemp()`` directory instead (mode 0755, owned by ``postgres``); ``base/postgres``
is a symbolic link to it, and :meth:`Cluster.destroy` copies the server log back into ``base``
before removing it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

INSTALL_HINT = "run `apt-get install postgresql` (./dev.sh test installs it)"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0
# sun_path holds 107 bytes; PostgreSQL appends "/.s.PGSQL.<port>" (up to 15 bytes).
MAX_SOCKET_DIR = 90

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    # Durability tests need honest commits: never trade them for speed here.
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    # The server's stderr goes to the log file the Cluster opened (no logging collector).
    "logging_collector": "off",
    "log_destination": "'stderr'",
    "log_line_prefix": "'%m [%p] %q%a@%d '",
    "lc_messages": "'C'",
    "timezone": "'UTC'",
    "huge_pages": "off",
}


class ClusterError(RuntimeError):
    """The cluster could not be created, started or stopped; the message says why."""


@dataclass(frozen=True)
class _User:
    """Whom the PostgreSQL processes run as; ``None`` fields mean: as ourselves."""

    name: str | None
    uid: int
    gid: int


def find_bindir() -> Path:
    """The directory of ``initdb`` and ``postgres``: pg_config's, else the newest Debian one."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run(  # noqa: S603 - a fixed argument list
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        bindir = Path(found.stdout.strip())
        if found.returncode == 0 and _has_server(bindir):
            return bindir
    versions: list[tuple[int, Path]] = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if bindir.parent.name.isdigit() and _has_server(bindir):
            versions.append((int(bindir.parent.name), bindir))
    if versions:
        return max(versions)[1]
    raise ClusterError(
        f"the PostgreSQL server binaries (initdb, postgres) are missing: {INSTALL_HINT}"
    )


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


def _server_user() -> _User:
    if os.geteuid() != 0:
        return _User(None, os.geteuid(), os.getegid())
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterError(
            f"running as root, but there is no `postgres` system user: {INSTALL_HINT}"
        ) from None
    return _User("postgres", entry.pw_uid, entry.pw_gid)


def _traversable(path: Path, user: _User) -> bool:
    """Whether ``user`` may search ``path`` and every directory above it."""
    if user.name is None:
        return True
    for directory in [path, *path.parents]:
        mode = os.stat(directory).st_mode
        if not mode & stat.S_IXOTH:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _process_state(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent id from /proc; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    """Whether a process still runs (a zombie has exited: it holds no memory and no files)."""
    state = _process_state(pid)
    return state is not None and state[0] not in "ZX"


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc; elsewhere none are known)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            state = _process_state(int(entry.name))
            if state is not None and state[0] not in "ZX" and state[1] == pid:
                found.append(int(entry.name))
    return found


class Cluster:
    """One PostgreSQL cluster (one postmaster) on 127.0.0.1 and a free port."""

    def __init__(self, *, bindir: Path, base: Path, root: Path, port: int, user: _User) -> None:
        self.bindir = bindir
        self.base = base
        self.root = root
        self.port = port
        self.pgdata = root / "pgdata"
        self.socket_dir = root / "socket"
        self.log_path = root / "postgresql.log"
        self._user = user
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        atexit.register(self._at_exit)

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def create(cls, base: Path) -> Cluster:
        """initdb a new cluster under ``base`` (see the module docstring), start it, wait."""
        bindir = find_bindir()
        user = _server_user()
        base = base.resolve()
        base.mkdir(parents=True, exist_ok=True)
        root = base
        if not _traversable(base, user) or len(str(base / "socket")) > MAX_SOCKET_DIR:
            root = Path(tempfile.mkdtemp(prefix="pg-cluster-"))
            os.chmod(root, 0o755)  # noqa: S103 - a test server's files; pgdata itself is 0700
            (base / "postgres").symlink_to(root, target_is_directory=True)
        if user.name is not None:
            os.chown(root, user.uid, user.gid)
        cluster = cls(bindir=bindir, base=base, root=root, port=_free_port(), user=user)
        try:
            cluster._initdb()
            cluster._first_start()
        except BaseException:
            cluster.destroy()  # the server log stays in base
            raise
        return cluster

    def _initdb(self) -> None:
        self.socket_dir.mkdir()
        if self._user.name is not None:
            os.chown(self.socket_dir, self._user.uid, self._user.gid)
        with open(self.root / "initdb.log", "wb") as log:
            done = self._run(
                [
                    str(self.bindir / "initdb"),
                    "--pgdata",
                    str(self.pgdata),
                    "--username",
                    "postgres",
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                    "--no-sync",  # only initdb's own files; the server fsyncs as usual
                ],
                log,
            ).wait()
        if done != 0:
            tail = (self.root / "initdb.log").read_text(errors="replace")[-3000:]
            raise ClusterError(f"initdb failed (exit status {done}):\n{tail}")
        (self.pgdata / "pg_hba.conf").write_text(
            "# Written by tests/support/pg_cluster.py: a throwaway test server.\n"
            "local all all trust\n"
            "host  all all 127.0.0.1/32 trust\n"
        )
        settings = dict(SETTINGS, unix_socket_directories=f"'{self.socket_dir}'")
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write("\n# tests/support/pg_cluster.py (the port is given on the command line)\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _first_start(self) -> None:
        """Start; if another process took the port meanwhile, pick another (no URL is out yet)."""
        for _attempt in range(5):
            try:
                self.start()
            except ClusterError:
                if "Address already in use" not in self._log_since_start():
                    raise
                self.port = _free_port()
            else:
                return
        raise ClusterError(f"no free port for PostgreSQL; see {self.log_path}")

    # -- processes --------------------------------------------------------------------------

    def _run(self, argv: list[str], output: IO[bytes]) -> subprocess.Popen[bytes]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        switch = self._user.name is not None
        return subprocess.Popen(  # noqa: S603 - fixed argument lists
            argv,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches pytest, not the server
            # As root: setgid, setgroups([]) and setuid in the child, like runuser(1).
            user=self._user.uid if switch else None,
            group=self._user.gid if switch else None,
            extra_groups=[] if switch else None,
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (recovering after :meth:`kill`); wait until it accepts connections."""
        if self.running:
            raise ClusterError("the cluster is already running")
        with open(self.log_path, "ab") as log:
            self._log_start = log.tell()
            self._process = self._run(
                [str(self.bindir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port)],
                log,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last_error = ""
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ClusterError(
                    f"PostgreSQL exited with status {self._process.returncode} while starting"
                    f" (port {self.port}); {self._log_tail()}"
                )
            try:
                with psycopg.connect(self.url, connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
            except psycopg.OperationalError as error:
                last_error = str(error).strip()
                time.sleep(0.05)
            else:
                return
        self._kill_all()
        raise ClusterError(
            f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f} s"
            f" (last error: {last_error}); {self._log_tail()}"
        )

    def _log_tail(self, size: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"no server log at {self.log_path}"
        return f"the end of {self.log_path}:\n{text[-size:]}"

    def _log_since_start(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, disconnect clients, checkpoint, exit."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill_all()
            raise ClusterError(
                f"PostgreSQL did not stop within {STOP_TIMEOUT:.0f} s (killed); {self._log_tail()}"
            ) from None
        if process.returncode != 0:
            raise ClusterError(
                f"PostgreSQL exited with status {process.returncode}; {self._log_tail()}"
            )

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """Crash: SIGKILL the postmaster and every backend at once; no shutdown checkpoint.

        The next :meth:`start` runs crash recovery from the WAL, so every committed transaction
        must be back and no uncommitted one.
        """
        if not self.running:
            raise ClusterError("the cluster is not running")
        self._kill_all()

    def _kill_all(self) -> None:
        """SIGKILL the postmaster and all its children, and wait until none of them runs.

        Every backend leads a process group of its own (PostgreSQL calls setsid() in each
        child), so killing the postmaster's group would leave them running until they notice.
        The postmaster is stopped first so that it forks nothing while its children are listed.
        """
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGSTOP)
        children = _children(process.pid)
        for pid in [*children, process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + STOP_TIMEOUT
        while left := [pid for pid in children if _alive(pid)]:
            if time.monotonic() > deadline:
                raise ClusterError(f"PostgreSQL processes {left} did not exit after SIGKILL")
            time.sleep(0.01)

    # -- databases --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL of the ``postgres`` maintenance database."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create an empty database (lower-case letters, digits, ``_``) and return its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    # -- teardown ---------------------------------------------------------------------------

    def destroy(self) -> None:
        """Stop the server (killing it if it will not stop) and remove the cluster's files."""
        atexit.unregister(self._at_exit)
        try:
            self.stop()
        except ClusterError:
            self._kill_all()
        finally:
            if self.root != self.base:
                with contextlib.suppress(OSError):
                    shutil.copyfile(self.log_path, self.base / "postgresql.log")
                with contextlib.suppress(FileNotFoundError):
                    (self.base / "postgres").unlink()
                shutil.rmtree(self.root, ignore_errors=True)
            else:
                for name in ("pgdata", "socket", "initdb.log"):
                    path = self.root / name
                    if path.is_dir():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)

    def _at_exit(self) -> None:
        """Never leave a postmaster behind when the interpreter exits without destroy()."""
        with contextlib.suppress(Exception):
            self._kill_all()
