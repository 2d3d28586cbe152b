"""Kiosk mode (``petition ui --kiosk``): one machine, one petitioner after another.

A legal-aid helper runs the UI on a shared machine. Between two people everything of the
first must be gone from the process, and nothing of anyone may have been written anywhere,
so that the second finds nothing of the first (docs/ui.md, "Kiosk mode"). This module holds
what only the kiosk needs: its settings, the idle timer that wipes an abandoned petitioner's
memory without waiting for the next request, and the queue folder that receives sealed
petitions for later delivery when the kiosk is offline. Start over itself is a view
(webui/views.py) around :meth:`webui.state.Store.wipe`.

No wall-clock time is kept: the idle timer uses :func:`time.monotonic` only.
"""

from __future__ import annotations

import math
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from client.errors import ClientError, InvalidInput
from crypto.privatefile import write_private_file
from webui.state import Store

#: The default of ``--idle-minutes``: long enough to write a petition between two clicks on
#: "save", short enough that an abandoned one does not wait long for the next person.
DEFAULT_IDLE_MINUTES = 10
MAX_IDLE_MINUTES = 24 * 60
#: The screen's own refresh comes this long after the server's wipe, so that it always finds
#: the petitioner session gone and lands on a fresh start page (never on the old session).
REFRESH_MARGIN_SECONDS = 5
#: The extension ``petition seal`` files carry in the documentation and the tests.
SEALED_SUFFIX = ".sealed"
#: Random bytes in a queued petition's file name: 128 bits, no time, no order, no person.
QUEUE_NAME_BYTES = 16


class QueueUnwritable(ClientError):
    """The queue folder did not take the sealed petition (removed, full, not allowed)."""

    code = "queue_unwritable"


@dataclass(frozen=True)
class KioskSettings:
    """How this launch runs as a kiosk; ``UiRuntime.kiosk`` is None when it does not."""

    #: Where sealed petitions wait for delivery, or None: no sealing for later.
    queue: Path | None = None
    #: Seconds without a request after which the store is wiped (a float, so tests can use a
    #: fraction of a second; the command line takes whole minutes).
    idle_seconds: float = DEFAULT_IDLE_MINUTES * 60.0

    @property
    def idle_minutes(self) -> int:
        """For the sentence on every page; at least 1."""
        return max(1, math.ceil(self.idle_seconds / 60))

    @property
    def refresh_seconds(self) -> int:
        """The ``<meta http-equiv="refresh">`` delay of every kiosk page."""
        return math.ceil(self.idle_seconds) + REFRESH_MARGIN_SECONDS


def queue_folder(path: Path) -> Path:
    """The ``--queue`` folder, checked now: an existing directory this process can write to.

    It is never created here: a mistyped path must be one line at launch, not sealed
    petitions silently piling up in a folder nobody will deliver from. Returned absolute, so
    that the command the page shows the helper (``petition deliver DIR/*``) works from
    anywhere.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InvalidInput(
            f"--queue {path}: no such folder; create it first (mkdir -m 700 {path})"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"--queue {path}: cannot use it ({exc.strerror})") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"--queue {path}: not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvalidInput(f"--queue {path}: this user cannot write into it")
    return path.resolve()


def queue_sealed(folder: Path, data: bytes) -> Path:
    """Write one sealed petition file into the queue folder; return its path.

    The name is random (no time, no order, nothing of the petitioner) and ends like the files
    of ``petition seal``. The write is :func:`crypto.privatefile.write_private_file`'s: a
    hidden temporary file in the same folder (mode 0600, never through a symlink), fsync'ed,
    then renamed, so the final name only ever holds a complete file; ``petition deliver
    DIR/*`` does not match the hidden temporary name.
    """
    path = folder / f"{secrets.token_hex(QUEUE_NAME_BYTES)}{SEALED_SUFFIX}"
    write_private_file(path, data, overwrite=False, error=QueueUnwritable, what="sealed petition")
    return path


class IdleWipe:
    """Wipes the store once no request has arrived for ``idle_seconds``.

    A daemon thread does it, so an abandoned petitioner's draft or receipt does not wait in
    memory for the next person's first click; :meth:`check` does the same at the start of
    every request, so a request that arrives late (a slow thread, a sleeping laptop) finds the
    old session gone either way. Only requests that belong to the kiosk's browser count as
    activity (:meth:`touch`): a stranger's refused request cannot keep a session alive.
    """

    def __init__(self, store: Store, idle_seconds: float) -> None:
        self.store = store
        self.idle_seconds = idle_seconds
        self._condition = threading.Condition()
        self._last = time.monotonic()
        self._armed = True  # something may be held since the last wipe
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="petition-ui-idle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def touch(self) -> None:
        """A request of the kiosk's browser: the idle time starts again."""
        with self._condition:
            self._last = time.monotonic()
            self._armed = True
            self._condition.notify_all()

    def check(self) -> None:
        """Wipe now if the idle time has passed (the timer thread may not have run yet)."""
        with self._condition:
            due = self._armed and time.monotonic() - self._last >= self.idle_seconds
            if due:
                self._armed = False
        if due:
            self.store.wipe()

    def _run(self) -> None:
        while True:
            with self._condition:
                if self._stopped:
                    return
                if not self._armed:  # wiped already: wait for the next request
                    self._condition.wait()
                    continue
                remaining = self._last + self.idle_seconds - time.monotonic()
                if remaining > 0:
                    self._condition.wait(remaining)
                    continue
                self._armed = False
            self.store.wipe()
