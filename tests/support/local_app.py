"""The two local web apps as their tests start them: ``petition ui`` (tests/ui/conftest.py) and
``petition bureau ui`` (tests/ui/desk_support.py), each a real subprocess that prints its launch
address, and a raw HTTP request to one (tests/ui/test_security.py, tests/ui/test_desk.py).

Both apps share their defences (webui/guard.py) and their serving (webui/cli.py); their tests
share the way they are started, watched and stopped, here, so that the two cannot drift apart.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import urlencode, urlsplit

from harness import PETITION

#: Records every file the process opens to write (tests/ui/audit_hook/sitecustomize.py).
AUDIT_HOOK = Path(__file__).resolve().parents[1] / "ui" / "audit_hook"
#: The launch address, alone on its line (webui/cli.py prints it so).
URL_LINE = re.compile(r"^\s*(http://127\.0\.0\.1:(\d+)/\?key=[A-Za-z0-9_-]+)\s*$")
START_TIMEOUT = 60.0


@dataclass
class LocalApp:
    """One running app process: its launch address and the files it is watched through."""

    #: The app's session cookie (each app has its own: cookies are shared across ports).
    SESSION_COOKIE: ClassVar[str]

    process: subprocess.Popen[str]
    launch_url: str
    port: int
    stderr_path: Path
    tmpdir: Path  # the process's TMPDIR: must stay empty (nothing spooled to disk)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def launch_key(self) -> str:
        return urlsplit(self.launch_url).query.removeprefix("key=")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def files_written(self) -> list[str]:
        """Every file the process opened for writing so far (see audit_hook/sitecustomize.py)."""
        log = self.stderr_path.parent / "writes.log"
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


@dataclass
class Launched:
    """What :func:`launch` saw: the process, the address line's match, every line before it."""

    process: subprocess.Popen[str]
    launch_url: str
    port: int
    stderr_path: Path
    tmpdir: Path
    stdout_lines: list[str]


def launch(
    command: Sequence[str], options: Sequence[str], workdir: Path, stderr_name: str
) -> Launched:
    """``petition COMMAND --no-browser OPTIONS`` in ``workdir`` with an empty TMPDIR and the
    write audit; returns once it printed its address (a watchdog kills it after
    :data:`START_TIMEOUT`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    tmpdir = workdir / "tmp"
    tmpdir.mkdir()
    stderr_path = workdir / stderr_name
    env = {
        **os.environ,
        "TMPDIR": str(tmpdir),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(AUDIT_HOOK), os.environ.get("PYTHONPATH")])
        ),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PETITION_TEST_WRITE_LOG": str(workdir / "writes.log"),
    }
    env.pop("PETITION_DEBUG", None)
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603
            [*PETITION, *command, "--no-browser", *options],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=workdir,
        )
    watchdog = threading.Timer(START_TIMEOUT, process.kill)
    watchdog.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            if not line:
                raise AssertionError(
                    f"petition {' '.join(command)} exited: {stderr_path.read_text()}"
                )
            lines.append(line)
            found = URL_LINE.match(line)
            if found:
                break
    finally:
        watchdog.cancel()
    return Launched(process, found.group(1), int(found.group(2)), stderr_path, tmpdir, lines)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: str


def http_request(
    app: LocalApp,
    method: str,
    target: str,
    *,
    host: str | None = None,
    cookie: str | None = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One raw request to ``app``, as a browser (or an attacker) would send it: ``host``
    replaces the right ``Host``, ``cookie`` is the value of the app's session cookie."""
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
    try:
        all_headers = {"Host": host or f"127.0.0.1:{app.port}", **(headers or {})}
        if cookie is not None:
            all_headers["Cookie"] = f"{app.SESSION_COOKIE}={cookie}"
        body = None
        if form is not None:
            body = urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, target, body=body, headers=all_headers)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read().decode("utf-8"))
    finally:
        connection.close()
